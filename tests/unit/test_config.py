"""Unit tests for stacks/config.py: the typed ``context`` of cdktf.json and its error messages."""

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

# Until tests/conftest.py exists: repo root on sys.path, and `import stacks` makes `constructs.<module>` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import stacks  # noqa: F401

# isort: split
import pytest

from constructs.aws_limits import LOG_RETENTION_DAYS
from constructs.naming import Kind
from stacks.config import AppConfig, ConfigError, load_config, parse_config
from stacks.state import StateLocation

ROOT = Path(__file__).resolve().parents[2]
CDKTF_JSON = ROOT / "cdktf.json"
UNKNOWN_KEY = "unknown key (check the spelling; unknown keys are rejected)"
ENDPOINT_OVERRIDE = "ML_PIPELINE_ENDPOINTS_ENABLED_DEV"
BAD_ENV_NAME = (
    "not a valid environment name; allowed: 2-16 characters of a-z, 0-9 and single hyphens, starting with a letter "
    "(e.g. dev, qa, prod-eu)"
)
S3_RULE = "allowed: 3-63 chars of a-z 0-9 . -, DNS-compatible. Shorten the project, environment or suffix name."
# The regions the config accepts, as every region problem lists them.
SUPPORTED_REGIONS = (
    "af-south-1, ap-east-1, ap-northeast-1, ap-northeast-2, ap-northeast-3, ap-south-1, ap-south-2, ap-southeast-1, "
    "ap-southeast-2, ap-southeast-3, ap-southeast-4, ap-southeast-5, ap-southeast-7, ca-central-1, ca-west-1, "
    "eu-central-1, eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-2, eu-west-3, il-central-1, "
    "me-central-1, me-south-1, mx-central-1, sa-east-1, us-east-1, us-east-2, us-west-1, us-west-2"
)


@pytest.fixture
def context() -> dict[str, Any]:
    """A fresh copy of the committed context (dev/staging/prod)."""
    return json.loads(CDKTF_JSON.read_text())["context"]


def minimal_environment(**overrides: Any) -> dict[str, Any]:
    return {
        "region": "eu-west-1",
        "account_ids": ["444444444444"],
        "owner": "team",
        "cost_center": "cc",
        # protect_stateful defaults to true, which needs someone to receive the alerts
        "alert_emails": ["oncall@example.com"],
        **overrides,
    }


def minimal_context(**environments: dict[str, Any]) -> dict[str, Any]:
    return {
        "project": "mlpipe",
        "repository": "example-org/repo",
        "environments": environments or {"dev": minimal_environment()},
    }


def parse(context: dict[str, Any], environ: dict[str, str] | None = None) -> AppConfig:
    """parse_config with an explicit (empty by default) environment: the caller's os.environ never leaks in."""
    return parse_config(context, environ or {})


