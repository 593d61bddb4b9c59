"""approval: the workflow's waitForTaskToken task stores the token; POST /approvals answers it and records the decision.

DynamoDB is moto; Step Functions is a Stubber on the function's own client, so every call and its parameters are
asserted, and a path that must make no Step Functions call fails on any call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import approval
import inference
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from mlp_common import aws
from mlp_common.settings import ConfigError

from tests.handlers.fakes import REGISTRY_TABLE, REVIEWER_ARN, FakeLambdaContext, api_event, log_lines, response_body

MODEL, VERSION = "churn", "7"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAS-secret-task-token"
OTHER_ARN = "arn:aws:iam::123456789012:user/other-reviewer"
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_DESERIALIZER = TypeDeserializer()


@pytest.fixture
def states(tables: Any) -> Iterator[Stubber]:
    """The function's Step Functions client, stubbed: an unexpected call fails, every queued answer must be used."""
    stubber = Stubber(aws.client("stepfunctions"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _register(ddb: Any, status: str = "pending_approval", **attributes: str) -> None:
    item = {"model_name": MODEL, "version": VERSION, "status": status, "registered_at": "2026-11-21T10:00:00.000Z"}
    item.update(attributes)
    ddb.put_item(TableName=REGISTRY_TABLE, Item={name: {"S": value} for name, value in item.items()})


def _item(ddb: Any) -> dict[str, Any] | None:
    key = {"model_name": {"S": MODEL}, "version": {"S": VERSION}}
    item = ddb.get_item(TableName=REGISTRY_TABLE, Key=key, ConsistentRead=True).get("Item")
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()} if item else None


def _task(**overrides: Any) -> dict[str, Any]:
    return {"action": "await_decision", "task_token": TOKEN, "model_name": MODEL, "version": VERSION, **overrides}


def _post(body: Any, caller: str | None = REVIEWER_ARN) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return api_event("POST", "/approvals", body=text, caller_arn=caller)


def _decision(decision: str, **extra: Any) -> dict[str, Any]:
    return _post({"model_name": MODEL, "version": VERSION, "decision": decision, **extra})


def _expect_success(states: Stubber, decided_by: str = REVIEWER_ARN) -> None:
    output = json.dumps({"decision": "approved", "decided_by": decided_by})
    states.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": output})


def _expect_failure(states: Stubber, cause: str) -> None:
    states.add_response("send_task_failure", {}, {"taskToken": TOKEN, "error": "ModelRejected", "cause": cause})


def _answer(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    assert TOKEN not in response["body"]
    return response_body(response)


# --- the workflow's task: store the token ---------------------------------------------------------------------


def test_the_task_stores_its_token_on_the_pending_item(tables: Any, lambda_context: FakeLambdaContext) -> None:
    _register(tables)

    assert approval.handler(_task(), lambda_context) == {"status": "awaiting_decision"}

    assert _item(tables) == {
        "model_name": MODEL,
        "version": VERSION,
        "status": "pending_approval",
        "registered_at": "2026-11-21T10:00:00.000Z",
        "task_token": TOKEN,
    }


def test_a_retried_task_replaces_the_token(tables: Any, lambda_context: FakeLambdaContext) -> None:
    _register(tables, task_token="old-token")
    approval.handler(_task(), lambda_context)
    assert _item(tables)["task_token"] == TOKEN


@pytest.mark.parametrize("existing", [None, {"status": "approved"}, {"status": "rejected"}, {"status": "registered"}])
def test_the_task_fails_when_the_version_is_not_pending(
    existing: dict[str, str] | None, tables: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    if existing:
        _register(tables, **existing)

    with pytest.raises(approval.ApprovalStateError) as raised:
        approval.handler(_task(), lambda_context)

    assert str(raised.value) == f"model {MODEL} version {VERSION} is not pending approval"
    assert (_item(tables) or {}).get("task_token") is None
    assert TOKEN not in json.dumps(stdout_json())  # the token is a credential: never logged


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_task(action="approve"), "payload.action must be 'await_decision'"),
        (_task(action=None), "payload.action must be 'await_decision'"),
        ({"action": "await_decision"}, "payload.task_token must be a string of 1 to 2048 characters"),
        (_task(task_token=""), "payload.task_token must be a string of 1 to 2048 characters"),
        (_task(task_token=7), "payload.task_token must be a string of 1 to 2048 characters"),
        (_task(task_token="t" * 2049), "payload.task_token must be a string of 1 to 2048 characters"),
        (_task(model_name=None), "payload.model_name must be a string of 1 to 255 characters"),
        (_task(model_name="m" * 256), "payload.model_name must be a string of 1 to 255 characters"),
        (_task(model_name="a\udc00"), "payload.model_name must be a string of 1 to 255 characters"),
        (_task(version=""), "payload.version must be a string of 1 to 128 characters"),
        (_task(version=["7"]), "payload.version must be a string of 1 to 128 characters"),
        (_task(version="v" * 129), "payload.version must be a string of 1 to 128 characters"),
    ],
)
def test_a_malformed_task_payload_fails_naming_the_part_before_any_call(
    payload: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setattr(aws.client("dynamodb"), "update_item", lambda **_: pytest.fail("no call expected"))
    with pytest.raises(approval.ApprovalStateError) as raised:
        approval.handler(payload, lambda_context)
    assert str(raised.value) == message


def test_other_aws_errors_of_the_task_raise_for_the_workflow_to_retry(
    monkeypatch: pytest.MonkeyPatch, tables: Any, lambda_context: FakeLambdaContext
) -> None:
    def update_item(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "Update")

    monkeypatch.setattr(aws.client("dynamodb"), "update_item", update_item)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        approval.handler(_task(), lambda_context)


def test_the_task_needs_the_registry_table(monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext) -> None:
    monkeypatch.delenv("MODEL_REGISTRY_TABLE")
    with pytest.raises(ConfigError, match="MODEL_REGISTRY_TABLE"):
        approval.handler(_task(), lambda_context)


# --- the reviewer's decision ---------------------------------------------------------------------------------------


def test_approve_answers_the_task_and_records_the_decision(
    states: Stubber, tables: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    _register(tables, task_token=TOKEN)
    _expect_success(states)
    before = datetime.now(UTC)

    response = approval.handler(_decision("approve"), lambda_context)

    assert _answer(response, 200) == {
        "model_name": MODEL,
        "version": VERSION,
        "status": "approved",
        "decided_by": REVIEWER_ARN,
        "changed": True,
    }
    item = _item(tables)
    decided_at = item.pop("decided_at")
    assert ISO_MS.fullmatch(decided_at)
    assert before.isoformat(timespec="milliseconds")[:19] <= decided_at[:19]
    assert item == {
        "model_name": MODEL,
        "version": VERSION,
        "status": "approved",
        "registered_at": "2026-11-21T10:00:00.000Z",
        "decided_by": REVIEWER_ARN,
        "decision_reason": "",
    }
    # The approved version is now what GET /models lists (the registry's by-status index).
    assert inference.list_approved_models(REGISTRY_TABLE) == [
        {"model_name": MODEL, "version": VERSION, "registered_at": "2026-11-21T10:00:00.000Z"}
    ]
    assert TOKEN not in json.dumps(stdout_json())


def test_the_decision_time_is_iso_utc_with_milliseconds(states: Stubber, tables: Any) -> None:
    _register(tables, task_token=TOKEN)
    _expect_success(states)
    now = datetime(2026, 11, 21, 12, 30, 5, 123456, tzinfo=UTC)

    approval.route(_decision("approve"), approval.settings(), now)

    assert _item(tables)["decided_at"] == "2026-11-21T12:30:05.123Z"


@pytest.mark.parametrize(
    ("reason", "cause", "recorded"),
    [
        ("AUC dropped on the holdout set", "AUC dropped on the holdout set", "AUC dropped on the holdout set"),
        (None, "rejected by reviewer", ""),
        ("", "rejected by reviewer", ""),
        ("é" * 1024, "é" * 256, "é" * 1024),
    ],
)
def test_reject_fails_the_task_with_model_rejected_and_records_the_reason(
    reason: str | None, cause: str, recorded: str, states: Stubber, tables: Any, lambda_context: FakeLambdaContext
) -> None:
    _register(tables, task_token=TOKEN)
    _expect_failure(states, cause)
    extra = {} if reason is None else {"reason": reason}

    response = approval.handler(_decision("reject", **extra), lambda_context)

    assert _answer(response, 200)["status"] == "rejected"
    item = _item(tables)
    assert (item["status"], item["decided_by"], item["decision_reason"]) == ("rejected", REVIEWER_ARN, recorded)
    assert "task_token" not in item


def test_a_null_reason_is_no_reason(states: Stubber, tables: Any, lambda_context: FakeLambdaContext) -> None:
    _register(tables, task_token=TOKEN)
    _expect_failure(states, "rejected by reviewer")
    response = approval.handler(_decision("reject", reason=None), lambda_context)
    assert _answer(response, 200)["changed"] is True


@pytest.mark.parametrize(("status", "decision"), [("approved", "approve"), ("rejected", "reject")])
def test_the_same_decision_again_changes_nothing_and_calls_no_step_functions(
    status: str, decision: str, states: Stubber, tables: Any, lambda_context: FakeLambdaContext
) -> None:
    _register(tables, status=status, decided_by=OTHER_ARN, decided_at="2026-11-21T11:00:00.000Z")
    before = _item(tables)

    response = approval.handler(_decision(decision), lambda_context)  # the stubber fails on any call

    assert _answer(response, 200) == {
        "model_name": MODEL,
        "version": VERSION,
        "status": status,
        "decided_by": OTHER_ARN,
        "changed": False,
    }
    assert _item(tables) == before


@pytest.mark.parametrize(("status", "decision"), [("approved", "reject"), ("rejected", "approve")])
def test_the_opposite_decision_is_a_conflict(
    status: str, decision: str, states: Stubber, tables: Any, lambda_context: FakeLambdaContext
) -> None:
    _register(tables, status=status, decided_by=OTHER_ARN)
    before = _item(tables)

    response = approval.handler(_decision(decision), lambda_context)

    assert _answer(response, 409) == {
        "error": f"model version already {status} by {OTHER_ARN}",
        "requestId": "api-req-0001",
    }
    assert _item(tables) == before


@pytest.mark.parametrize(
    ("attributes", "status", "message"),
    [
        (None, 404, "model version not found"),
        ({}, 409, "model version is not awaiting a decision yet"),
        ({"status": "registered", "task_token": TOKEN}, 409, "model version is not pending approval"),
    ],
)
def test_a_version_that_is_not_waiting_is_refused_without_any_step_functions_call(
    attributes: dict[str, str] | None,
    status: int,
    message: str,
    states: Stubber,
    tables: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    if attributes is not None:
        _register(tables, **attributes)

    response = approval.handler(_decision("approve"), lambda_context)

    assert _answer(response, status) == {"error": message, "requestId": "api-req-0001"}


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_closed_approval_window_is_a_conflict_and_nothing_is_recorded(
    code: str, decision: str, states: Stubber, tables: Any, lambda_context: FakeLambdaContext
) -> None:
    _register(tables, task_token=TOKEN)
    before = _item(tables)
    operation = "send_task_success" if decision == "approve" else "send_task_failure"
    states.add_client_error(operation, service_error_code=code, service_message="Task Timed Out: 'AQCE...'")

    response = approval.handler(_decision(decision), lambda_context)

    assert _answer(response, 409) == {"error": "approval window closed", "requestId": "api-req-0001"}
    assert _item(tables) == before


def test_another_step_functions_error_is_a_generic_500_and_nothing_is_recorded(
    states: Stubber, tables: Any, lambda_context: FakeLambdaContext, stdout_json: Callable
) -> None:
    _register(tables, task_token=TOKEN)
    before = _item(tables)
    states.add_client_error("send_task_success", service_error_code="KmsAccessDeniedException", service_message="kms")

    response = approval.handler(_decision("approve"), lambda_context)

    assert _answer(response, 500) == {"error": "internal server error", "requestId": "api-req-0001"}
    assert "Kms" not in response["body"]
    assert _item(tables) == before
    errors = [line for line in log_lines(stdout_json()) if line["level"] == "ERROR"]
    assert errors[0]["exception_name"] == "KmsAccessDeniedException"
    assert TOKEN not in json.dumps(errors)


@pytest.mark.parametrize(
    ("theirs", "mine", "status", "body"),
    [
        ("approved", "approve", 200, {"status": "approved", "decided_by": OTHER_ARN, "changed": False}),
        ("rejected", "approve", 409, {"error": f"model version already rejected by {OTHER_ARN}"}),
    ],
)
def test_a_concurrent_decider_who_recorded_first_wins(
    theirs: str,
    mine: str,
    status: int,
    body: dict[str, Any],
    states: Stubber,
    tables: Any,
    lambda_context: FakeLambdaContext,
) -> None:
    _register(tables, task_token=TOKEN)
    _expect_success(states)

    def other_decider_records(**_: Any) -> None:  # runs right after our SendTaskSuccess, before our UpdateItem
        _register(tables, status=theirs, decided_by=OTHER_ARN, decided_at="2026-11-21T11:00:00.000Z")

    aws.client("stepfunctions").meta.events.register("after-call.sfn.SendTaskSuccess", other_decider_records)

    response = approval.handler(_decision(mine), lambda_context)

    answer = _answer(response, status)
    assert {name: answer[name] for name in body} == body
    assert (_item(tables)["status"], _item(tables)["decided_by"]) == (theirs, OTHER_ARN)


def test_a_token_replaced_during_the_decision_is_a_conflict(
    states: Stubber, tables: Any, lambda_context: FakeLambdaContext
) -> None:
    _register(tables, task_token=TOKEN)
    _expect_success(states)

    def workflow_retried(**_: Any) -> None:
        _register(tables, task_token="new-token")

    aws.client("stepfunctions").meta.events.register("after-call.sfn.SendTaskSuccess", workflow_retried)

    response = approval.handler(_decision("approve"), lambda_context)

    assert _answer(response, 409)["error"] == "model version changed during the decision; retry"
    assert _item(tables)["status"] == "pending_approval"


# --- who, where and what: refused requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_context",
    [
        {"requestId": "api-req-0001"},
        {"requestId": "api-req-0001", "identity": None},
        {"requestId": "api-req-0001", "identity": {"userArn": None}},
        {"requestId": "api-req-0001", "identity": {"userArn": ""}},
        {"requestId": "api-req-0001", "identity": {"userArn": 7}},
        {"requestId": "api-req-0001", "identity": {"userArn": "arn:\ud800"}},
        {"requestId": "api-req-0001", "identity": "arn:aws:iam::123456789012:user/x"},
    ],
)
def test_a_request_without_a_caller_identity_is_forbidden_before_anything_is_read(
    request_context: dict[str, Any], monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setattr(aws.client("dynamodb"), "get_item", lambda **_: pytest.fail("no read expected"))
    event = _decision("approve") | {"requestContext": request_context}

    response = approval.handler(event, lambda_context)

    assert _answer(response, 403) == {
        "error": "caller identity required (AWS_IAM authorization)",
        "requestId": "api-req-0001",
    }


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/approvals"), ("PUT", "/approvals"), ("POST", "/approve"), ("POST", "/predict")]
)
def test_an_unknown_route_is_404(method: str, path: str, lambda_context: FakeLambdaContext) -> None:
    event = api_event(method, path, body="{}", caller_arn=REVIEWER_ARN)
    assert _answer(approval.handler(event, lambda_context), 404)["error"] == "route not found"


@pytest.mark.parametrize("event", [[], "POST /approvals", None, 7])
def test_an_event_that_is_not_an_object_is_a_400(event: Any, lambda_context: FakeLambdaContext) -> None:
    response = approval.handler(event, lambda_context)
    assert _answer(response, 400)["error"] == "request is not an API Gateway proxy event"


_SHAPE = "request body must be a JSON object with model_name, version and decision"
_GOOD = {"model_name": MODEL, "version": VERSION, "decision": "approve"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", _SHAPE),
        (None, _SHAPE),
        ("not json", "request body is not valid JSON"),
        ('{"model_name": NaN}', "request body is not valid JSON"),
        ("[]", _SHAPE),
        ('"approve"', _SHAPE),
        ({**_GOOD, "model_name": ""}, "model_name must be a string of 1 to 255 characters"),
        ({**_GOOD, "model_name": "m" * 256}, "model_name must be a string of 1 to 255 characters"),
        ({**_GOOD, "model_name": 7}, "model_name must be a string of 1 to 255 characters"),
        ({"version": VERSION, "decision": "approve"}, "model_name must be a string of 1 to 255 characters"),
        ({**_GOOD, "version": "v" * 129}, "version must be a string of 1 to 128 characters"),
        ({**_GOOD, "version": 7}, "version must be a string of 1 to 128 characters"),
        ({**_GOOD, "decision": "approved"}, "decision must be 'approve' or 'reject'"),
        ({**_GOOD, "decision": ["approve"]}, "decision must be 'approve' or 'reject'"),
        ({**_GOOD, "decision": None}, "decision must be 'approve' or 'reject'"),
        ({**_GOOD, "reason": "r" * 1025}, "reason must be a string of 0 to 1024 characters"),
        ({**_GOOD, "reason": 7}, "reason must be a string of 0 to 1024 characters"),
        ('{"model_name": "\\ud800", "version": "7", "decision": "approve"}', "request body holds a lone surrogate"),
        ('{"model_name": "m", "version": "7", "decision": "approve", "\\udfff": 1}', "request body holds a lone"),
    ],
)
def test_a_bad_body_is_a_400_with_a_specific_message_and_nothing_is_read(
    body: Any, message: str, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.setattr(aws.client("dynamodb"), "get_item", lambda **_: pytest.fail("no read expected"))
    event = _post(body) if not isinstance(body, str | None) else _post("") | {"body": body}

    response = approval.handler(event, lambda_context)

    assert _answer(response, 400)["error"].startswith(message)


@pytest.mark.parametrize("base64_body", [False, True])
def test_the_body_limit_counts_utf8_bytes(base64_body: bool, lambda_context: FakeLambdaContext) -> None:
    body = json.dumps({**_GOOD, "reason": "é" * 40_000}, ensure_ascii=False)  # 40,0xx characters, 80,0xx bytes
    event = api_event("POST", "/approvals", body=body, caller_arn=REVIEWER_ARN, base64_body=base64_body)

    response = approval.handler(event, lambda_context)

    assert _answer(response, 413)["error"] == "request body exceeds 65536 bytes"


def test_a_base64_body_is_decoded(states: Stubber, tables: Any, lambda_context: FakeLambdaContext) -> None:
    _register(tables, task_token=TOKEN)
    _expect_success(states)
    event = api_event("POST", "/approvals", body=json.dumps(_GOOD), caller_arn=REVIEWER_ARN, base64_body=True)
    assert _answer(approval.handler(event, lambda_context), 200)["changed"] is True


def test_a_missing_table_setting_is_a_generic_500(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    monkeypatch.delenv("MODEL_REGISTRY_TABLE")
    response = approval.handler(_decision("approve"), lambda_context)
    assert _answer(response, 500) == {"error": "internal server error", "requestId": "api-req-0001"}


def test_an_event_with_an_action_key_is_the_task_and_anything_else_the_api() -> None:
    assert approval.is_task(_task())
    assert approval.is_task({"action": None})
    assert not approval.is_task(_decision("approve"))
    assert not approval.is_task([{"action": "await_decision"}])
