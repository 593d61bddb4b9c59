"""AWS rules checked before apply: Lambda concurrency quota, coherent API limits, S3 lifecycle rules (ARCHITECTURE §2).

Each rule is one AWS refusal (or a misbehaviour AWS would show only under load) that the emulator never shows; the
messages are the config's: ``environment '<env>', field '<section.field>': ...`` with the numbers and the formula.
"""

import itertools
from typing import Any

import pytest
from cdktf import App, TerraformStack
from pydantic import ValidationError

from constructs.data_lake import DataLakeSettings
from constructs.functions import FunctionsSettings
from constructs.inference_api import ApiSettings
from constructs.quotas import LAMBDA_MIN_UNRESERVED_CONCURRENCY, concurrency_problems, limit_problems
from constructs.secure_bucket import SecureBucket, SecureBucketProps, Transition, lifecycle_problems

DEV_ACCOUNT, PROD_ACCOUNT = "111111111111", "333333333333"


def _functions(**reserved: int) -> FunctionsSettings:
    return FunctionsSettings(reserved_concurrency=reserved)


# --- Lambda: reserved concurrency against the account's quota --------------------------------------------------------


def test_lambda_keeps_100_unreserved():
    assert LAMBDA_MIN_UNRESERVED_CONCURRENCY == 100


def test_no_reservation_needs_no_quota_even_in_a_new_account():
    quota_10 = FunctionsSettings(account_concurrency_limit=10)
    assert concurrency_problems({"dev": (DEV_ACCOUNT, "us-east-1", quota_10)}) == []


def test_a_new_account_with_a_quota_of_50_cannot_reserve_anything():
    settings = FunctionsSettings(reserved_concurrency={"evaluate": 1}, account_concurrency_limit=50)
    assert concurrency_problems({"dev": (DEV_ACCOUNT, "us-east-1", settings)}) == [
        "environment 'dev', field 'functions.reserved_concurrency': the reservations in account 111111111111 in "
        "us-east-1 add up to 1 (dev) = 1, but Lambda keeps 100 of the account's quota unreserved: the sum over every "
        "environment there must be ≤ account_concurrency_limit - 100 = 50 - 100 = -50; remove or lower reservations, "
        "or raise the quota (Service Quotas) and account_concurrency_limit"
    ]


def test_reservations_up_to_the_quota_minus_100_are_fine():
    settings = _functions(inference=800, stream_consumer=100)  # 900 = 1000 - 100
    assert concurrency_problems({"prod": (PROD_ACCOUNT, "us-east-1", settings)}) == []


def test_reservations_of_environments_sharing_an_account_and_region_add_up():
    envs = {
        "dev": (DEV_ACCOUNT, "us-east-1", _functions(inference=500)),
        "staging": (DEV_ACCOUNT, "us-east-1", _functions(inference=300, stream_consumer=101)),
    }
    where = "account 111111111111 in us-east-1 add up to 500 (dev) + 401 (staging) = 901"
    rule = "must be ≤ account_concurrency_limit - 100 = 1000 - 100 = 900"
    problems = concurrency_problems(envs)
    assert [p.split(":")[0] for p in problems] == [
        "environment 'dev', field 'functions.reserved_concurrency'",
        "environment 'staging', field 'functions.reserved_concurrency'",
    ]
    assert all(where in p and rule in p for p in problems)


def test_each_alone_would_fit_so_only_the_sum_over_environments_catches_it():
    dev, staging = _functions(inference=500), _functions(inference=401)
    assert concurrency_problems({"dev": (DEV_ACCOUNT, "us-east-1", dev)}) == []
    assert concurrency_problems({"staging": (DEV_ACCOUNT, "us-east-1", staging)}) == []
    both = {"dev": (DEV_ACCOUNT, "us-east-1", dev), "staging": (DEV_ACCOUNT, "us-east-1", staging)}
    assert len(concurrency_problems(both)) == 2


@pytest.mark.parametrize(
    ("staging_account", "staging_region"),
    [(PROD_ACCOUNT, "us-east-1"), (DEV_ACCOUNT, "eu-west-1")],
    ids=["other-account", "other-region"],
)
def test_quotas_are_per_account_and_region(staging_account, staging_region):
    envs = {
        "dev": (DEV_ACCOUNT, "us-east-1", _functions(inference=500)),
        "staging": (staging_account, staging_region, _functions(inference=500)),
    }
    assert concurrency_problems(envs) == []


