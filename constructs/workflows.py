"""Training and batch-inference workflows: Step Functions state machines and their roles (ARCHITECTURE §7).

The definitions are Python data (constructs/workflow_definitions.py); this construct builds what runs them:

- a SageMaker **jobs role** that training and transform jobs run as: it reads the processed training and batch input
  prefixes, writes model artifacts (under ``models/<model_name>/``) and batch predictions, uses the data and ML keys,
  pulls only the job image and writes only SageMaker's own logs and metrics;
- per workflow a STANDARD state machine with logging level ALL (execution data included) to a log group of its own
  (ops key, retention) and X-Ray tracing, and a role only Step Functions acting for this account can assume, which
  may invoke exactly the workflow's functions, run jobs only under the workflow's name prefix, pass only the jobs
  role (``iam:PassedToService`` = SageMaker), and manage only the EventBridge managed rule its ``.sync`` integration
  needs (Step Functions Developer Guide, "IAM policies for Amazon SageMaker AI").

Job names are ``<prefix>-<short id>`` (12 random hex digits; SageMaker's 63-character limit is checked at synth time),
and SageMaker writes job and model ARNs in lower case, so the prefixes are lower case and the roles' ARN patterns match
them exactly.
"""

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from constructs import Construct
from constructs.alarms import AlarmSpec, any_in_five_minutes
from constructs.aws_modules import aws
from constructs.log_group import LogsSettings, owned_log_group
from constructs.naming import Kind, Naming, NamingError
from constructs.policy import Statement, allow, document, service_trust_policy
from constructs.refs import BucketRef, Deployment, FunctionRef, KeyRef, TableRef, TopicRef
from constructs.serving_role import sagemaker_runtime_statements
from constructs.serving_rules import XGBOOST_IMAGES
from constructs.settings import Settings
from constructs.workflow_definitions import (
    BATCH_INPUT_PREFIX,
    BATCH_MANIFEST_PREFIX,
    BATCH_OUTPUT_PREFIX,
    MODELS_PREFIX,
    SHORT_ID_LENGTH,
    BatchWorkflow,
    TrainingWorkflow,
    asl_problems,
    batch_definition,
    training_definition,
)

# Sids of the statements on Resource "*" (tests/unit/test_invariants.py keeps the allowlist): CloudWatch Logs' log
# delivery actions and X-Ray have no resource-level permissions (Service Authorization Reference; Step Functions
# Developer Guide, "IAM policies for logging to CloudWatch Logs" and "IAM policies for using AWS X-Ray").
LOG_DELIVERY_SID = "LogDeliveryNoResourceLevelPermissions"
XRAY_SID = "XRayNoResourceLevelPermissions"
INSTANCE_TYPE = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"

# SageMaker CreateTrainingJob: at most 100 hyperparameters, keys of at most 256 and values of at most 2,500 characters.
HyperparameterKey = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_.:-]+$")]
HyperparameterValue = Annotated[str, Field(max_length=2500, pattern=r"^[^\x00-\x1f]*$")]


class TrainingSettings(Settings):
    """Knobs of the training workflow (``training`` in cdktf.json)."""

    model_name: str = Field("model", pattern=r"^[a-z0-9](-?[a-z0-9])*$", max_length=63)  # registry key, S3 prefix
    image_uri: str | None = None  # training image (ECR, this region); None: the region's built-in XGBoost image
    instance_type: str = Field("ml.m5.xlarge", pattern=INSTANCE_TYPE)  # EBS-backed: the volume takes the ML key
    instance_count: int = Field(1, ge=1, le=100)
    volume_size_gb: int = Field(30, ge=1, le=16384)  # SageMaker: 1-16,384 GB per instance
    max_runtime_seconds: int = Field(86_400, ge=1, le=2_419_200)  # SageMaker: at most 28 days
    hyperparameters: dict[HyperparameterKey, HyperparameterValue] = Field(
        default_factory=lambda: {"objective": "binary:logistic", "eval_metric": "auc", "num_round": "100"},
        max_length=100,
    )
    # The approval gate: a registered version waits for a reviewer (POST /approvals). None: on exactly where
    # stateful resources are protected (protect_stateful).
    approval_required: bool | None = None
    approval_timeout_hours: int = Field(72, ge=1, le=8760)  # then the version is rejected (a year: STANDARD's max)
    # Training is started by uploads under data_lake.raw_event_prefix and by triggers.training_schedule.


