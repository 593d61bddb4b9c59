"""The inference API's definition as plain data: routes, integrations, body models, validators, access-log format.

The resources are built from this data (constructs/inference_api.py), and the deployment's ``redeployment`` trigger is
a digest of the same data, so any change to the API definition creates a new deployment and nothing else does.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any

FEATURES_PARAMETER = "method.request.querystring.features"


@dataclass(frozen=True)
class Route:
    """One method of the API."""

    path: str  # resource path below the root, one segment (e.g. "predict")
    method: str  # HTTP method
    integration: str  # key of INTEGRATIONS: "lambda" (proxy to ``function``) or "mock"
    validator: str  # key of VALIDATORS
    api_key_required: bool = True
    # Prediction clients are identified by API key (usage plan); reviewers deciding on a model version sign their
    # requests (AWS_IAM: SigV4, the caller's IAM identity reaches the handler as requestContext.identity.userArn).
    authorization: str = "NONE"
    function: str = "inference"  # the Lambda proxy target of a "lambda" route: "inference" or "approval"
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
    # The model approval gate (ARCHITECTURE §7): only signed IAM callers, never an API key holder.
    Route(
        "approvals",
        "POST",
        "lambda",
        validator="body",
        body_model="ApprovalRequest",
        api_key_required=False,
        authorization="AWS_IAM",
        function="approval",
    ),
    Route("health", "GET", "mock", validator="parameters", api_key_required=False, mock_response='{"status":"ok"}'),
)

# Integration settings per kind of route.
INTEGRATIONS: dict[str, dict[str, Any]] = {
    # Lambda is always invoked with POST, whatever the client's method; the route's ``function`` is the target.
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
    },
    "ApprovalRequest": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "ApprovalRequest",
        "type": "object",
        "required": ["model_name", "version", "decision"],
        "properties": {
            "model_name": {"type": "string", "minLength": 1, "maxLength": 255},
            "version": {"type": "string", "minLength": 1, "maxLength": 128},
            "decision": {"type": "string", "enum": ["approve", "reject"]},
            "reason": {"type": "string", "maxLength": 1024},
        },
        "additionalProperties": False,
    },
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


def definition() -> dict[str, Any]:
    """Everything a deployment snapshots, as plain data (the input of the redeployment digest)."""
    return {
        "routes": [asdict(route) for route in ROUTES],
        "integrations": INTEGRATIONS,
        "models": MODELS,
        "validators": {name: list(flags) for name, flags in VALIDATORS.items()},
    }
