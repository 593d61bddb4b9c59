"""Policies swept over *every* resource of *every* synthesized stack (ARCHITECTURE §4, §8).

A new resource is covered the moment it is added: these tests walk the JSON, they do not list resources by hand.
"""

import json
import re
from typing import Any

import pytest

from tests.support.synth import of_type, path_of, resources

# Where an Allow may name Resource "*", with the reason. KMS key policies are resource policies: "*" there means
# "this key" and nothing else can be named. The statements by Sid are the actions AWS offers no resource-level
# permission for.
WILDCARD_RESOURCE_TYPES = {"aws_kms_key": "a key policy's Resource '*' is the key itself"}
WILDCARD_STATEMENTS = {
    "XRayNoResourceLevelPermissions": "xray:PutTraceSegments/PutTelemetryRecords (and, for Step Functions, "
    "GetSamplingRules/GetSamplingTargets) have no resource-level permissions",
    "AnswerWorkflowTasksNoResourceLevelPermissions": "states:SendTaskSuccess/SendTaskFailure have no resource types "
    "(Service Authorization Reference); the task token names the one waiting task",
    "LogDeliveryNoResourceLevelPermissions": "CloudWatch Logs' log-delivery actions a state machine's role needs for "
    "its logging configuration have no resource-level permissions (Step Functions Developer Guide, IAM policies for "
    "logging to CloudWatch Logs)",
    "EcrAuthTokenNoResourceLevelPermissions": "ecr:GetAuthorizationToken has no resource-level permissions",
    "PutSageMakerMetricsNoResourceLevelPermissions": "cloudwatch:PutMetricData has no resource-level permissions; "
    "the statement is limited by the cloudwatch:namespace condition to SageMaker's /aws/sagemaker/* namespaces",
}
# A wildcard statement of the allowlist that must also carry this condition (its only limit).
WILDCARD_CONDITIONS = {
    "PutSageMakerMetricsNoResourceLevelPermissions": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
}
# Names that live inside a parent (one API, one web ACL) and are not account-wide; or whose form AWS fixes.
SCOPED_NAME_TYPES = {
    "aws_api_gateway_model": "schema names are per API and must be alphanumeric",
    "aws_api_gateway_request_validator": "validator names are per API",
    "aws_api_gateway_stage": "the stage name is the URL path segment (v1)",
    "aws_glue_catalog_table": "table names are per Glue database (and Athena-friendly: letters, digits, _)",
}
FIXED_NAME_PREFIXES = ("API-Gateway-Execution-Logs_",)  # API Gateway writes execution logs only to this group
# Names AWS prefixes by convention; the rest of the name must follow ours.
NAME_PREFIXES = (
    "/aws/lambda/",
    "/aws/sagemaker/Endpoints/",
    "/aws/apigateway/",
    "aws-waf-logs-",
    "/aws/vendedlogs/states/",
    "/aws/vendedlogs/",
    "/aws-glue/crawlers-role/",
)
REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "Repository"}
ENV_REQUIRED_TAGS = REQUIRED_TAGS | {"Owner", "CostCenter"}
STATEFUL = ("aws_s3_bucket", "aws_dynamodb_table", "aws_kinesis_stream")


BOOTSTRAPS = [f"state-backend-{account}-us-east-1" for account in ("111111111111", "222222222222", "333333333333")]
ENVIRONMENT_ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}


@pytest.fixture(scope="module", params=[*BOOTSTRAPS, *(f"ml-pipeline-{env}" for env in ENVIRONMENT_ACCOUNTS)])
def stack(request, synthesized) -> dict[str, Any]:
    return synthesized.stack(request.param)


