"""Every function imports like the Lambda zip (`<fn>.py` + `mlp_common/`) and needs only the stdlib and boto3."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
FUNCTIONS = ("preprocess", "inference", "stream_consumer", "evaluate", "traffic_shift", "validate", "approval")
# boto3 and what it pulls in: all present in the python3.12 Lambda runtime.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
# certifi: botocore uses it when installed and falls back to its bundled CA file; __mp_main__: multiprocessing's
# alias of __main__, registered when s3transfer imports multiprocessing.
INCIDENTAL = {"certifi", "__mp_main__"}

_PROBE = """
import json, sys
before = set(sys.modules)
sys.path[:0] = [sys.argv[1], sys.argv[2]]
module = __import__(sys.argv[3])
print(json.dumps(sorted({name.split(".")[0] for name in set(sys.modules) - before})))
"""


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_imports_only_stdlib_boto3_and_mlp_common(function: str) -> None:
    folder = LAMBDA_SRC / function
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".py") == [f"{function}.py"]
    result = subprocess.run(
        [sys.executable, "-I", "-B", "-c", _PROBE, str(LAMBDA_SRC), str(folder), function],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    imported = set(json.loads(result.stdout))
    foreign = imported - set(sys.stdlib_module_names) - RUNTIME_PROVIDED - INCIDENTAL - {"mlp_common", function}
    assert foreign == set()
    assert function in imported


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_signature(function: str) -> None:
    module = sys.modules[function]
    assert list(inspect.signature(module.handler).parameters) == ["event", "context"]
