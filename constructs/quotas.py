"""Account quotas and coherent limits, checked before apply (ARCHITECTURE §2, "AWS rules checked before apply").

Pure functions over the constructs' settings. The environment config (stacks/config.py) calls them once its own
fields are valid; each problem reads ``environment '<env>', field '<section.field>': <what is wrong, the numbers, the
formula>``, like every other configuration problem.

- :func:`concurrency_problems`: Lambda reservations across every environment that shares an account and region.
- :func:`limit_problems`: one environment's Lambda, API Gateway and WAF limits agree with each other.
"""

from collections.abc import Mapping, Sequence

from constructs.api_waf import WAF_EVALUATION_WINDOW_SECONDS
from constructs.functions import FunctionsSettings
from constructs.inference_api import ApiSettings

# Lambda keeps at least 100 of a region's concurrency quota unreserved for the functions without a reservation
# ("You can reserve up to the Unreserved account concurrency value minus 100", Lambda Developer Guide, "Configuring
# reserved concurrency"). A reservation beyond that fails at apply time with "Specified ReservedConcurrentExecutions for
# function decreases account's UnreservedConcurrentExecution below its minimum value of [100]." (the bracket shows a
# smaller number, e.g. [10] or [50], in accounts whose whole quota is that small: they cannot reserve anything).
LAMBDA_MIN_UNRESERVED_CONCURRENCY = 100

AccountIds = str | Sequence[str]  # one account id, or an environment's account_ids (each may receive the stack)


def _reserved(settings: FunctionsSettings) -> int:
    return sum(settings.reserved_concurrency.values())


def _by_account_and_region(
    envs: Mapping[str, tuple[AccountIds, str, FunctionsSettings]],
) -> dict[tuple[str, str], dict[str, FunctionsSettings]]:
    groups: dict[tuple[str, str], dict[str, FunctionsSettings]] = {}
    for env, (accounts, region, settings) in envs.items():
        for account in (accounts,) if isinstance(accounts, str) else accounts:
            groups.setdefault((account, region), {})[env] = settings
    return groups


def _quota_disagreements(where: str, group: dict[str, FunctionsSettings]) -> list[str]:
    """One account and region has one quota: every environment there must state the same number."""
    first, *others = group
    stated = group[first].account_concurrency_limit
    return [
        f"environment '{env}', field 'functions.account_concurrency_limit': {where} has one concurrency quota, but "
        f"this environment says {group[env].account_concurrency_limit} and environment '{first}' says {stated}; "
        "state the account's quota (Service Quotas, AWS Lambda, Concurrent executions) in both"
        for env in others
        if group[env].account_concurrency_limit != stated
    ]


def _group_problems(account: str, region: str, group: dict[str, FunctionsSettings]) -> list[str]:
    reserving = {env: _reserved(settings) for env, settings in group.items() if settings.reserved_concurrency}
    if not reserving:
        return []  # nothing is reserved: the quota is not read
    where = f"account {account} in {region}"
    problems = _quota_disagreements(where, group)
    quota = min(settings.account_concurrency_limit for settings in group.values())
    allowed = quota - LAMBDA_MIN_UNRESERVED_CONCURRENCY
    total = sum(reserving.values())
    if total <= allowed:
        return problems
    parts = " + ".join(f"{reserved} ({env})" for env, reserved in reserving.items())
    for env in reserving:
        problems.append(
            f"environment '{env}', field 'functions.reserved_concurrency': the reservations in {where} add up to "
            f"{parts} = {total}, but Lambda keeps {LAMBDA_MIN_UNRESERVED_CONCURRENCY} of the account's quota "
            f"unreserved: the sum over every environment there must be ≤ account_concurrency_limit - "
            f"{LAMBDA_MIN_UNRESERVED_CONCURRENCY} = {quota} - {LAMBDA_MIN_UNRESERVED_CONCURRENCY} = {allowed}; "
            "remove or lower reservations, or raise the quota (Service Quotas) and account_concurrency_limit"
        )
    return problems


