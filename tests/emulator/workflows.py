"""Drive the deployed workflows on the emulator: training data, executions, the alerts an operator would read.

The emulator runs executions on moto's ASL interpreter; every Lambda task runs our real handler code from the
deployed zip with the function's deployed environment (tests/emulator/server.py, fixes 11+).
"""

import json
import random
import time
import urllib.request
from typing import Any

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def training_rows(count: int, seed: int = 7) -> bytes:
    """A small labelled training set (JSON Lines: id, 4 features, a 0/1 label), the same for every seed."""
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    rows = []
    for i in range(count):
        features = [round(rng.uniform(-3, 3), 4) for _ in range(4)]
        rows.append({"id": f"row-{i:04d}", "features": features, "label": int(sum(features) > 0)})
    return "\n".join(json.dumps(r) for r in rows).encode()


def object_created(bucket: str, key: str) -> dict[str, Any]:
    """The EventBridge event the raw-upload rule delivers to the training workflow (moto does not deliver it)."""
    return {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}},
    }


def set_training_metrics(endpoint: str, metrics: dict[str, float]) -> None:
    """What the emulator's training jobs report from now on (FinalMetricDataList)."""
    assert endpoint.startswith("http://127.0.0.1:"), endpoint  # only ever the local emulator
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        f"{endpoint}/_emulator/training-metrics",
        data=json.dumps(metrics).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local emulator
        assert response.status in (200, 201, 204)


def start(sfn, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    return sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))["executionArn"]


def wait_until_done(sfn, execution_arn: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] in TERMINAL:
            return execution
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_arn} still {execution['status']} after {timeout} s")
        time.sleep(0.5)


def wait_for_item(ddb, table: str, key: dict[str, Any], has: str, timeout: float = 120) -> dict[str, Any]:
    """The registry item once it has attribute ``has`` (e.g. the task token of a waiting execution)."""
    deadline = time.monotonic() + timeout
    while True:
        item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if item and has in item:
            return item
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} never had {has}: {item}")
        time.sleep(0.5)


def versions(ddb, table: str, model_name: str) -> list[dict[str, Any]]:
    query = ddb.query(
        TableName=table,
        KeyConditionExpression="model_name = :m",
        ExpressionAttributeValues={":m": {"S": model_name}},
        ConsistentRead=True,
    )
    return query["Items"]


def subscribe_queue(emulator, topic_arn: str, name: str) -> str:
    """An SQS queue subscribed to the alerts topic: what a person would have received (raw message delivery)."""
    sqs, sns = emulator.client("sqs"), emulator.client("sns")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


def drain(emulator, queue_url: str) -> list[str]:
    sqs, messages = emulator.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            messages.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def history_states(sfn, execution_arn: str) -> list[str]:
    """The names of the states the execution entered, in order."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
