"""Unit tests for constructs/naming.py: the name format and each AWS naming rule, checked at synth time."""

import os
import sys
from pathlib import Path

# Until tests/conftest.py exists: repo root on sys.path, and `import stacks` makes `constructs.<module>` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import stacks  # noqa: F401

# isort: split
import pytest

from constructs.naming import LONGEST_COMPONENTS, Kind, Naming, NamingError

# --- format ---------------------------------------------------------------------------------------------------------

GLOBAL = {"account_id": "123456789012", "region": "eu-west-1"}  # a deploy account and region, for global names
GLOBAL_TAIL = "-123456789012-eu-west-1"


def test_name_is_project_component_env() -> None:
    assert Naming("mlpipe", "dev").name("raw") == "mlpipe-raw-dev"


def test_name_appends_suffix_last() -> None:
    assert Naming("mlpipe", "staging", "pr42").name("raw", Kind.LAMBDA) == "mlpipe-raw-staging-pr42"


def test_bucket_names_are_global_they_end_with_account_and_region() -> None:
    naming = Naming("mlpipe", "staging", "pr42", **GLOBAL)
    assert naming.name("raw", Kind.S3_BUCKET) == "mlpipe-raw-staging-pr42-123456789012-eu-west-1"


def test_a_bucket_name_without_account_and_region_is_refused() -> None:
    with pytest.raises(NamingError) as caught:
        Naming("mlpipe", "dev").name("raw", Kind.S3_BUCKET)
    assert str(caught.value) == "environment 'dev': s3_bucket names are global: they need an account and region"


def test_empty_suffix_adds_nothing() -> None:
    assert Naming("mlpipe", "prod", "").name("raw") == "mlpipe-raw-prod"


def test_name_is_lower_cased() -> None:
    assert Naming("MLPipe", "Dev", "X1").name("Model-Artifacts", Kind.LAMBDA) == "mlpipe-model-artifacts-dev-x1"


def test_stem_is_env_and_suffix() -> None:
    assert Naming("mlpipe", "dev", "x1").stem == "dev-x1"
    assert Naming("mlpipe", "dev").stem == "dev"


def test_alias_prefixes_kms_alias() -> None:
    assert Naming("mlpipe", "prod").alias("data-key") == "alias/mlpipe-data-key-prod"


def test_default_kind_is_generic() -> None:
    # GENERIC allows 255 chars: a 100-char component is fine without a kind ...
    assert len(Naming("p", "dev").name("c" * 100)) == 100 + len("p--dev")
    # ... but the same name is refused as a Lambda function name.
    with pytest.raises(NamingError):
        Naming("p", "dev").name("c" * 100, Kind.LAMBDA)


# --- length limits, exactly at the boundary --------------------------------------------------------------------------


def _component_for(total: int, naming: Naming, kind: Kind = Kind.GENERIC) -> str:
    """A component that makes naming.name(component, kind) exactly ``total`` chars long."""
    overhead = len(f"{naming.project}--{naming.stem}") + (len(GLOBAL_TAIL) if kind is Kind.S3_BUCKET else 0)
    return "c" * (total - overhead)


@pytest.mark.parametrize(
    ("kind", "limit"),
    [(Kind.S3_BUCKET, 63), (Kind.IAM_ROLE, 64), (Kind.LAMBDA, 64), (Kind.SAGEMAKER, 63)],
    ids=lambda v: v.name if isinstance(v, Kind) else str(v),
)
def test_length_at_limit_is_accepted(kind: Kind, limit: int) -> None:
    naming = Naming("mlpipe", "dev", **GLOBAL)
    name = naming.name(_component_for(limit, naming, kind), kind)
    assert len(name) == limit


