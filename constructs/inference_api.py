"""The REST API in front of the inference function (ARCHITECTURE §5).

REST, not HTTP API: usage plans, API keys, stage caching, request validation and WAF are REST API features.

Routes (lambda_src/README.md has the event shapes):

- ``POST /predict``: Lambda proxy; the body is validated against the ``PredictRequest`` JSON-schema model.
- ``GET /predict?features=1.5,2,3``: Lambda proxy; ``features`` is a required query-string parameter and the only
  cache key. A request body can never be part of an API Gateway cache key, so only this route is ever cached.
- ``GET /models``: Lambda proxy.
- ``GET /health``: MOCK integration answering ``200 {"status":"ok"}`` without an API key (for probes).

Secure defaults: every route but ``/health`` needs an API key (usage plan with throttle and quota); stage throttling
on ``*/*``; INFO execution logs without data trace; JSON access logs; X-Ray; every log group KMS-encrypted with a
retention; cached data encrypted and cache invalidation refused to clients; Lambda permissions scoped to one stage,
method and path each; optional WAF web ACL (managed rule groups + per-IP rate limit, ``constructs/api_waf.py``) with
``x-api-key`` redacted from its logs.

The routes, models and validators are plain data (:data:`ROUTES`, :data:`MODELS`, :data:`VALIDATORS`). The resources
are built from that data, and the deployment's ``redeployment`` trigger is a SHA-256 of the same data, so any change
to the API definition creates a new deployment and nothing else does.
"""

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from cdktf import TerraformResourceLifecycle

from constructs import Construct
from constructs.api_waf import WAF_RATE_LIMIT_RANGE, ApiWafProps, build_api_waf
from constructs.aws_modules import aws
from constructs.naming import Kind, Naming
from constructs.policy import document, service_principal
from stacks.config_sections import CACHE_SIZES, QUOTA_PERIODS

# API Gateway's stage cache sizes (GB), as the API spells them.
# AWS managed policy with exactly the CloudWatch Logs actions API Gateway needs to write execution/access logs.
PUSH_TO_CLOUDWATCH_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
FEATURES_PARAMETER = "method.request.querystring.features"


@dataclass(frozen=True)
class Route:
    """One method of the API."""

    path: str  # resource path below the root, one segment (e.g. "predict")
    method: str  # HTTP method
    integration: str  # key of INTEGRATIONS: "lambda" (proxy to the inference function) or "mock"
    validator: str  # key of VALIDATORS
    api_key_required: bool = True
    # Callers are identified by API key (usage plan), not by IAM or a user pool.
    authorization: str = "NONE"
    query_parameters: tuple[str, ...] = ()  # required query-string parameters
    body_model: str | None = None  # key of MODELS, for application/json bodies
    cache_key: tuple[str, ...] = ()  # method request parameters that key the stage cache
    mock_response: str | None = None  # body of the 200 answer of a mock integration

    @property
    def key(self) -> str:
        return f"{self.method.lower()}-{self.path}"

    @property
    def method_path(self) -> str:
        """How stage method settings and execute-api ARNs name the method."""
        return f"{self.path}/{self.method}"


ROUTES: tuple[Route, ...] = (
    Route("predict", "POST", "lambda", validator="body", body_model="PredictRequest"),
    Route(
        "predict",
        "GET",
        "lambda",
        validator="parameters",
        query_parameters=("features",),
        cache_key=(FEATURES_PARAMETER,),
    ),
    Route("models", "GET", "lambda", validator="parameters"),
    Route("health", "GET", "mock", validator="parameters", api_key_required=False, mock_response='{"status":"ok"}'),
)

# Integration settings per kind of route.
INTEGRATIONS: dict[str, dict[str, Any]] = {
    # Lambda is always invoked with POST, whatever the client's method.
    "lambda": {"type": "AWS_PROXY", "integration_http_method": "POST"},
    # A mock answers with the status code its request template selects (and the route's mock_response body).
    "mock": {"type": "MOCK", "request_templates": {"application/json": '{"statusCode": 200}'}},
}

# JSON-schema (draft 4, the version API Gateway implements) models of request bodies.
MODELS: dict[str, dict[str, Any]] = {
    "PredictRequest": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "PredictRequest",
        "type": "object",
        "required": ["features"],
        "properties": {"features": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "number"}}},
        "additionalProperties": False,
    }
}

# Request validators: name -> (validate body, validate parameters).
VALIDATORS: dict[str, tuple[bool, bool]] = {"body": (True, True), "parameters": (False, True)}

