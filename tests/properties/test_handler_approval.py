"""approval, property-based: a client's mistake is a 4xx, no body carries internals, and the first decision stands.

- Any API request, valid or mutated at any place (or any value at all), is answered 200/400/403/404/409/413, never a
  5xx; every error body is exactly {"error", "requestId"} with a documented message, and no body holds the task
  token, a traceback or an exception's text.
- Any sequence of decisions by any reviewers: the first one answers the task (exactly one Step Functions call) and is
  recorded; the same decision again is a 200 with `changed: false`, the other one a 409, and neither calls Step
  Functions again.
- Any workflow payload stores the token or raises ApprovalStateError; never another exception.
"""

from __future__ import annotations

import json
import re
from typing import Any

import approval
import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlp_common import aws

from tests.handlers.fakes import REGISTRY_TABLE, REVIEWER_ARN, FakeLambdaContext, api_event
from tests.handlers.strategies import CLEAN_TEXT, HOSTILE_VALUES, examples, mutated

pytestmark = pytest.mark.usefixtures("handler_env")

MODEL, VERSION = "churn", "7"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAS-secret-task-token"
LIMIT = 64 * 1024
CLIENT_MESSAGES = [
    re.escape(message)
    for message in (
        "request body must be a JSON object with model_name, version and decision",
        "request body is not valid JSON",
        "request body is not valid base64",
        "request body holds a lone surrogate (not valid Unicode)",
        f"request body exceeds {LIMIT} bytes",
        "request is not an API Gateway proxy event",
        "route not found",
        "caller identity required (AWS_IAM authorization)",
        "model_name must be a string of 1 to 255 characters",
        "version must be a string of 1 to 128 characters",
        "decision must be 'approve' or 'reject'",
        "reason must be a string of 0 to 1024 characters",
        "model version not found",
        "model version is not awaiting a decision yet",
        "model version is not pending approval",
        "approval window closed",
    )
] + [r"model version already (approved|rejected)( by arn:aws:iam::123456789012:user/[a-z-]+)?"]
CLIENT_MESSAGE = re.compile("|".join(CLIENT_MESSAGES))
INTERNALS = ["Traceback", 'File "', ".py", "/work", "Error", "Exception", "errno", "<", "object at 0x", TOKEN]


def _error(response: dict[str, Any]) -> str:
    assert response["headers"] == {"Content-Type": "application/json"}
    body = json.loads(response["body"])
    assert set(body) == {"error", "requestId"}
    assert isinstance(body["requestId"], str) and body["requestId"]
    for word in INTERNALS:
        assert word not in body["error"], (word, body)
    return body["error"]


@pytest.fixture
def step_functions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """The function's Step Functions client accepting every answer, which it records."""
    calls: list[tuple[str, dict[str, Any]]] = []
    client = aws.client("stepfunctions")
    for operation in ("send_task_success", "send_task_failure"):
        monkeypatch.setattr(client, operation, lambda _op=operation, **kwargs: calls.append((_op, kwargs)) or {})
    return calls


def _pending(ddb: Any, **attributes: str) -> None:
    item = {"model_name": MODEL, "version": VERSION, "status": "pending_approval", "registered_at": "2026-11-21"}
    ddb.put_item(TableName=REGISTRY_TABLE, Item={k: {"S": v} for k, v in {**item, **attributes}.items()})


def _request(decision: str, caller: str = REVIEWER_ARN, **extra: Any) -> dict[str, Any]:
    body = json.dumps({"model_name": MODEL, "version": VERSION, "decision": decision, **extra})
    return api_event("POST", "/approvals", body=body, caller_arn=caller)


def _with_body(payload: Any, ascii_only: bool) -> dict[str, Any]:
    return api_event("POST", "/approvals", body=json.dumps(payload, ensure_ascii=ascii_only), caller_arn=REVIEWER_ARN)


VALID_REQUESTS = st.builds(
    _request, st.sampled_from(["approve", "reject"]), reason=st.text(max_size=30) | st.just("é" * 1024)
)
_BODY = {"model_name": MODEL, "version": VERSION, "decision": "approve", "reason": "fine"}
# The body mutated at any place (the event's own places are mutated by VALID_REQUESTS.flatmap(mutated)).
MUTATED_BODIES = st.builds(_with_body, st.just(_BODY).flatmap(mutated), st.booleans())
API_EVENTS = (VALID_REQUESTS | VALID_REQUESTS.flatmap(mutated) | MUTATED_BODIES | HOSTILE_VALUES).filter(
    lambda event: not approval.is_task(event)
)