@pytest.mark.parametrize(
    ("kind", "limit", "describe"),
    [
        (Kind.S3_BUCKET, 63, "3-63 chars of a-z 0-9 . -, DNS-compatible"),
        (Kind.IAM_ROLE, 64, "at most 64 chars of letters, digits and +=,.@_-"),
        (Kind.LAMBDA, 64, "at most 64 chars of letters, digits, - and _"),
        (Kind.SAGEMAKER, 63, "at most 63 chars of letters, digits and -"),
    ],
    ids=lambda v: v.name if isinstance(v, Kind) else "",
)
def test_length_one_over_limit_fails_with_full_message(kind: Kind, limit: int, describe: str) -> None:
    naming = Naming("mlpipe", "dev", **GLOBAL)
    component = _component_for(limit + 1, naming, kind)
    name = f"mlpipe-{component}-dev" + (GLOBAL_TAIL if kind is Kind.S3_BUCKET else "")
    assert len(name) == limit + 1
    with pytest.raises(NamingError) as caught:
        naming.name(component, kind)
    assert str(caught.value) == (
        f"environment 'dev': {kind.name.lower()} name for component '{component}' ('{name}') is {limit + 1} chars; "
        f"allowed: {describe}. Shorten the project, environment or suffix name."
    )


def test_suffix_counts_towards_the_limit() -> None:
    # 'mlpipe-model-artifacts-prod-123456789012-eu-west-1' is 50 chars; a 13-char suffix (+1 dash) makes 64 > 63.
    naming = Naming("mlpipe", "prod", "s" * 13, **GLOBAL)
    with pytest.raises(NamingError, match=r"is 64 chars; allowed: 3-63 chars"):
        naming.name("model-artifacts", Kind.S3_BUCKET)
    assert len(Naming("mlpipe", "prod", "s" * 12, **GLOBAL).name("model-artifacts", Kind.S3_BUCKET)) == 63


def test_s3_minimum_length() -> None:
    with pytest.raises(NamingError, match=r"\('ab'\) is 2 chars; allowed: 3-63 chars"):
        Naming("mlpipe", "dev").check("ab", Kind.S3_BUCKET, "x")
    Naming("mlpipe", "dev").check("abc", Kind.S3_BUCKET, "x")


def test_error_names_environment_component_and_limit() -> None:
    naming = Naming("a-very-long-project-name-for-tests", "staging", "feature12345", **GLOBAL)
    with pytest.raises(NamingError) as caught:
        naming.name("model-artifacts", Kind.S3_BUCKET)
    message = str(caught.value)
    assert message.startswith("environment 'staging': s3_bucket name for component 'model-artifacts' (")
    long_name = f"a-very-long-project-name-for-tests-model-artifacts-staging-feature12345{GLOBAL_TAIL}"
    assert f"('{long_name}') is 94 chars" in message
    assert "allowed: 3-63 chars of a-z 0-9 . -, DNS-compatible" in message


def test_error_is_a_value_error() -> None:
    assert issubclass(NamingError, ValueError)


# --- S3 DNS rules ----------------------------------------------------------------------------------------------------

_S3_SHAPE = "has characters or a shape the service refuses"


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        ("mlpipe..raw-dev", "no adjacent dots or dot-dash pairs"),
        ("mlpipe.-raw-dev", "no adjacent dots or dot-dash pairs"),
        ("mlpipe-.raw-dev", "no adjacent dots or dot-dash pairs"),
        ("192.168.5.4", "must not look like an IP address"),
        ("mlpipe_raw-dev", _S3_SHAPE),
        ("MLpipe-raw-dev", _S3_SHAPE),
        ("-mlpipe-raw-dev", _S3_SHAPE),
        ("mlpipe-raw-dev-", _S3_SHAPE),
        ("mlpipe-raw-dev.", _S3_SHAPE),
        ("mlpipe raw", _S3_SHAPE),
    ],
)
def test_s3_dns_rules(name: str, problems: str) -> None:
    with pytest.raises(NamingError) as caught:
        Naming("mlpipe", "dev").check(name, Kind.S3_BUCKET, "raw")
    assert str(caught.value) == (
        f"environment 'dev': s3_bucket name for component 'raw' ('{name}') {problems}; "
        "allowed: 3-63 chars of a-z 0-9 . -, DNS-compatible. Shorten the project, environment or suffix name."
    )


