"""Exact values of the inference REST API construct (ARCHITECTURE §5), synthesized in a stack of its own."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cdktf import App, TerraformOutput, TerraformStack
from pydantic import ValidationError

import constructs.api_routes as api_routes
import constructs.inference_api as inference_api
from constructs.aws_modules import aws
from constructs.inference_api import ApiSettings, InferenceApi, InferenceApiProps
from constructs.log_group import LogsSettings
from constructs.naming import Naming
from constructs.refs import Deployment, FunctionRef, KeyRef
from tests.support.synth import by_path, of_type, policy_of, ref_id

STACK = "inference-api-test"
FUNCTION_NAME = "mlpipe-inference-dev"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"
INVOKE_ARN = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
APPROVAL_NAME = "mlpipe-approval-dev"
APPROVAL_ARN = "arn:aws:lambda:us-east-1:123456789012:function:mlpipe-approval-dev"
APPROVAL_INVOKE_ARN = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/" + APPROVAL_ARN + "/invocations"
OPS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
FEATURES = "method.request.querystring.features"

# Every optional feature on, with values that differ from the defaults so that each one is seen to come from props.
ENABLED = {
    "throttle_rate_limit": 25,
    "throttle_burst_limit": 60,
    "quota_limit": 5000,
    "quota_period": "WEEK",
    "cache_enabled": True,
    "cache_size_gb": "1.6",
    "cache_ttl_seconds": 120,
    "waf_enabled": True,
    "waf_rate_limit": 7500,  # 300 s * throttle_rate_limit 25: coherent (constructs/quotas.py)
    "manage_account_logging_role": True,
    "log_retention_days": 90,
}
DISABLED = {"cache_enabled": False, "waf_enabled": False, "manage_account_logging_role": False}


@dataclasses.dataclass(frozen=True)
class Synthesized:
    stack: dict[str, Any]  # parsed cdk.tf.json
    api: InferenceApi


def _props(**overrides: Any) -> InferenceApiProps:
    retention = overrides.pop("log_retention_days", 365)
    return InferenceApiProps(
        deployment=Deployment(Naming("mlpipe", "dev"), "123456789012", "us-east-1"),
        inference_function=FunctionRef(FUNCTION_NAME, FUNCTION_ARN, INVOKE_ARN),
        approval_function=FunctionRef(APPROVAL_NAME, APPROVAL_ARN, APPROVAL_INVOKE_ARN),
        ops_key=KeyRef(OPS_KEY_ARN),
        settings=ApiSettings(**overrides),
        logs=LogsSettings(retention_days=retention),
    )


def _synth(outdir: Path, **overrides: Any) -> Synthesized:
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, STACK)
    aws.provider.AwsProvider(stack, "aws", region="us-east-1")
    api = InferenceApi(stack, "inference-api", _props(**overrides))
    # What a stack outputs from the construct: the URL and the key's id (never the key's value).
    TerraformOutput(stack, "url", value=api.url)
    TerraformOutput(stack, "api_key_id", value=api.api_key.id)
    TerraformOutput(stack, "execution_arn", value=api.execution_arn)
    app.synth()
    return Synthesized(json.loads((outdir / "stacks" / STACK / "cdk.tf.json").read_text()), api)


@pytest.fixture(scope="module")
def enabled(tmp_path_factory) -> Synthesized:
    return _synth(tmp_path_factory.mktemp("api-enabled"), **ENABLED)


@pytest.fixture(scope="module")
def enabled_again(tmp_path_factory) -> Synthesized:
    return _synth(tmp_path_factory.mktemp("api-enabled-again"), **ENABLED)


@pytest.fixture(scope="module")
def disabled(tmp_path_factory) -> Synthesized:
    return _synth(tmp_path_factory.mktemp("api-disabled"), **DISABLED)


@pytest.fixture(scope="module")
def waf_defaults(tmp_path_factory) -> Synthesized:
    """WAF switched on, every other setting (the rate limit and its aggregation included) left at its default."""
    return _synth(tmp_path_factory.mktemp("api-waf-defaults"), waf_enabled=True)


@pytest.fixture(scope="module")
def waf_per_api_key(tmp_path_factory) -> Synthesized:
    return _synth(tmp_path_factory.mktemp("api-waf-per-key"), **ENABLED, waf_rate_limit_per_api_key=True)


def _web_acl_rules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    acl = by_path(synthesized.stack, "aws_wafv2_web_acl", "/web-acl")
    return {rule["name"]: rule for rule in acl["rule"]}


@pytest.fixture(scope="module")
def route_changed(tmp_path_factory) -> Synthesized:
    """The enabled variant with one route changed: GET /models without an API key."""
    routes = tuple(
        dataclasses.replace(route, api_key_required=False) if route.path == "models" else route
        for route in inference_api.ROUTES
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inference_api, "ROUTES", routes)  # what the construct builds
        patch.setattr(api_routes, "ROUTES", routes)  # what the redeployment digest covers
        return _synth(tmp_path_factory.mktemp("api-route-changed"), **ENABLED)


def _ref(rtype: str, body: dict[str, Any], attribute: str) -> str:
    return f"${{{rtype}.{ref_id(body)}.{attribute}}}"


def _methods(stack: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(path, HTTP method) -> aws_api_gateway_method, following each method's resource reference."""
    paths = {
        _ref("aws_api_gateway_resource", body, "id"): body["path_part"]
        for body in of_type(stack, "aws_api_gateway_resource").values()
    }
    return {
        (paths[body["resource_id"]], body["http_method"]): body
        for body in of_type(stack, "aws_api_gateway_method").values()
    }