def test_an_environment_with_several_accounts_counts_in_each():
    envs = {
        "dev": (DEV_ACCOUNT, "us-east-1", _functions(inference=500)),
        "staging": ([PROD_ACCOUNT, DEV_ACCOUNT], "us-east-1", _functions(inference=401)),
    }
    problems = concurrency_problems(envs)
    assert len(problems) == 2
    assert all("account 111111111111 in us-east-1 add up to 500 (dev) + 401 (staging) = 901" in p for p in problems)


def test_environments_sharing_an_account_must_state_the_same_quota_and_the_smallest_counts():
    envs = {
        "dev": (DEV_ACCOUNT, "us-east-1", FunctionsSettings(reserved_concurrency={"inference": 150})),
        "staging": (DEV_ACCOUNT, "us-east-1", FunctionsSettings(account_concurrency_limit=200)),
    }
    assert concurrency_problems(envs) == [
        "environment 'staging', field 'functions.account_concurrency_limit': account 111111111111 in us-east-1 has "
        "one concurrency quota, but this environment says 200 and environment 'dev' says 1000; state the account's "
        "quota (Service Quotas, AWS Lambda, Concurrent executions) in both",
        "environment 'dev', field 'functions.reserved_concurrency': the reservations in account 111111111111 in "
        "us-east-1 add up to 150 (dev) = 150, but Lambda keeps 100 of the account's quota unreserved: the sum over "
        "every environment there must be ≤ account_concurrency_limit - 100 = 200 - 100 = 100; remove or lower "
        "reservations, or raise the quota (Service Quotas) and account_concurrency_limit",
    ]


def test_differing_quotas_do_not_matter_where_nothing_is_reserved():
    envs = {
        "dev": (DEV_ACCOUNT, "us-east-1", FunctionsSettings()),
        "staging": (DEV_ACCOUNT, "us-east-1", FunctionsSettings(account_concurrency_limit=50)),
    }
    assert concurrency_problems(envs) == []


# --- coherent limits: inference concurrency vs API burst, WAF vs stage rate -------------------------------------------


def test_default_limits_are_coherent():
    assert limit_problems("prod", FunctionsSettings(), ApiSettings(waf_enabled=True)) == []


def test_an_inference_reservation_below_the_api_burst_is_refused():
    functions = _functions(inference=99)
    assert limit_problems("prod", functions, ApiSettings()) == [
        "environment 'prod', field 'functions.reserved_concurrency': inference reserves 99, fewer than "
        "api.throttle_burst_limit (100) requests API Gateway may have in flight at once; a Lambda throttle reaches "
        "the client as a 5xx instead of the usage plan's 429: need reserved_concurrency.inference ≥ "
        "throttle_burst_limit = 100 (or no reservation)"
    ]


@pytest.mark.parametrize(
    "functions", [_functions(inference=100), _functions(stream_consumer=5)], ids=["equal", "unset"]
)
def test_an_inference_reservation_at_the_burst_or_none_at_all_is_fine(functions):
    assert limit_problems("prod", functions, ApiSettings()) == []


def test_a_waf_rate_limit_below_the_stage_rate_over_five_minutes_is_refused():
    api = ApiSettings(waf_enabled=True, waf_rate_limit=2000)  # the old default: 6.7 rps per IP vs 50 rps
    assert limit_problems("prod", FunctionsSettings(), api) == [
        "environment 'prod', field 'api.waf_rate_limit': 2000 requests per 300 s per client IP is less than "
        "300 * throttle_rate_limit = 300 * 50 = 15000: WAF would block one client IP (a server-side client, or "
        "several behind one NAT address) long before the stage throttle answers 429; need waf_rate_limit ≥ 15000, "
        "or count per API key (api.waf_rate_limit_per_api_key)"
    ]


