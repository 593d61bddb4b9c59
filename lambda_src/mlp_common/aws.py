"""AWS SDK clients: one per service per container, created on first use.

Creating them lazily (not at import) lets tests activate moto first and reset the cache between tests; in Lambda the
first invocation pays the creation once and later invocations reuse the client and its connection pool.

The clients come from botocore (the engine boto3 wraps, shipped with it in the Lambda runtime): `import boto3` also
loads s3transfer and the resource layer, which these functions never use — about a third of the cold-import time.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.config import Config

# API Gateway gives up after 29 s; a model call must fail well before that so the client gets our 502, not a 504.
_CONFIGS = {
    "sagemaker-runtime": Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}),
}
_DEFAULT = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 5, "mode": "standard"})


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def client(service: str) -> Any:
    """The container's client for `service` (region and credentials from the Lambda environment)."""
    return _session().create_client(service, config=_CONFIGS.get(service, _DEFAULT))


def reset_clients() -> None:
    """Forget every cached client (tests: after switching the moto mock or the environment).

    The session survives, as boto3's default session would: it only caches the service model files.
    """
    client.cache_clear()


def error_code(err: BaseException) -> str:
    """The AWS error code of a botocore ClientError, "" for anything else."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
