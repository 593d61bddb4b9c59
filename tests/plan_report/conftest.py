"""Every plan-report test runs in its own empty folder, so no ./cdktf.out or ./tools file is picked up by accident."""

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