def _integrations(stack: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(path, HTTP method) -> aws_api_gateway_integration, following each integration's method reference."""
    routes = {_ref("aws_api_gateway_method", body, "http_method"): key for key, body in _methods(stack).items()}
    return {routes[body["http_method"]]: body for body in of_type(stack, "aws_api_gateway_integration").values()}


def _validator_of(stack: dict[str, Any], method: dict[str, Any]) -> dict[str, Any]:
    validators = of_type(stack, "aws_api_gateway_request_validator").values()
    return next(
        v for v in validators if _ref("aws_api_gateway_request_validator", v, "id") == method["request_validator_id"]
    )


def _method_settings(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        body["method_path"]: body["settings"] for body in of_type(stack, "aws_api_gateway_method_settings").values()
    }


def _stage(stack: dict[str, Any]) -> dict[str, Any]:
    return by_path(stack, "aws_api_gateway_stage", "/stage")


def _rest_api(stack: dict[str, Any]) -> dict[str, Any]:
    return by_path(stack, "aws_api_gateway_rest_api", "inference-api/api")


def _deployment(stack: dict[str, Any]) -> dict[str, Any]:
    return by_path(stack, "aws_api_gateway_deployment", "/deployment")


# --- API and routes ----------------------------------------------------------------------------------------------


def test_rest_api_is_regional_with_api_keys_from_the_header(enabled):
    api = _rest_api(enabled.stack)
    assert api["name"] == "mlpipe-api-dev"
    assert api["endpoint_configuration"] == {"types": ["REGIONAL"]}
    assert api["api_key_source"] == "HEADER"


def test_routes_are_exactly_the_five_documented_methods(enabled):
    assert set(_methods(enabled.stack)) == {
        ("predict", "POST"),
        ("predict", "GET"),
        ("models", "GET"),
        ("approvals", "POST"),
        ("health", "GET"),
    }


def test_resources_hang_off_the_root(enabled):
    api = _rest_api(enabled.stack)
    parents = {body["parent_id"] for body in of_type(enabled.stack, "aws_api_gateway_resource").values()}
    assert parents == {_ref("aws_api_gateway_rest_api", api, "root_resource_id")}


def test_every_route_but_health_and_approvals_requires_an_api_key(enabled):
    required = {key: body["api_key_required"] for key, body in _methods(enabled.stack).items()}
    assert required == {
        ("predict", "POST"): True,
        ("predict", "GET"): True,
        ("models", "GET"): True,
        ("approvals", "POST"): False,
        ("health", "GET"): False,
    }
    authorization = {key: body["authorization"] for key, body in _methods(enabled.stack).items()}
    assert authorization == {
        ("predict", "POST"): "NONE",
        ("predict", "GET"): "NONE",
        ("models", "GET"): "NONE",
        ("approvals", "POST"): "AWS_IAM",  # reviewers sign with IAM: an API key holder cannot approve a model
        ("health", "GET"): "NONE",
    }


def test_approvals_proxy_to_the_approval_function_with_a_validated_body(enabled):
    integration = _integrations(enabled.stack)[("approvals", "POST")]
    assert (integration["type"], integration["uri"]) == ("AWS_PROXY", APPROVAL_INVOKE_ARN)
    model = by_path(enabled.stack, "aws_api_gateway_model", "/model-ApprovalRequest")
    schema = json.loads(model["schema"])
    assert schema["required"] == ["model_name", "version", "decision"]
    assert schema["properties"]["decision"] == {"type": "string", "enum": ["approve", "reject"]}
    assert schema["additionalProperties"] is False


def test_inference_routes_are_lambda_proxy_integrations(enabled):
    integrations = _integrations(enabled.stack)
    for key in [("predict", "POST"), ("predict", "GET"), ("models", "GET")]:
        assert integrations[key]["type"] == "AWS_PROXY", key
        assert integrations[key]["integration_http_method"] == "POST", key
        assert integrations[key]["uri"] == INVOKE_ARN, key


def test_health_is_a_mock_answering_200_status_ok(enabled):
    integration = _integrations(enabled.stack)[("health", "GET")]
    assert integration["type"] == "MOCK"
    assert integration["request_templates"] == {"application/json": '{"statusCode": 200}'}
    response = by_path(enabled.stack, "aws_api_gateway_integration_response", "/integration-response-get-health")
    assert response["response_templates"] == {"application/json": '{"status":"ok"}'}
    method_response = by_path(enabled.stack, "aws_api_gateway_method_response", "/response-get-health")
    assert method_response["status_code"] == "200"
    assert response["status_code"] == _ref("aws_api_gateway_method_response", method_response, "status_code")


# --- request validation ------------------------------------------------------------------------------------------


def test_post_predict_body_is_validated_against_the_predict_request_model(enabled):
    method = _methods(enabled.stack)[("predict", "POST")]
    model = by_path(enabled.stack, "aws_api_gateway_model", "/model-PredictRequest")
    assert method["request_models"] == {"application/json": _ref("aws_api_gateway_model", model, "name")}
    validator = _validator_of(enabled.stack, method)
    assert validator["validate_request_body"] is True
    assert validator["validate_request_parameters"] is True


def test_predict_request_model_schema(enabled):
    model = by_path(enabled.stack, "aws_api_gateway_model", "/model-PredictRequest")
    assert model["name"] == "PredictRequest"
    assert model["content_type"] == "application/json"
    assert json.loads(model["schema"]) == {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "PredictRequest",
        "type": "object",
        "required": ["features"],
        "properties": {"features": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "number"}}},
        "additionalProperties": False,
    }


