"""Exact values of the foundation resources (ARCHITECTURE §3, §4) in the synthesized JSON."""

import json

import pytest
from cdktf import App, TerraformStack

from constructs.aws_modules import aws
from constructs.encryption import KmsKey, KmsKeyProps
from constructs.naming import Naming
from constructs.tables import PREDICTIONS_VARIANT_SHARDS
from tests.support.synth import by_path, of_type, path_of, policy_of, ref_id

DEV = "ml-pipeline-dev"
PROD = "ml-pipeline-prod"
DEV_STATE = "state-backend-111111111111-us-east-1"  # dev's account and region keep its state
# Every environment of the committed config in its own account, all in us-east-1.
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
ACCOUNT_REF = "${data.aws_caller_identity.caller.account_id}"


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.stack(DEV)


@pytest.fixture(scope="module")
def prod(synthesized):
    return synthesized.stack(PROD)


# --- state and provider (§3) -------------------------------------------------------------------------------------


def test_environment_backend_is_s3_with_encryption_kms_and_native_locking(dev):
    assert dev["terraform"]["backend"] == {
        "s3": {
            "bucket": "mlpipe-tfstate-111111111111-us-east-1",
            "key": "mlpipe/dev/terraform.tfstate",
            "region": "us-east-1",
            "encrypt": True,
            "kms_key_id": "arn:aws:kms:us-east-1:111111111111:alias/mlpipe-tfstate",
            "use_lockfile": True,
        }
    }


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_each_environment_keeps_its_state_in_its_own_account(synthesized, env):
    account = ACCOUNTS[env]
    assert synthesized.stack(f"ml-pipeline-{env}")["terraform"]["backend"] == {
        "s3": {
            "bucket": f"mlpipe-tfstate-{account}-us-east-1",
            "key": f"mlpipe/{env}/terraform.tfstate",
            "region": "us-east-1",
            "encrypt": True,
            "kms_key_id": f"arn:aws:kms:us-east-1:{account}:alias/mlpipe-tfstate",
            "use_lockfile": True,
        }
    }


def test_local_backend_mode_is_explicit(synth_variant):
    def local(context):
        context["environments"]["dev"]["backend"] = {"mode": "local"}

    stack = synth_variant(local).stack(DEV)
    assert stack["terraform"]["backend"] == {"local": {"path": "../../../terraform.ml-pipeline-dev.tfstate"}}


