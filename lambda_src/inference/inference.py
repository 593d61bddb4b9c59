"""Online inference API (API Gateway REST proxy integration).

Routes: POST /predict {"features": [...]}, GET /predict?features=1.5,2,3, GET /models.
Phase one (ENDPOINTS_ENABLED != "true"): predict routes answer 503 and record nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlp_common import aws, model
from mlp_common import metric_names as names
from mlp_common.features import (
    FeatureError,
    LoneSurrogateError,
    loads_strict,
    parse_csv_features,
    validate_features,
)
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.metrics import Metric, emit
from mlp_common.predictions import prediction_item
from mlp_common.responses import ApiError, api_request_id, json_response, request_body, run_api
from mlp_common.settings import env_flag, env_int, env_str

PHASE_ONE_MESSAGE = "model endpoint not enabled (phase one)"
MODELS_LIMIT = 50
REGISTRY_STATUS_INDEX = "by-status"  # as constructs/tables.py names it (tests/unit/test_contracts.py checks they agree)

logger = Logger("inference")


@dataclass(frozen=True)
class Settings:
    predictions_table: str
    registry_table: str
    endpoints_enabled: bool
    endpoint_name: str
    ttl_days: int
    feature_count: int
    namespace: str
    environment: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            predictions_table=env_str("PREDICTIONS_TABLE"),
            registry_table=env_str("MODEL_REGISTRY_TABLE"),
            endpoints_enabled=env_flag("ENDPOINTS_ENABLED"),
            endpoint_name=env_str("ENDPOINT_NAME"),
            ttl_days=env_int("PREDICTIONS_TTL_DAYS", minimum=1),
            feature_count=env_int("FEATURE_COUNT", minimum=1),
            namespace=env_str("METRICS_NAMESPACE", "MlPipeline"),
            environment=env_str("ENVIRONMENT"),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


def route(event: dict[str, Any], request_id: str, cfg: Settings) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise ApiError(400, "request is not an API Gateway proxy event")
    method = str(event.get("httpMethod") or "").upper()
    path = str(event.get("resource") or event.get("path") or "").rstrip("/")
    if path == "/predict" and method in ("GET", "POST"):
        if not cfg.endpoints_enabled:
            raise ApiError(503, PHASE_ONE_MESSAGE)
        if method == "POST":
            features = features_from_body(event, cfg.feature_count)
        else:
            features = features_from_query(event, cfg.feature_count)
        return predict(features, request_id, cfg)
    if path == "/models" and method == "GET":
        return json_response(200, {"models": list_approved_models(cfg.registry_table), "requestId": request_id})
    raise ApiError(404, "route not found")


def features_from_body(event: dict[str, Any], count: int) -> list[float]:
    raw = request_body(event, "request body must be a JSON object with a 'features' list")
    try:
        payload = loads_strict(raw)
    except LoneSurrogateError:
        raise ApiError(400, "request body holds a lone surrogate (not valid Unicode)") from None
    except ValueError:  # UnicodeDecodeError included
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(payload, dict) or "features" not in payload:
        raise ApiError(400, "request body must be a JSON object with a 'features' list")
    try:
        return validate_features(payload["features"], count)
    except FeatureError as err:
        raise ApiError(400, str(err)) from None


def features_from_query(event: dict[str, Any], count: int) -> list[float]:
    multi = event.get("multiValueQueryStringParameters") or {}
    repeated = multi.get("features") if isinstance(multi, dict) else None
    if isinstance(repeated, list) and len(repeated) > 1:
        raise ApiError(400, "query parameter 'features' must be given once")
    params = event.get("queryStringParameters") or {}
    value = params.get("features") if isinstance(params, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "query parameter 'features' is required (comma-separated numbers)")
    try:
        return parse_csv_features(value, count)
    except FeatureError as err:
        raise ApiError(400, str(err)) from None


def predict(features: list[float], request_id: str, cfg: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Invoke the endpoint, record the answer (with the variant that gave it) and return it."""
    try:
        result = model.invoke(aws.client("sagemaker-runtime"), cfg.endpoint_name, features)
    except model.ModelInvocationError as err:
        logger.warning("model invocation failed", detail=str(err), throttled=err.throttled)
        if err.throttled:
            raise ApiError(429, "model endpoint is throttling requests; retry later") from None
        raise ApiError(502, "model invocation failed") from None
    emit(
        cfg.namespace,
        [Metric(names.PREDICTION_LATENCY, result.latency_ms, "Milliseconds")],
        {names.DIMENSION: cfg.environment, names.VARIANT_DIMENSION: result.variant},
    )
    item = prediction_item(
        request_id,
        features=features,
        source="api",
        now=now or datetime.now(UTC),
        ttl_days=cfg.ttl_days,
        prediction=result.value,
        variant=result.variant,
        latency_ms=result.latency_ms,
    )
    aws.client("dynamodb").put_item(TableName=cfg.predictions_table, Item=item)
    logger.info("prediction recorded", variant=result.variant, latency_ms=result.latency_ms)
    return json_response(
        200,
        {
            "requestId": request_id,
            "prediction": result.value,
            "variant": result.variant,
            "latencyMs": result.latency_ms,
        },
    )


def list_approved_models(registry_table: str) -> list[dict[str, str]]:
    """Approved models, newest registration first (GSI by-status)."""
    response = aws.client("dynamodb").query(
        TableName=registry_table,
        IndexName=REGISTRY_STATUS_INDEX,
        KeyConditionExpression="#status = :approved",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":approved": {"S": "approved"}},
        ScanIndexForward=False,
        Limit=MODELS_LIMIT,
    )
    return [
        {
            "model_name": item["model_name"]["S"],
            "version": item["version"]["S"],
            "registered_at": item["registered_at"]["S"],
        }
        for item in response.get("Items", [])
    ]


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_id = api_request_id(event, context)
    logger.inject_context(context, api_request_id=request_id)
    return run_api(lambda: route(event, request_id, settings()), request_id, logger)
