"""Fixtures of the handler property tests (test_handler_*.py): the handler tests' own fixtures, so both run the
functions the same way (Lambda zip import paths, fake AWS environment, moto resources).

Nothing here is autouse: a module asks for the environment with `pytestmark = pytest.mark.usefixtures("handler_env")`,
so other property tests in this directory are untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.handlers.conftest import (  # noqa: F401 (fixtures, found by name)
    ddb,
    enabled,
    fake_function_env,
    lambda_context,
    mocked_aws,
    prediction_items,
    runtime,
    s3,
    stdout_json,
    tables,
)


@pytest.fixture
def handler_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    yield from fake_function_env(monkeypatch, tmp_path)