def test_get_predict_requires_and_validates_the_features_query_parameter(enabled):
    method = _methods(enabled.stack)[("predict", "GET")]
    assert method["request_parameters"] == {FEATURES: True}
    validator = _validator_of(enabled.stack, method)
    assert validator["validate_request_parameters"] is True
    assert validator["validate_request_body"] is False


def test_every_method_has_a_request_validator(enabled):
    assert all(body.get("request_validator_id") for body in _methods(enabled.stack).values())


# --- API key, usage plan, stage -----------------------------------------------------------------------------------


def test_usage_plan_throttle_and_quota_come_from_props(enabled):
    plan = by_path(enabled.stack, "aws_api_gateway_usage_plan", "/usage-plan")
    assert plan["throttle_settings"] == {"rate_limit": 25, "burst_limit": 60}
    assert plan["quota_settings"] == {"limit": 5000, "period": "WEEK"}
    stage = _stage(enabled.stack)
    assert plan["api_stages"] == [
        {
            "api_id": _ref("aws_api_gateway_rest_api", _rest_api(enabled.stack), "id"),
            "stage": _ref("aws_api_gateway_stage", stage, "stage_name"),
        }
    ]


def test_usage_plan_key_binds_the_api_key_to_the_plan(enabled):
    key = by_path(enabled.stack, "aws_api_gateway_api_key", "/api-key")
    assert key["enabled"] is True
    assert "value" not in key  # generated by API Gateway, never in the configuration
    binding = by_path(enabled.stack, "aws_api_gateway_usage_plan_key", "/usage-plan-key")
    assert binding["key_id"] == _ref("aws_api_gateway_api_key", key, "id")
    assert binding["key_type"] == "API_KEY"
    plan = by_path(enabled.stack, "aws_api_gateway_usage_plan", "/usage-plan")
    assert binding["usage_plan_id"] == _ref("aws_api_gateway_usage_plan", plan, "id")


