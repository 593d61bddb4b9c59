"""Environments are data (ARCHITECTURE §2, §3): five environments across two accounts and two regions.

tests/fixtures/five_environments.json is a complete cdktf.json-shaped document: dev and qa share account
111111111111 in us-east-1 (only dev manages that account's API Gateway logging role), staging is in the same account in
eu-west-1, prod and prod-eu are in account 222222222222 in us-east-1 and eu-west-1. Prod-like behaviour (protection,
WAF, alert subscribers) comes only from their settings. Checked here: it loads; it synthesizes into exactly one stack
per environment plus one state bootstrap per account and region; every backend and every bucket stays in its own
environment's account and region; and breaking any one rule gives exit code 2 / one ConfigError naming the environment
and the field.
"""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks.config import AppConfig, ConfigError, load_config
from tests.support.synth import Synth, of_type, synth_context
from tests.unit.test_main_cli import make_project, snapshot

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "five_environments.json"
DOCUMENT = json.loads(FIXTURE.read_text())
ENVIRONMENTS = DOCUMENT["context"]["environments"]

# Where each environment deploys: (its deploy account, the first of account_ids; its region). Written out, not derived,
# so that the expectations below do not repeat the code under test.
WHERE = {
    "dev": ("111111111111", "us-east-1"),
    "qa": ("111111111111", "us-east-1"),
    "staging": ("111111111111", "eu-west-1"),
    "prod": ("222222222222", "us-east-1"),
    "prod-eu": ("222222222222", "eu-west-1"),
}
STATE_STACKS = {
    "state-backend-111111111111-us-east-1",  # dev and qa
    "state-backend-111111111111-eu-west-1",  # staging
    "state-backend-222222222222-us-east-1",  # prod
    "state-backend-222222222222-eu-west-1",  # prod-eu
}
BAD_ENV_NAME = (
    "not a valid environment name; allowed: 2-16 characters of a-z, 0-9 and single hyphens, starting with a letter "
    "(e.g. dev, qa, prod-eu)"
)
SUPPORTED_REGIONS = (
    "af-south-1, ap-east-1, ap-northeast-1, ap-northeast-2, ap-northeast-3, ap-south-1, ap-south-2, ap-southeast-1, "
    "ap-southeast-2, ap-southeast-3, ap-southeast-4, ap-southeast-5, ap-southeast-7, ca-central-1, ca-west-1, "
    "eu-central-1, eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-2, eu-west-3, il-central-1, "
    "me-central-1, me-south-1, mx-central-1, sa-east-1, us-east-1, us-east-2, us-west-1, us-west-2"
)


@pytest.fixture(scope="module")
def config() -> AppConfig:
    return load_config(FIXTURE, environ={})


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synth_context(json.loads(FIXTURE.read_text())["context"], tmp_path_factory.mktemp("five"))


# --- (a) it loads -----------------------------------------------------------------------------------------------------


def test_the_fixture_spans_exactly_two_accounts_and_two_regions() -> None:
    assert {account for env in ENVIRONMENTS.values() for account in env["account_ids"]} == {
        "111111111111",
        "222222222222",
    }
    assert {env["region"] for env in ENVIRONMENTS.values()} == {"us-east-1", "eu-west-1"}


def test_the_five_environments_load(config: AppConfig) -> None:
    assert list(config.environments) == ["dev", "qa", "staging", "prod", "prod-eu"]
    assert {env: (c.account_ids[0], c.region) for env, c in config.environments.items()} == WHERE


def test_prod_like_behaviour_comes_from_settings_only(config: AppConfig) -> None:
    assert {env: (c.protect_stateful, c.api.waf_enabled) for env, c in config.environments.items()} == {
        "dev": (False, False),
        "qa": (False, False),
        "staging": (False, False),
        "prod": (True, True),
        "prod-eu": (True, True),
    }


def test_one_state_location_per_distinct_account_and_region(config: AppConfig) -> None:
    assert [location.stack_name for location in config.state_locations] == sorted(STATE_STACKS)


# --- (b) it synthesizes into exactly the expected stacks --------------------------------------------------------------


def test_synthesizes_one_stack_per_environment_and_one_state_bootstrap_per_account_and_region(synth: Synth) -> None:
    assert set(synth.stacks) == {f"ml-pipeline-{env}" for env in WHERE} | STATE_STACKS


@pytest.mark.parametrize("env", list(WHERE))
def test_each_environment_stack_is_pinned_to_its_account_and_region(synth: Synth, env: str) -> None:
    account, region = WHERE[env]
    [provider] = synth.stack(f"ml-pipeline-{env}")["provider"]["aws"]
    assert (provider["allowed_account_ids"], provider["region"]) == ([account], region)


