"""Regressions for bad configuration input: each once gave a traceback, exit 0 with a broken plan, or hid a problem.

Every case must end in one :class:`ConfigError` naming the environment and the field (what the CLI prints with exit
code 2); none may raise anything else.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def document() -> dict[str, Any]:
    """The committed cdktf.json, a fresh copy per test."""
    return json.loads((ROOT / "cdktf.json").read_text())


def problems_in_text(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "cdktf.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    return [p.replace(str(path), "cdktf.json") for p in caught.value.problems]


def problems_of(context: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(context, {})
    return caught.value.problems


def with_dev(document: dict[str, Any], **fields: Any) -> dict[str, Any]:
    document["context"]["environments"]["dev"].update(fields)
    return document["context"]


# --- the shape of the file -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", "cannot read cdktf.json: the top level must be a JSON object, got a list"),
        ("null", "cannot read cdktf.json: the top level must be a JSON object, got null"),
        ('"context"', "cannot read cdktf.json: the top level must be a JSON object, got a string"),
        ('{"context": []}', "field 'context': must be a JSON object with the configuration, got a list"),
        ('{"context": null}', "field 'context': must be a JSON object with the configuration, got null"),
        ('{"context": "x"}', "field 'context': must be a JSON object with the configuration, got a string"),
    ],
)
def test_a_document_or_context_that_is_not_an_object(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_in_text(tmp_path, text) == [expected]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    assert problems_in_text(tmp_path, b'{"context": {"project": "ml\xff"}}') == [
        "cannot read cdktf.json: not UTF-8 text (byte 27: invalid start byte)"
    ]


@pytest.mark.parametrize("depth", [40, 5000, 100_000])
def test_very_deep_nesting(tmp_path: Path, document: dict[str, Any], depth: int) -> None:
    text = json.dumps(document).replace('"mlpipe"', "[" * depth + "]" * depth, 1)
    expected = (
        # 32 levels counted from the top of the file: context.project + 31 list levels
        [
            f"field 'project{'.0' * 31}': is nested deeper than 32 levels",
            "field 'project': Input should be a valid string",
        ]
        if depth < 1000  # Python's own parser stops at its recursion limit, before any location is known
        else ["cannot read cdktf.json: not valid configuration: nested deeper than 32 levels"]
    )
    assert problems_in_text(tmp_path, text) == expected


def test_an_integer_literal_thousands_of_digits_long(tmp_path: Path, document: dict[str, Any]) -> None:
    text = json.dumps(document).replace('"retention_days": 30', '"retention_days": ' + "9" * 5000)
    assert problems_in_text(tmp_path, text) == [
        "environment 'dev', field 'logs.retention_days': 999999999999…(5000 digits) has more than 20 digits"
    ]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(tmp_path: Path, document: dict[str, Any], literal: str) -> None:
    document["context"]["environments"]["dev"]["functions"] = {"metric_threshold": "__X__"}
    text = json.dumps(document).replace('"__X__"', literal)
    assert problems_in_text(tmp_path, text) == [
        f"environment 'dev', field 'functions.metric_threshold': {literal} is not JSON (NaN and Infinity are "
        "JavaScript, not JSON)"
    ]


def test_a_number_that_overflows_to_infinity(tmp_path: Path, document: dict[str, Any]) -> None:
    document["context"]["environments"]["dev"]["functions"] = {"metric_threshold": "__X__"}
    text = json.dumps(document).replace('"__X__"', "1e400")
    assert problems_in_text(tmp_path, text) == [
        "environment 'dev', field 'functions.metric_threshold': 1e400 is outside the range of a finite number"
    ]


def test_non_finite_numbers_are_refused_when_the_context_is_built_in_python(document: dict[str, Any]) -> None:
    context = with_dev(document, functions={"metric_threshold": float("inf")})
    context["environments"]["prod"]["alarms"] = {"data_drift": float("nan")}
    assert problems_of(context) == [
        "environment 'dev', field 'functions.metric_threshold': Input should be a finite number (got inf)",
        "environment 'prod', field 'alarms.data_drift': Input should be a finite number (got nan)",
    ]


def test_duplicate_keys_are_refused(tmp_path: Path, document: dict[str, Any]) -> None:
    text = json.dumps(document).replace('"owner": "ml-platform"', '"owner": "a", "owner": "b"', 1)
    assert problems_in_text(tmp_path, text) == [
        "environment 'dev', field 'owner': is given more than once (JSON would silently keep the last one)"
    ]


def test_a_lone_surrogate_in_a_string(tmp_path: Path, document: dict[str, Any]) -> None:
    text = json.dumps(document).replace('"cc-ml-dev"', '"cc-\\ud800"')
    assert problems_in_text(tmp_path, text) == [
        "environment 'dev', field 'cost_center': contains an unpaired surrogate escape (\\ud800-\\udfff); not "
        "valid Unicode",
    ]  # the schema's own complaint about the same value is not repeated


# --- values of the wrong type that used to crash the loader -----------------------------------------------------------


def test_a_suffix_that_is_a_number(document: dict[str, Any]) -> None:
    assert problems_of(with_dev(document, suffix=12)) == [
        "environment 'dev', field 'suffix': Input should be a valid string (got 12)"
    ]


@pytest.mark.parametrize("region", [["us-east-1"], {"name": "us-east-1"}])
def test_an_environment_region_that_is_a_list_or_object(document: dict[str, Any], region: Any) -> None:
    # The region also names the environment's state bucket and its global bucket names: it must not crash those.
    assert problems_of(with_dev(document, region=region)) == [
        "environment 'dev', field 'region': Input should be a valid string"
    ]


@pytest.mark.parametrize("account_ids", [[["111111111111"]], [{"id": "111111111111"}], "111111111111"])
def test_account_ids_that_are_not_a_list_of_strings(document: dict[str, Any], account_ids: Any) -> None:
    # The first account id names the state bucket and every bucket: a wrong shape must not crash those either.
    problem = (
        "environment 'dev', field 'account_ids': Input should be a valid list (got '111111111111')"
        if isinstance(account_ids, str)
        else "environment 'dev', field 'account_ids.0': Input should be a valid string"
    )
    assert problems_of(with_dev(document, account_ids=account_ids)) == [problem]


def test_a_state_backend_section_that_is_not_an_object(document: dict[str, Any]) -> None:
    document["context"]["state_backend"] = ["us-east-1"]
    assert problems_of(document["context"]) == [
        "field 'state_backend': Input should be a valid dictionary or instance of StateBackendConfig"
    ]


def test_an_environment_that_is_not_an_object(document: dict[str, Any]) -> None:
    document["context"]["environments"]["staging"] = ["not", "an", "object"]
    assert problems_of(document["context"]) == [
        "environment 'staging', field '(environment)': Input should be a valid dictionary or instance of "
        "EnvironmentConfig"
    ]


# --- names that are schema-valid but only failed at synth -------------------------------------------------------------


def test_a_variant_name_that_makes_the_model_name_too_long(document: dict[str, Any]) -> None:
    # A 13-char suffix is the longest dev's buckets allow (mlpipe-model-artifacts-dev-<13>-111111111111-us-east-1 is
    # 63 chars); the model name mlpipe-model-<variant>-<8 hex>-dev-<suffix> is 27 + 24 + 13 = 64 > 63.
    context = with_dev(document, suffix="abcdefghijklm")
    context["environments"]["dev"]["sagemaker"]["variants"][0]["name"] = "V" * 24
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker.variants.0.name': sagemaker name for component "
        f"'model-{'v' * 24}-00000000' ('mlpipe-model-{'v' * 24}-00000000-dev-abcdefghijklm') is 64 chars; allowed: at "
        "most 63 chars of letters, digits and -. Shorten the project, environment or suffix name. (a shorter variant "
        "name also shortens the model name)"
    ]


def test_duplicate_alert_emails(document: dict[str, Any]) -> None:
    assert problems_of(with_dev(document, alert_emails=["ops@example.com", "OPS@example.com"])) == [
        "environment 'dev', field 'alert_emails': each address may be listed once; repeated: ['ops@example.com']"
    ]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"protect_stateful": True, "data_lake": {}}, "protect_stateful"),
        ({"endpoints_enabled": True}, "endpoints_enabled"),
    ],
)
def test_alerts_need_a_subscriber_where_data_is_protected_or_endpoints_serve(
    document: dict[str, Any], fields: dict[str, Any], why: str
) -> None:
    context = with_dev(document, alert_emails=[], **fields)
    problems = [p for p in problems_of(context) if "alert_emails" in p]
    assert problems == [
        "environment 'dev', field 'alert_emails': the alerts topic needs at least one subscriber (an address in "
        f"alert_emails or a URL in alert_https_endpoints) while {why} is true; without one no alarm reaches a person"
    ]


def test_an_https_endpoint_alone_is_a_subscriber(document: dict[str, Any]) -> None:
    context = with_dev(
        document,
        alert_emails=[],
        protect_stateful=True,
        data_lake={},
        alert_https_endpoints=["https://page.example.com/x"],
    )
    assert parse_config(context, {}).environments["dev"].alerts.subscriber_count == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://page.example.com/x",
        "https://",
        "https://page example.com",
        "ftp://x.example.com",
        "https://h/" + "a" * 2048,
    ],
)
def test_alert_endpoints_must_be_https_urls(document: dict[str, Any], url: str) -> None:
    (problem,) = problems_of(with_dev(document, alert_https_endpoints=[url]))
    assert problem.startswith("environment 'dev', field 'alert_https_endpoints.0': ")


def test_duplicate_alert_endpoints(document: dict[str, Any]) -> None:
    url = "https://hooks.example.com/services/secret"
    assert problems_of(with_dev(document, alert_https_endpoints=[url, url])) == [
        "environment 'dev', field 'alert_https_endpoints': each endpoint may be listed once; 1 repeated"
    ]


# --- every problem is listed: cross-field rules run for each environment whose own fields are valid -----------------


def test_cross_field_rules_of_valid_environments_run_despite_a_typo_elsewhere(document: dict[str, Any]) -> None:
    environments = document["context"]["environments"]
    environments["prod"]["kinesis"]["shards"] = 2  # a typo in prod
    environments["dev"]["protect_stateful"] = True  # dev keeps force_destroy: true → cross-field problem
    environments["dev"]["sagemaker"]["variants"][0]["instance_type"] = "ml.m5d.large"  # NVMe + volume key
    environments["staging"]["endpoints_enabled"] = True  # phase two without models
    problems = problems_of(document["context"])
    assert [p.split(":")[0] for p in problems] == [
        "environment 'prod', field 'kinesis.shards'",
        "environment 'dev', field 'data_lake.force_destroy'",
        "environment 'dev', field 'sagemaker.variants.0.instance_type'",
        "environment 'staging', field 'endpoints_enabled'",
    ]


# --- values AWS rejects at apply time (exit 0 before) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        (
            "team<ops>",
            "characters AWS refuses in a tag value: ['<', '>']; allowed: letters, digits, spaces and _.:/=+-@",
        ),
        ("x" * 257, "a tag value has at most 256 characters"),
    ],
)
def test_tag_values_aws_rejects(document: dict[str, Any], owner: str, message: str) -> None:
    [problem] = problems_of(with_dev(document, owner=owner))
    assert problem.startswith(f"environment 'dev', field 'owner': {message} (got ")


def test_unicode_tag_letters_are_accepted(document: dict[str, Any]) -> None:
    config = parse_config(with_dev(document, owner="équipe ML: données/modèles"), {})
    assert config.environments["dev"].owner == "équipe ML: données/modèles"


def test_account_ids_in_non_ascii_digits(document: dict[str, Any]) -> None:
    arabic_indic = "\u0661" * 12  # twelve ARABIC-INDIC DIGIT ONEs: digits, but not 0-9
    assert problems_of(with_dev(document, account_ids=[arabic_indic])) == [
        f"environment 'dev', field 'account_ids.0': String should match pattern '^[0-9]{{12}}$' (got '{arabic_indic}')"
    ]


def test_variant_names_that_differ_only_in_case(document: dict[str, Any]) -> None:
    context = with_dev(document)
    context["environments"]["dev"]["sagemaker"]["variants"] = [{"name": "A", "weight": 1}, {"name": "a", "weight": 1}]
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker': variant names must be unique, ignoring case, got ['A', 'a']"
    ]


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("data_lake", "expire_days", 10**12, "Input should be less than or equal to 36500"),
        ("data_lake", "noncurrent_expire_days", 40_000, "Input should be less than or equal to 36500"),
        ("api", "throttle_rate_limit", 10**9, "Input should be less than or equal to 10000"),
        ("api", "quota_limit", 2**31, "Input should be less than or equal to 2147483647"),
        ("alarms", "model_latency_p99_ms", 10**7, "Input should be less than or equal to 60000"),
        ("functions", "metric_threshold", 1e300, "Input should be less than or equal to 1000000000000"),
    ],
)
def test_numbers_beyond_what_aws_accepts(
    document: dict[str, Any], section: str, field: str, value: float, message: str
) -> None:
    context = with_dev(document)
    context["environments"]["dev"].setdefault(section, {})[field] = value
    [problem] = [p for p in problems_of(context) if f"'{section}.{field}'" in p]
    assert problem == f"environment 'dev', field '{section}.{field}': {message} (got {value!r})"


def test_two_environments_managing_one_accounts_api_gateway_logging_role(document: dict[str, Any]) -> None:
    document["context"]["environments"]["staging"]["account_ids"] = ["111111111111"]  # dev's account and region
    assert problems_of(document["context"]) == [
        "environment 'staging', field 'api.manage_account_logging_role': environment 'dev' already manages the API "
        "Gateway logging role of account 111111111111 in us-east-1 (one per account and region); set it to false here"
    ]


def test_one_environment_per_account_and_region_may_leave_the_logging_role_to_the_other(
    document: dict[str, Any],
) -> None:
    staging = document["context"]["environments"]["staging"]
    staging["account_ids"] = ["111111111111"]
    staging["api"] = {"manage_account_logging_role": False}
    assert parse_config(document["context"], {}).environments["staging"].api.manage_account_logging_role is False


def test_an_image_in_another_region(document: dict[str, Any]) -> None:
    context = with_dev(document)
    image = "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    context["environments"]["dev"]["sagemaker"]["variants"][0]["image_uri"] = image
    assert problems_of(context) == [
        "environment 'dev', field 'sagemaker.variants.0.image_uri': the image is in region 'eu-west-1' but the "
        "environment deploys to 'us-east-1'; SageMaker pulls model images only from ECR in the endpoint's own region"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("subnet_ids", ["subnet-xyz"]), ("security_group_ids", ["sg-1"]), ("subnet_ids", ["subnet-0123456789abcdef"])],
)
def test_malformed_vpc_ids(document: dict[str, Any], field: str, value: list[str]) -> None:
    vpc = {"subnet_ids": ["subnet-0123abcd"], "security_group_ids": ["sg-0123abcd"], field: value}
    context = with_dev(document)
    context["environments"]["dev"]["sagemaker"]["vpc"] = vpc
    [problem] = problems_of(context)
    assert problem.startswith(f"environment 'dev', field 'sagemaker.vpc.{field}.0': String should match pattern")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("s3://my..bucket/model.tar.gz", "no adjacent dots or dot-dash pairs"),
        ("s3://Bucket/model.tar.gz", "a bucket name is 3-63 chars of a-z 0-9 . -, DNS-compatible"),
        ("s3://bucket/model\n.tar.gz", "the key has control characters or surrounding white space"),
        ("s3://bucket/" + "k" * 1025, "the key is over 1024 bytes"),
        ("https://bucket/model.tar.gz", None),
    ],
)
def test_malformed_s3_urls(document: dict[str, Any], url: str, reason: str | None) -> None:
    context = with_dev(document)
    context["environments"]["dev"]["sagemaker"]["variants"][0]["model_data_url"] = url
    [problem] = problems_of(context)
    prefix = "environment 'dev', field 'sagemaker.variants.0.model_data_url': "
    if reason is None:
        assert problem.startswith(f"{prefix}must be s3://<bucket>/<key>")
    else:
        assert problem.startswith(f"{prefix}not a usable S3 object URL: ")
        assert reason in problem
