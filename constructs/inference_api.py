"""The REST API in front of the inference function (ARCHITECTURE §5).

REST, not HTTP API: usage plans, API keys, stage caching, request validation and WAF are REST API features.

Routes (lambda_src/README.md has the event shapes):

- ``POST /predict``: Lambda proxy; the body is validated against the ``PredictRequest`` JSON-schema model.
- ``GET /predict?features=1.5,2,3``: Lambda proxy; ``features`` is a required query-string parameter and the only
  cache key. A request body can never be part of an API Gateway cache key, so only this route is ever cached.
- ``GET /models``: Lambda proxy.
- ``POST /approvals``: Lambda proxy to the approval function; AWS_IAM authorization (SigV4-signed callers only, no API
  key): a reviewer approves or rejects a registered model version waiting in the training workflow.
- ``GET /health``: MOCK integration answering ``200 {"status":"ok"}`` without an API key (for probes).

Secure defaults: every route but ``/health`` and ``/approvals`` (IAM) needs an API key (usage plan with throttle and
quota); stage throttling on ``*/*``; INFO execution logs without data trace; JSON access logs; X-Ray; every log group
KMS-encrypted with a retention; cached data encrypted and cache invalidation refused to clients; Lambda permissions
scoped to one stage, method and path each; optional WAF web ACL (managed rule groups + a rate limit per client IP, or
per API key when chosen, ``constructs/api_waf.py``) with ``x-api-key`` redacted from its logs.

The routes, models and validators are plain data (:data:`ROUTES`, :data:`MODELS`, :data:`VALIDATORS`). The resources
are built from that data, and the deployment's ``redeployment`` trigger is a SHA-256 of the same data, so any change
to the API definition creates a new deployment and nothing else does.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from cdktf import TerraformResourceLifecycle
from pydantic import Field

from constructs import Construct
from constructs.alarms import AlarmSpec, AlarmsSettings
from constructs.api_routes import ACCESS_LOG_FORMAT, INTEGRATIONS, MODELS, ROUTES, VALIDATORS, Route, definition
from constructs.api_waf import WAF_RATE_LIMIT_RANGE, ApiWafProps, build_api_waf
from constructs.aws_limits import CacheSize, QuotaPeriod
from constructs.aws_modules import aws
from constructs.log_group import LogsSettings, owned_log_group
from constructs.naming import Kind, content_digest
from constructs.policy import service_trust_policy
from constructs.refs import Deployment, FunctionRef, KeyRef
from constructs.settings import Settings

# AWS managed policy with exactly the CloudWatch Logs actions API Gateway needs to write execution/access logs.
PUSH_TO_CLOUDWATCH_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
STAGE_NAME = "v1"  # the stage, and so the URL path prefix


class ApiSettings(Settings):
    """Knobs of the REST API in front of the inference function (``api`` in cdktf.json)."""

    # stage and usage-plan steady-state requests per second (at most API Gateway's account limit of 10,000)
    throttle_rate_limit: int = Field(50, ge=1, le=10_000)
    throttle_burst_limit: int = Field(100, ge=1, le=5_000)  # at most API Gateway's account burst of 5,000
    quota_limit: int = Field(100_000, ge=1, le=2**31 - 1)  # requests per API key per quota period (a 32-bit field)
    quota_period: QuotaPeriod = "DAY"
    cache_enabled: bool = False  # stage cache for GET /predict (keyed by the query string)
    cache_size_gb: CacheSize = "0.5"
    cache_ttl_seconds: int = Field(300, ge=0, le=3600)
    waf_enabled: bool = False  # WAF web ACL (managed rules + per-IP rate limit); on in prod
    # requests per 5 minutes per client IP (per API key with waf_rate_limit_per_api_key). The default is 300 s * the
    # default throttle_rate_limit (50 rps): one client may use the whole stage rate without WAF blocking it first
    # (constructs/quotas.py checks waf_rate_limit ≥ 300 * throttle_rate_limit)
    waf_rate_limit: int = Field(15_000, ge=WAF_RATE_LIMIT_RANGE[0], le=WAF_RATE_LIMIT_RANGE[1])
    # count the WAF rate limit per x-api-key value instead of per client IP (clients share NAT addresses); requests
    # without a key (GET /health) are then not rate limited by WAF (constructs/api_waf.py: rate_based_statement)
    waf_rate_limit_per_api_key: bool = False
    manage_account_logging_role: bool = True  # the account-wide API Gateway → CloudWatch Logs role (one per region)


@dataclass(frozen=True)
class InferenceApiProps:
    """The inference REST API: what it is wired to; its knobs are ``settings``."""

    deployment: Deployment  # names; region and account of the API (log groups, aws:SourceAccount conditions)
    inference_function: FunctionRef  # the Lambda proxy target (name for permissions, invoke ARN for integrations)
    approval_function: FunctionRef  # target of POST /approvals (AWS_IAM): the model approval gate
    ops_key: KeyRef  # KMS key of the access, execution and WAF log groups
    settings: ApiSettings = field(default_factory=ApiSettings)
    logs: LogsSettings = field(default_factory=LogsSettings)  # retention of every log group of the API


def redeployment_hash() -> str:
    return content_digest(definition(), 64)


class InferenceApi(Construct):
    """Exposes ``rest_api``, ``stage``, ``deployment``, ``api_key`` (never output its value), ``usage_plan``,
    ``url``, ``execution_arn``, ``access_log_group``, ``web_acl`` (None without WAF)."""

    def __init__(self, scope: Construct, id: str, props: InferenceApiProps) -> None:
        super().__init__(scope, id)
        self._props = props
        self._name = props.deployment.naming.name("api")

        self.rest_api = aws.api_gateway_rest_api.ApiGatewayRestApi(
            self,
            "api",
            name=self._name,
            description=f"Inference API in front of {props.inference_function.arn}",
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

        account = self._account_logging_role() if props.settings.manage_account_logging_role else None
        self._stage(snapshot, account)
        self._usage_plan()
        self._lambda_permissions()
        self.web_acl = self._waf() if props.settings.waf_enabled else None

    def alarm_specs(self, alarms: AlarmsSettings) -> list[AlarmSpec]:
        """5XX answers, p99 latency, request count outside its expected band, and (with WAF) blocked-request spikes."""
        dimensions = {"ApiName": self._name, "Stage": STAGE_NAME}
        api: dict[str, Any] = {"stage": "api", "namespace": "AWS/ApiGateway", "dimensions": dimensions}
        specs = [
            AlarmSpec(
                id="api-5xx",
                name="api-5xx",
                description=(
                    f"The inference API answered {alarms.api_5xx_errors} or more 5XX in 5 minutes. Check first: the "
                    "inference function's errors and throttles, then the endpoint's variant alarms; the access log "
                    "gives each request's status and integration error."
                ),
                metric_name="5XXError",
                statistic="Sum",
                threshold=alarms.api_5xx_errors,
                comparison="GreaterThanOrEqualToThreshold",
                period=300,
                evaluation_periods=1,
                **api,
            ),
            AlarmSpec(
                id="api-latency-p99",
                name="api-latency-p99",
                description=(
                    f"p99 latency of the inference API above {alarms.api_latency_p99_ms} ms for 3 of 5 minutes. "
                    "Check first: IntegrationLatency (the function and the model) against Latency (API Gateway "
                    "itself), then the variants' ModelLatency."
                ),
                metric_name="Latency",
                extended_statistic="p99",
                threshold=alarms.api_latency_p99_ms,
                comparison="GreaterThanThreshold",
                period=60,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                **api,
            ),
            AlarmSpec(
                id="api-request-anomaly",
                name="api-request-count-anomaly",
                description=(
                    "The inference API's request count left its expected band (CloudWatch anomaly detection, "
                    f"{alarms.request_count_anomaly_band:g} standard deviations): a client outage (drop) or a flood "
                    "(spike). Check first: the access log's top callers (API key, IP), then the WAF's blocked requests."
                ),
                metric_name="Count",
                statistic="Sum",
                threshold=0,
                comparison="LessThanLowerOrGreaterThanUpperThreshold",
                anomaly_band=alarms.request_count_anomaly_band,
                period=300,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                # Without traffic the model has nothing to compare: missing data stays "insufficient", not an alarm.
                treat_missing_data="ignore",
                **api,
            ),
        ]
        if self.web_acl is not None:
            specs.append(
                AlarmSpec(
                    id="waf-blocked",
                    name="api-waf-blocked",
                    description=(
                        f"The API's WAF blocked {alarms.waf_blocked_requests} or more requests in 5 minutes. Check "
                        "first: the WAF log group (aws-waf-logs-...): which rule (rate limit or a managed rule) and "
                        "which clients; a legitimate client blocked by a managed rule needs a rule override."
                    ),
                    stage="api",
                    namespace="AWS/WAFV2",
                    metric_name="BlockedRequests",
                    # WebACL is the web ACL's metric name, which constructs/api_waf.py sets to its name.
                    dimensions={"WebACL": self.web_acl.name, "Region": self._props.deployment.region, "Rule": "ALL"},
                    statistic="Sum",
                    threshold=alarms.waf_blocked_requests,
                    comparison="GreaterThanOrEqualToThreshold",
                    period=300,
                    evaluation_periods=1,
                )
            )
        return specs

    # --- routes ----------------------------------------------------------------------------------------------------

    def _route(self, route: Route) -> list[Any]:
        api_id = self.rest_api.id
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
            uri=self._target(route).invoke_arn if proxy else None,
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
        where = self._props.deployment
        role = aws.iam_role.IamRole(
            self,
            "cloudwatch-role",
            name=where.naming.name("apigw-logs", Kind.IAM_ROLE),
            description="API Gateway writes execution and access logs of every API in this region",
            assume_role_policy=service_trust_policy(
                "ApiGatewayAssumesRole", "apigateway.amazonaws.com", where.account_id
            ),
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

    def _log_group(self, id: str, name: str, component: str) -> Any:
        props = self._props
        return owned_log_group(
            self,
            id,
            naming=props.deployment.naming,
            name=name,
            component=component,
            retention_days=props.logs.retention_days,
            kms_key_arn=props.ops_key.arn,
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
                "integration_uri": props.inference_function.invoke_arn,
                "approval_integration_uri": props.approval_function.invoke_arn,
            },
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=snapshot,
        )
        access_name = f"/aws/apigateway/{self._name}/access"
        self.access_log_group = self._log_group("access-logs", access_name, "api access logs")
        # API Gateway would create the execution log group itself (no KMS, never expires): create it first.
        self.execution_log_group = self._log_group(
            "execution-logs", f"API-Gateway-Execution-Logs_{self.rest_api.id}/{STAGE_NAME}", "api execution logs"
        )
        settings = props.settings
        cache = settings.cache_enabled
        self.stage = aws.api_gateway_stage.ApiGatewayStage(
            self,
            "stage",
            rest_api_id=self.rest_api.id,
            deployment_id=self.deployment.id,
            stage_name=STAGE_NAME,
            description="Inference API stage",
            xray_tracing_enabled=True,
            cache_cluster_enabled=True if cache else None,
            cache_cluster_size=settings.cache_size_gb if cache else None,
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
        api = self._props.settings
        settings = aws.api_gateway_method_settings
        cache_settings: dict[str, Any] = {"caching_enabled": caching}
        if caching:
            cache_settings.update(
                cache_ttl_in_seconds=api.cache_ttl_seconds,
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
                throttling_rate_limit=api.throttle_rate_limit,
                throttling_burst_limit=api.throttle_burst_limit,
                metrics_enabled=True,
                logging_level="INFO",
                # Data trace would write full request and response bodies (features, predictions) to the logs.
                data_trace_enabled=False,
                **cache_settings,
            ),
        )

    # --- clients -----------------------------------------------------------------------------------------------------

    def _usage_plan(self) -> None:
        props, settings = self._props, self._props.settings
        plan = aws.api_gateway_usage_plan
        self.api_key = aws.api_gateway_api_key.ApiGatewayApiKey(
            self,
            "api-key",
            name=props.deployment.naming.name("api-key"),
            description="Inference API client key",
            enabled=True,
        )
        self.usage_plan = plan.ApiGatewayUsagePlan(
            self,
            "usage-plan",
            name=props.deployment.naming.name("api-plan"),
            description="Throttle and quota of the inference API key",
            api_stages=[plan.ApiGatewayUsagePlanApiStages(api_id=self.rest_api.id, stage=self.stage.stage_name)],
            throttle_settings=plan.ApiGatewayUsagePlanThrottleSettings(
                rate_limit=settings.throttle_rate_limit, burst_limit=settings.throttle_burst_limit
            ),
            quota_settings=plan.ApiGatewayUsagePlanQuotaSettings(
                limit=settings.quota_limit, period=settings.quota_period
            ),
        )
        aws.api_gateway_usage_plan_key.ApiGatewayUsagePlanKey(
            self, "usage-plan-key", key_id=self.api_key.id, key_type="API_KEY", usage_plan_id=self.usage_plan.id
        )

    def _target(self, route: Route) -> FunctionRef:
        targets = {"inference": self._props.inference_function, "approval": self._props.approval_function}
        return targets[route.function]

    def _lambda_permissions(self) -> None:
        """One permission per proxied route, each for this stage, method and path only."""
        for route in ROUTES:
            if route.integration != "lambda":
                continue
            aws.lambda_permission.LambdaPermission(
                self,
                f"permission-{route.key}",
                statement_id=f"AllowApiGateway-{STAGE_NAME}-{route.key}",
                action="lambda:InvokeFunction",
                function_name=self._target(route).name,
                principal="apigateway.amazonaws.com",
                source_arn=f"{self.execution_arn}/{STAGE_NAME}/{route.method}/{route.path}",
            )

    # --- WAF ---------------------------------------------------------------------------------------------------------

    def _waf(self) -> Any:
        props = self._props
        return build_api_waf(
            self,
            ApiWafProps(
                naming=props.deployment.naming,
                api_name=self._name,
                stage_arn=self.stage.arn,
                rate_limit=props.settings.waf_rate_limit,
                ops_key=props.ops_key,
                logs=props.logs,
                rate_limit_per_api_key=props.settings.waf_rate_limit_per_api_key,
            ),
        )