def test_stage_throttles_logs_and_measures_every_method(enabled):
    assert _method_settings(enabled.stack)["*/*"] == {
        "throttling_rate_limit": 25,
        "throttling_burst_limit": 60,
        "metrics_enabled": True,
        "logging_level": "INFO",
        "data_trace_enabled": False,
        "caching_enabled": False,
    }


def test_stage_has_xray_tracing(enabled, disabled):
    assert _stage(enabled.stack)["xray_tracing_enabled"] is True
    assert _stage(disabled.stack)["xray_tracing_enabled"] is True


def test_stage_serves_the_current_deployment(disabled):
    stage = _stage(disabled.stack)
    assert stage["stage_name"] == "v1"
    assert stage["deployment_id"] == _ref("aws_api_gateway_deployment", _deployment(disabled.stack), "id")


# --- caching -----------------------------------------------------------------------------------------------------


def test_cache_cluster_on_the_stage_when_enabled(enabled):
    stage = _stage(enabled.stack)
    assert stage["cache_cluster_enabled"] is True
    assert stage["cache_cluster_size"] == "1.6"


def test_only_get_predict_is_cached_keyed_by_the_features_query_string(enabled):
    settings = _method_settings(enabled.stack)
    assert set(settings) == {"*/*", "predict/GET"}
    assert settings["predict/GET"] == {
        "caching_enabled": True,
        "cache_ttl_in_seconds": 120,
        "cache_data_encrypted": True,
        "require_authorization_for_cache_control": True,
        "unauthorized_cache_control_header_strategy": "FAIL_WITH_403",
        "throttling_rate_limit": 25,
        "throttling_burst_limit": 60,
        "metrics_enabled": True,
        "logging_level": "INFO",
        "data_trace_enabled": False,
    }
    cache_keys = {key: body.get("cache_key_parameters") for key, body in _integrations(enabled.stack).items()}
    assert cache_keys == {
        ("predict", "GET"): [FEATURES],
        ("predict", "POST"): None,
        ("models", "GET"): None,
        ("approvals", "POST"): None,
        ("health", "GET"): None,
    }


def test_post_predict_is_never_cached(enabled, disabled):
    for synthesized in (enabled, disabled):
        settings = _method_settings(synthesized.stack)
        assert "predict/POST" not in settings
        assert settings["*/*"]["caching_enabled"] is False
        assert "cache_key_parameters" not in _integrations(synthesized.stack)[("predict", "POST")]


def test_no_cache_anywhere_when_disabled(disabled):
    stage = _stage(disabled.stack)
    assert "cache_cluster_enabled" not in stage
    assert "cache_cluster_size" not in stage
    assert set(_method_settings(disabled.stack)) == {"*/*"}
    assert _method_settings(disabled.stack)["*/*"]["caching_enabled"] is False


# --- logs --------------------------------------------------------------------------------------------------------


def test_access_logs_are_json_lines_with_the_request_id(enabled):
    settings = _stage(enabled.stack)["access_log_settings"]
    access = by_path(enabled.stack, "aws_cloudwatch_log_group", "/access-logs")
    assert settings["destination_arn"] == _ref("aws_cloudwatch_log_group", access, "arn")
    assert "\n" not in settings["format"]
    assert json.loads(settings["format"]) == {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "xrayTraceId": "$context.xrayTraceId",
    }


def test_every_log_group_is_kms_encrypted_with_the_configured_retention(enabled):
    groups = of_type(enabled.stack, "aws_cloudwatch_log_group")
    assert len(groups) == 3  # access, execution, WAF
    for body in groups.values():
        assert body["kms_key_id"] == OPS_KEY_ARN, body["name"]
        assert body["retention_in_days"] == 90, body["name"]


