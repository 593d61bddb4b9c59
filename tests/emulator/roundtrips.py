"""Run the Lambda handlers in-process against the *deployed* resources on the emulator.

Each function's environment is read back from the emulator (GetFunctionConfiguration), so the handlers see exactly
the names Terraform deployed; their AWS clients reach the emulator through AWS_ENDPOINT_URL.
"""

import importlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from tests.conftest import ROOT
from tests.handlers.fakes import FakeLambdaContext, api_event, kinesis_record

LAMBDA_SRC = ROOT / "lambda_src"


def _module(function: str) -> ModuleType:
    for path in (LAMBDA_SRC, LAMBDA_SRC / function):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    return importlib.import_module(function)


@contextmanager
def deployed_function(emulator, function_name: str, module_name: str) -> Iterator[ModuleType]:
    """The handler module with the deployed function's environment and clients pointed at the emulator."""
    config = emulator.client("lambda").get_function_configuration(FunctionName=function_name)
    variables = config["Environment"]["Variables"]
    aws_env = {k: v for k, v in emulator.env.items() if k.startswith("AWS_")}
    saved = {k: os.environ.get(k) for k in {**variables, **aws_env}}
    os.environ.update({**variables, **aws_env})
    module = _module(module_name)
    from mlp_common import aws as clients

    clients.reset_clients()
    module.settings.cache_clear()
    try:
        yield module
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        clients.reset_clients()
        module.settings.cache_clear()


def stream_records(emulator, stream_name: str, payloads: list[bytes]) -> list[dict]:
    """Put payloads on the deployed stream and read them back as a Kinesis event source batch."""
    kinesis = emulator.client("kinesis")
    for index, payload in enumerate(payloads):
        kinesis.put_record(StreamName=stream_name, Data=payload, PartitionKey=f"pk-{index}")
    records = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in kinesis.get_records(ShardIterator=iterator, Limit=100)["Records"]:
            records.append(kinesis_record(record["SequenceNumber"], record["Data"], shard=shard["ShardId"]))
    return records


def invoke(module: ModuleType, event: dict) -> dict:
    return module.handler(event, FakeLambdaContext())


def api(method: str, path: str, **kwargs) -> dict:
    return api_event(method, path, **kwargs)


def body(response: dict) -> dict:
    return json.loads(response["body"])