def concurrency_problems(envs: Mapping[str, tuple[AccountIds, str, FunctionsSettings]]) -> list[str]:
    """Reserved concurrency of every environment, summed per account and region, against that region's quota.

    ``envs`` maps each environment to ``(account id or account ids, region, functions settings)``; an environment with
    several allowed accounts counts in each of them, since its stack may be applied to any.

    Formula, per account and region, over every environment deployed there:
    ``Σ reserved_concurrency ≤ account_concurrency_limit - 100``. Reservations add up across environments sharing an
    account (Lambda's quota is per account and region), and Lambda keeps 100 unreserved; so an account whose quota is
    100 or less (new accounts often start at 10 or 50) can reserve nothing. Where any of them reserves and they state
    different ``account_concurrency_limit`` values for one account and region, that is reported too, and the smallest
    value is used.
    """
    problems = []
    for (account, region), group in _by_account_and_region(envs).items():
        problems += _group_problems(account, region, group)
    return problems


def _inference_burst_problem(env: str, functions: FunctionsSettings, api: ApiSettings) -> list[str]:
    """``reserved_concurrency.inference ≥ api.throttle_burst_limit`` (only where inference has a reservation).

    API Gateway lets up to ``throttle_burst_limit`` requests through at once, each an invocation in flight. Below that,
    Lambda throttles, and API Gateway answers a throttled Lambda proxy call with a 5xx, where the client should have
    met the stage's or usage plan's 429 Too Many Requests. Without a reservation the function shares the account's
    unreserved pool and this rule does not apply.
    """
    reserved = functions.reserved_concurrency.get("inference")
    burst = api.throttle_burst_limit
    if reserved is None or reserved >= burst:
        return []
    return [
        f"environment '{env}', field 'functions.reserved_concurrency': inference reserves {reserved}, fewer than "
        f"api.throttle_burst_limit ({burst}) requests API Gateway may have in flight at once; a Lambda throttle "
        "reaches the client as a 5xx instead of the usage plan's 429: need reserved_concurrency.inference ≥ "
        f"throttle_burst_limit = {burst} (or no reservation)"
    ]


def _waf_rate_problem(env: str, api: ApiSettings) -> list[str]:
    """``api.waf_rate_limit ≥ 300 * api.throttle_rate_limit`` (only where WAF is enabled).

    WAF counts requests over a 300-second window, API Gateway throttles per second. Per client IP, one server-side
    client (or several behind one NAT address) may legitimately use the whole stage rate, ``throttle_rate_limit``
    requests per second, i.e. ``300 * throttle_rate_limit`` per window; a smaller WAF limit blocks it (403 for the rest
    of the window) long before the stage throttle would answer 429. With ``waf_rate_limit_per_api_key`` WAF counts per
    API key instead, and the same formula compares the limit with the key's usage-plan rate, which is also
    ``throttle_rate_limit`` (the stage and the usage plan share the setting).
    """
    needed = WAF_EVALUATION_WINDOW_SECONDS * api.throttle_rate_limit
    if not api.waf_enabled or api.waf_rate_limit >= needed:
        return []
    if api.waf_rate_limit_per_api_key:
        per, why, other = "API key", "WAF would block a key before its usage plan throttles it with 429", ""
    else:
        per = "client IP"
        why = (
            "WAF would block one client IP (a server-side client, or several behind one NAT address) long before the "
            "stage throttle answers 429"
        )
        other = ", or count per API key (api.waf_rate_limit_per_api_key)"
    return [
        f"environment '{env}', field 'api.waf_rate_limit': {api.waf_rate_limit} requests per "
        f"{WAF_EVALUATION_WINDOW_SECONDS} s per {per} is less than {WAF_EVALUATION_WINDOW_SECONDS} * "
        f"throttle_rate_limit = {WAF_EVALUATION_WINDOW_SECONDS} * {api.throttle_rate_limit} = {needed}: {why}; "
        f"need waf_rate_limit ≥ {needed}{other}"
    ]


def limit_problems(env: str, functions: FunctionsSettings, api: ApiSettings) -> list[str]:
    """One environment's limits that contradict each other (each rule's formula is in its helper's docstring):

    - ``functions.reserved_concurrency.inference ≥ api.throttle_burst_limit`` when inference has a reservation;
    - ``api.waf_rate_limit ≥ 300 * api.throttle_rate_limit`` when WAF is enabled (per IP, or per API key).
    """
    return _inference_burst_problem(env, functions, api) + _waf_rate_problem(env, api)