# JSON access-log line. Numbers stay strings: $context values are substituted as text, and "-" stands for "none".
ACCESS_LOG_FORMAT = json.dumps(
    {
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
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class InferenceApiProps:
    """The inference REST API; the ApiConfig knobs (stacks/config_sections.py) keep their names and defaults."""

    naming: Naming  # resource names
    region: str  # region of the API (execution log group, IAM condition)
    account_id: str  # account of the API (aws:SourceAccount conditions)
    inference_function_name: str  # function the Lambda permissions are granted on
    inference_invoke_arn: str  # the function's invoke ARN (integration URI)
    inference_function_arn: str  # the function's ARN (documented on the API; the permission names the function)
    ops_key_arn: str  # KMS key of the access, execution and WAF log groups
    log_retention_days: int = 365  # retention of every log group of the API
    throttle_rate_limit: int = 50  # stage and usage-plan steady-state requests per second
    throttle_burst_limit: int = 100  # stage and usage-plan burst
    quota_limit: int = 100_000  # requests per API key per quota period
    quota_period: str = "DAY"  # DAY | WEEK | MONTH
    cache_enabled: bool = False  # stage cache for GET /predict (keyed by the features query string)
    cache_size_gb: str = "0.5"  # one of CACHE_SIZES
    cache_ttl_seconds: int = 300  # 0-3600
    waf_enabled: bool = False  # WAF web ACL on the stage (managed rules + per-IP rate limit)
    waf_rate_limit: int = 2000  # requests per 5 minutes per client IP before WAF blocks
    manage_account_logging_role: bool = True  # own the region-wide API Gateway -> CloudWatch Logs role setting
    stage_name: str = "v1"  # stage (and URL path prefix)


def _validate(props: InferenceApiProps) -> None:
    problems = []
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", props.stage_name):
        problems.append(f"stage_name '{props.stage_name}' must be 1-128 letters, digits, - or _")
    if props.throttle_rate_limit < 1 or props.throttle_burst_limit < 1:
        problems.append("throttle_rate_limit and throttle_burst_limit must be >= 1")
    if props.quota_limit < 1:
        problems.append("quota_limit must be >= 1")
    if props.quota_period not in QUOTA_PERIODS:
        problems.append(f"quota_period '{props.quota_period}' must be one of {', '.join(QUOTA_PERIODS)}")
    if props.cache_size_gb not in CACHE_SIZES:
        problems.append(f"cache_size_gb '{props.cache_size_gb}' must be one of {', '.join(CACHE_SIZES)}")
    if not 0 <= props.cache_ttl_seconds <= 3600:
        problems.append("cache_ttl_seconds must be 0-3600")
    low, high = WAF_RATE_LIMIT_RANGE
    if not low <= props.waf_rate_limit <= high:
        problems.append(f"waf_rate_limit must be {low}-{high}")
    if props.log_retention_days < 1:
        problems.append("log_retention_days must be >= 1")
    if problems:
        raise ValueError("inference API: " + "; ".join(problems))


def definition() -> dict[str, Any]:
    """Everything a deployment snapshots, as plain data (the input of the redeployment hash)."""
    return {
        "routes": [asdict(route) for route in ROUTES],
        "integrations": INTEGRATIONS,
        "models": MODELS,
        "validators": {name: list(flags) for name, flags in VALIDATORS.items()},
    }


def redeployment_hash() -> str:
    return hashlib.sha256(json.dumps(definition(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class InferenceApi(Construct):
    """Exposes ``rest_api``, ``stage``, ``deployment``, ``api_key`` (never output its value), ``usage_plan``,
    ``url``, ``execution_arn``, ``access_log_group``, ``web_acl`` (None without WAF)."""

    def __init__(self, scope: Construct, id: str, props: InferenceApiProps) -> None:
        super().__init__(scope, id)
        _validate(props)
        self._props = props
        self._name = props.naming.name("api")

        self.rest_api = aws.api_gateway_rest_api.ApiGatewayRestApi(
            self,
            "api",
            name=self._name,
            description=f"Inference API in front of {props.inference_function_arn}",
            api_key_source="HEADER",
            endpoint_configuration=aws.api_gateway_rest_api.ApiGatewayRestApiEndpointConfiguration(types=["REGIONAL"]),
            # A replacement API (new id, new URL) is up before the old one goes; API names need not be unique.
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        self.execution_arn: str = self.rest_api.execution_arn
        api_id = self.rest_api.id

        self.models = {
            name: aws.api_gateway_model.ApiGatewayModel(
                self,
                f"model-{name}",
                rest_api_id=api_id,
                name=name,
                content_type="application/json",
                schema=json.dumps(schema),
            )
            for name, schema in MODELS.items()
        }
        self.validators = {
            name: aws.api_gateway_request_validator.ApiGatewayRequestValidator(
                self,
                f"validator-{name}",
                rest_api_id=api_id,
                name=f"{self._name}-{name}",
                validate_request_body=body,
                validate_request_parameters=parameters,
            )
            for name, (body, parameters) in VALIDATORS.items()
        }
        self.resources = {
            path: aws.api_gateway_resource.ApiGatewayResource(
                self, f"resource-{path}", rest_api_id=api_id, parent_id=self.rest_api.root_resource_id, path_part=path
            )
            for path in dict.fromkeys(route.path for route in ROUTES)
        }
        snapshot: list[Any] = []  # what the deployment must wait for
        for route in ROUTES:
            snapshot += self._route(route)

        account = self._account_logging_role() if props.manage_account_logging_role else None
        self._stage(snapshot, account)
        self._usage_plan()
        self._lambda_permissions()
        self.web_acl = self._waf() if props.waf_enabled else None

    # --- routes ----------------------------------------------------------------------------------------------------

    def _route(self, route: Route) -> list[Any]:
        props, api_id = self._props, self.rest_api.id
        resource_id = self.resources[route.path].id
        method = aws.api_gateway_method.ApiGatewayMethod(
            self,
            f"method-{route.key}",
            rest_api_id=api_id,
            resource_id=resource_id,
            http_method=route.method,
            authorization=route.authorization,
            api_key_required=route.api_key_required,
            request_validator_id=self.validators[route.validator].id,
            request_parameters={f"method.request.querystring.{q}": True for q in route.query_parameters} or None,
            request_models={"application/json": self.models[route.body_model].name} if route.body_model else None,
        )
        common = {"rest_api_id": api_id, "resource_id": resource_id, "http_method": method.http_method}
        proxy = route.integration == "lambda"
        integration = aws.api_gateway_integration.ApiGatewayIntegration(
            self,
            f"integration-{route.key}",
            **common,
            **INTEGRATIONS[route.integration],
            uri=props.inference_invoke_arn if proxy else None,
            cache_key_parameters=list(route.cache_key) or None,
        )
        if proxy:
            return [method, integration]
        method_response = aws.api_gateway_method_response.ApiGatewayMethodResponse(
            self, f"response-{route.key}", **common, status_code="200"
        )
        integration_response = aws.api_gateway_integration_response.ApiGatewayIntegrationResponse(
            self,
            f"integration-response-{route.key}",
            **common,
            status_code=method_response.status_code,
            response_templates={"application/json": route.mock_response or ""},
            depends_on=[integration],
        )
        return [method, integration, method_response, integration_response]

    # --- account logging role ----------------------------------------------------------------------------------------

    def _account_logging_role(self) -> Any:
        """The role API Gateway uses to write execution and access logs.

        ``aws_api_gateway_account`` is one setting per account and region, shared by every API there: exactly one
        stack per account and region may manage it (``manage_account_logging_role``); the others rely on it.
        Without it, enabling stage logging fails ("CloudWatch Logs role ARN must be set in account settings").
        """
        props = self._props
        trust = {
            "Sid": "ApiGatewayAssumesRole",
            "Effect": "Allow",
            "Principal": service_principal("apigateway.amazonaws.com"),
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": props.account_id}},
        }
        role = aws.iam_role.IamRole(
            self,
            "cloudwatch-role",
            name=props.naming.name("apigw-logs", Kind.IAM_ROLE),
            description="API Gateway writes execution and access logs of every API in this region",
            assume_role_policy=document(trust),
        )
        # The managed policy is AWS's documented policy for this role (logs:Create*/Put*/Describe*/Get*/Filter*):
        # API Gateway creates the per-stage execution log groups itself, so it cannot be scoped to our groups.
        attachment = aws.iam_role_policy_attachment.IamRolePolicyAttachment(
            self, "cloudwatch-role-policy", role=role.name, policy_arn=PUSH_TO_CLOUDWATCH_POLICY_ARN
        )
        return aws.api_gateway_account.ApiGatewayAccount(
            self,
            "account",
            cloudwatch_role_arn=role.arn,
            # No `reset_on_delete`: provider 5.x marks it deprecated (a validate warning) and v6 always resets. So a
            # destroy leaves the setting naming the deleted role until a stack sets it again.
            depends_on=[attachment],
        )

    # --- stage -------------------------------------------------------------------------------------------------------

    def _log_group(self, id: str, name: str) -> Any:
        props = self._props
        return aws.cloudwatch_log_group.CloudwatchLogGroup(
            self, id, name=name, kms_key_id=props.ops_key_arn, retention_in_days=props.log_retention_days
        )

    def _stage(self, snapshot: list[Any], account: Any) -> None:
        props = self._props
        self.deployment = aws.api_gateway_deployment.ApiGatewayDeployment(
            self,
            "deployment",
            rest_api_id=self.rest_api.id,
            description="Managed by cdktf; replaced whenever the API definition changes",
            triggers={
                "redeployment": redeployment_hash(),
                # An AWS_PROXY target change reaches the stage only through a new deployment; the ARN is a
                # reference here (not in the hash) because unresolved tokens are not stable text.
                "integration_uri": props.inference_invoke_arn,
            },
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=snapshot,
        )
        access_name = f"/aws/apigateway/{self._name}/access"
        props.naming.check(access_name, Kind.LOG_GROUP, "api access logs")
        self.access_log_group = self._log_group("access-logs", access_name)
        # API Gateway would create the execution log group itself (no KMS, never expires): create it first.
        self.execution_log_group = self._log_group(
            "execution-logs", f"API-Gateway-Execution-Logs_{self.rest_api.id}/{props.stage_name}"
        )
        cache = props.cache_enabled
        self.stage = aws.api_gateway_stage.ApiGatewayStage(
            self,
            "stage",
            rest_api_id=self.rest_api.id,
            deployment_id=self.deployment.id,
            stage_name=props.stage_name,
            description="Inference API stage",
            xray_tracing_enabled=True,
            cache_cluster_enabled=True if cache else None,
            cache_cluster_size=props.cache_size_gb if cache else None,
            access_log_settings=aws.api_gateway_stage.ApiGatewayStageAccessLogSettings(
                destination_arn=self.access_log_group.arn, format=ACCESS_LOG_FORMAT
            ),
            depends_on=[self.execution_log_group, *([account] if account else [])],
        )
        self.url: str = self.stage.invoke_url
        self._method_settings("all", "*/*", caching=False)
        if cache:
            for route in ROUTES:
                if route.cache_key:
                    self._method_settings(f"cache-{route.key}", route.method_path, caching=True)

    def _method_settings(self, id: str, method_path: str, caching: bool) -> None:
        props = self._props
        settings = aws.api_gateway_method_settings
        cache_settings: dict[str, Any] = {"caching_enabled": caching}
        if caching:
            cache_settings.update(
                cache_ttl_in_seconds=props.cache_ttl_seconds,
                cache_data_encrypted=True,
                # A client's "Cache-Control: max-age=0" would otherwise bypass (and refill) the cache at will.
                require_authorization_for_cache_control=True,
                unauthorized_cache_control_header_strategy="FAIL_WITH_403",
            )
        settings.ApiGatewayMethodSettings(
            self,
            f"method-settings-{id}",
            rest_api_id=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path=method_path,
            settings=settings.ApiGatewayMethodSettingsSettings(
                throttling_rate_limit=props.throttle_rate_limit,
                throttling_burst_limit=props.throttle_burst_limit,
                metrics_enabled=True,
                logging_level="INFO",
                # Data trace would write full request and response bodies (features, predictions) to the logs.
                data_trace_enabled=False,
                **cache_settings,
            ),
        )

    # --- clients -----------------------------------------------------------------------------------------------------

    def _usage_plan(self) -> None:
        props = self._props
        plan = aws.api_gateway_usage_plan
        self.api_key = aws.api_gateway_api_key.ApiGatewayApiKey(
            self, "api-key", name=props.naming.name("api-key"), description="Inference API client key", enabled=True
        )
        self.usage_plan = plan.ApiGatewayUsagePlan(
            self,
            "usage-plan",
            name=props.naming.name("api-plan"),
            description="Throttle and quota of the inference API key",
            api_stages=[plan.ApiGatewayUsagePlanApiStages(api_id=self.rest_api.id, stage=self.stage.stage_name)],
            throttle_settings=plan.ApiGatewayUsagePlanThrottleSettings(
                rate_limit=props.throttle_rate_limit, burst_limit=props.throttle_burst_limit
            ),
            quota_settings=plan.ApiGatewayUsagePlanQuotaSettings(limit=props.quota_limit, period=props.quota_period),
        )
        aws.api_gateway_usage_plan_key.ApiGatewayUsagePlanKey(
            self, "usage-plan-key", key_id=self.api_key.id, key_type="API_KEY", usage_plan_id=self.usage_plan.id
        )

    def _lambda_permissions(self) -> None:
        """One permission per proxied route, each for this stage, method and path only."""
        props = self._props
        for route in ROUTES:
            if route.integration != "lambda":
                continue
            aws.lambda_permission.LambdaPermission(
                self,
                f"permission-{route.key}",
                statement_id=f"AllowApiGateway-{props.stage_name}-{route.key}",
                action="lambda:InvokeFunction",
                function_name=props.inference_function_name,
                principal="apigateway.amazonaws.com",
                source_arn=f"{self.execution_arn}/{props.stage_name}/{route.method}/{route.path}",
            )

    # --- WAF ---------------------------------------------------------------------------------------------------------

    def _waf(self) -> Any:
        props = self._props
        return build_api_waf(
            self,
            ApiWafProps(
                naming=props.naming,
                api_name=self._name,
                stage_arn=self.stage.arn,
                rate_limit=props.waf_rate_limit,
                ops_key_arn=props.ops_key_arn,
                log_retention_days=props.log_retention_days,
            ),
        )
