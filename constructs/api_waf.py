"""The WAF web ACL in front of the inference API's stage (ARCHITECTURE §5).

Managed rule groups and a per-IP rate limit, associated with one API Gateway stage, logging to an
``aws-waf-logs-`` group (KMS-encrypted, with a retention) with ``x-api-key`` redacted.

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
WAF_RATE_LIMIT_RANGE = (100, 2_000_000_000)  # requests per 5-minute window per client IP (WAF's rate-based rule)


@dataclass(frozen=True)
class ApiWafProps:
    """The web ACL of one API stage."""

    naming: Naming  # names the web ACL and its metrics; checks the log group name
    api_name: str  # name of the REST API: the log group is aws-waf-logs-<api_name>
    stage_arn: str  # the API stage the web ACL is associated with
    rate_limit: int  # requests per 5 minutes per client IP before WAF blocks (WAF_RATE_LIMIT_RANGE)
    ops_key: KeyRef  # KMS key of the WAF log group
    logs: LogsSettings  # retention of the WAF log group


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

    rate_limit = waf.Wafv2WebAclRule(
        name="rate-limit-per-ip",
        priority=20,
        action=waf.Wafv2WebAclRuleAction(block=waf.Wafv2WebAclRuleActionBlock()),
        statement={
            "rate_based_statement": {
                "limit": props.rate_limit,
                "aggregate_key_type": "IP",
                "evaluation_window_sec": 300,
            }
        },
        visibility_config=visibility("rate-limit-per-ip"),
    )
    ip_reputation, *groups = MANAGED_RULE_GROUPS
    rules = [managed(ip_reputation, 10), rate_limit]
    rules += [managed(group, 30 + 10 * index) for index, group in enumerate(groups)]
    web_acl = waf.Wafv2WebAcl(
        scope,
        "web-acl",
        name=name,
        description="Managed rule groups and a per-IP rate limit in front of the inference API",
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
