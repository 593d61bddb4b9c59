"""`terraform validate` of every synthesized stack with the pinned provider (offline mirror where present)."""

import json

import pytest

from tests.support.terraform import terraform, terraform_env

STACKS = ["state-backend", "ml-pipeline-dev", "ml-pipeline-staging", "ml-pipeline-prod"]


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
