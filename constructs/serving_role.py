"""The SageMaker execution role of model serving (ARCHITECTURE §6), least privilege for the models it runs.

Only SageMaker acting for this account assumes it. It reads only model artifacts, writes only data capture, uses the
ML key (and lets SageMaker grant it to the resources SageMaker creates), pulls only the images it serves and writes
only SageMaker log groups and metrics in SageMaker's own CloudWatch namespaces; with a VPC it may also create and
manage network interfaces in the configured subnets and security groups.
"""

from dataclasses import dataclass
from typing import Any

from constructs import Construct
from constructs.aws_modules import aws
from constructs.naming import Kind
from constructs.policy import Statement, allow, document, service_trust_policy
from constructs.refs import BucketRef, Deployment, KeyRef
from constructs.serving_rules import VpcSettings, ecr_repository_arn

DATA_CAPTURE_PREFIX = "data-capture"  # where the endpoint writes captured requests in the artifacts bucket
# CloudWatch namespaces SageMaker publishes in with the execution role (/aws/sagemaker/Endpoints for endpoint instances)
SAGEMAKER_METRIC_NAMESPACES = "/aws/sagemaker/*"


@dataclass(frozen=True)
class RoleGrants:
    """What the role may touch: the artifacts bucket and key, and what the models are made of."""

    artifacts_bucket: BucketRef  # models/ is read, data-capture/ is written
    ml_key: KeyRef  # the artifacts bucket's key; also encrypts endpoint volumes and captured data
    model_data_urls: list[str]  # s3:// URL of each variant's model.tar.gz
    images: list[str]  # each variant's inference image
    vpc: VpcSettings | None  # subnets and security groups of the models, if any


class ExecutionRole:
    """Exposes ``name``, ``role`` (the ``aws_iam_role``) and ``policy`` (its inline ``aws_iam_role_policy``)."""

    def __init__(self, scope: Construct, deployment: Deployment, grants: RoleGrants) -> None:
        # Built in the owner's scope, so the construct ids (execution-role, execution-policy) stay the owner's.
        naming = deployment.naming
        self.name = naming.name("sagemaker-exec", Kind.IAM_ROLE)
        self.role: Any = aws.iam_role.IamRole(
            scope,
            "execution-role",
            name=self.name,
            description="SageMaker execution role of the model-serving models",
            assume_role_policy=service_trust_policy(
                "SageMakerAssumesRoleForThisAccount", "sagemaker.amazonaws.com", deployment.account_id
            ),
        )
        self.policy: Any = aws.iam_role_policy.IamRolePolicy(
            scope,
            "execution-policy",
            name=naming.name("sagemaker-exec", Kind.IAM_POLICY),
            role=self.role.name,
            policy=document(*execution_role_statements(deployment, grants)),
        )


def execution_role_statements(deployment: Deployment, grants: RoleGrants) -> list[Statement]:
    """The role's permissions: the artifacts, the key, the images and the logs; the network interfaces with a VPC."""
    bucket = grants.artifacts_bucket.arn
    ml_key = grants.ml_key.arn
    s3_objects = f"arn:{deployment.partition}:s3:::"
    model_objects = sorted({s3_objects + url.removeprefix("s3://") for url in grants.model_data_urls})
    statements = [
        allow("ReadModelArtifacts", ["s3:GetObject"], [f"{bucket}/models/*", *model_objects]),
        allow(
            "ListModelArtifacts",
            ["s3:ListBucket"],
            [bucket],
            Condition={"StringLike": {"s3:prefix": ["models/", "models/*"]}},
        ),
        allow("WriteDataCapture", ["s3:PutObject"], [f"{bucket}/{DATA_CAPTURE_PREFIX}/*"]),
        allow("UseMlKey", ["kms:Decrypt", "kms:GenerateDataKey"], [ml_key]),
        allow(
            "GrantMlKeyToAwsResources",
            ["kms:CreateGrant"],
            [ml_key],
            Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
        *sagemaker_runtime_statements(deployment, grants.images, ["/aws/sagemaker/*"]),
    ]
    if grants.vpc is not None:
        statements += _network_interface_statements(deployment, grants.vpc)
    return statements


def sagemaker_runtime_statements(deployment: Deployment, images: list[str], log_groups: list[str]) -> list[Statement]:
    """What any SageMaker execution role needs to run a container: pull its images, write its logs and metrics.

    ``log_groups`` are log group name patterns (e.g. ``/aws/sagemaker/TrainingJobs``); shared by the serving role and
    the training/transform jobs role (constructs/workflows.py).
    """
    repositories = sorted({ecr_repository_arn(image) or "" for image in images} - {""})
    prefix = f"arn:{deployment.partition}:logs:{deployment.region}:{deployment.account_id}:log-group:"
    return [
        allow("PullImages", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], repositories),
        # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
        allow("EcrAuthTokenNoResourceLevelPermissions", ["ecr:GetAuthorizationToken"], ["*"]),
        allow(
            "WriteSageMakerLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            [prefix + name for name in log_groups],
        ),
        # The endpoint's instance metrics (CPUUtilization, MemoryUtilization, DiskUtilization, ...) are published
        # with this role to /aws/sagemaker/Endpoints; jobs run with it publish to /aws/sagemaker/TrainingJobs,
        # /aws/sagemaker/TransformJobs, ... Without the action those metrics never appear. AWS/SageMaker (invocations,
        # latency, errors) is published by the service itself, and no caller may write an "AWS/" namespace.
        # PutMetricData has no resource-level permissions, so "*" is the only valid resource; the namespace
        # condition keeps the role to SageMaker's own namespaces.
        # Sources: SageMaker Developer Guide, "How to use SageMaker AI execution roles" (CreateModel API: execution
        # role permissions) and "Amazon SageMaker AI metrics in Amazon CloudWatch" (the /aws/sagemaker/Endpoints
        # namespace); CloudWatch User Guide, "Using condition keys to limit access to CloudWatch namespaces".
        allow(
            "PutSageMakerMetricsNoResourceLevelPermissions",
            ["cloudwatch:PutMetricData"],
            ["*"],
            Condition={"StringLike": {"cloudwatch:namespace": SAGEMAKER_METRIC_NAMESPACES}},
        ),
    ]


def _network_interface_statements(deployment: Deployment, vpc: VpcSettings) -> list[Statement]:
    """SageMaker attaches a model inside a VPC through network interfaces it creates with the role's permissions."""
    ec2 = f"arn:{deployment.partition}:ec2:{deployment.region}:{deployment.account_id}"
    interfaces = f"{ec2}:network-interface/*"
    return [
        # The Describe calls have no resource-level permissions.
        allow(
            "Ec2DescribeNoResourceLevelPermissions",
            [
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
            ],
            ["*"],
        ),
        allow(
            "CreateModelNetworkInterfaces",
            ["ec2:CreateNetworkInterface"],
            [interfaces]
            + [f"{ec2}:subnet/{s}" for s in sorted(vpc.subnet_ids)]
            + [f"{ec2}:security-group/{g}" for g in sorted(vpc.security_group_ids)],
        ),
        allow(
            "ManageModelNetworkInterfaces",
            [
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
            ],
            [interfaces],
        ),
    ]
