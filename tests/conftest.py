"""Shared fixtures: the repo on sys.path, one synth of the committed config per session, synth of variants."""

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Property tests (tests/properties/): bounded example counts so `make test` stays in budget; no per-example deadline
# (a cold moto client or a jsii call can take longer than hypothesis' 200 ms default). HYPOTHESIS_PROFILE=deep runs
# ten times as many examples, for a local hunt.
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "deep", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import main  # noqa: E402

# jsii's Node.js runtime with the provider's JavaScript loaded on use (main.py): ~2 s and ~440 MiB less per process.
main.start_jsii_runtime()

import stacks  # noqa: E402,F401  (makes constructs.<module> importable)
from tests.support.synth import Synth, synth_context, with_trained_models  # noqa: E402


@pytest.fixture(scope="session")
def base_context() -> dict[str, Any]:
    """The committed cdktf.json context (a fresh copy per use: tests mutate it)."""
    return json.loads((ROOT / "cdktf.json").read_text())["context"]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory, base_context: dict[str, Any]) -> Synth:
    """Every stack of the committed configuration, synthesized once per session."""
    return synth_context(base_context, tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def synth_variant(tmp_path_factory: pytest.TempPathFactory, base_context: dict[str, Any]) -> Callable[..., Synth]:
    """Synthesize the committed config after applying ``edit(context)``."""

    def _synth(edit: Callable[[dict[str, Any]], None]) -> Synth:
        context = json.loads(json.dumps(base_context))
        edit(context)
        return synth_context(context, tmp_path_factory.mktemp("variant"))

    return _synth


@pytest.fixture(scope="session")
def phase_two(synth_variant) -> Synth:
    """Every stack in phase two (trained models, endpoints enabled)."""
    return synth_variant(lambda context: with_trained_models(context, endpoints_enabled=True))