def problems_of(context: dict[str, Any], environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(context, environ)
    return caught.value.problems


# dev's real model-artifacts bucket (global names end with the deploy account and region).
DEV_ARTIFACTS = "mlpipe-model-artifacts-dev-111111111111-us-east-1"


def with_models(*names_and_weights: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {"name": name, "weight": weight, "model_data_url": f"s3://{DEV_ARTIFACTS}/{name}/model.tar.gz"}
        for name, weight in names_and_weights
    ]


# --- the committed file ----------------------------------------------------------------------------------------------


def test_committed_cdktf_json_loads() -> None:
    config = load_config(CDKTF_JSON, environ={})
    assert config.project == "mlpipe"
    assert config.repository == "example-org/ml-pipeline-infra"
    assert list(config.environments) == ["dev", "staging", "prod"]


def test_committed_environments_are_all_phase_one() -> None:
    config = load_config(CDKTF_JSON, environ={})
    assert {env: c.endpoints_enabled for env, c in config.environments.items()} == {
        "dev": False,
        "staging": False,
        "prod": False,
    }


def test_committed_dev_overrides_are_applied() -> None:
    dev = load_config(CDKTF_JSON, environ={}).environments["dev"]
    assert dev.protect_stateful is False
    assert dev.data_lake.force_destroy is True
    assert (dev.data_lake.glacier_days, dev.data_lake.expire_days) == (90, 180)
    assert dev.kms.deletion_window_days == 7
    assert dev.logs.retention_days == 30
    assert dev.dynamodb.predictions_ttl_days == 7
    assert [(v.name, v.weight, v.model_data_url) for v in dev.sagemaker.variants] == [("A", 80, None), ("B", 20, None)]


def test_committed_staging_overrides_are_applied() -> None:
    staging = load_config(CDKTF_JSON, environ={}).environments["staging"]
    assert (staging.kinesis.mode, staging.kinesis.shard_count, staging.kinesis.retention_hours) == (
        "PROVISIONED",
        1,
        48,
    )


def test_committed_prod_overrides_are_applied() -> None:
    prod = load_config(CDKTF_JSON, environ={}).environments["prod"]
    assert (prod.kinesis.mode, prod.kinesis.shard_count, prod.kinesis.retention_hours) == ("PROVISIONED", 2, 168)
    assert prod.protect_stateful is True
    assert prod.data_lake.force_destroy is False
    assert prod.account_ids == ["333333333333"]


def test_load_config_reads_overrides_from_the_given_environ() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(CDKTF_JSON, environ={ENDPOINT_OVERRIDE: "maybe"})
    assert caught.value.problems == [
        f"environment 'dev', field 'endpoints_enabled' ({ENDPOINT_OVERRIDE}): must be true or false",
    ]


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "cdktf.json"
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    [problem] = caught.value.problems
    assert problem == f"cannot read {path}: No such file or directory"


def test_load_config_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "cdktf.json"
    path.write_text('{"context": ')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    [problem] = caught.value.problems
    assert problem == f"cannot read {path}: not valid JSON: Expecting value: line 1 column 13 (char 12)"


# --- defaults --------------------------------------------------------------------------------------------------------


def test_defaults_for_a_minimal_environment() -> None:
    env = parse(minimal_context()).environments["dev"]
    assert env.suffix is None
    assert env.protect_stateful is True
    assert env.endpoints_enabled is False
    assert env.backend.mode == "s3"
    assert env.kms.deletion_window_days == 30
    assert env.logs.retention_days == 365
    assert (env.kinesis.mode, env.kinesis.shard_count, env.kinesis.retention_hours) == ("ON_DEMAND", None, 24)
    assert (env.dynamodb.billing_mode, env.dynamodb.read_capacity, env.dynamodb.write_capacity) == (
        "PAY_PER_REQUEST",
        None,
        None,
    )
    assert env.dynamodb.predictions_ttl_days == 30
    lake = env.data_lake
    assert (lake.infrequent_access_days, lake.glacier_days, lake.expire_days) == (30, 90, 365)
    assert (lake.noncurrent_expire_days, lake.athena_results_expire_days, lake.access_logs_expire_days) == (90, 30, 365)
    assert lake.raw_event_prefix == "incoming/"
    assert lake.force_destroy is False
    assert [(v.name, v.weight, v.model_data_url) for v in env.sagemaker.variants] == [("A", 80, None), ("B", 20, None)]


def test_defaults_for_the_state_backend() -> None:
    backend = parse(minimal_context()).state_backend
    assert (backend.noncurrent_version_expire_days, backend.kms_deletion_window_days) == (90, 30)


def test_explicit_values_override_defaults() -> None:
    env = parse(
        minimal_context(
            dev=minimal_environment(
                suffix="pr7",
                protect_stateful=False,
                logs={"retention_days": 14},
                kinesis={"mode": "PROVISIONED", "shard_count": 3, "retention_hours": 72},
                dynamodb={"billing_mode": "PROVISIONED", "read_capacity": 5, "write_capacity": 2},
                backend={"mode": "local"},
            )
        )
    ).environments["dev"]
    assert env.suffix == "pr7"
    assert env.protect_stateful is False
    assert env.logs.retention_days == 14
    assert (env.kinesis.mode, env.kinesis.shard_count, env.kinesis.retention_hours) == ("PROVISIONED", 3, 72)
    assert (env.dynamodb.billing_mode, env.dynamodb.read_capacity, env.dynamodb.write_capacity) == (
        "PROVISIONED",
        5,
        2,
    )
    assert env.backend.mode == "local"


def test_config_is_frozen(context: dict[str, Any]) -> None:
    config = parse(context)
    with pytest.raises(ValueError) as caught:
        config.environments["dev"].endpoints_enabled = True  # type: ignore[misc]
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [  # type: ignore[attr-defined]
        ("frozen_instance", ("endpoints_enabled",))
    ]


@pytest.mark.parametrize("days", LOG_RETENTION_DAYS)
def test_every_cloudwatch_retention_is_accepted(days: int) -> None:
    env = parse(minimal_context(dev=minimal_environment(logs={"retention_days": days}))).environments["dev"]
    assert env.logs.retention_days == days


# --- derived properties ----------------------------------------------------------------------------------------------


def test_state_location_names(context: dict[str, Any]) -> None:
    location = parse(context).state_location("dev")
    assert location == StateLocation("mlpipe", "111111111111", "us-east-1")
    assert location.stack_name == "state-backend-111111111111-us-east-1"
    assert location.bucket == "mlpipe-tfstate-111111111111-us-east-1"
    assert location.logs_bucket == "mlpipe-tfstate-logs-111111111111-us-east-1"
    assert location.key_alias == "alias/mlpipe-tfstate"
    assert location.key_alias_arn == "arn:aws:kms:us-east-1:111111111111:alias/mlpipe-tfstate"
    assert location.state_key("dev") == "mlpipe/dev/terraform.tfstate"


def test_each_environment_keeps_its_state_in_its_own_account_and_region(context: dict[str, Any]) -> None:
    config = parse(context)
    locations = {env: config.state_location(env) for env in config.environments}
    assert {env: (location.account_id, location.region) for env, location in locations.items()} == {
        "dev": ("111111111111", "us-east-1"),
        "staging": ("222222222222", "us-east-1"),
        "prod": ("333333333333", "us-east-1"),
    }


def test_state_is_kept_in_the_first_of_several_accounts(context: dict[str, Any]) -> None:
    context["environments"]["prod"].update(account_ids=["333333333333", "444444444444"], region="eu-west-1")
    assert parse(context).state_location("prod") == StateLocation("mlpipe", "333333333333", "eu-west-1")


def test_one_state_location_per_distinct_account_and_region(context: dict[str, Any]) -> None:
    context["environments"]["qa"] = {**context["environments"]["dev"], "api": {"manage_account_logging_role": False}}
    assert [loc.stack_name for loc in parse(context).state_locations] == [
        "state-backend-111111111111-us-east-1",  # dev and qa share it
        "state-backend-222222222222-us-east-1",
        "state-backend-333333333333-us-east-1",
    ]


def test_naming_per_environment(context: dict[str, Any]) -> None:
    config = parse(context)
    assert config.naming("dev").name("raw", Kind.S3_BUCKET) == "mlpipe-raw-dev-111111111111-us-east-1"
    assert config.naming("prod").name("predictions", Kind.DYNAMODB) == "mlpipe-predictions-prod"


def test_naming_uses_the_environment_suffix(context: dict[str, Any]) -> None:
    context["environments"]["staging"]["suffix"] = "blue"
    naming = parse(context).naming("staging")
    assert (naming.project, naming.env, naming.suffix) == ("mlpipe", "staging", "blue")
    assert (naming.account_id, naming.region) == ("222222222222", "us-east-1")
    assert naming.name("raw", Kind.S3_BUCKET) == "mlpipe-raw-staging-blue-222222222222-us-east-1"
    assert naming.name("raw", Kind.DYNAMODB) == "mlpipe-raw-staging-blue"


# --- one problem at a time -------------------------------------------------------------------------------------------


def test_unknown_key_at_environment_level(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["endpoint_enabled"] = True
    assert problems_of(context) == [f"environment 'dev', field 'endpoint_enabled': {UNKNOWN_KEY}"]


def test_unknown_nested_key(context: dict[str, Any]) -> None:
    context["environments"]["staging"]["kinesis"]["shards"] = 2
    assert problems_of(context) == [f"environment 'staging', field 'kinesis.shards': {UNKNOWN_KEY}"]


def test_unknown_top_level_key(context: dict[str, Any]) -> None:
    context["projekt"] = "x"
    assert problems_of(context) == [f"field 'projekt': {UNKNOWN_KEY}"]


@pytest.mark.parametrize("name", ["qa", "prod-eu", "team-a1", "a" * 16])
def test_environment_names_matching_the_pattern_are_accepted(name: str) -> None:
    config = parse(minimal_context(**{name: minimal_environment()}))
    assert list(config.environments) == [name]
    assert config.naming(name).name("raw", Kind.DYNAMODB) == f"mlpipe-raw-{name}"


@pytest.mark.parametrize("name", ["Prod", "x", "a--b", "-a", "a-", "a" * 17, "dev_1", "1a", ""])
def test_environment_names_outside_the_pattern_are_refused(name: str) -> None:
    assert problems_of(minimal_context(**{name: minimal_environment()})) == [f"environment '{name}': {BAD_ENV_NAME}"]


def test_a_bad_environment_name_is_listed_with_the_environments_own_problems() -> None:
    environment = minimal_environment(kinesis={"shards": 2})
    assert problems_of(minimal_context(Prod=environment)) == [
        f"environment 'Prod': {BAD_ENV_NAME}",
        f"environment 'Prod', field 'kinesis.shards': {UNKNOWN_KEY}",
    ]


def test_a_valid_environment_name_can_still_make_a_bucket_name_too_long() -> None:
    # mlpipe-model-artifacts- (23) + 16-char name + -111111111111- (14) + ap-southeast-1 (14) = 67 > 63.
    name = "abcdefghijklmnop"
    bucket = f"mlpipe-model-artifacts-{name}-111111111111-ap-southeast-1"
    assert len(bucket) == 67
    environment = minimal_environment(region="ap-southeast-1", account_ids=["111111111111"])
    assert problems_of(minimal_context(**{name: environment})) == [
        f"environment '{name}', field 'project/suffix': s3_bucket name for component 'model-artifacts' ('{bucket}') "
        f"is 67 chars; {S3_RULE}"
    ]


def test_missing_required_field(context: dict[str, Any]) -> None:
    del context["environments"]["prod"]["owner"]
    assert problems_of(context) == ["environment 'prod', field 'owner': required field is missing"]


def test_no_environments(context: dict[str, Any]) -> None:
    context["environments"] = {}
    assert problems_of(context) == ["field 'environments': at least one environment is required"]


def test_bad_region(context: dict[str, Any]) -> None:
    context["environments"]["prod"]["region"] = "us-east-7"
    assert problems_of(context) == [
        f"environment 'prod', field 'region': 'us-east-7' is not a supported AWS region; allowed: {SUPPORTED_REGIONS} "
        "(got 'us-east-7')"
    ]


@pytest.mark.parametrize(("key", "value"), [("region", "us-east-1"), ("account_id", "111111111111")])
def test_state_backend_location_is_no_longer_a_setting(context: dict[str, Any], key: str, value: str) -> None:
    # The state lives in each environment's own account and region (stacks/state.py): the old keys are refused.
    context["state_backend"][key] = value
    assert problems_of(context) == [f"field 'state_backend.{key}': {UNKNOWN_KEY}"]


def test_state_backend_section_is_optional(context: dict[str, Any]) -> None:
    del context["state_backend"]
    backend = parse(context).state_backend
    assert (backend.noncurrent_version_expire_days, backend.kms_deletion_window_days) == (90, 30)


@pytest.mark.parametrize("account", ["11111111111", "1111111111111", "11111111111a", "abcdefghijkl", ""])
def test_bad_account_id(context: dict[str, Any], account: str) -> None:
    context["environments"]["staging"]["account_ids"] = ["222222222222", account]
    assert problems_of(context) == [
        f"environment 'staging', field 'account_ids.1': String should match pattern '^[0-9]{{12}}$' (got {account!r})"
    ]


def test_account_id_must_be_a_string(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["account_ids"] = [111111111111]
    assert problems_of(context) == [
        "environment 'dev', field 'account_ids.0': Input should be a valid string (got 111111111111)"
    ]


def test_empty_account_ids(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["account_ids"] = []
    assert problems_of(context) == [
        "environment 'dev', field 'account_ids': List should have at least 1 item after validation, not 0"
    ]


# Every bucket name is global, so it ends with the deploy account and region, and the model-artifacts bucket is the
# longest name of an environment:
#   {project}-model-artifacts-{env}[-{suffix}]-{account}-{region}
#   = P + 1 + 15 + 1 + E [+ 1 + S] + 1 + 12 + 1 + R  (P project, E env name, S suffix, R region)
# For staging in 222222222222 / us-east-1 (E = 7, R = 9) with a suffix that is P + S + 48 <= 63, so P + S <= 15. The
# names that bound before (IAM role 'stream-consumer-fn': P + S + 28 <= 64; event rule 'training-state-change':
# P + S + 31 <= 64) can no longer bind first: the bucket is always longer.


def test_name_too_long_after_suffixing(context: dict[str, Any]) -> None:
    context["environments"]["staging"]["suffix"] = "s" * 10  # 6 + 10 + 48 = 64
    bucket = f"mlpipe-model-artifacts-staging-{'s' * 10}-222222222222-us-east-1"
    assert len(bucket) == 64
    assert problems_of(context) == [
        f"environment 'staging', field 'project/suffix': s3_bucket name for component 'model-artifacts' ('{bucket}') "
        f"is 64 chars; {S3_RULE}"
    ]


def test_only_the_first_name_over_its_limit_is_reported(context: dict[str, Any]) -> None:
    # 27 + 10 + 48 = 85 for the bucket; the IAM role 'stream-consumer-fn' (27 + 10 + 28 = 65 > 64) is over its limit
    # too, but one long project name or suffix is reported once, with the first name it breaks.
    context["project"] = "p" * 27
    context["environments"] = {"staging": context["environments"]["staging"]}
    context["environments"]["staging"]["suffix"] = "s" * 10
    bucket = f"{'p' * 27}-model-artifacts-staging-{'s' * 10}-222222222222-us-east-1"
    assert problems_of(context) == [
        f"environment 'staging', field 'project/suffix': s3_bucket name for component 'model-artifacts' ('{bucket}') "
        f"is 85 chars; {S3_RULE}"
    ]


def test_longest_project_and_suffix_that_fit(context: dict[str, Any]) -> None:
    context["project"] = "p" * 9
    context["environments"]["staging"]["suffix"] = "s" * 6  # 9 + 6 + 48 = 63: the bucket binds
    naming = parse(context).naming("staging")
    assert len(naming.name("model-artifacts", Kind.S3_BUCKET)) == 63
    assert len(naming.name("stream-consumer-fn", Kind.IAM_ROLE)) == 43
    assert len(naming.name("training-state-change", Kind.EVENT_RULE)) == 46


def test_one_suffix_character_more_than_fits_is_refused(context: dict[str, Any]) -> None:
    context["project"] = "p" * 9
    context["environments"]["staging"]["suffix"] = "s" * 7  # 9 + 7 + 48 = 64
    bucket = f"{'p' * 9}-model-artifacts-staging-{'s' * 7}-222222222222-us-east-1"
    assert problems_of(context) == [
        f"environment 'staging', field 'project/suffix': s3_bucket name for component 'model-artifacts' ('{bucket}') "
        f"is 64 chars; {S3_RULE}"
    ]


def test_a_project_too_long_for_the_buckets_is_reported_once(context: dict[str, Any]) -> None:
    # The state access-log bucket {project}-tfstate-logs-{account}-{region} (P + 36 chars in us-east-1) is always
    # shorter than the environment's own model-artifacts bucket (P + 41 + E), so only that one is reported.
    context["project"] = "p" * 28
    context["environments"] = {"dev": context["environments"]["dev"]}
    artifacts = f"{'p' * 28}-model-artifacts-dev-111111111111-us-east-1"
    assert problems_of(context) == [
        f"environment 'dev', field 'project/suffix': s3_bucket name for component 'model-artifacts' ('{artifacts}') "
        f"is 71 chars; {S3_RULE}",
    ]


def test_bad_project_slug(context: dict[str, Any]) -> None:
    context["project"] = "ML_pipe"
    assert problems_of(context) == [
        "field 'project': String should match pattern '^[a-z][a-z0-9-]*[a-z0-9]$' (got 'ML_pipe')"
    ]


def test_bad_suffix(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["suffix"] = "Blue-1"
    assert problems_of(context) == [
        "environment 'dev', field 'suffix': String should match pattern '^[a-z0-9]{1,16}$' (got 'Blue-1')"
    ]


def test_negative_ttl(context: dict[str, Any]) -> None:
    context["environments"]["prod"]["dynamodb"]["predictions_ttl_days"] = -1
    assert problems_of(context) == [
        "environment 'prod', field 'dynamodb.predictions_ttl_days': Input should be greater than or equal to 1 (got -1)"
    ]


def test_retention_not_in_the_cloudwatch_list(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["logs"]["retention_days"] = 42
    assert problems_of(context) == [
        "environment 'dev', field 'logs.retention_days': 42 is not a CloudWatch Logs retention; allowed: "
        "[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] "
        "(got 42)"
    ]


def test_retention_zero_never_expire_is_refused(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["logs"]["retention_days"] = 0
    assert problems_of(context) == [
        "environment 'dev', field 'logs.retention_days': 0 is not a CloudWatch Logs retention; allowed: "
        f"{list(LOG_RETENTION_DAYS)} (got 0)"
    ]


def test_dynamodb_provisioned_without_capacity(context: dict[str, Any]) -> None:
    context["environments"]["prod"]["dynamodb"] = {"billing_mode": "PROVISIONED", "read_capacity": 5}
    assert problems_of(context) == [
        "environment 'prod', field 'dynamodb': billing_mode PROVISIONED needs read_capacity and write_capacity"
    ]


def test_dynamodb_capacity_without_provisioned(context: dict[str, Any]) -> None:
    context["environments"]["prod"]["dynamodb"] = {"write_capacity": 5}
    assert problems_of(context) == [
        "environment 'prod', field 'dynamodb': read_capacity/write_capacity are only allowed with billing_mode "
        "PROVISIONED"
    ]


def test_kinesis_provisioned_without_shard_count(context: dict[str, Any]) -> None:
    del context["environments"]["staging"]["kinesis"]["shard_count"]
    assert problems_of(context) == ["environment 'staging', field 'kinesis': mode PROVISIONED needs shard_count"]


def test_kinesis_on_demand_with_shard_count(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["kinesis"]["shard_count"] = 2
    assert problems_of(context) == [
        "environment 'dev', field 'kinesis': shard_count is only allowed with mode PROVISIONED"
    ]


def test_kinesis_unknown_mode(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["kinesis"]["mode"] = "on_demand"
    assert problems_of(context) == [
        "environment 'dev', field 'kinesis.mode': Input should be 'ON_DEMAND' or 'PROVISIONED' (got 'on_demand')"
    ]


GLACIER_TOO_SOON = (
    "environment 'staging', field 'data_lake.glacier_days': must be at least infrequent_access_days + 30 = 30 + 30 = "
    "60: S3 refuses a GLACIER transition less than 30 days after the STANDARD_IA one (got {got})"
)
EXPIRE_TOO_SOON = (
    "environment 'staging', field 'data_lake.expire_days': must be greater than glacier_days ({glacier}): S3 refuses "
    "an expiration on or before the last transition (need ≥ {need}) (got {got})"
)


@pytest.mark.parametrize(
    ("lake", "problem"),
    [
        ({"glacier_days": 30}, GLACIER_TOO_SOON.format(got=30)),  # IA at 30: Glacier no sooner than 60
        ({"glacier_days": 59}, GLACIER_TOO_SOON.format(got=59)),  # one day short of S3's 30-day stay in IA
        ({"glacier_days": 400, "expire_days": 365}, EXPIRE_TOO_SOON.format(glacier=400, need=401, got=365)),
        ({"expire_days": 90}, EXPIRE_TOO_SOON.format(glacier=90, need=91, got=90)),  # equal to the Glacier default
    ],
)
def test_lifecycle_ordering(context: dict[str, Any], lake: dict[str, int], problem: str) -> None:
    context["environments"]["staging"]["data_lake"] = lake
    assert problems_of(context) == [problem]


def test_lifecycle_with_the_shortest_gaps_s3_accepts(context: dict[str, Any]) -> None:
    context["environments"]["staging"]["data_lake"] = {"glacier_days": 60, "expire_days": 61}
    lake = parse(context).environments["staging"].data_lake
    assert (lake.infrequent_access_days, lake.glacier_days, lake.expire_days) == (30, 60, 61)


def test_infrequent_access_needs_30_days(context: dict[str, Any]) -> None:
    context["environments"]["staging"]["data_lake"] = {"infrequent_access_days": 29}
    assert problems_of(context) == [
        "environment 'staging', field 'data_lake.infrequent_access_days': "
        "Input should be greater than or equal to 30 (got 29)"
    ]


def test_force_destroy_with_protect_stateful(context: dict[str, Any]) -> None:
    context["environments"]["prod"]["data_lake"] = {"force_destroy": True}
    assert problems_of(context) == [
        "environment 'prod', field 'data_lake.force_destroy': cannot be true while protect_stateful is true"
    ]


def test_force_destroy_without_protect_stateful_is_fine(context: dict[str, Any]) -> None:
    assert parse(context).environments["dev"].data_lake.force_destroy is True


def test_force_destroy_with_default_protect_stateful() -> None:
    [problem] = problems_of(minimal_context(dev=minimal_environment(data_lake={"force_destroy": True})))
    assert (
        problem == "environment 'dev', field 'data_lake.force_destroy': cannot be true while protect_stateful is true"
    )


def test_duplicate_variant_names(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["sagemaker"]["variants"] = [{"name": "A", "weight": 50}, {"name": "A", "weight": 50}]
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker': variant names must be unique, ignoring case, got ['A', 'A']"
    ]


def test_all_zero_weights(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["sagemaker"]["variants"] = [{"name": "A", "weight": 0}, {"name": "B", "weight": 0}]
    [problem] = problems_of(context)
    assert problem == "environment 'dev', field 'sagemaker': at least one variant needs a weight > 0"


def test_one_zero_weight_is_fine(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["sagemaker"]["variants"] = [{"name": "A", "weight": 100}, {"name": "B", "weight": 0}]
    assert [v.weight for v in parse(context).environments["dev"].sagemaker.variants] == [100, 0]


def test_float_weight_is_rejected(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["sagemaker"]["variants"] = [
        {"name": "A", "weight": 0.9},
        {"name": "B", "weight": 20},
    ]
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker.variants.0.weight': "
        "Input should be a valid integer, got a number with a fractional part (got 0.9)"
    ]


def test_weight_above_100(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["sagemaker"]["variants"] = [{"name": "A", "weight": 101}]
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker.variants.0.weight': Input should be less than or equal to 100 (got 101)"
    ]


def test_no_variants(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["sagemaker"]["variants"] = []
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker.variants': List should have at least 1 item after validation, not 0"
    ]


def test_bad_variant_name(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["sagemaker"]["variants"] = [{"name": "a_b", "weight": 1}]
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker.variants.0.name': "
        "String should match pattern '^[A-Za-z0-9](-*[A-Za-z0-9]){0,30}$' (got 'a_b')"
    ]


# --- phase two -------------------------------------------------------------------------------------------------------

PHASE_TWO_MISSING = (
    "environment 'dev', field 'endpoints_enabled': phase two needs a trained model for every variant; "
    "sagemaker.variants {missing} have no model_data_url (or a placeholder)"
)


def test_phase_two_without_model_artifacts(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["endpoints_enabled"] = True
    assert problems_of(context) == [PHASE_TWO_MISSING.format(missing="['A', 'B']")]


@pytest.mark.parametrize(
    "placeholder",
    ["s3://mlpipe-model-artifacts-dev/PLACEHOLDER/model.tar.gz", "s3://bucket/placeholder/model.tar.gz"],
)
def test_phase_two_with_placeholder_model(context: dict[str, Any], placeholder: str) -> None:
    variants = with_models(("A", 80), ("B", 20))
    variants[1]["model_data_url"] = placeholder
    context["environments"]["dev"].update(endpoints_enabled=True, sagemaker={"variants": variants})
    assert problems_of(context) == [PHASE_TWO_MISSING.format(missing="['B']")]


def test_phase_two_with_real_models(context: dict[str, Any]) -> None:
    context["environments"]["dev"].update(
        endpoints_enabled=True, sagemaker={"variants": with_models(("A", 80), ("B", 20))}
    )
    env = parse(context).environments["dev"]
    assert env.endpoints_enabled is True
    assert [v.has_model for v in env.sagemaker.variants] == [True, True]
    assert env.sagemaker.variants[0].model_data_url == f"s3://{DEV_ARTIFACTS}/A/model.tar.gz"


def test_phase_one_does_not_need_models(context: dict[str, Any]) -> None:
    context["environments"]["prod"]["sagemaker"] = {"variants": [{"name": "A", "weight": 1}]}
    assert parse(context).environments["prod"].sagemaker.variants[0].has_model is False


def test_phase_two_model_url_must_be_s3(context: dict[str, Any]) -> None:
    variants = with_models(("A", 100))
    variants[0]["model_data_url"] = "https://example.com/model.tar.gz"
    context["environments"]["dev"].update(endpoints_enabled=True, sagemaker={"variants": variants})
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker.variants.0.model_data_url': must be s3://<bucket>/<key> "
        "(got 'https://example.com/model.tar.gz')"
    ]


# --- every problem at once -------------------------------------------------------------------------------------------


def test_several_problems_are_all_listed(context: dict[str, Any]) -> None:
    context["environments"]["QA"] = copy.deepcopy(context["environments"]["dev"])
    context["environments"]["dev"]["kinesis"]["shards"] = 2
    context["environments"]["staging"]["logs"]["retention_days"] = 42
    context["environments"]["prod"]["dynamodb"]["predictions_ttl_days"] = -1
    context["state_backend"]["kms_deletion_window_days"] = 3
    problems = problems_of(context, {"ML_PIPELINE_ENDPOINTS_ENABLED_PROD": "yes"})
    assert problems == [
        "environment 'prod', field 'endpoints_enabled' (ML_PIPELINE_ENDPOINTS_ENABLED_PROD): must be true or false",
        f"environment 'QA': {BAD_ENV_NAME}",
        "field 'state_backend.kms_deletion_window_days': Input should be greater than or equal to 7 (got 3)",
        f"environment 'dev', field 'kinesis.shards': {UNKNOWN_KEY}",
        "environment 'staging', field 'logs.retention_days': 42 is not a CloudWatch Logs retention; allowed: "
        f"{list(LOG_RETENTION_DAYS)} (got 42)",
        "environment 'prod', field 'dynamodb.predictions_ttl_days': "
        "Input should be greater than or equal to 1 (got -1)",
    ]


def test_naming_problems_of_several_environments_are_all_listed(context: dict[str, Any]) -> None:
    # Bucket: 6 (mlpipe) + 41 + E (env) + 16 (suffix): dev 66, staging 70, prod 67 chars.
    for env in ("dev", "staging", "prod"):
        context["environments"][env]["suffix"] = "s" * 16
    assert problems_of(context) == [
        f"environment '{env}', field 'project/suffix': s3_bucket name for component 'model-artifacts' "
        f"('mlpipe-model-artifacts-{env}-{'s' * 16}-{account}-us-east-1') is {length} chars; {S3_RULE}"
        for env, account, length in (
            ("dev", "111111111111", 66),
            ("staging", "222222222222", 70),
            ("prod", "333333333333", 67),
        )
    ]


def test_naming_problem_listed_together_with_a_schema_problem(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["suffix"] = "s" * 16  # bucket: 6 + 41 + 3 + 16 = 66 chars
    context["environments"]["prod"]["kinesis"]["shards"] = 2
    assert problems_of(context) == [
        f"environment 'prod', field 'kinesis.shards': {UNKNOWN_KEY}",
        f"environment 'dev', field 'project/suffix': s3_bucket name for component 'model-artifacts' "
        f"('mlpipe-model-artifacts-dev-{'s' * 16}-111111111111-us-east-1') is 66 chars; {S3_RULE}",
    ]


def test_config_error_str_lists_each_problem_on_its_own_line(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["kinesis"]["shards"] = 2
    context["environments"]["prod"]["dynamodb"]["predictions_ttl_days"] = -1
    with pytest.raises(ConfigError) as caught:
        parse(context)
    assert str(caught.value) == (
        "invalid configuration in cdktf.json (2 problem(s)):\n"
        f"  - environment 'dev', field 'kinesis.shards': {UNKNOWN_KEY}\n"
        "  - environment 'prod', field 'dynamodb.predictions_ttl_days': "
        "Input should be greater than or equal to 1 (got -1)"
    )


def test_config_error_direct() -> None:
    error = ConfigError(["a", "b"])
    assert error.problems == ["a", "b"]
    assert str(error) == "invalid configuration in cdktf.json (2 problem(s)):\n  - a\n  - b"


# --- the phase override from the environment -------------------------------------------------------------------------


def _phase_two_ready(context: dict[str, Any]) -> dict[str, Any]:
    context["environments"]["dev"]["sagemaker"] = {"variants": with_models(("A", 80), ("B", 20))}
    return context


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_endpoint_override_true_turns_phase_two_on(context: dict[str, Any], value: str) -> None:
    assert parse(_phase_two_ready(context), {ENDPOINT_OVERRIDE: value}).environments["dev"].endpoints_enabled is True


def test_endpoint_override_leaves_other_environments_alone(context: dict[str, Any]) -> None:
    config = parse(_phase_two_ready(context), {ENDPOINT_OVERRIDE: "true"})
    assert {env: c.endpoints_enabled for env, c in config.environments.items()} == {
        "dev": True,
        "staging": False,
        "prod": False,
    }


def test_endpoint_override_false_turns_phase_two_off(context: dict[str, Any]) -> None:
    context["environments"]["dev"]["endpoints_enabled"] = True
    _phase_two_ready(context)
    assert parse(context, {ENDPOINT_OVERRIDE: "false"}).environments["dev"].endpoints_enabled is False


def test_endpoint_override_env_name_is_case_insensitive(context: dict[str, Any]) -> None:
    config = parse(_phase_two_ready(context), {"ML_PIPELINE_ENDPOINTS_ENABLED_dev": "true"})
    assert config.environments["dev"].endpoints_enabled is True


def test_endpoint_override_true_still_needs_models(context: dict[str, Any]) -> None:
    assert problems_of(context, {ENDPOINT_OVERRIDE: "true"}) == [PHASE_TWO_MISSING.format(missing="['A', 'B']")]


@pytest.mark.parametrize("value", ["1", "yes", "", " true", "on"])
def test_endpoint_override_bad_value(context: dict[str, Any], value: str) -> None:
    assert problems_of(_phase_two_ready(context), {ENDPOINT_OVERRIDE: value}) == [
        f"environment 'dev', field 'endpoints_enabled' ({ENDPOINT_OVERRIDE}): must be true or false"
    ]


def test_endpoint_override_of_a_hyphenated_environment_name() -> None:
    environment = minimal_environment(endpoints_enabled=True, sagemaker={"variants": with_models(("A", 100))})
    config = parse(minimal_context(**{"prod-eu": environment}), {"ML_PIPELINE_ENDPOINTS_ENABLED_PROD-EU": "false"})
    assert config.environments["prod-eu"].endpoints_enabled is False


def test_endpoint_override_unknown_environment(context: dict[str, Any]) -> None:
    assert problems_of(context, {"ML_PIPELINE_ENDPOINTS_ENABLED_QA": "true"}) == [
        "ML_PIPELINE_ENDPOINTS_ENABLED_QA: cdktf.json has no environment 'qa'; its environments: dev, prod, staging"
    ]


def test_endpoint_override_for_environment_not_in_context(context: dict[str, Any]) -> None:
    del context["environments"]["prod"]
    assert problems_of(context, {"ML_PIPELINE_ENDPOINTS_ENABLED_PROD": "false"}) == [
        "ML_PIPELINE_ENDPOINTS_ENABLED_PROD: cdktf.json has no environment 'prod'; its environments: dev, staging"
    ]


def test_unrelated_environment_variables_are_ignored(context: dict[str, Any]) -> None:
    unrelated = {"ML_PIPELINE_ENDPOINTS_ENABLED": "true", "ML_PIPELINE_OTHER_DEV": "x", "HOME": "/root"}
    assert parse(context, unrelated) == parse(context)


def test_override_read_from_os_environ_by_default(context: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENDPOINT_OVERRIDE, "perhaps")
    with pytest.raises(ConfigError) as caught:
        parse_config(context)
    assert caught.value.problems == [
        f"environment 'dev', field 'endpoints_enabled' ({ENDPOINT_OVERRIDE}): must be true or false"
    ]


def test_parse_config_does_not_mutate_the_callers_dict(context: dict[str, Any]) -> None:
    _phase_two_ready(context)
    before = copy.deepcopy(context)
    config = parse(context, {ENDPOINT_OVERRIDE: "true"})
    assert config.environments["dev"].endpoints_enabled is True
    assert context == before
    assert context["environments"]["dev"]["endpoints_enabled"] is False


def test_parse_config_does_not_mutate_on_error(context: dict[str, Any]) -> None:
    before = copy.deepcopy(context)
    assert problems_of(context, {ENDPOINT_OVERRIDE: "true", "ML_PIPELINE_ENDPOINTS_ENABLED_QA": "true"}) == [
        "ML_PIPELINE_ENDPOINTS_ENABLED_QA: cdktf.json has no environment 'qa'; its environments: dev, prod, staging",
        PHASE_TWO_MISSING.format(missing="['A', 'B']"),
    ]
    assert context == before


def test_override_with_null_environments_is_a_config_error(context: dict[str, Any]) -> None:
    context["environments"] = None
    # Only the real problem: an override has nothing to name while `environments` is not an object.
    assert problems_of(context, {ENDPOINT_OVERRIDE: "true"}) == [
        "field 'environments': Input should be a valid dictionary (got None)"
    ]
