"""`terraform validate` of every synthesized stack with the pinned provider (offline mirror where present)."""

import json

import pytest

from tests.conftest import ROOT
from tests.support.synth import COMMITTED_STACKS, Synth, synth_context
from tests.support.terraform import terraform, terraform_env

STACKS = list(COMMITTED_STACKS)


@pytest.mark.terraform
@pytest.mark.parametrize("phase", ["phase-one", "phase-two"])
@pytest.mark.parametrize("name", STACKS)
def test_stack_validates(request, tmp_path, name, phase):
    synth = request.getfixturevalue("synthesized" if phase == "phase-one" else "phase_two")
    stack_dir = synth.stack_dir(name)
    env = terraform_env(tmp_path)
    terraform(["init", "-backend=false", "-input=false"], stack_dir, env)
    result = terraform(["validate", "-json"], stack_dir, env, check=False)
    report = json.loads(result.stdout)
    assert report["valid"] is True, json.dumps(report["diagnostics"], indent=1)
    assert report["error_count"] == 0
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=1)
    lock = (stack_dir / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    assert 'version     = "5.100.0"' in lock


FIVE_ENVIRONMENTS = ROOT / "tests" / "fixtures" / "five_environments.json"


@pytest.fixture(scope="module")
def five_environments(tmp_path_factory) -> Synth:
    """The five-environment example: two accounts, two regions, four state bootstraps."""
    context = json.loads(FIVE_ENVIRONMENTS.read_text())["context"]
    return synth_context(context, tmp_path_factory.mktemp("five") / "cdktf.out", environ={})


@pytest.mark.terraform
def test_every_stack_of_the_five_environment_config_validates(tmp_path, five_environments):
    assert len(five_environments.stacks) == 9
    env = terraform_env(tmp_path)
    for name in sorted(five_environments.stacks):
        stack_dir = five_environments.stack_dir(name)
        terraform(["init", "-backend=false", "-input=false"], stack_dir, env)
        report = json.loads(terraform(["validate", "-json"], stack_dir, env, check=False).stdout)
        assert (report["valid"], report["error_count"], report["warning_count"]) == (True, 0, 0), (
            name,
            json.dumps(report["diagnostics"], indent=1),
        )