class BatchSettings(Settings):
    """Knobs of the batch-inference workflow (``batch`` in cdktf.json)."""

    instance_type: str = Field("ml.m5.large", pattern=INSTANCE_TYPE)
    instance_count: int = Field(1, ge=1, le=100)
    max_concurrency: int = Field(4, ge=1, le=40)  # transform jobs at once (each counts against the account's quota)
    max_payload_mb: int = Field(6, ge=1, le=100)  # SageMaker: MaxPayloadInMB 0-100; a request's maximum size


@dataclass(frozen=True)
class WorkflowFunctions:
    """The functions the training workflow invokes."""

    validate: FunctionRef
    preprocess: FunctionRef
    evaluate: FunctionRef
    approval: FunctionRef


@dataclass(frozen=True)
class WorkflowsProps:
    """The workflows: what they are wired to; their knobs are ``training`` and ``batch``."""

    deployment: Deployment  # naming, account, region, partition
    functions: WorkflowFunctions
    processed_bucket: BucketRef  # training CSVs, batch manifests and input, batch predictions
    artifacts_bucket: BucketRef  # model artifacts (models/<model_name>/<version>/)
    registry_table: TableRef  # the model registry: versions are put (never overwritten) and decided
    alerts_topic: TopicRef  # every outcome and failure is published here
    data_key: KeyRef  # processed bucket and registry table
    ml_key: KeyRef  # artifacts bucket, job volumes and model output
    ops_key: KeyRef  # log groups and the alerts topic
    metric_name: str  # the metric evaluate checks (functions.metric_name)
    approval_required: bool  # resolved: training.approval_required, else protect_stateful
    training: TrainingSettings
    batch: BatchSettings
    logs: LogsSettings


def training_image(region: str, settings: TrainingSettings) -> str:
    """The configured training image, else the region's built-in XGBoost image (config validation checks both)."""
    return settings.image_uri or XGBOOST_IMAGES[region]


def job_prefix_problems(naming: Naming, component: str) -> list[str]:
    """A job name ``<naming.name(component)>-<short id>`` must fit SageMaker's 63-character rule."""
    prefix = naming.name(component, Kind.SAGEMAKER)
    try:
        naming.check(f"{prefix}-{'0' * SHORT_ID_LENGTH}", Kind.SAGEMAKER, f"{component} job")
    except NamingError as error:
        return [error.detail]
    return []


