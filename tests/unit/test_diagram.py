"""The README's pipeline diagram and configuration reference cannot drift from the code."""

import re
from pathlib import Path

from tools import config_reference

ROOT = Path(__file__).resolve().parents[2]
# Modules that only help the others build (naming, policies, provider loading, settings, limits): not boxes.
HELPERS = {"aws_modules"}


def _diagram() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("```mermaid", 1)[1].split("```", 1)[0]


def _resource_modules() -> set[str]:
    """Construct modules that build AWS resources (they call the provider's classes or define a Construct)."""
    building = re.compile(r"\baws\.[a-z0-9_]+\.|\(Construct\):")
    return {p.stem for p in (ROOT / "constructs").glob("*.py") if building.search(p.read_text())} - HELPERS


def test_every_module_that_builds_resources_is_in_the_diagram():
    words = set(re.findall(r"[a-z_]+", _diagram()))
    missing = sorted(_resource_modules() - words)
    assert missing == [], f"README diagram lacks the construct modules {missing}"
    assert len(_resource_modules()) >= 17


def test_the_diagram_follows_the_pipeline_stages():
    diagram = _diagram()
    titles = re.findall(r'subgraph \w+\["([^"]+)"\]', diagram)
    assert titles[:6] == ["Ingest", "Data", "Training", "Serving", "API", "Stream"]


def test_the_configuration_reference_is_fresh():
    readme = (ROOT / "README.md").read_text()
    assert config_reference.render(readme) == readme, "run `python -m tools.config_reference`"


def test_the_configuration_reference_lists_every_setting():
    keys = [row[0] for row in config_reference.rows(config_reference.EnvironmentConfig, "")]
    readme = (ROOT / "README.md").read_text()
    for key in keys:
        assert f"`environments.<env>.{key}`" in readme, key
    assert "`environments.<env>.sagemaker.rollout.mode`" in readme