def test_execution_log_group_exists_before_the_stage_can_log(enabled):
    group = by_path(enabled.stack, "aws_cloudwatch_log_group", "/execution-logs")
    api_id = _ref("aws_api_gateway_rest_api", _rest_api(enabled.stack), "id")
    assert group["name"] == f"API-Gateway-Execution-Logs_{api_id}/v1"
    assert f"aws_cloudwatch_log_group.{ref_id(group)}" in _stage(enabled.stack)["depends_on"]


def test_account_logging_role_is_managed_when_asked(enabled):
    role = by_path(enabled.stack, "aws_iam_role", "/cloudwatch-role")
    assert role["name"] == "mlpipe-apigw-logs-dev"
    assert policy_of(role, "assume_role_policy")["Statement"] == [
        {
            "Sid": "ApiGatewayAssumesRole",
            "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    ]
    attachment = by_path(enabled.stack, "aws_iam_role_policy_attachment", "/cloudwatch-role-policy")
    assert attachment["policy_arn"] == "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    assert attachment["role"] == _ref("aws_iam_role", role, "name")
    account = by_path(enabled.stack, "aws_api_gateway_account", "/account")
    assert account["cloudwatch_role_arn"] == _ref("aws_iam_role", role, "arn")
    assert f"aws_api_gateway_account.{ref_id(account)}" in _stage(enabled.stack)["depends_on"]


def test_no_account_setting_or_role_when_another_stack_manages_it(disabled):
    assert of_type(disabled.stack, "aws_api_gateway_account") == {}
    assert of_type(disabled.stack, "aws_iam_role") == {}
    assert all("aws_api_gateway_account" not in dep for dep in _stage(disabled.stack)["depends_on"])


# --- WAF ---------------------------------------------------------------------------------------------------------


def test_waf_has_the_managed_rule_groups_and_a_per_ip_rate_limit(enabled):
    acl = by_path(enabled.stack, "aws_wafv2_web_acl", "/web-acl")
    assert acl["scope"] == "REGIONAL"
    assert acl["default_action"] == {"allow": {}}
    rules = {rule["name"]: rule for rule in acl["rule"]}
    managed = {
        name: rule["statement"]["managed_rule_group_statement"]
        for name, rule in rules.items()
        if name != "rate-limit-per-ip"
    }
    assert set(managed) == {
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesAnonymousIpList",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
    }
    assert all(group["name"] == name and group["vendor_name"] == "AWS" for name, group in managed.items())
    assert all(rules[name]["override_action"] == {"none": {}} for name in managed)
    rate = rules["rate-limit-per-ip"]
    assert rate["statement"] == {
        "rate_based_statement": {"limit": 7500, "aggregate_key_type": "IP", "evaluation_window_sec": 300}
    }
    assert rate["action"] == {"block": {}}


def test_waf_default_rate_limit_lets_one_client_ip_use_the_whole_stage_rate(waf_defaults):
    # 15,000 requests per 300 s = the default stage rate of 50 rps for the whole window (constructs/quotas.py).
    rate = _web_acl_rules(waf_defaults)["rate-limit-per-ip"]
    assert rate["statement"] == {
        "rate_based_statement": {"limit": 15_000, "aggregate_key_type": "IP", "evaluation_window_sec": 300}
    }
    assert rate["priority"] == 20
    assert rate["visibility_config"]["metric_name"] == "mlpipe-api-waf-dev-rate-limit-per-ip"
    acl = by_path(waf_defaults.stack, "aws_wafv2_web_acl", "/web-acl")
    assert acl["description"] == "Managed rule groups and a per-IP rate limit in front of the inference API"


def test_waf_settings_defaults_are_coherent():
    settings = ApiSettings()
    assert (settings.waf_rate_limit, settings.waf_rate_limit_per_api_key) == (15_000, False)
    assert settings.waf_rate_limit == 300 * settings.throttle_rate_limit


def test_waf_can_count_the_rate_limit_per_api_key_instead_of_per_ip(waf_per_api_key):
    rules = _web_acl_rules(waf_per_api_key)
    assert "rate-limit-per-ip" not in rules
    rate = rules["rate-limit-per-api-key"]
    assert rate["statement"] == {
        "rate_based_statement": {
            "limit": 7500,
            "aggregate_key_type": "CUSTOM_KEYS",
            "custom_key": [{"header": {"name": "x-api-key", "text_transformation": [{"priority": 0, "type": "NONE"}]}}],
            "evaluation_window_sec": 300,
        }
    }
    assert (rate["priority"], rate["action"]) == (20, {"block": {}})
    assert rate["visibility_config"]["metric_name"] == "mlpipe-api-waf-dev-rate-limit-per-api-key"
    acl = by_path(waf_per_api_key.stack, "aws_wafv2_web_acl", "/web-acl")
    assert acl["description"] == "Managed rule groups and a per-API-key rate limit in front of the inference API"
    # The key stays out of the logs whichever way the rule counts.
    logging = by_path(waf_per_api_key.stack, "aws_wafv2_web_acl_logging_configuration", "/web-acl-logging")
    assert logging["redacted_fields"] == [{"single_header": {"name": "x-api-key"}}]


def test_waf_only_counts_the_rules_that_would_block_legitimate_clients(enabled):
    acl = by_path(enabled.stack, "aws_wafv2_web_acl", "/web-acl")
    overrides = {
        rule["name"]: rule["statement"]["managed_rule_group_statement"].get("rule_action_override")
        for rule in acl["rule"]
        if "managed_rule_group_statement" in rule["statement"]
    }
    assert overrides == {
        "AWSManagedRulesAmazonIpReputationList": None,
        "AWSManagedRulesAnonymousIpList": [{"name": "HostingProviderIPList", "action_to_use": {"count": {}}}],
        "AWSManagedRulesCommonRuleSet": [{"name": "SizeRestrictions_BODY", "action_to_use": {"count": {}}}],
        "AWSManagedRulesKnownBadInputsRuleSet": None,
    }


def test_waf_rules_have_unique_priorities_and_metrics(enabled):
    acl = by_path(enabled.stack, "aws_wafv2_web_acl", "/web-acl")
    priorities = [rule["priority"] for rule in acl["rule"]]
    assert len(set(priorities)) == len(priorities)
    configs = [rule["visibility_config"] for rule in acl["rule"]] + [acl["visibility_config"]]
    assert all(c["cloudwatch_metrics_enabled"] is True and c["sampled_requests_enabled"] is True for c in configs)
    assert len({c["metric_name"] for c in configs}) == len(configs)


def test_waf_protects_the_stage(enabled):
    association = by_path(enabled.stack, "aws_wafv2_web_acl_association", "/web-acl-association")
    acl = by_path(enabled.stack, "aws_wafv2_web_acl", "/web-acl")
    assert association["resource_arn"] == _ref("aws_api_gateway_stage", _stage(enabled.stack), "arn")
    assert association["web_acl_arn"] == _ref("aws_wafv2_web_acl", acl, "arn")
    assert enabled.api.web_acl is not None


def test_waf_logs_to_an_aws_waf_logs_group_without_the_api_key(enabled):
    logging = by_path(enabled.stack, "aws_wafv2_web_acl_logging_configuration", "/web-acl-logging")
    group = by_path(enabled.stack, "aws_cloudwatch_log_group", "/waf-logs")
    assert group["name"] == "aws-waf-logs-mlpipe-api-dev"
    assert logging["log_destination_configs"] == [_ref("aws_cloudwatch_log_group", group, "arn")]
    assert logging["redacted_fields"] == [{"single_header": {"name": "x-api-key"}}]


def test_no_wafv2_resource_at_all_when_disabled(disabled):
    assert [rtype for rtype in disabled.stack["resource"] if rtype.startswith("aws_wafv2_")] == []
    assert disabled.api.web_acl is None


# --- deployment --------------------------------------------------------------------------------------------------


def test_deployment_triggers_are_stable_across_synths(enabled, enabled_again):
    assert _deployment(enabled.stack)["triggers"] == _deployment(enabled_again.stack)["triggers"]


def test_deployment_triggers_change_when_a_route_changes(enabled, route_changed):
    before = _deployment(enabled.stack)["triggers"]["redeployment"]
    after = _deployment(route_changed.stack)["triggers"]["redeployment"]
    assert len(before) == len(after) == 64
    assert before != after


def test_stage_settings_do_not_redeploy(enabled, disabled):
    assert _deployment(enabled.stack)["triggers"] == _deployment(disabled.stack)["triggers"]


def test_deployment_also_follows_the_integration_target(enabled):
    assert _deployment(enabled.stack)["triggers"]["integration_uri"] == INVOKE_ARN


def test_deployment_is_replaced_create_before_destroy_after_every_route_exists(enabled):
    deployment = _deployment(enabled.stack)
    assert deployment["lifecycle"] == {"create_before_destroy": True}
    expected = [
        f"aws_api_gateway_method.{ref_id(b)}" for b in of_type(enabled.stack, "aws_api_gateway_method").values()
    ]
    expected += [
        f"aws_api_gateway_integration.{ref_id(b)}"
        for b in of_type(enabled.stack, "aws_api_gateway_integration").values()
    ]
    assert set(expected) <= set(deployment["depends_on"])


# --- Lambda permission, exposed attributes, validation -------------------------------------------------------------


def test_lambda_permissions_are_scoped_to_the_api_stage_method_and_path(enabled):
    execution_arn = _ref("aws_api_gateway_rest_api", _rest_api(enabled.stack), "execution_arn")
    permissions = of_type(enabled.stack, "aws_lambda_permission").values()
    targets = {p["source_arn"]: p["function_name"] for p in permissions}
    assert targets == {
        f"{execution_arn}/v1/POST/predict": FUNCTION_NAME,
        f"{execution_arn}/v1/GET/predict": FUNCTION_NAME,
        f"{execution_arn}/v1/GET/models": FUNCTION_NAME,
        f"{execution_arn}/v1/POST/approvals": APPROVAL_NAME,
    }
    for permission in permissions:
        assert permission["principal"] == "apigateway.amazonaws.com"
        assert permission["action"] == "lambda:InvokeFunction"


def test_exposes_the_stage_url_the_key_id_and_the_execution_arn(enabled):
    outputs = {name: body["value"] for name, body in enabled.stack["output"].items()}
    assert outputs == {
        "url": _ref("aws_api_gateway_stage", _stage(enabled.stack), "invoke_url"),
        "api_key_id": _ref(
            "aws_api_gateway_api_key", by_path(enabled.stack, "aws_api_gateway_api_key", "/api-key"), "id"
        ),
        "execution_arn": _ref("aws_api_gateway_rest_api", _rest_api(enabled.stack), "execution_arn"),
    }


def test_invalid_settings_fail_with_every_problem_at_once():
    with pytest.raises(ValidationError) as error:
        ApiSettings(
            quota_period="YEAR",
            cache_size_gb="2",
            cache_ttl_seconds=7200,
            waf_rate_limit=10,
            waf_rate_limit_per_api_key="per key",
        )
    assert [(e["loc"], e["type"]) for e in error.value.errors()] == [
        (("quota_period",), "literal_error"),
        (("cache_size_gb",), "literal_error"),
        (("cache_ttl_seconds",), "less_than_equal"),
        (("waf_rate_limit",), "greater_than_equal"),
        (("waf_rate_limit_per_api_key",), "bool_parsing"),
    ]


# --- terraform ------------------------------------------------------------------------------------------------------


@pytest.mark.terraform
def test_per_api_key_waf_validates_against_the_provider_schema(tmp_path):
    # The rate-based statement is untyped JSON in the bindings: only the provider schema checks its block names
    # (custom_key.header.text_transformation); the environment stacks build the per-IP variant.
    from tests.support.terraform import terraform, terraform_env

    _synth(tmp_path / "out", **ENABLED, waf_rate_limit_per_api_key=True)
    stack_dir = tmp_path / "out" / "stacks" / STACK
    env = terraform_env(tmp_path)
    terraform(["init", "-backend=false", "-input=false"], stack_dir, env)
    report = json.loads(terraform(["validate", "-json"], stack_dir, env, check=False).stdout)
    assert report["valid"] is True, json.dumps(report["diagnostics"], indent=1)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=1)