def test_provider_pins_account_and_tags(dev, prod):
    provider = dev["provider"]["aws"][0]
    assert provider["region"] == "us-east-1"
    assert provider["allowed_account_ids"] == ["111111111111"]
    assert provider["default_tags"] == [
        {
            "tags": {
                "Project": "mlpipe",
                "Environment": "dev",
                "Owner": "ml-platform",
                "CostCenter": "cc-ml-dev",
                "ManagedBy": "cdktf",
                "Repository": "example-org/ml-pipeline-infra",
            }
        }
    ]
    assert prod["provider"]["aws"][0]["allowed_account_ids"] == ["333333333333"]
    assert dev["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"


def test_state_backend_stack(synthesized):
    stack = synthesized.stack(DEV_STATE)
    assert stack["terraform"]["backend"] == {"local": {"path": f"../../../terraform.{DEV_STATE}.tfstate"}}
    assert stack["provider"]["aws"][0]["region"] == "us-east-1"
    assert stack["provider"]["aws"][0]["allowed_account_ids"] == ["111111111111"]
    bucket = by_path(stack, "aws_s3_bucket", "/state/bucket")
    assert bucket["bucket"] == "mlpipe-tfstate-111111111111-us-east-1"
    logs = by_path(stack, "aws_s3_bucket", "/state-access-logs/bucket")
    assert logs["bucket"] == "mlpipe-tfstate-logs-111111111111-us-east-1"
    assert bucket["lifecycle"] == {"prevent_destroy": True}
    key = next(iter(of_type(stack, "aws_kms_key").values()))
    assert key["enable_key_rotation"] is True
    assert key["lifecycle"] == {"prevent_destroy": True}
    alias = next(iter(of_type(stack, "aws_kms_alias").values()))
    assert alias["name"] == "alias/mlpipe-tfstate"
    # The environment backends name the alias, so the wrong-key deny accepts key ARN and alias ARN.
    policy = policy_of(by_path(stack, "aws_s3_bucket_policy", "/state/policy"))
    wrong_key = next(s for s in policy["Statement"] if s["Sid"] == "DenyWrongKmsKey")
    accepted = wrong_key["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption-aws-kms-key-id"]
    assert accepted == [
        f"${{aws_kms_key.{ref_id(key)}.arn}}",
        "arn:aws:kms:us-east-1:111111111111:alias/mlpipe-tfstate",
    ]
    lifecycle = by_path(stack, "aws_s3_bucket_lifecycle_configuration", "/state/lifecycle")
    assert lifecycle["rule"][0]["noncurrent_version_expiration"] == [{"noncurrent_days": 90}]
    assert set(stack["output"]) == {"state_bucket", "state_region", "state_kms_key_arn", "state_kms_key_alias_arn"}


def test_one_state_backend_stack_per_account_and_region(synthesized):
    state_stacks = {name: stack for name, stack in synthesized.stacks.items() if name.startswith("state-backend")}
    assert set(state_stacks) == {f"state-backend-{account}-us-east-1" for account in ACCOUNTS.values()}
    for name, stack in state_stacks.items():
        account = name.split("-")[2]
        assert stack["provider"]["aws"][0]["allowed_account_ids"] == [account]
        assert by_path(stack, "aws_s3_bucket", "/state/bucket")["bucket"] == f"mlpipe-tfstate-{account}-us-east-1"


# --- KMS (§4) --------------------------------------------------------------------------------------------------


def test_three_domain_keys_with_rotation_window_and_aliases(dev):
    keys = {path_of(k).split("/")[1]: k for k in of_type(dev, "aws_kms_key").values()}
    assert set(keys) == {"data-key", "ops-key", "ml-key"}
    for key in keys.values():
        assert key["enable_key_rotation"] is True
        assert key["deletion_window_in_days"] == 7  # dev config
        assert key["customer_master_key_spec"] == "SYMMETRIC_DEFAULT"
    aliases = sorted(a["name"] for a in of_type(dev, "aws_kms_alias").values())
    assert aliases == ["alias/mlpipe-data-key-dev", "alias/mlpipe-ml-key-dev", "alias/mlpipe-ops-key-dev"]


def test_key_policies_name_root_admin_and_scope_services(dev):
    keys = {path_of(k).split("/")[1]: policy_of(k) for k in of_type(dev, "aws_kms_key").values()}
    for policy in keys.values():
        root = policy["Statement"][0]
        assert root["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_REF}:root"}
        assert root["Action"] == "kms:*"
    assert len(keys["data-key"]["Statement"]) == 1  # no service principal may use the data key directly
    services = {s["Principal"]["Service"]: s for s in keys["ops-key"]["Statement"][1:]}
    assert set(services) == {
        "logs.us-east-1.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        "budgets.amazonaws.com",
    }
    assert services["logs.us-east-1.amazonaws.com"]["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{ACCOUNT_REF}:log-group:*"}
    }
    for name in ("cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"):
        assert services[name]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    for name in ("cloudwatch.amazonaws.com", "budgets.amazonaws.com"):
        assert services[name]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_REF}}
    # EventBridge-to-encrypted-topic deliveries carry no source keys (SNS Developer Guide; see publisher_grant): its
    # statement is narrowed by the SNS encryption context instead (exact values: tests/unit/test_event_rules.py).
    events = services["events.amazonaws.com"]
    assert "aws:Source" not in json.dumps(events)
    assert list(events["Condition"]) == ["ArnLikeIfExists"]
    assert list(events["Condition"]["ArnLikeIfExists"]) == ["kms:EncryptionContext:aws:sns:topicArn"]


def _key_stack(tmp_path, **props):
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "keys")
    aws.provider.AwsProvider(stack, "aws", region="us-east-1")
    KmsKey(
        stack, "data-key", KmsKeyProps(Naming(project="mlpipe", env="dev"), "data", "test key", "123456789012", **props)
    )
    app.synth()
    return json.loads((tmp_path / "stacks" / "keys" / "cdk.tf.json").read_text())


def test_a_key_is_not_protected_by_default(tmp_path):
    (key,) = of_type(_key_stack(tmp_path), "aws_kms_key").values()
    assert "lifecycle" not in key


def test_a_protected_key_carries_prevent_destroy(tmp_path):
    (key,) = of_type(_key_stack(tmp_path, protect=True), "aws_kms_key").values()
    assert key["lifecycle"] == {"prevent_destroy": True}
    assert key["enable_key_rotation"] is True


# --- S3 data lake (§4) -----------------------------------------------------------------------------------------

# Bucket names are global: each ends with the environment's deploy account and region.
BUCKETS = {
    "raw": "mlpipe-raw-dev-111111111111-us-east-1",
    "processed": "mlpipe-processed-dev-111111111111-us-east-1",
    "model-artifacts": "mlpipe-model-artifacts-dev-111111111111-us-east-1",
    "athena-results": "mlpipe-athena-results-dev-111111111111-us-east-1",
    "access-logs": "mlpipe-access-logs-dev-111111111111-us-east-1",
}


