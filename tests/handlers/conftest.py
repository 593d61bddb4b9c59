"""Fixtures for the Lambda handler tests: import paths as in the Lambda zip, fake AWS env, moto resources."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
FUNCTIONS = ("preprocess", "inference", "stream_consumer", "evaluate", "traffic_shift", "validate", "approval")

# Each zip root holds `<fn>.py` next to `mlp_common/`; the same two entries on sys.path reproduce that layout.
for _path in (LAMBDA_SRC, *(LAMBDA_SRC / name for name in FUNCTIONS)):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from mlp_common import aws  # noqa: E402
from mlp_common.predictions import (  # noqa: E402
    PREDICTIONS_CREATED_AT_ATTRIBUTE,
    PREDICTIONS_VARIANT_INDEX,
    PREDICTIONS_VARIANT_SHARD_ATTRIBUTE,
)

from tests.handlers.fakes import (  # noqa: E402
    ARTIFACTS_BUCKET,
    FUNCTION_ENV,
    PREDICTIONS_TABLE,
    PROCESSED_BUCKET,
    RAW_BUCKET,
    REGION,
    REGISTRY_TABLE,
    STREAM_NAME,
    FakeLambdaContext,
)

MODULES = {name: importlib.import_module(name) for name in FUNCTIONS}


def reset_caches() -> None:
    aws.reset_clients()
    for module in MODULES.values():
        module.settings.cache_clear()


def fake_function_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials, a fixed region, no user AWS config, the function env vars, fresh client/settings caches.

    A generator for fixtures to delegate to (`yield from`): the handler tests use it for every test, the handler
    property tests (tests/properties/test_handler_*.py) where they ask for it.
    """
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "BASELINE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    for name, value in FUNCTION_ENV.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    yield
    reset_caches()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    yield from fake_function_env(monkeypatch, tmp_path)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Phase two: ENDPOINTS_ENABLED=true."""
    monkeypatch.setenv("ENDPOINTS_ENABLED", "true")


@pytest.fixture
def runtime(mocked_aws: None) -> Iterator[Stubber]:
    """The functions' own cached sagemaker-runtime client, stubbed; every queued answer must be consumed."""
    stubber = Stubber(aws.client("sagemaker-runtime"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def ddb(mocked_aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def tables(ddb: Any) -> Any:
    """Predictions + model registry tables with the contract's keys and GSIs (the handler side's names: the unit
    contract test checks constructs/tables.py builds the same)."""
    ddb.create_table(
        TableName=PREDICTIONS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "request_id", "AttributeType": "S"},
            {"AttributeName": PREDICTIONS_VARIANT_SHARD_ATTRIBUTE, "AttributeType": "S"},
            {"AttributeName": PREDICTIONS_CREATED_AT_ATTRIBUTE, "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": PREDICTIONS_VARIANT_INDEX,
                "KeySchema": [
                    {"AttributeName": PREDICTIONS_VARIANT_SHARD_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": PREDICTIONS_CREATED_AT_ATTRIBUTE, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.update_time_to_live(
        TableName=PREDICTIONS_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    ddb.create_table(
        TableName=REGISTRY_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "model_name", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "registered_at", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "model_name", "KeyType": "HASH"},
            {"AttributeName": "version", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": MODULES["inference"].REGISTRY_STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "registered_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    return ddb


@pytest.fixture
def prediction_items(tables: Any) -> Callable[[], dict[str, dict[str, Any]]]:
    """Every item of the predictions table, plain Python (numbers as Decimal), keyed by request_id."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()

    def read() -> dict[str, dict[str, Any]]:
        items = tables.scan(TableName=PREDICTIONS_TABLE, ConsistentRead=True)["Items"]
        plain = [{k: deserializer.deserialize(v) for k, v in item.items()} for item in items]
        return {item["request_id"]: item for item in plain}

    return read


@pytest.fixture
def s3(mocked_aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    for bucket in (RAW_BUCKET, PROCESSED_BUCKET, ARTIFACTS_BUCKET):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture
def kinesis(mocked_aws: None) -> Any:
    client = boto3.client("kinesis", region_name=REGION)
    client.create_stream(StreamName=STREAM_NAME, ShardCount=1)
    return client


@pytest.fixture
def stdout_json(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """Parse everything printed so far as JSON lines (fails the test on a line that is not JSON)."""

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]

    return read
