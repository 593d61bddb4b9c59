"""Model approval gate: a registered model version waits for a reviewer's decision, which is recorded in the registry.

One handler, two callers, told apart by the event's shape:

- The training workflow's `lambda:invoke.waitForTaskToken` task (an event with an `action` key) stores the task token
  on the registry item and returns; the execution then waits until the token is answered or the task times out.
- API Gateway `POST /approvals` (AWS_IAM authorization; every other event) records a reviewer's decision: it answers
  the waiting task (SendTaskSuccess for approve, SendTaskFailure `ModelRejected` for reject), then marks the item
  approved or rejected with the decider and the time. Repeating a decision changes nothing and answers 200.

A response body never holds an exception's text or the task token.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlp_common import aws
from mlp_common.features import has_lone_surrogate
from mlp_common.lambda_context import LambdaContext
from mlp_common.log import Logger
from mlp_common.predictions import iso_timestamp
from mlp_common.responses import ApiError, api_request_id, json_body, json_response, run_api
from mlp_common.settings import env_str

PENDING = "pending_approval"
DECISIONS = {"approve": "approved", "reject": "rejected"}
AWAIT_ACTION = "await_decision"
MAX_MODEL_NAME = 255
MAX_VERSION = 128
MAX_REASON = 1024
MAX_TASK_TOKEN = 2048  # SendTaskSuccess/SendTaskFailure accept at most 2048 characters
MAX_CALLER_ARN = 2048
REJECTED_ERROR = "ModelRejected"  # the error name the workflow's Catch sees for a rejection
MAX_CAUSE = 256
DEFAULT_CAUSE = "rejected by reviewer"
# Step Functions' answers for a token that can no longer be answered: the task timed out, ended, or never existed.
WINDOW_CLOSED_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
BODY_SHAPE = "request body must be a JSON object with model_name, version and decision"
CALLER_REQUIRED = "caller identity required (AWS_IAM authorization)"
_CONDITION_FAILED = "ConditionalCheckFailedException"

logger = Logger("approval")


class ApprovalStateError(Exception):
    """The workflow's task cannot wait for a decision: a malformed payload, or a version that is not pending approval.

    Step Functions sees the class name as the error name; the workflow routes it to NotifyFailure.
    """


@dataclass(frozen=True)
class Settings:
    registry_table: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(registry_table=env_str("MODEL_REGISTRY_TABLE"))


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@dataclass(frozen=True)
class Decision:
    model_name: str
    version: str
    decision: str  # "approve" or "reject"
    reason: str  # "" when none was given
    decided_by: str  # the caller's IAM ARN

    @property
    def status(self) -> str:
        return DECISIONS[self.decision]


def text_problem(payload: dict[str, Any], name: str, maximum: int, minimum: int = 1) -> str | None:
    """Why payload[name] is not a string of minimum..maximum characters of Unicode text, or None if it is."""
    value = payload.get(name)
    if isinstance(value, str) and minimum <= len(value) <= maximum and not has_lone_surrogate(value):
        return None
    return f"{name} must be a string of {minimum} to {maximum} characters"


def registry_key(model_name: str, version: str) -> dict[str, Any]:
    return {"model_name": {"S": model_name}, "version": {"S": version}}


# --- the workflow's task ------------------------------------------------------------------------------------------


def is_task(event: Any) -> bool:
    """The workflow's payload carries `action`; an API Gateway proxy event never has such a top-level key."""
    return isinstance(event, dict) and "action" in event


def await_decision(event: dict[str, Any], cfg: Settings) -> dict[str, Any]:
    """Store the task token on the pending registry item; ApprovalStateError if the payload or the item is wrong."""
    if event.get("action") != AWAIT_ACTION:
        raise ApprovalStateError(f"payload.action must be '{AWAIT_ACTION}'")
    for name, maximum in (("task_token", MAX_TASK_TOKEN), ("model_name", MAX_MODEL_NAME), ("version", MAX_VERSION)):
        problem = text_problem(event, name, maximum)
        if problem:
            raise ApprovalStateError(f"payload.{problem}")
    model_name, version = event["model_name"], event["version"]
    try:
        aws.client("dynamodb").update_item(
            TableName=cfg.registry_table,
            Key=registry_key(model_name, version),
            UpdateExpression="SET task_token = :token",
            ConditionExpression="attribute_exists(version) AND #status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":token": {"S": event["task_token"]}, ":pending": {"S": PENDING}},
        )
    except Exception as err:
        if aws.error_code(err) == _CONDITION_FAILED:
            raise ApprovalStateError(f"model {model_name} version {version} is not pending approval") from None
        raise
    logger.info("awaiting decision", model_name=model_name, version=version)
    return {"status": "awaiting_decision"}


# --- the reviewer's API -------------------------------------------------------------------------------------------