def test_per_api_key_the_waf_rate_limit_is_compared_with_the_usage_plan_rate():
    api = ApiSettings(waf_enabled=True, waf_rate_limit=2999, throttle_rate_limit=10, waf_rate_limit_per_api_key=True)
    assert limit_problems("dev", FunctionsSettings(), api) == [
        "environment 'dev', field 'api.waf_rate_limit': 2999 requests per 300 s per API key is less than "
        "300 * throttle_rate_limit = 300 * 10 = 3000: WAF would block a key before its usage plan throttles it with "
        "429; need waf_rate_limit ≥ 3000"
    ]


def test_the_waf_rate_limit_is_not_checked_without_waf():
    assert limit_problems("dev", FunctionsSettings(), ApiSettings(waf_rate_limit=100)) == []


def test_both_limit_problems_are_reported_together():
    api = ApiSettings(waf_enabled=True, waf_rate_limit=100)
    problems = limit_problems("prod", _functions(inference=1), api)
    assert [p.split(":")[0] for p in problems] == [
        "environment 'prod', field 'functions.reserved_concurrency'",
        "environment 'prod', field 'api.waf_rate_limit'",
    ]


# --- S3 lifecycle: the data lake's settings -------------------------------------------------------------------------


def _lake_errors(**settings: Any) -> dict[tuple[int | str, ...], str]:
    with pytest.raises(ValidationError) as error:
        DataLakeSettings(**settings)
    return {e["loc"]: e["msg"].removeprefix("Value error, ") for e in error.value.errors()}


def test_glacier_less_than_30_days_after_infrequent_access_is_refused_under_glacier_days():
    assert _lake_errors(glacier_days=59) == {
        ("glacier_days",): "must be at least infrequent_access_days + 30 = 30 + 30 = 60: S3 refuses a GLACIER "
        "transition less than 30 days after the STANDARD_IA one"
    }


def test_glacier_30_days_after_infrequent_access_is_fine():
    lake = DataLakeSettings(infrequent_access_days=45, glacier_days=75, expire_days=76)
    assert (lake.infrequent_access_days, lake.glacier_days, lake.expire_days) == (45, 75, 76)


@pytest.mark.parametrize(("glacier", "expire"), [(90, 90), (400, 365)])
def test_expiration_on_or_before_the_glacier_transition_is_refused_under_expire_days(glacier, expire):
    assert _lake_errors(glacier_days=glacier, expire_days=expire) == {
        ("expire_days",): f"must be greater than glacier_days ({glacier}): S3 refuses an expiration on or before the "
        f"last transition (need ≥ {glacier + 1})"
    }


def test_with_an_invalid_glacier_day_expiration_is_still_checked_against_infrequent_access():
    assert _lake_errors(infrequent_access_days=100, glacier_days=110, expire_days=100) == {
        ("glacier_days",): "must be at least infrequent_access_days + 30 = 100 + 30 = 130: S3 refuses a GLACIER "
        "transition less than 30 days after the STANDARD_IA one",
        ("expire_days",): "must be greater than infrequent_access_days (100): S3 refuses an expiration on or before "
        "the last transition (need ≥ 101)",
    }


def test_the_lake_settings_accept_exactly_what_the_bucket_check_accepts():
    """The settings' validators and secure_bucket.lifecycle_problems state one set of S3 rules."""
    for ia, glacier, expire in itertools.product((30, 31, 60), (55, 60, 61, 90, 91), (60, 61, 90, 91, 92, 121)):
        tiers = (Transition(ia, "STANDARD_IA"), Transition(glacier, "GLACIER"))
        try:
            DataLakeSettings(infrequent_access_days=ia, glacier_days=glacier, expire_days=expire)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == (lifecycle_problems(tiers, expire, 90) == []), (ia, glacier, expire)


# --- S3 lifecycle: every rule SecureBucket's one lifecycle rule must satisfy ------------------------------------------


def test_the_lake_default_tiers_satisfy_s3():
    lake = DataLakeSettings()
    tiers = (Transition(lake.infrequent_access_days, "STANDARD_IA"), Transition(lake.glacier_days, "GLACIER"))
    assert lifecycle_problems(tiers, lake.expire_days, lake.noncurrent_expire_days) == []