@examples(80)
@given(event=API_EVENTS, state=st.sampled_from(["waiting", "no_token", "approved", "rejected", "absent"]))
def test_any_request_is_answered_without_a_5xx_or_internals(
    event: Any, state: str, tables: Any, step_functions: list[Any]
) -> None:
    step_functions.clear()
    key = {"model_name": {"S": MODEL}, "version": {"S": VERSION}}
    tables.delete_item(TableName=REGISTRY_TABLE, Key=key)
    if state == "waiting":
        _pending(tables, task_token=TOKEN)
    elif state == "no_token":
        _pending(tables)
    elif state != "absent":
        _pending(tables, status=state, decided_by="arn:aws:iam::123456789012:user/other")

    response = approval.handler(event, FakeLambdaContext())

    hypothesis.event(f"status {response['statusCode']}")
    assert response["statusCode"] in {200, 400, 403, 404, 409, 413}
    assert TOKEN not in response["body"]
    if response["statusCode"] != 200:
        assert CLIENT_MESSAGE.fullmatch(_error(response)), response["body"]
        return
    body = json.loads(response["body"])
    assert set(body) == {"model_name", "version", "status", "decided_by", "changed"}
    assert body["status"] in {"approved", "rejected"}
    assert len(step_functions) == (1 if body["changed"] else 0)


REVIEWERS = st.sampled_from(["alice", "bob", "carol"]).map(lambda name: f"arn:aws:iam::123456789012:user/{name}")


@examples(40)
@given(decisions=st.lists(st.tuples(st.sampled_from(["approve", "reject"]), REVIEWERS), min_size=1, max_size=5))
def test_the_first_decision_stands_and_answers_the_task_once(
    decisions: list[tuple[str, str]], tables: Any, step_functions: list[Any]
) -> None:
    _pending(tables, task_token=TOKEN)
    step_functions.clear()
    first, first_by = decisions[0]
    status = {"approve": "approved", "reject": "rejected"}[first]

    answers = [approval.handler(_request(decision, by), FakeLambdaContext()) for decision, by in decisions]

    for (decision, _), response in zip(decisions, answers, strict=True):
        if decision == first:
            assert response["statusCode"] == 200
            assert json.loads(response["body"])["decided_by"] == first_by
        else:
            assert response["statusCode"] == 409
            assert _error(response) == f"model version already {status} by {first_by}"
    assert [json.loads(r["body"]).get("changed") for r in answers[:1]] == [True]
    assert len(step_functions) == 1
    operation, params = step_functions[0]
    assert params["taskToken"] == TOKEN
    assert operation == ("send_task_success" if first == "approve" else "send_task_failure")
    item = tables.get_item(TableName=REGISTRY_TABLE, Key={"model_name": {"S": MODEL}, "version": {"S": VERSION}})
    assert (item["Item"]["status"]["S"], item["Item"]["decided_by"]["S"]) == (status, first_by)
    assert "task_token" not in item["Item"]


_TASK = {"action": "await_decision", "task_token": TOKEN, "model_name": MODEL, "version": VERSION}
TASK_PAYLOADS = st.just(_TASK).flatmap(mutated).filter(lambda event: approval.is_task(event)) | st.builds(
    lambda token, name, version: {**_TASK, "task_token": token, "model_name": name, "version": version},
    CLEAN_TEXT | HOSTILE_VALUES,
    CLEAN_TEXT | HOSTILE_VALUES,
    CLEAN_TEXT | HOSTILE_VALUES,
)


@examples(60)
@given(payload=TASK_PAYLOADS)
def test_any_workflow_payload_stores_the_token_or_raises_approval_state_error(payload: Any, tables: Any) -> None:
    _pending(tables)
    try:
        result = approval.handler(payload, FakeLambdaContext())
    except approval.ApprovalStateError as err:
        assert TOKEN not in str(err)
        return
    assert result == {"status": "awaiting_decision"}
    assert (payload["model_name"], payload["version"]) == (MODEL, VERSION)
    item = tables.get_item(TableName=REGISTRY_TABLE, Key={"model_name": {"S": MODEL}, "version": {"S": VERSION}})
    assert item["Item"]["task_token"]["S"] == payload["task_token"]