def route(event: Any, cfg: Settings, now: datetime | None = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise ApiError(400, "request is not an API Gateway proxy event")
    method = str(event.get("httpMethod") or "").upper()
    path = str(event.get("resource") or event.get("path") or "").rstrip("/")
    if path != "/approvals" or method != "POST":
        raise ApiError(404, "route not found")
    decided_by = caller_arn(event)
    return decide(parse_decision(event, decided_by), cfg, now or datetime.now(UTC))


def caller_arn(event: dict[str, Any]) -> str:
    """The IAM identity API Gateway authenticated (AWS_IAM authorization), or 403."""
    request_context = event.get("requestContext")
    identity = request_context.get("identity") if isinstance(request_context, dict) else None
    arn = identity.get("userArn") if isinstance(identity, dict) else None
    if not isinstance(arn, str) or not 0 < len(arn) <= MAX_CALLER_ARN or has_lone_surrogate(arn):
        raise ApiError(403, CALLER_REQUIRED)
    return arn


def parse_decision(event: dict[str, Any], decided_by: str) -> Decision:
    payload = json_body(event, BODY_SHAPE)
    if not isinstance(payload, dict):
        raise ApiError(400, BODY_SHAPE)
    for name, maximum in (("model_name", MAX_MODEL_NAME), ("version", MAX_VERSION)):
        problem = text_problem(payload, name, maximum)
        if problem:
            raise ApiError(400, problem)
    decision = payload.get("decision")
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise ApiError(400, "decision must be 'approve' or 'reject'")
    if payload.get("reason") is None:
        payload["reason"] = ""
    problem = text_problem(payload, "reason", MAX_REASON, minimum=0)
    if problem:
        raise ApiError(400, problem)
    return Decision(payload["model_name"], payload["version"], decision, payload["reason"], decided_by)


def decide(request: Decision, cfg: Settings, now: datetime) -> dict[str, Any]:
    """Answer the waiting task, then record the decision; a decision already recorded is answered from the item."""
    item = read_item(request, cfg)
    settled = settled_answer(item, request)
    if settled is not None:
        return settled
    token = waiting_token(item)
    answer_task(request, token)
    try:
        record(request, token, cfg, now)
    except Exception as err:
        if aws.error_code(err) != _CONDITION_FAILED:
            raise
        # Another decider recorded first: answer from what was recorded.
        settled = settled_answer(read_item(request, cfg), request)
        if settled is None:
            raise ApiError(409, "model version changed during the decision; retry") from None
        return settled
    logger.info("decision recorded", model_name=request.model_name, version=request.version, status=request.status)
    return _answer(request, request.status, request.decided_by, changed=True)


def read_item(request: Decision, cfg: Settings) -> dict[str, Any]:
    response = aws.client("dynamodb").get_item(
        TableName=cfg.registry_table, Key=registry_key(request.model_name, request.version), ConsistentRead=True
    )
    item = response.get("Item")
    if not item:
        raise ApiError(404, "model version not found")
    return dict(item)


def settled_answer(item: dict[str, Any], request: Decision) -> dict[str, Any] | None:
    """The answer when the version is already decided (200 for the same decision, 409 for the other), else None."""
    status = _string(item, "status")
    if status not in DECISIONS.values():
        return None
    decided_by = _string(item, "decided_by")
    if status != request.status:
        raise ApiError(409, f"model version already {status}" + (f" by {decided_by}" if decided_by else ""))
    return _answer(request, status, decided_by, changed=False)


def waiting_token(item: dict[str, Any]) -> str:
    if _string(item, "status") != PENDING:
        raise ApiError(409, "model version is not pending approval")
    token = _string(item, "task_token")
    if not token:
        raise ApiError(409, "model version is not awaiting a decision yet")
    return token


def answer_task(request: Decision, token: str) -> None:
    """SendTaskSuccess (approve) or SendTaskFailure ModelRejected (reject); 409 once the task can no longer be answered.

    Any other error (throttling, permissions, KMS) raises: a logged 500, and the decision can be sent again.
    """
    states = aws.client("stepfunctions")
    try:
        if request.decision == "approve":
            output = json.dumps({"decision": request.status, "decided_by": request.decided_by})
            states.send_task_success(taskToken=token, output=output)
        else:
            cause = (request.reason or DEFAULT_CAUSE)[:MAX_CAUSE]
            states.send_task_failure(taskToken=token, error=REJECTED_ERROR, cause=cause)
    except Exception as err:
        code = aws.error_code(err)
        if code in WINDOW_CLOSED_ERRORS:
            logger.warning("approval window closed", model_name=request.model_name, version=request.version, code=code)
            raise ApiError(409, "approval window closed") from None
        raise


def record(request: Decision, token: str, cfg: Settings, now: datetime) -> None:
    """Mark the item decided, only if it still waits on the token just answered (ConditionalCheckFailed otherwise)."""
    aws.client("dynamodb").update_item(
        TableName=cfg.registry_table,
        Key=registry_key(request.model_name, request.version),
        UpdateExpression=(
            "SET #status = :decided, decided_by = :by, decided_at = :at, decision_reason = :reason REMOVE task_token"
        ),
        ConditionExpression="#status = :pending AND task_token = :token",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":decided": {"S": request.status},
            ":by": {"S": request.decided_by},
            ":at": {"S": iso_timestamp(now)},
            ":reason": {"S": request.reason},
            ":pending": {"S": PENDING},
            ":token": {"S": token},
        },
    )


def _string(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    text = value.get("S") if isinstance(value, dict) else None
    return text if isinstance(text, str) else None


def _answer(request: Decision, status: str, decided_by: str | None, *, changed: bool) -> dict[str, Any]:
    body = {
        "model_name": request.model_name,
        "version": request.version,
        "status": status,
        "decided_by": decided_by,
        "changed": changed,
    }
    return json_response(200, body)


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_task(event):
        logger.inject_context(context)
        return await_decision(event, settings())
    request_id = api_request_id(event, context)
    logger.inject_context(context, api_request_id=request_id)
    return run_api(lambda: route(event, settings()), request_id, logger)