class Workflows(Construct):
    """Exposes ``jobs_role``, ``training`` and ``batch`` (aws SfnStateMachine), ``training_arn``, ``batch_arn``,
    ``training_definition`` and ``batch_definition`` (the data), ``training_job_prefix``, ``batch_job_prefix``,
    ``log_groups``."""

    def __init__(self, scope: Construct, id: str, props: WorkflowsProps) -> None:
        super().__init__(scope, id)
        d, n = props.deployment, props.deployment.naming
        problems = job_prefix_problems(n, "train") + job_prefix_problems(n, "batch")
        if problems:
            raise NamingError(n.env, "; ".join(problems))
        self._props = props
        self.training_job_prefix = n.name("train", Kind.SAGEMAKER)
        self.batch_job_prefix = n.name("batch", Kind.SAGEMAKER)
        image = training_image(d.region, props.training)

        self.jobs_role = aws.iam_role.IamRole(
            self,
            "jobs-role",
            name=n.name("sagemaker-jobs", Kind.IAM_ROLE),
            description="Execution role of the training and batch transform jobs",
            assume_role_policy=service_trust_policy(
                "SageMakerAssumesRoleForThisAccount", "sagemaker.amazonaws.com", d.account_id
            ),
        )
        aws.iam_role_policy.IamRolePolicy(
            self,
            "jobs-policy",
            name=n.name("sagemaker-jobs", Kind.IAM_POLICY),
            role=self.jobs_role.name,
            policy=document(*self._jobs_statements(image)),
        )
        t, b = props.training, props.batch
        self.training_definition = training_definition(
            TrainingWorkflow(
                job_prefix=self.training_job_prefix,
                validate_arn=props.functions.validate.arn,
                preprocess_arn=props.functions.preprocess.arn,
                evaluate_arn=props.functions.evaluate.arn,
                approval_arn=props.functions.approval.arn if props.approval_required else None,
                approval_timeout_seconds=t.approval_timeout_hours * 3600,
                training_image=image,
                jobs_role_arn=self.jobs_role.arn,
                processed_bucket=props.processed_bucket.name,
                artifacts_bucket=props.artifacts_bucket.name,
                ml_key_arn=props.ml_key.arn,
                registry_table=props.registry_table.name,
                alerts_topic_arn=props.alerts_topic.arn,
                model_name=t.model_name,
                metric_name=props.metric_name,
                instance_type=t.instance_type,
                instance_count=t.instance_count,
                volume_size_gb=t.volume_size_gb,
                max_runtime_seconds=t.max_runtime_seconds,
                hyperparameters=dict(t.hyperparameters),
            )
        )
        self.batch_definition = batch_definition(
            BatchWorkflow(
                job_prefix=self.batch_job_prefix,
                registry_table=props.registry_table.name,
                processed_bucket=props.processed_bucket.name,
                data_key_arn=props.data_key.arn,
                ml_key_arn=props.ml_key.arn,
                image=image,
                jobs_role_arn=self.jobs_role.arn,
                alerts_topic_arn=props.alerts_topic.arn,
                model_name=t.model_name,
                instance_type=b.instance_type,
                instance_count=b.instance_count,
                max_concurrency=b.max_concurrency,
                max_payload_mb=b.max_payload_mb,
            )
        )
        for name, definition in (("training", self.training_definition), ("batch", self.batch_definition)):
            broken = asl_problems(definition)
            if broken:
                raise ValueError(f"{name} workflow definition: " + "; ".join(broken))

        self.log_groups: dict[str, Any] = {}
        self.training = self._state_machine("training", self.training_definition, self._training_statements())
        self.batch = self._state_machine("batch-inference", self.batch_definition, self._batch_statements())
        self.training_arn: str = self.training.arn
        self.batch_arn: str = self.batch.arn

    def alarm_specs(self) -> list[AlarmSpec]:
        """Per state machine: executions failed, timed out, and throttled (StartExecution refused)."""
        kinds = (
            (
                "failed",
                "ExecutionsFailed",
                "an execution failed. Check first: the execution's event history in the Step Functions console (the "
                "failed state and its error), then the alerts mail NotifyFailure sent with the same cause.",
            ),
            (
                "timed-out",
                "ExecutionsTimedOut",
                "an execution ran past its timeout. Check first: the state it was in (a SageMaker job's status, or an "
                "approval nobody answered), then the job's max runtime.",
            ),
            (
                "throttled",
                "ExecutionThrottled",
                "Step Functions throttled state transitions or StartExecution. Check first: how many executions run "
                "at once (a burst of uploads starts one each) and the account's Step Functions quotas.",
            ),
        )
        specs = []
        for machine in (self.training, self.batch):
            component = machine.node.id
            for kind, metric, check in kinds:
                specs.append(
                    any_in_five_minutes(
                        f"{component}-{kind}",
                        f"Workflow {component}: {check}",
                        "training",
                        "AWS/States",
                        metric,
                        {"StateMachineArn": machine.arn},
                    )
                )
        return specs

    def _arn(self, service: str, resource: str) -> str:
        d = self._props.deployment
        return f"arn:{d.partition}:{service}:{d.region}:{d.account_id}:{resource}"

    def _jobs_statements(self, image: str) -> list[Statement]:
        p = self._props
        processed, artifacts = p.processed_bucket.arn, p.artifacts_bucket.arn
        models = f"{artifacts}/{MODELS_PREFIX}{p.training.model_name}/*"
        return [
            allow(
                "ReadTrainingAndBatchInput",
                ["s3:GetObject"],
                [f"{processed}/training/*", f"{processed}/{BATCH_INPUT_PREFIX}*"],
            ),
            allow(
                "ListTrainingAndBatchInput",
                ["s3:ListBucket"],
                [processed],
                Condition={"StringLike": {"s3:prefix": ["training/*", f"{BATCH_INPUT_PREFIX}*"]}},
            ),
            allow("WriteAndReadModelArtifacts", ["s3:GetObject", "s3:PutObject"], [models]),
            allow("WriteBatchPredictions", ["s3:PutObject"], [f"{processed}/{BATCH_OUTPUT_PREFIX}*"]),
            allow("UseDataKey", ["kms:Decrypt", "kms:GenerateDataKey"], [p.data_key.arn]),
            allow("UseMlKey", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [p.ml_key.arn]),
            allow(
                "GrantMlKeyToAwsResources",
                ["kms:CreateGrant"],
                [p.ml_key.arn],
                Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            *sagemaker_runtime_statements(
                p.deployment, [image], ["/aws/sagemaker/TrainingJobs*", "/aws/sagemaker/TransformJobs*"]
            ),
        ]

    def _common_statements(self, sync_rule: str) -> list[Statement]:
        """Both workflows: pass the jobs role to SageMaker, the .sync rule, alerts, log delivery and X-Ray."""
        p = self._props
        return [
            allow(
                "PassJobsRoleToSageMaker",
                ["iam:PassRole"],
                [self.jobs_role.arn],
                Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
            # The managed rule through which the .sync integration learns that a job finished.
            allow(
                "SyncIntegrationManagedRule",
                ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
                [self._arn("events", f"rule/{sync_rule}")],
            ),
            allow("PublishAlerts", ["sns:Publish"], [p.alerts_topic.arn]),
            allow("UseOpsKeyForAlerts", ["kms:Decrypt", "kms:GenerateDataKey"], [p.ops_key.arn]),
            allow(
                LOG_DELIVERY_SID,
                [
                    "logs:CreateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:DescribeLogGroups",
                    "logs:DescribeResourcePolicies",
                    "logs:GetLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:UpdateLogDelivery",
                ],
                ["*"],
            ),
            allow(
                XRAY_SID,
                [
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:PutTelemetryRecords",
                    "xray:PutTraceSegments",
                ],
                ["*"],
            ),
        ]

    def _training_statements(self) -> list[Statement]:
        p, f = self._props, self._props.functions
        functions = [f.validate.arn, f.preprocess.arn, f.evaluate.arn]
        if p.approval_required:
            functions.append(f.approval.arn)
        registry_writes = ["dynamodb:PutItem"] + (["dynamodb:UpdateItem"] if p.approval_required else [])
        return [
            allow("InvokeWorkflowFunctions", ["lambda:InvokeFunction"], functions),
            allow(
                "RunTrainingJobs",
                ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
                [self._arn("sagemaker", f"training-job/{self.training_job_prefix}-*")],
            ),
            allow("RegisterModelVersions", registry_writes, [p.registry_table.arn]),
            allow("UseDataKeyForRegistry", ["kms:Decrypt", "kms:GenerateDataKey"], [p.data_key.arn]),
            *self._common_statements("StepFunctionsGetEventsForSageMakerTrainingJobsRule"),
        ]

    def _batch_statements(self) -> list[Statement]:
        p = self._props
        return [
            allow("ReadRegistry", ["dynamodb:GetItem"], [p.registry_table.arn]),
            allow("ReadBatchManifests", ["s3:GetObject"], [f"{p.processed_bucket.arn}/{BATCH_MANIFEST_PREFIX}*"]),
            allow("UseDataKey", ["kms:Decrypt"], [p.data_key.arn]),
            allow(
                "ManageBatchModels",
                ["sagemaker:CreateModel", "sagemaker:DeleteModel"],
                [self._arn("sagemaker", f"model/{self.batch_job_prefix}-*")],
            ),
            allow(
                "RunTransformJobs",
                ["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
                [self._arn("sagemaker", f"transform-job/{self.batch_job_prefix}-*")],
            ),
            *self._common_statements("StepFunctionsGetEventsForSageMakerTransformJobsRule"),
        ]

    def _state_machine(self, component: str, definition: dict[str, Any], statements: list[Statement]) -> Any:
        p, n = self._props, self._props.deployment.naming
        name = n.name(component, Kind.STATE_MACHINE)
        # /aws/vendedlogs/: Step Functions delivers logs through CloudWatch Logs' vended-log delivery, whose resource
        # policy has a size limit; this prefix is what AWS recommends so that one policy covers every state machine.
        log_group = owned_log_group(
            self,
            f"{component}-logs",
            naming=n,
            name=f"/aws/vendedlogs/states/{name}",
            component=component,
            retention_days=p.logs.retention_days,
            kms_key_arn=p.ops_key.arn,
        )
        self.log_groups[component] = log_group
        role = aws.iam_role.IamRole(
            self,
            f"{component}-role",
            name=n.name(f"{component}-sfn", Kind.IAM_ROLE),
            description=f"Execution role of the {component} state machine",
            assume_role_policy=service_trust_policy(
                "StepFunctionsAssumesRoleForThisAccount", "states.amazonaws.com", p.deployment.account_id
            ),
        )
        policy = aws.iam_role_policy.IamRolePolicy(
            self,
            f"{component}-policy",
            name=n.name(f"{component}-sfn", Kind.IAM_POLICY),
            role=role.name,
            policy=document(*statements),
        )
        sfn = aws.sfn_state_machine
        return sfn.SfnStateMachine(
            self,
            component,
            name=name,
            type="STANDARD",
            role_arn=role.arn,
            definition=json.dumps(definition),
            logging_configuration=sfn.SfnStateMachineLoggingConfiguration(
                log_destination=f"{log_group.arn}:*", include_execution_data=True, level="ALL"
            ),
            tracing_configuration=sfn.SfnStateMachineTracingConfiguration(enabled=True),
            # Step Functions checks the role's rights (log delivery) when the state machine is created.
            depends_on=[policy],
        )