def _bucket_children(stack: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    """Map bucket construct path -> the child resource of ``rtype`` configuring it."""
    return {path_of(body).rsplit("/", 1)[0]: body for body in of_type(stack, rtype).values()}


def _buckets(stack):
    return {path_of(body).rsplit("/", 1)[0]: body for body in of_type(stack, "aws_s3_bucket").values()}


def _is_logs_bucket(bucket: dict[str, Any]) -> bool:
    return bucket["bucket"].startswith(("mlpipe-access-logs-", "mlpipe-tfstate-logs-"))


def test_every_bucket_is_fully_hardened(stack):
    buckets = _buckets(stack)
    assert buckets, "every stack has buckets"
    checks = {
        "aws_s3_bucket_public_access_block": lambda b: all(
            b[k] is True
            for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        ),
        "aws_s3_bucket_ownership_controls": lambda b: b["rule"] == {"object_ownership": "BucketOwnerEnforced"},
        "aws_s3_bucket_versioning": lambda b: b["versioning_configuration"] == {"status": "Enabled"},
        "aws_s3_bucket_lifecycle_configuration": lambda b: (
            b["rule"][0]["noncurrent_version_expiration"][0]["noncurrent_days"] > 0
        ),
        "aws_s3_bucket_server_side_encryption_configuration": lambda b: (
            b["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] in ("aws:kms", "AES256")
        ),
    }
    for rtype, check in checks.items():
        children = _bucket_children(stack, rtype)
        for path in buckets:
            assert path in children, f"{path} has no {rtype}"
            assert check(children[path]), f"{path}: {rtype} is not hardened: {children[path]}"


def test_only_log_targets_use_sse_s3_and_everything_else_uses_a_kms_key(stack):
    sse = _bucket_children(stack, "aws_s3_bucket_server_side_encryption_configuration")
    for path, bucket in _buckets(stack).items():
        default = sse[path]["rule"][0]["apply_server_side_encryption_by_default"]
        if _is_logs_bucket(bucket):
            assert default == {"sse_algorithm": "AES256"}, path  # S3 log delivery requires SSE-S3
        else:
            assert default["sse_algorithm"] == "aws:kms", path
            assert re.fullmatch(r"\$\{aws_kms_key\.[\w-]+\.arn\}", default["kms_master_key_id"]), path
            assert sse[path]["rule"][0]["bucket_key_enabled"] is True


def test_every_bucket_policy_is_tls_only_and_never_public(stack):
    policies = _bucket_children(stack, "aws_s3_bucket_policy")
    for path in _buckets(stack):
        statements = json.loads(policies[path]["policy"])["Statement"]
        tls = [s for s in statements if s["Sid"] == "DenyInsecureTransport"]
        assert tls and tls[0]["Effect"] == "Deny" and tls[0]["Principal"] == "*", path
        assert tls[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in statements:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] != "*" and "AWS" not in statement["Principal"], (path, statement)


def test_every_non_log_bucket_logs_access(stack):
    logging = _bucket_children(stack, "aws_s3_bucket_logging")
    for path, bucket in _buckets(stack).items():
        assert (path in logging) != _is_logs_bucket(bucket), path


def test_every_key_rotates_and_has_an_explicit_policy(stack):
    for _, logical_id, key in resources(stack, "aws_kms_key"):
        assert key["enable_key_rotation"] is True, logical_id
        assert 7 <= key["deletion_window_in_days"] <= 30, logical_id
        policy = json.loads(key["policy"])
        assert policy["Statement"][0]["Sid"] == "AccountRootAdministersKey"
        for statement in policy["Statement"][1:]:
            assert "Service" in statement["Principal"], logical_id
            assert statement["Condition"], f"{logical_id}: service statement without a condition"


def test_every_table_has_pitr_and_a_customer_managed_key(stack):
    for _, logical_id, table in resources(stack, "aws_dynamodb_table"):
        assert table["point_in_time_recovery"] == {"enabled": True}, logical_id
        assert table["server_side_encryption"]["enabled"] is True, logical_id
        assert table["server_side_encryption"]["kms_key_arn"].startswith("${aws_kms_key."), logical_id


def test_every_stream_is_kms_encrypted(stack):
    for _, logical_id, stream in resources(stack, "aws_kinesis_stream"):
        assert stream["encryption_type"] == "KMS", logical_id
        assert stream["kms_key_id"].startswith("${aws_kms_key."), logical_id


def _policy_documents(stack):
    for rtype, logical_id, body in resources(stack):
        for field in ("policy", "assume_role_policy"):
            if isinstance(body.get(field), str) and body[field].lstrip().startswith("{"):
                yield rtype, logical_id, field, json.loads(body[field])


def test_no_wildcard_resource_outside_the_allowlist(stack):
    for rtype, logical_id, field, document in _policy_documents(stack):
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            targets = statement.get("Resource", [])
            targets = [targets] if isinstance(targets, str) else targets
            if "*" in targets:
                allowed = rtype in WILDCARD_RESOURCE_TYPES or statement.get("Sid") in WILDCARD_STATEMENTS
                assert allowed, f"{rtype}.{logical_id}.{field}: Allow on '*' ({statement})"
                if statement.get("Sid") in WILDCARD_CONDITIONS:
                    assert statement.get("Condition") == WILDCARD_CONDITIONS[statement["Sid"]], (rtype, logical_id)


def test_default_tags_cover_every_taggable_resource(stack, request):
    tags = stack["provider"]["aws"][0]["default_tags"][0]["tags"]
    required = REQUIRED_TAGS if request.node.callspec.params["stack"] in BOOTSTRAPS else ENV_REQUIRED_TAGS
    assert required <= set(tags)
    assert all(tags[k] for k in required)
    assert tags["ManagedBy"] == "cdktf"


def test_every_name_follows_the_convention(synthesized):
    for env, account in ENVIRONMENT_ACCOUNTS.items():
        stack = synthesized.stack(f"ml-pipeline-{env}")
        for rtype, logical_id, body in resources(stack):
            name = body.get("bucket") if rtype == "aws_s3_bucket" else body.get("name")
            if not isinstance(name, str) or rtype == "aws_kms_alias" or rtype in SCOPED_NAME_TYPES:
                continue
            if name.startswith(FIXED_NAME_PREFIXES):
                continue
            name = next((name.removeprefix(p) for p in NAME_PREFIXES if name.startswith(p)), name)
            if rtype == "aws_glue_catalog_database":  # Athena-friendly: underscores where our names have hyphens
                name = name.replace("_", "-")
            # Bucket names are global: they carry the environment's deploy account and region.
            tail = f"-{account}-us-east-1" if rtype == "aws_s3_bucket" else ""
            pattern = rf"mlpipe-[a-z0-9-]+-{env}{tail}(/[a-z0-9-]+)*"
            assert re.fullmatch(pattern, name), f"{rtype}.{logical_id}: {name}"


def test_every_bucket_name_carries_its_account_and_region(synthesized):
    """S3 bucket names are one namespace across every AWS account: ours end with the deploy account and region."""
    for name, stack in synthesized.stacks.items():
        env = name.removeprefix("ml-pipeline-")
        account = ENVIRONMENT_ACCOUNTS.get(env) or name.split("-")[2]  # state-backend-<account>-<region>
        buckets = [body["bucket"] for body in of_type(stack, "aws_s3_bucket").values()]
        assert buckets, name
        assert all(b.endswith(f"-{account}-us-east-1") for b in buckets), (name, buckets)


def test_no_backend_outside_its_environments_reach(synthesized, base_context):
    """Each environment's state lives in its own deploy account and region: its credentials reach it."""
    for env, settings in base_context["environments"].items():
        backend = synthesized.stack(f"ml-pipeline-{env}")["terraform"]["backend"]["s3"]
        account, region = settings["account_ids"][0], settings["region"]
        assert backend["bucket"] == f"mlpipe-tfstate-{account}-{region}", env
        assert backend["region"] == region, env
        assert backend["kms_key_id"] == f"arn:aws:kms:{region}:{account}:alias/mlpipe-tfstate", env
        assert backend["use_lockfile"] is True, env


def test_stateful_resources_are_protected_in_prod_only(synthesized):
    for env, protected in (("dev", False), ("staging", False), ("prod", True)):
        stack = synthesized.stack(f"ml-pipeline-{env}")
        for rtype in STATEFUL:
            for logical_id, body in of_type(stack, rtype).items():
                assert (body.get("lifecycle") == {"prevent_destroy": True}) is protected, f"{env} {logical_id}"


def _protected(body: dict[str, Any]) -> bool:
    return body.get("lifecycle", {}).get("prevent_destroy") is True


def test_keys_are_protected_wherever_stateful_resources_are(stack):
    """A destroyed key takes everything it encrypted with it, so a stack that protects any bucket, table or stream
    protects every KMS key too (KmsKeyProps.protect; the state bootstrap's own key)."""
    stateful = [body for rtype in STATEFUL for body in of_type(stack, rtype).values()]
    if not any(_protected(body) for body in stateful):
        return  # nothing is protected here (dev, staging): keys may be destroyed with the rest
    keys = of_type(stack, "aws_kms_key")
    assert keys, "a protected stack without keys: the sweep would check nothing"
    unprotected = sorted(path_of(key) for key in keys.values() if not _protected(key))
    assert unprotected == [], "keys without prevent_destroy next to protected stateful resources"


def test_no_cross_stack_references(synthesized):
    for name, stack in synthesized.stacks.items():
        text = json.dumps(stack)
        assert "terraform_remote_state" not in text, name
        assert "data.terraform_remote_state" not in text, name