@pytest.mark.parametrize("name", sorted(STATE_STACKS))
def test_each_state_bootstrap_is_pinned_to_its_account_and_region(synth: Synth, name: str) -> None:
    account, region = re.fullmatch(r"state-backend-(\d{12})-(.+)", name).groups()  # type: ignore[union-attr]
    stack = synth.stack(name)
    [provider] = stack["provider"]["aws"]
    assert (provider["allowed_account_ids"], provider["region"]) == ([account], region)
    assert stack["terraform"]["backend"] == {"local": {"path": f"../../../terraform.{name}.tfstate"}}
    assert stack["output"]["state_bucket"]["value"].startswith("${aws_s3_bucket.")
    assert stack["output"]["state_region"]["value"] == region
    assert stack["output"]["state_kms_key_alias_arn"]["value"] == f"arn:aws:kms:{region}:{account}:alias/mlpipe-tfstate"


# --- (c) every environment's state stays in its own account and region ------------------------------------------------


@pytest.mark.parametrize("env", list(WHERE))
def test_each_backend_is_in_the_environments_own_account_and_region(synth: Synth, env: str) -> None:
    account, region = WHERE[env]
    assert synth.stack(f"ml-pipeline-{env}")["terraform"]["backend"] == {
        "s3": {
            "bucket": f"mlpipe-tfstate-{account}-{region}",
            "key": f"mlpipe/{env}/terraform.tfstate",
            "region": region,
            "encrypt": True,
            "kms_key_id": f"arn:aws:kms:{region}:{account}:alias/mlpipe-tfstate",
            "use_lockfile": True,
        }
    }


def test_no_backend_points_outside_its_environments_reach(synth: Synth) -> None:
    """Sweep: every S3 backend's bucket, region and key alias are in one of its environment's accounts and region."""
    outside = []
    for env, settings in ENVIRONMENTS.items():
        backend = synth.stack(f"ml-pipeline-{env}")["terraform"]["backend"]["s3"]
        accounts, region = settings["account_ids"], settings["region"]
        _, _, _, kms_region, kms_account, _ = backend["kms_key_id"].split(":")
        if not (
            any(account in backend["bucket"] for account in accounts)
            and region in backend["bucket"]
            and backend["region"] == region
            and (kms_account, kms_region) == (accounts[0], region)
            and backend["key"] == f"mlpipe/{env}/terraform.tfstate"
        ):
            outside.append((env, backend))
    assert outside == []


def test_every_backend_bucket_has_a_state_bootstrap(synth: Synth) -> None:
    created = {
        bucket["bucket"]
        for name in STATE_STACKS
        for bucket in of_type(synth.stack(name), "aws_s3_bucket").values()
        if "/state/" in bucket["//"]["metadata"]["path"]
    }
    used = {synth.stack(f"ml-pipeline-{env}")["terraform"]["backend"]["s3"]["bucket"] for env in WHERE}
    assert used == created


# --- (d) every bucket name ends with its stack's account and region ---------------------------------------------------


def _stack_tail(stack: dict[str, Any]) -> str:
    """``-<account>-<region>`` of the one account and region a stack's provider may touch (pinned above)."""
    [provider] = stack["provider"]["aws"]
    [account] = provider["allowed_account_ids"]
    return f"-{account}-{provider['region']}"


def test_every_bucket_name_ends_with_its_stacks_account_and_region(synth: Synth) -> None:
    names = [
        (stack_name, bucket["bucket"], _stack_tail(stack))
        for stack_name, stack in synth.stacks.items()
        for bucket in of_type(stack, "aws_s3_bucket").values()
    ]
    assert len(names) == 5 * 5 + 4 * 2  # five data-lake buckets per environment, bucket + logs per bootstrap
    assert sorted((stack_name, bucket) for stack_name, bucket, tail in names if not bucket.endswith(tail)) == []
    assert len({bucket for _, bucket, _ in names}) == len(names)  # global names: no two alike


def test_the_bucket_names_of_one_environment(synth: Synth) -> None:
    buckets = sorted(b["bucket"] for b in of_type(synth.stack("ml-pipeline-prod-eu"), "aws_s3_bucket").values())
    assert buckets == [
        f"mlpipe-{component}-prod-eu-222222222222-eu-west-1"
        for component in ("access-logs", "athena-results", "model-artifacts", "processed", "raw")
    ]


# --- (e) one broken rule: exit code 2 / one ConfigError naming the environment and the field --------------------------


Edit = Callable[[dict[str, Any]], None]  # changes the parsed document's environments


def _edit(change: Edit) -> Callable[[str], str]:
    def apply(text: str) -> str:
        document = json.loads(text)
        change(document["context"]["environments"])
        return json.dumps(document, indent=2)

    return apply