def test_bucket_names(dev):
    names = {path_of(b).split("/")[2]: b["bucket"] for b in of_type(dev, "aws_s3_bucket").values()}
    assert names == BUCKETS


@pytest.mark.parametrize(
    ("bucket", "key"),
    [("raw", "data-key"), ("processed", "data-key"), ("athena-results", "data-key"), ("model-artifacts", "ml-key")],
)
def test_bucket_encryption_uses_the_domain_key_with_bucket_key(dev, bucket, key):
    sse = by_path(dev, "aws_s3_bucket_server_side_encryption_configuration", f"/{bucket}/encryption")
    key_id = ref_id(by_path(dev, "aws_kms_key", f"/{key}/key"))
    assert sse["rule"] == [
        {
            "apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms",
                "kms_master_key_id": f"${{aws_kms_key.{key_id}.arn}}",
            },
            "bucket_key_enabled": True,
        }
    ]


def test_access_logs_bucket_uses_sse_s3_and_admits_only_our_log_delivery(dev):
    sse = by_path(dev, "aws_s3_bucket_server_side_encryption_configuration", "/access-logs/encryption")
    assert sse["rule"][0]["apply_server_side_encryption_by_default"] == {"sse_algorithm": "AES256"}
    policy = policy_of(by_path(dev, "aws_s3_bucket_policy", "/access-logs/policy"))
    delivery = next(s for s in policy["Statement"] if s["Sid"] == "AllowServerAccessLogDelivery")
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Resource"] == "arn:aws:s3:::mlpipe-access-logs-dev-111111111111-us-east-1/*"
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_REF}


def test_every_data_bucket_logs_to_the_access_logs_bucket_after_its_policy(dev):
    logs_bucket = ref_id(by_path(dev, "aws_s3_bucket", "/access-logs/bucket"))
    logs_policy = ref_id(by_path(dev, "aws_s3_bucket_policy", "/access-logs/policy"))
    for bucket in ("raw", "processed", "model-artifacts", "athena-results"):
        logging = by_path(dev, "aws_s3_bucket_logging", f"/{bucket}/logging")
        assert logging["target_bucket"] == f"${{aws_s3_bucket.{logs_bucket}.bucket}}"
        assert logging["target_prefix"] == f"{bucket}/"
        assert logging["depends_on"] == [f"aws_s3_bucket_policy.{logs_policy}"]
    assert not [b for b in of_type(dev, "aws_s3_bucket_logging").values() if "/access-logs/" in path_of(b)]


def test_raw_and_processed_tier_to_ia_then_glacier_then_expire(dev):
    for bucket in ("raw", "processed"):
        rule = by_path(dev, "aws_s3_bucket_lifecycle_configuration", f"/{bucket}/lifecycle")["rule"][0]
        assert rule["transition"] == [
            {"days": 30, "storage_class": "STANDARD_IA"},
            {"days": 90, "storage_class": "GLACIER"},
        ]
        assert rule["expiration"] == [{"days": 180}]  # dev config
        assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 90}]
        assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]


def test_athena_results_expire_and_artifacts_never_expire(dev):
    athena = by_path(dev, "aws_s3_bucket_lifecycle_configuration", "/athena-results/lifecycle")["rule"][0]
    assert athena["expiration"] == [{"days": 30}]
    artifacts = by_path(dev, "aws_s3_bucket_lifecycle_configuration", "/model-artifacts/lifecycle")["rule"][0]
    assert "expiration" not in artifacts and "transition" not in artifacts


def test_raw_bucket_sends_events_to_eventbridge(dev):
    assert by_path(dev, "aws_s3_bucket_notification", "/raw/events")["eventbridge"] is True


def test_dev_buckets_force_destroy_and_prod_buckets_are_protected(dev, prod):
    for bucket in of_type(dev, "aws_s3_bucket").values():
        assert bucket["force_destroy"] is True
        assert "lifecycle" not in bucket
    for bucket in of_type(prod, "aws_s3_bucket").values():
        assert bucket["force_destroy"] is False
        assert bucket["lifecycle"] == {"prevent_destroy": True}


# --- DynamoDB (§4) ---------------------------------------------------------------------------------------------


def _table(stack, component):
    return by_path(stack, "aws_dynamodb_table", f"/tables/{component}")


def test_model_registry_keys_and_status_index(dev):
    table = _table(dev, "model-registry")
    assert table["name"] == "mlpipe-model-registry-dev"
    assert (table["hash_key"], table["range_key"]) == ("model_name", "version")
    assert table["global_secondary_index"] == [
        {"name": "by-status", "hash_key": "status", "range_key": "registered_at", "projection_type": "ALL"}
    ]
    assert {a["name"] for a in table["attribute"]} == {"model_name", "version", "status", "registered_at"}


def test_predictions_ttl_and_write_sharded_variant_time_index(dev):
    table = _table(dev, "predictions")
    assert table["hash_key"] == "request_id"
    assert "range_key" not in table
    assert table["ttl"] == {"attribute_name": "expires_at", "enabled": True}
    assert table["global_secondary_index"] == [
        {
            "name": "by-variant-shard-time",
            "hash_key": "variant_shard",
            "range_key": "created_at",
            "projection_type": "ALL",
        }
    ]
    # Only key attributes are declared (DynamoDB refuses unused attribute definitions); all are strings.
    assert table["attribute"] == [
        {"name": "request_id", "type": "S"},
        {"name": "variant_shard", "type": "S"},
        {"name": "created_at", "type": "S"},
    ]


def test_predictions_index_shard_count_supports_the_write_rate():
    """16 shards x ~1,000 write units per partition per second: ~16,000 items/s per variant, and two variants stay
    under DynamoDB's default on-demand table quota of 40,000 write units per second."""
    assert PREDICTIONS_VARIANT_SHARDS == 16
    assert 2 * PREDICTIONS_VARIANT_SHARDS * 1_000 <= 40_000


def test_experiments_table(dev):
    table = _table(dev, "experiments")
    assert table["hash_key"] == "experiment_id"
    assert [a["name"] for a in table["attribute"]] == ["experiment_id"]
    assert "ttl" not in table and "global_secondary_index" not in table


def test_tables_pay_per_request_pitr_cmk(dev):
    data_key = ref_id(by_path(dev, "aws_kms_key", "/data-key/key"))
    for table in of_type(dev, "aws_dynamodb_table").values():
        assert table["billing_mode"] == "PAY_PER_REQUEST"
        assert table["point_in_time_recovery"] == {"enabled": True}
        assert table["server_side_encryption"] == {"enabled": True, "kms_key_arn": f"${{aws_kms_key.{data_key}.arn}}"}
        assert table["deletion_protection_enabled"] is False


def test_prod_tables_have_deletion_protection_and_prevent_destroy(prod):
    for table in of_type(prod, "aws_dynamodb_table").values():
        assert table["deletion_protection_enabled"] is True
        assert table["lifecycle"] == {"prevent_destroy": True}


def test_provisioned_billing_sets_capacity_on_tables_and_indexes(synth_variant):
    def provisioned(context):
        context["environments"]["dev"]["dynamodb"] = {
            "billing_mode": "PROVISIONED",
            "read_capacity": 5,
            "write_capacity": 3,
        }

    table = _table(synth_variant(provisioned).stack(DEV), "predictions")
    assert (table["billing_mode"], table["read_capacity"], table["write_capacity"]) == ("PROVISIONED", 5, 3)
    assert table["global_secondary_index"][0]["read_capacity"] == 5


# --- Kinesis (§4) ----------------------------------------------------------------------------------------------


def test_dev_stream_is_on_demand_encrypted(dev):
    stream = by_path(dev, "aws_kinesis_stream", "/streaming/stream")
    data_key = ref_id(by_path(dev, "aws_kms_key", "/data-key/key"))
    assert stream["name"] == "mlpipe-inference-requests-dev"
    assert stream["stream_mode_details"] == {"stream_mode": "ON_DEMAND"}
    assert "shard_count" not in stream
    assert stream["retention_period"] == 24
    assert (stream["encryption_type"], stream["kms_key_id"]) == ("KMS", f"${{aws_kms_key.{data_key}.arn}}")


def test_prod_stream_is_provisioned_and_protected(prod):
    stream = by_path(prod, "aws_kinesis_stream", "/streaming/stream")
    assert stream["stream_mode_details"] == {"stream_mode": "PROVISIONED"}
    assert (stream["shard_count"], stream["retention_period"]) == (2, 168)
    assert stream["lifecycle"] == {"prevent_destroy": True}


# --- outputs ---------------------------------------------------------------------------------------------------


def test_outputs_are_described_and_reference_our_resources(dev):
    outputs = dev["output"]
    assert {
        "raw_bucket",
        "processed_bucket",
        "model_artifacts_bucket",
        "athena_results_bucket",
        "access_logs_bucket",
        "model_registry_table",
        "experiments_table",
        "predictions_table",
        "inference_stream_name",
        "inference_stream_arn",
        "data_key_arn",
        "ops_key_arn",
        "ml_key_arn",
    } <= set(outputs)
    for name, output in outputs.items():
        assert len(output["description"]) > 10, name
        assert output["value"].startswith("${"), name
    assert json.dumps(outputs["predictions_table"]["value"]).count("aws_dynamodb_table.") == 1
