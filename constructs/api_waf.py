"""The WAF web ACL in front of the inference API's stage (ARCHITECTURE §5).

Managed rule groups and a rate limit, per client IP or (chosen explicitly) per API key, associated with one API
Gateway stage, logging to an ``aws-waf-logs-`` group (KMS-encrypted, with a retention) with ``x-api-key`` redacted.

:func:`build_api_waf` is a function, not a construct: it adds its resources to the caller's scope (the inference API),
so their construct paths, and with them the Terraform logical ids, stay those of the API's own resources.
"""

from dataclasses import dataclass
from typing import Any

from constructs import Construct
from constructs.aws_modules import aws
from constructs.log_group import LogsSettings, owned_log_group
from constructs.naming import Naming
from constructs.refs import KeyRef

# The managed rule groups of the web ACL, in evaluation order; the per-IP rate limit runs after the first one.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
# Rules of those groups that only count:
# - SizeRestrictions_BODY blocks bodies over 8 KB, but the PredictRequest model admits up to 1000 features (~20 KB of
#   JSON); the function itself refuses bodies over 64 KiB.
# - HostingProviderIPList blocks every cloud provider's address range, i.e. our server-side clients; the group's
#   AnonymousIPList rule (VPNs, proxies, Tor) still blocks.
COUNTED_MANAGED_RULES = {
    "AWSManagedRulesAnonymousIpList": ("HostingProviderIPList",),
    "AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",),
}
WAF_RATE_LIMIT_RANGE = (100, 2_000_000_000)  # requests per evaluation window per aggregation key (client IP / key)
# The rate-based rule's evaluation window: WAF counts each key's requests over the last 300 s (it accepts 60, 120, 300
# or 600; 300 is its default). constructs/quotas.py compares the limit with the API's rate over this window.
WAF_EVALUATION_WINDOW_SECONDS = 300
API_KEY_HEADER = "x-api-key"  # where API Gateway reads the API key (api_key_source HEADER)


@dataclass(frozen=True)
class ApiWafProps:
    """The web ACL of one API stage."""

    naming: Naming  # names the web ACL and its metrics; checks the log group name
    api_name: str  # name of the REST API: the log group is aws-waf-logs-<api_name>
    stage_arn: str  # the API stage the web ACL is associated with
    rate_limit: int  # requests per 5 minutes per client IP (or per API key) before WAF blocks (WAF_RATE_LIMIT_RANGE)
    ops_key: KeyRef  # KMS key of the WAF log group
    logs: LogsSettings  # retention of the WAF log group
    rate_limit_per_api_key: bool = False  # aggregate the rate limit per x-api-key header value instead of per IP


def rate_based_statement(limit: int, per_api_key: bool) -> dict[str, Any]:
    """The rate rule's statement (Terraform JSON: the provider types the recursive statement block as Any).

    Per IP, one client address may send ``limit`` requests per window. Per API key, WAF counts each distinct
    ``x-api-key`` value instead (``aggregate_key_type = "CUSTOM_KEYS"`` with one ``custom_key.header``), so several
    server-side clients behind one NAT address are not blocked together. The price of that choice: WAF leaves a request
    without the header out of a custom-key rule (GET /health, public and a MOCK, is then limited only by the stage
    throttle), and a client that sends a new made-up key each time is never counted together. API Gateway refuses an
    unknown key with 403 before the function runs, and the managed rule groups and the stage throttle still apply.
    """
    if not per_api_key:
        return {"limit": limit, "aggregate_key_type": "IP", "evaluation_window_sec": WAF_EVALUATION_WINDOW_SECONDS}
    # The key is matched as sent: a transformation (e.g. LOWERCASE) would merge distinct, case-sensitive keys.
    header = {"name": API_KEY_HEADER, "text_transformation": [{"priority": 0, "type": "NONE"}]}
    return {
        "limit": limit,
        "aggregate_key_type": "CUSTOM_KEYS",
        "custom_key": [{"header": header}],
        "evaluation_window_sec": WAF_EVALUATION_WINDOW_SECONDS,
    }


def build_api_waf(scope: Construct, props: ApiWafProps) -> Any:
    """Web ACL, its association with the stage, and its logging, all in ``scope``; returns the web ACL."""
    waf = aws.wafv2_web_acl
    name = props.naming.name("api-waf")

    def visibility(metric: str) -> Any:
        return waf.Wafv2WebAclRuleVisibilityConfig(
            cloudwatch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=f"{name}-{metric}"
        )

    def managed(group: str, priority: int) -> Any:
        statement: dict[str, Any] = {"name": group, "vendor_name": "AWS"}
        if counted := COUNTED_MANAGED_RULES.get(group):
            statement["rule_action_override"] = [{"name": rule, "action_to_use": {"count": {}}} for rule in counted]
        return waf.Wafv2WebAclRule(
            name=group,
            priority=priority,
            override_action=waf.Wafv2WebAclRuleOverrideAction(none=waf.Wafv2WebAclRuleOverrideActionNone()),
            # The provider types the (recursive) statement block as Any: plain Terraform JSON passes through.
            statement={"managed_rule_group_statement": statement},
            visibility_config=visibility(group),
        )

    rate_rule = "rate-limit-per-api-key" if props.rate_limit_per_api_key else "rate-limit-per-ip"
    rate_limit = waf.Wafv2WebAclRule(
        name=rate_rule,
        priority=20,
        action=waf.Wafv2WebAclRuleAction(block=waf.Wafv2WebAclRuleActionBlock()),
        statement={"rate_based_statement": rate_based_statement(props.rate_limit, props.rate_limit_per_api_key)},
        visibility_config=visibility(rate_rule),
    )
    ip_reputation, *groups = MANAGED_RULE_GROUPS
    rules = [managed(ip_reputation, 10), rate_limit]
    rules += [managed(group, 30 + 10 * index) for index, group in enumerate(groups)]
    web_acl = waf.Wafv2WebAcl(
        scope,
        "web-acl",
        name=name,
        description=f"Managed rule groups and a {'per-API-key' if props.rate_limit_per_api_key else 'per-IP'} rate "
        "limit in front of the inference API",
        scope="REGIONAL",
        default_action=waf.Wafv2WebAclDefaultAction(allow=waf.Wafv2WebAclDefaultActionAllow()),
        rule=rules,
        visibility_config=waf.Wafv2WebAclVisibilityConfig(
            cloudwatch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=name
        ),
    )
    aws.wafv2_web_acl_association.Wafv2WebAclAssociation(
        scope, "web-acl-association", resource_arn=props.stage_arn, web_acl_arn=web_acl.arn
    )
    # WAF only delivers to log groups whose name starts with "aws-waf-logs-".
    log_name = f"aws-waf-logs-{props.api_name}"
    log_group = owned_log_group(
        scope,
        "waf-logs",
        naming=props.naming,
        name=log_name,
        component="api waf logs",
        retention_days=props.logs.retention_days,
        kms_key_arn=props.ops_key.arn,
    )
    logging = aws.wafv2_web_acl_logging_configuration
    logging.Wafv2WebAclLoggingConfiguration(
        scope,
        "web-acl-logging",
        resource_arn=web_acl.arn,
        log_destination_configs=[log_group.arn],
        # WAF logs every request header; the API key is a credential and must not land in the logs.
        redacted_fields=[
            logging.Wafv2WebAclLoggingConfigurationRedactedFields(
                single_header=logging.Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader(name="x-api-key")
            )
        ],
    )
    return web_acl