def test_s3_lists_every_problem_of_one_name() -> None:
    name = "xn--" + "a" * 57 + "..b"  # 64 chars, reserved prefix and adjacent dots
    assert len(name) == 64
    with pytest.raises(NamingError) as caught:
        Naming("mlpipe", "dev").check(name, Kind.S3_BUCKET, "raw")
    problems = "is 64 chars, no adjacent dots or dot-dash pairs, reserved prefix or suffix"
    assert f"('{name}') {problems}; allowed:" in str(caught.value)


def test_s3_dots_are_allowed_in_the_middle() -> None:
    Naming("mlpipe", "dev").check("mlpipe.raw.dev", Kind.S3_BUCKET, "raw")


def test_s3_ip_like_check_needs_four_groups() -> None:
    Naming("mlpipe", "dev").check("192.168.5", Kind.S3_BUCKET, "raw")  # not an IPv4 address: allowed


def test_underscore_component_is_refused_for_s3_via_name() -> None:
    with pytest.raises(
        NamingError, match=r"\('mlpipe-model_artifacts-dev-123456789012-eu-west-1'\) has characters or a shape"
    ):
        Naming("mlpipe", "dev", **GLOBAL).name("model_artifacts", Kind.S3_BUCKET)


def test_underscore_is_fine_for_lambda() -> None:
    assert Naming("mlpipe", "dev").name("stream_consumer", Kind.LAMBDA) == "mlpipe-stream_consumer-dev"


def test_sagemaker_refuses_underscore_and_dot() -> None:
    for component in ("epc_1", "epc.1"):
        with pytest.raises(NamingError, match="has characters or a shape the service refuses"):
            Naming("mlpipe", "dev").name(component, Kind.SAGEMAKER)


@pytest.mark.parametrize(
    "name",
    [
        "xn--mlpipe-raw-dev",
        "sthree-mlpipe-raw-dev",
        "sthree-configurator-mlpipe",
        "mlpipe-raw-dev-s3alias",
        "mlpipe-raw-dev--ol-s3",
    ],
)
def test_s3_reserved_prefixes_and_suffixes(name: str) -> None:
    with pytest.raises(NamingError, match=r"\) reserved prefix or suffix; allowed:"):
        Naming("mlpipe", "dev").check(name, Kind.S3_BUCKET, "raw")


def test_a_suffix_cannot_give_a_bucket_a_reserved_ending() -> None:
    # Global names end with the region, so an environment suffix such as "s3alias" is no longer at the end.
    naming = Naming("mlpipe", "dev", "s3alias", **GLOBAL)
    assert naming.name("raw", Kind.S3_BUCKET) == f"mlpipe-raw-dev-s3alias{GLOBAL_TAIL}"


@pytest.mark.parametrize(
    "name", ["amzn-s3-demo-raw-dev", "mlpipe-raw-dev.mrap", "mlpipe-raw--x-s3", "mlpipe--table-s3"]
)
def test_s3_reserved_names_missing_from_the_check(name: str) -> None:
    with pytest.raises(NamingError, match="reserved prefix or suffix"):
        Naming("mlpipe", "dev").check(name, Kind.S3_BUCKET, "raw")


def test_iam_role_refuses_non_ascii_letters() -> None:
    with pytest.raises(NamingError, match="has characters or a shape the service refuses"):
        Naming("mlpipe", "dev").name("rôle", Kind.IAM_ROLE)


# --- the components the config checks -------------------------------------------------------------------------------


def test_longest_components_fit_for_the_committed_project() -> None:
    for env in ("dev", "staging", "prod"):
        naming = Naming("mlpipe", env, account_id="111111111111", region="ap-southeast-1")  # a long region
        for kind, component in LONGEST_COMPONENTS.items():
            naming.name(component, kind)


def test_longest_components_cover_the_tight_limits() -> None:
    assert {Kind.S3_BUCKET, Kind.IAM_ROLE, Kind.LAMBDA, Kind.SAGEMAKER} <= set(LONGEST_COMPONENTS)
