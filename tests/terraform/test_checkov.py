"""checkov over every synthesized stack: 0 failed checks, every skip named, reasoned and still needed."""

import fnmatch
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.support.synth import synth_context

SKIPS_FILE = Path(__file__).with_name("checkov_skips.yaml")


def _checkov() -> Path:
    binary = Path(os.environ.get("CHECKOV_BIN", ROOT / ".venv-checkov" / "bin" / "checkov"))
    if not binary.exists():
        pytest.fail(f"checkov not found at {binary}: run `make install` (it lives in its own virtualenv)")
    return binary


def _skips() -> list[dict]:
    skips = yaml.safe_load(SKIPS_FILE.read_text())
    for skip in skips:
        assert set(skip) <= {"check", "resources", "stacks", "reason"}, skip
        assert skip["resources"], f"{skip['check']}: a skip must name the resources it applies to"
        assert len(skip.get("reason", "")) >= 40, f"{skip['check']}: a skip needs a written reason"
    return skips


def run_checkov(stacks_dir: Path) -> list[dict]:
    """Failed checks as dicts with stack, check and resource."""
    command = [str(_checkov()), "-d", str(stacks_dir), "--framework", "terraform_json", "--skip-download"]
    result = subprocess.run(
        [*command, "--quiet", "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-3000:]}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert [r["check_type"] for r in reports] == ["terraform_json"]
    summary = reports[0]["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0
    return [
        {"stack": f["file_path"].strip("/").split("/")[0], "check": f["check_id"], "resource": f["resource"]}
        for f in reports[0]["results"]["failed_checks"]
    ]


def _matches(skip: dict, finding: dict) -> bool:
    return (
        skip["check"] == finding["check"]
        and finding["stack"] in skip.get("stacks", [finding["stack"]])
        and any(fnmatch.fnmatchcase(finding["resource"], pattern) for pattern in skip["resources"])
    )


@pytest.fixture(scope="module")
def phase_one_findings(synthesized) -> list[dict]:
    return run_checkov(synthesized.outdir / "stacks")


@pytest.fixture(scope="module")
def phase_two_findings(phase_two) -> list[dict]:
    return run_checkov(phase_two.outdir / "stacks")


@pytest.mark.checkov
@pytest.mark.parametrize("phase", ["phase_one_findings", "phase_two_findings"])
def test_no_failed_check_outside_the_skip_list(request, phase):
    findings = request.getfixturevalue(phase)
    unexplained = [f for f in findings if not any(_matches(s, f) for s in _skips())]
    assert unexplained == [], "checkov failures (fix them, or skip with a reason):\n" + "\n".join(map(str, unexplained))


@pytest.fixture(scope="module")
def five_environment_findings(tmp_path_factory) -> list[dict]:
    """The five-environment example (two accounts, two regions: tests/fixtures/five_environments.json)."""
    context = json.loads((ROOT / "tests" / "fixtures" / "five_environments.json").read_text())["context"]
    outdir = tmp_path_factory.mktemp("five") / "cdktf.out"
    synth_context(context, outdir, environ={})
    return run_checkov(outdir / "stacks")


@pytest.mark.checkov
def test_the_five_environment_config_has_no_failed_check_outside_the_skip_list(five_environment_findings):
    findings = five_environment_findings
    unexplained = [f for f in findings if not any(_matches(s, f) for s in _skips())]
    assert unexplained == [], "checkov failures (fix them, or skip with a reason):\n" + "\n".join(map(str, unexplained))


@pytest.mark.checkov
def test_every_skip_pattern_still_matches_a_finding(phase_one_findings):
    """Judged on phase one, where every skipped resource exists (phase two only adds the endpoint set)."""
    findings = phase_one_findings
    for skip in _skips():
        for pattern in skip["resources"]:
            hits = [f for f in findings if _matches({**skip, "resources": [pattern]}, f)]
            assert hits, f"stale skip {skip['check']} {pattern}: nothing fails any more, remove it"
