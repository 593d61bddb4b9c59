"""Names, fakes and event builders shared by the handler tests."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

from botocore.response import StreamingBody
from botocore.stub import Stubber

REGION = "us-east-1"
RAW_BUCKET = "mlp-raw-test"
PROCESSED_BUCKET = "mlp-processed-test"
ARTIFACTS_BUCKET = "mlp-model-artifacts-test"
PREDICTIONS_TABLE = "mlp-predictions-test"
REGISTRY_TABLE = "mlp-model-registry-test"
STREAM_NAME = "mlp-inference-requests-test"
ENDPOINT_NAME = "mlp-endpoint-test"
FEATURE_COUNT = 4
TTL_DAYS = 30
MAX_OBJECT_BYTES = 1024 * 1024
REVIEWER_ARN = "arn:aws:iam::123456789012:user/reviewer"

FUNCTION_ENV = {
    "LOG_LEVEL": "DEBUG",
    "METRICS_NAMESPACE": "MlPipelineTest",
    "ENVIRONMENT": "test",
    "ENDPOINTS_ENABLED": "false",
    "ENDPOINT_NAME": ENDPOINT_NAME,
    "PREDICTIONS_TTL_DAYS": str(TTL_DAYS),
    "FEATURE_COUNT": str(FEATURE_COUNT),
    "PREDICTIONS_TABLE": PREDICTIONS_TABLE,
    "MODEL_REGISTRY_TABLE": REGISTRY_TABLE,
    "PROCESSED_BUCKET": PROCESSED_BUCKET,
    "MODEL_ARTIFACTS_BUCKET": ARTIFACTS_BUCKET,
    "MAX_OBJECT_BYTES": str(MAX_OBJECT_BYTES),
    "BATCH_WRITE_BASE_DELAY_MS": "0",
    "METRIC_NAME": "validation:auc",
    "METRIC_THRESHOLD": "0.85",
}


@dataclass
class FakeLambdaContext:
    function_name: str = "mlp-handler-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mlp-handler-test"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "11111111-2222-4333-8444-555555555555"
    log_group_name: str = "/aws/lambda/mlp-handler-test"
    log_stream_name: str = "2026/01/01/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def emf_documents(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "_aws" in line]


def log_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "_aws" not in line]


def api_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    query: dict[str, str] | None = None,
    request_id: str = "api-req-0001",
    base64_body: bool = False,
    caller_arn: str | None = None,
) -> dict[str, Any]:
    """A REST API (v1) proxy integration event; `caller_arn` is the IAM identity of an AWS_IAM-authorized method."""
    if base64_body and body is not None:
        body = base64.b64encode(body.encode()).decode()
    request_context: dict[str, Any] = {
        "requestId": request_id,
        "stage": "test",
        "httpMethod": method,
        "resourcePath": path,
    }
    if caller_arn is not None:
        request_context["identity"] = {"userArn": caller_arn, "accountId": "123456789012", "sourceIp": "192.0.2.1"}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": base64_body,
    }


def kinesis_record(sequence_number: str, data: bytes | dict[str, Any], shard: str = "shardId-000000000000") -> dict:
    """One record of a Kinesis event source batch (data as the stream holds it: bytes, base64 in the event)."""
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "pk",
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(raw).decode(),
            "approximateArrivalTimestamp": 1763719200.123,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:kinesis:{REGION}:123456789012:stream/{STREAM_NAME}",
    }


def response_body(response: dict[str, Any]) -> dict[str, Any]:
    """An API response's parsed body (every response is JSON)."""
    assert response["headers"]["Content-Type"] == "application/json"
    return json.loads(response["body"])


def model_answer(payload: bytes, variant: str = "VariantB") -> dict[str, Any]:
    """An InvokeEndpoint response carrying `payload` as the model's answer."""
    return {
        "Body": StreamingBody(io.BytesIO(payload), len(payload)),
        "ContentType": "application/json",
        "InvokedProductionVariant": variant,
    }


def expect_invoke(runtime: Stubber, body: str, answer: dict[str, Any]) -> None:
    """Queue one InvokeEndpoint answer, expecting the CSV row `body`."""
    expected = {"EndpointName": ENDPOINT_NAME, "ContentType": "text/csv", "Accept": "application/json", "Body": body}
    runtime.add_response("invoke_endpoint", answer, expected)


def padded_body(total_bytes: int, pad_char: str = "é") -> str:
    """A valid request body of exactly `total_bytes` UTF-8 bytes, padded with a multi-byte character."""
    head = '{"features": [1, 2, 3, 4], "pad": "'
    pad_bytes = total_bytes - len(head.encode()) - len('"}')
    width = len(pad_char.encode())
    body = head + pad_char * (pad_bytes // width) + "x" * (pad_bytes % width) + '"}'
    assert len(body.encode()) == total_bytes
    return body