@pytest.mark.parametrize(
    ("transitions", "expire", "noncurrent", "problem"),
    [
        (
            (Transition(29, "ONEZONE_IA"),),
            None,
            90,
            "ONEZONE_IA on day 29: S3 moves objects to ONEZONE_IA only once they are 30 days old (need day ≥ 30)",
        ),
        (
            (Transition(30, "GLACIER"), Transition(60, "GLACIER")),
            None,
            90,
            "two transitions to GLACIER: S3 allows one transition per storage class in a rule",
        ),
        (
            (Transition(30, "GLACIER"), Transition(200, "STANDARD_IA")),
            None,
            90,
            "STANDARD_IA on day 200 after GLACIER on day 30: S3 moves objects from GLACIER only to DEEP_ARCHIVE, on a "
            "later day",
        ),
        (
            (Transition(30, "ONEZONE_IA"), Transition(90, "GLACIER_IR")),
            None,
            90,
            "GLACIER_IR on day 90 after ONEZONE_IA on day 30: S3 moves objects from ONEZONE_IA only to GLACIER, "
            "DEEP_ARCHIVE, on a later day",
        ),
        (
            (Transition(0, "GLACIER"), Transition(0, "DEEP_ARCHIVE")),
            None,
            90,
            "DEEP_ARCHIVE on day 0 after GLACIER on day 0: S3 moves objects from GLACIER only to DEEP_ARCHIVE, on a "
            "later day",
        ),
        (
            (Transition(30, "STANDARD_IA"), Transition(59, "GLACIER")),
            None,
            90,
            "GLACIER on day 59 after STANDARD_IA on day 30: S3 keeps an object in STANDARD_IA for at least 30 days "
            "before the next transition (need day ≥ 30 + 30 = 60)",
        ),
        (
            (Transition(10, "GLACIER"), Transition(99, "DEEP_ARCHIVE")),
            None,
            90,
            "DEEP_ARCHIVE on day 99 after GLACIER on day 10: S3 keeps an object in GLACIER for at least 90 days before "
            "the next transition (need day ≥ 10 + 90 = 100)",
        ),
        (
            (Transition(30, "STANDARD_IA"), Transition(60, "GLACIER")),
            60,
            90,
            "expiration on day 60 is not after the last transition (GLACIER on day 60): S3 needs an expiration later "
            "than every transition (need day ≥ 61)",
        ),
        ((), 0, 90, "expiration on day 0: S3 needs a positive number of days"),
        ((), None, 0, "noncurrent versions expire after 0 days: S3 needs a positive number of days"),
    ],
    ids=[
        "ia-before-30-days",
        "one-class-twice",
        "up-the-waterfall",
        "onezone-ia-to-glacier-ir",
        "same-day",
        "ia-minimum-stay",
        "glacier-minimum-stay",
        "expiration-not-after-transitions",
        "expiration-days-positive",
        "noncurrent-days-positive",
    ],
)
def test_each_s3_lifecycle_rule(transitions, expire, noncurrent, problem):
    assert lifecycle_problems(transitions, expire, noncurrent) == [problem]


def test_transitions_are_checked_in_day_order_whatever_order_they_are_given_in():
    given = (Transition(400, "DEEP_ARCHIVE"), Transition(30, "STANDARD_IA"), Transition(90, "GLACIER"))
    assert lifecycle_problems(given, 401, 1) == []


def test_a_secure_bucket_refuses_a_lifecycle_s3_would_refuse(tmp_path):
    stack = TerraformStack(App(outdir=str(tmp_path)), "lifecycle")
    props = SecureBucketProps(
        name="mlpipe-raw-dev",
        kms_key_arn=None,
        access_logs=None,
        transitions=(Transition(30, "STANDARD_IA"), Transition(45, "GLACIER")),
        expire_days=45,
    )
    with pytest.raises(ValueError) as error:
        SecureBucket(stack, "raw", props)
    assert str(error.value) == (
        "bucket mlpipe-raw-dev: lifecycle: GLACIER on day 45 after STANDARD_IA on day 30: S3 keeps an object in "
        "STANDARD_IA for at least 30 days before the next transition (need day ≥ 30 + 30 = 60); expiration on day 45 "
        "is not after the last transition (GLACIER on day 45): S3 needs an expiration later than every transition "
        "(need day ≥ 46)"
    )
