"""Fixtures of the emulator rungs: one emulator (tests/emulator/emulator.py) and one story per session."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.emulator import ACCOUNT_ID, REGION, Emulator, running_emulator
from tests.emulator.story import Story

__all__ = ["ACCOUNT_ID", "REGION", "Emulator"]


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the emulator round synthesizes: state files land here, never in the user's checkout."""
    return tmp_path_factory.mktemp("round")


@pytest.fixture(scope="session")
def story(emulator: Emulator, workdir: Path, base_context: dict[str, Any]) -> Story:
    """The product's story (tests/emulator/story.py), told once per session: the round runs its steps as tests."""
    return Story(emulator, workdir, base_context, say=lambda _text: None)