def _text(old: str, new: str) -> Callable[[str], str]:
    """A change only the file's text can hold (JSON itself has no NaN or duplicate keys once parsed)."""

    def apply(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return apply


def _rename(old: str, new: str) -> Edit:
    return lambda envs: envs.__setitem__(new, envs.pop(old))


def _set(env: str, **fields: Any) -> Edit:
    return lambda envs: envs[env].update(fields)


def _unset(env: str, field: str) -> Edit:
    return lambda envs: envs[env].pop(field)


def _reserve_inference(**reservations: int) -> Edit:
    def change(envs: dict[str, Any]) -> None:
        for env, reserved in reservations.items():
            envs[env]["functions"] = {"reserved_concurrency": {"inference": reserved}}

    return change


IMAGE_IN_US_EAST_1 = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
# prod-eu's model-artifacts bucket is 54 chars plus a suffix and its dash: a 10-character suffix makes 65 - 1 = 64.
LONG_SUFFIX_BUCKET = f"mlpipe-model-artifacts-prod-eu-{'s' * 10}-222222222222-eu-west-1"

# One variant per rule: (how the fixture is broken, the one problem it gives).
VARIANTS: dict[str, tuple[Callable[[str], str], str]] = {
    "environment name": (_edit(_rename("qa", "QA")), f"environment 'QA': {BAD_ENV_NAME}"),
    "account id in non-ASCII digits": (
        _edit(_set("prod-eu", account_ids=["\uff12" * 12])),  # twelve FULLWIDTH DIGIT TWOs
        f"environment 'prod-eu', field 'account_ids.0': String should match pattern '^[0-9]{{12}}$' "
        f"(got '{chr(0xFF12) * 12}')",
    ),
    "account id of 11 digits": (
        _edit(_set("prod", account_ids=["22222222222"])),
        "environment 'prod', field 'account_ids.0': String should match pattern '^[0-9]{12}$' (got '22222222222')",
    ),
    "unknown region": (
        _edit(_set("staging", region="eu-west-9")),
        f"environment 'staging', field 'region': 'eu-west-9' is not a supported AWS region; allowed: "
        f"{SUPPORTED_REGIONS} (got 'eu-west-9')",
    ),
    "two logging-role managers in one account and region": (
        _edit(_unset("qa", "api")),  # qa now manages the role too (the default), like dev in 111111111111/us-east-1
        "environment 'qa', field 'api.manage_account_logging_role': environment 'dev' already manages the API Gateway "
        "logging role of account 111111111111 in us-east-1 (one per account and region); set it to false here",
    ),
    "bucket name over 63 chars through a long suffix": (
        _edit(_set("prod-eu", suffix="s" * 10)),
        f"environment 'prod-eu', field 'project/suffix': s3_bucket name for component 'model-artifacts' "
        f"('{LONG_SUFFIX_BUCKET}') is 64 chars; allowed: 3-63 chars of a-z 0-9 . -, DNS-compatible. Shorten the "
        "project, environment or suffix name.",
    ),
    "image in another region": (
        _edit(_set("prod-eu", sagemaker={"variants": [{"name": "A", "weight": 100, "image_uri": IMAGE_IN_US_EAST_1}]})),
        "environment 'prod-eu', field 'sagemaker.variants.0.image_uri': the image is in region 'us-east-1' but the "
        "environment deploys to 'eu-west-1'; SageMaker pulls model images only from ECR in the endpoint's own region",
    ),
    "tag value with a forbidden character": (
        _edit(_set("prod", cost_center="cc<prod>")),
        "environment 'prod', field 'cost_center': characters AWS refuses in a tag value: ['<', '>']; allowed: "
        "letters, digits, spaces and _.:/=+-@ (got 'cc<prod>')",
    ),
    "force_destroy with protect_stateful": (
        _edit(_set("prod", data_lake={"force_destroy": True})),
        "environment 'prod', field 'data_lake.force_destroy': cannot be true while protect_stateful is true",
    ),
    "phase two without models": (
        _edit(_set("staging", endpoints_enabled=True, alert_emails=["ml-oncall@example.com"])),
        "environment 'staging', field 'endpoints_enabled': phase two needs a trained model for every variant; "
        "sagemaker.variants ['A', 'B'] have no model_data_url (or a placeholder)",
    ),
    "duplicate alert e-mails": (
        _edit(_set("prod-eu", alert_emails=["ml-oncall@example.com", "ML-ONCALL@example.com"])),
        "environment 'prod-eu', field 'alert_emails': each address may be listed once; repeated: "
        "['ml-oncall@example.com']",
    ),
    "variant names differing only in case": (
        _edit(_set("dev", sagemaker={"variants": [{"name": "A", "weight": 50}, {"name": "a", "weight": 50}]})),
        "environment 'dev', field 'sagemaker': variant names must be unique, ignoring case, got ['A', 'a']",
    ),
    "NaN in the file": (
        _text('"cost_center": "cc-ml-qa"', '"cost_center": "cc-ml-qa", "functions": {"metric_threshold": NaN}'),
        "environment 'qa', field 'functions.metric_threshold': NaN is not JSON (NaN and Infinity are JavaScript, not "
        "JSON)",
    ),
    "duplicate key": (
        _text('"cost_center": "cc-ml-qa"', '"cost_center": "cc-ml-qa", "cost_center": "cc-qa"'),
        "environment 'qa', field 'cost_center': is given more than once (JSON would silently keep the last one)",
    ),
    "glacier transition too soon after infrequent access": (
        _edit(_set("prod-eu", data_lake={"glacier_days": 45})),
        "environment 'prod-eu', field 'data_lake.glacier_days': must be at least infrequent_access_days + 30 = 30 + "
        "30 = 60: S3 refuses a GLACIER transition less than 30 days after the STANDARD_IA one (got 45)",
    ),
}

# The quota rules of constructs/quotas.py: Lambda reservations summed per account and region (dev and qa share
# 111111111111 in us-east-1, whose default quota of 1,000 keeps 100 unreserved), the inference reservation against the
# API's burst, and the WAF rate limit against the stage rate over WAF's 300-second window.
RESERVATIONS_OVER_QUOTA = (
    "environment '{env}', field 'functions.reserved_concurrency': the reservations in account 111111111111 in "
    "us-east-1 add up to 450 (dev) + 451 (qa) = 901, but Lambda keeps 100 of the account's quota unreserved: the sum "
    "over every environment there must be ≤ account_concurrency_limit - 100 = 1000 - 100 = 900; remove or lower "
    "reservations, or raise the quota (Service Quotas) and account_concurrency_limit"
)
QUOTA_VARIANTS: dict[str, tuple[Callable[[str], str], list[str]]] = {
    "reserved concurrency of two environments over one account's quota": (
        _edit(_reserve_inference(dev=450, qa=451)),
        [RESERVATIONS_OVER_QUOTA.format(env="dev"), RESERVATIONS_OVER_QUOTA.format(env="qa")],
    ),
    "inference reservation below the API burst": (
        _edit(_set("prod-eu", functions={"reserved_concurrency": {"inference": 50}})),
        [
            "environment 'prod-eu', field 'functions.reserved_concurrency': inference reserves 50, fewer than "
            "api.throttle_burst_limit (100) requests API Gateway may have in flight at once; a Lambda throttle reaches "
            "the client as a 5xx instead of the usage plan's 429: need reserved_concurrency.inference ≥ "
            "throttle_burst_limit = 100 (or no reservation)"
        ],
    ),
    "WAF rate limit below the stage rate": (
        _edit(_set("prod", api={"waf_enabled": True, "waf_rate_limit": 2000})),
        [
            "environment 'prod', field 'api.waf_rate_limit': 2000 requests per 300 s per client IP is less than 300 * "
            "throttle_rate_limit = 300 * 50 = 15000: WAF would block one client IP (a server-side client, or several "
            "behind one NAT address) long before the stage throttle answers 429; need waf_rate_limit ≥ 15000, or count "
            "per API key (api.waf_rate_limit_per_api_key)"
        ],
    ),
}
ALL_VARIANTS = {rule: (breaks, [problem]) for rule, (breaks, problem) in VARIANTS.items()} | QUOTA_VARIANTS

# Run through main.py as well: one per kind of check (name, strict JSON, cross-environment rule, generated names).
THROUGH_MAIN = [
    "environment name",
    "duplicate key",
    "two logging-role managers in one account and region",
    "bucket name over 63 chars through a long suffix",
]


def _broken_text(rule: str) -> str:
    breaks, _ = ALL_VARIANTS[rule]
    text = breaks(json.dumps(DOCUMENT, indent=2))
    assert text != json.dumps(DOCUMENT, indent=2)
    return text


@pytest.mark.parametrize("rule", [*VARIANTS, *QUOTA_VARIANTS])
def test_one_broken_rule_is_located(tmp_path: Path, rule: str) -> None:
    path = tmp_path / "cdktf.json"
    path.write_text(_broken_text(rule))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == ALL_VARIANTS[rule][1]


@pytest.mark.parametrize("rule", THROUGH_MAIN)
def test_one_broken_rule_through_main_exits_2_and_writes_nothing(tmp_path: Path, rule: str) -> None:
    project = make_project(tmp_path)
    cdktf_json = project.root / "cdktf.json"
    settings = json.loads(cdktf_json.read_text())  # the CLI settings (app, language, ...) with the fixture's context
    breaks, problem = VARIANTS[rule]
    cdktf_json.write_text(breaks(json.dumps({**settings, "context": DOCUMENT["context"]}, indent=2)))
    before = snapshot(project.root)

    result = project.run()

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: invalid configuration in cdktf.json (1 problem(s)):",
        f"  - {problem}",
    ]
    assert snapshot(project.root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
