"""The GitHub workflows (ARCHITECTURE §9): PR plan review (plan.yml), deploy on merge (deploy.yml), the project's
checks (checks.yml), their local actions (.github/actions/) and helper (.github/scripts/plan_review.py).

- Lint: zizmor (offline audits; .github/zizmor.yml disables one rule, with its reason) and check-jsonschema with its
  vendored GitHub workflow, action and Dependabot schemas, both pinned in the Pipfile; bad workflows prove each
  catches what we rely on it for.
- Structure: the rules zizmor does not know are ours (pins with their release, no long-lived keys, write grants only
  where named, deploy order and gates, one concurrency group per environment, no expression inside a script).
- Behaviour: the report step's shell script with a stand-in `make`, the helper's fingerprint/redact/record/verify,
  and (marker `terraform`) the plan step and the deploy's re-plan → verify → apply steps run for real against a
  local-state configuration: an unchanged re-plan matches the reviewed fingerprint, a state changed since the review
  is refused.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.support.terraform import terraform, terraform_env

GITHUB = ROOT / ".github"
WORKFLOWS = {path.name: path for path in sorted((GITHUB / "workflows").glob("*.yml"))}
ACTIONS = {path.parent.name: path for path in sorted((GITHUB / "actions").glob("*/action.yml"))}
BIN = Path(sys.executable).parent  # the virtualenv the tests run in: zizmor and check-jsonschema come with it
REPORT_MARKER = "<!-- ml-pipeline-plan-report -->"
SHA = re.compile(r"[0-9a-f]{40}")

spec = importlib.util.spec_from_file_location("plan_review", GITHUB / "scripts" / "plan_review.py")
assert spec and spec.loader
plan_review = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plan_review)


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if True in document:  # YAML 1.1 reads the key `on` as true
        document["on"] = document.pop(True)
    return document


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS[name])


def action(name: str) -> dict[str, Any]:
    return load(ACTIONS[name])


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, job_id, job) for name in WORKFLOWS for job_id, job in workflow(name)["jobs"].items()]


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    """(where, step) of every step of every workflow job and local action."""
    found = [(f"{name}:{job_id}", step) for name, job_id, job in jobs() for step in job.get("steps", [])]
    found += [(f"action {name}", step) for name in ACTIONS for step in action(name)["runs"]["steps"]]
    return found


def step(steps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [s for s in steps if s.get("name") == name]
    return found


def run(command: list[str], cwd: Path = ROOT, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=120, **kwargs)


def test_the_three_workflows_and_two_local_actions_exist():
    assert sorted(WORKFLOWS) == ["checks.yml", "deploy.yml", "plan.yml"]
    assert sorted(ACTIONS) == ["deploy-environment", "toolchain"]


# --- zizmor -----------------------------------------------------------------------------------------------------------


def zizmor(*inputs: str | Path) -> list[dict[str, Any]]:
    result = run([str(BIN / "zizmor"), "--offline", "--format", "json", "--quiet", *map(str, inputs)])
    assert result.returncode in (0, 11, 12, 13, 14), result.stderr  # 1x: findings of the highest severity x
    return json.loads(result.stdout)


def test_zizmor_finds_nothing_in_the_repository():
    """Every workflow, local action, the Dependabot config and the pre-commit config; .github/zizmor.yml applies."""
    result = run([str(BIN / "zizmor"), "--offline", "."])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_config_disables_only_self_repository():
    config = yaml.safe_load((GITHUB / "zizmor.yml").read_text())
    assert config == {"rules": {"self-repository": {"disable": True}}}


BAD_WORKFLOW = """\
name: bad
on:
  pull_request_target:
jobs:
  greet:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def test_zizmor_catches_what_we_rely_on_it_for(tmp_path):
    (tmp_path / "bad.yml").write_text(BAD_WORKFLOW)
    audits = {finding["ident"] for finding in zizmor(tmp_path / "bad.yml")}
    assert {
        "template-injection",
        "unpinned-uses",
        "artipacked",
        "dangerous-triggers",
        "excessive-permissions",
    } <= audits


# --- check-jsonschema ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", list(WORKFLOWS.values())),
        ("vendor.github-actions", list(ACTIONS.values())),
        ("vendor.dependabot", [GITHUB / "dependabot.yml"]),
    ],
    ids=["workflows", "actions", "dependabot"],
)
def test_files_match_the_vendored_schema(schema, files):
    result = run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_schema_refuses_a_malformed_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    timeout-minutes: soon\n    steps: []\n")
    result = run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad)])
    assert result.returncode == 1
    assert "timeout-minutes" in result.stdout


# --- structure -------------------------------------------------------------------------------------------------------


def test_no_workflow_runs_on_a_privileged_trigger():
    """`pull_request_target` and `workflow_run` run with the base repository's secrets and a writable token."""
    for name in WORKFLOWS:
        assert not {"pull_request_target", "workflow_run"} & set(workflow(name)["on"]), name


USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(\S+))?\s*$")


def uses_lines() -> list[tuple[str, str, str | None]]:
    """(file, reference, comment) of every `uses:` line of the workflows and local actions."""
    found = []
    for path in [*WORKFLOWS.values(), *ACTIONS.values()]:
        for line in path.read_text().splitlines():
            if match := USES_LINE.match(line):
                found.append((path.relative_to(ROOT).as_posix(), match[1], match[2]))
    return found


def test_every_action_is_local_or_pinned_by_commit_with_its_release():
    lines = uses_lines()
    assert sorted(reference for _, reference, _ in lines) == sorted(
        step["uses"] for _, step in all_steps() if "uses" in step
    )
    for path, reference, comment in lines:
        if reference.startswith("./"):
            assert (ROOT / reference / "action.yml").is_file(), f"{path}: {reference} has no action.yml"
            continue
        ref = reference.partition("@")[2]
        assert SHA.fullmatch(ref), f"{path}: {reference} is not pinned by a full commit SHA"
        assert comment and re.fullmatch(r"v\d+\.\d+\.\d+", comment), f"{path}: {reference} has no `# vX.Y.Z`"


def test_each_action_has_one_pin_everywhere():
    pins: dict[str, set[str]] = {}
    for _, reference, comment in uses_lines():
        if not reference.startswith("./"):
            name, _, ref = reference.partition("@")
            pins.setdefault(name, set()).add(f"{ref} {comment}")
    assert {name: refs for name, refs in pins.items() if len(refs) > 1} == {}


def test_top_level_permissions_grant_nothing():
    for name in WORKFLOWS:
        assert workflow(name)["permissions"] == {}, name


def test_every_job_states_its_permissions_and_a_timeout():
    for name, job_id, job in jobs():
        assert isinstance(job.get("permissions"), dict), f"{name}:{job_id} inherits the default token permissions"
        assert 0 < job["timeout-minutes"] <= 120, f"{name}:{job_id}"


# Every write grant of every job: anything else is read or none.
WRITE_GRANTS = {
    ("plan.yml", "plan", "id-token"),
    ("plan.yml", "comment", "pull-requests"),
    ("deploy.yml", "dev", "id-token"),
    ("deploy.yml", "staging", "id-token"),
    ("deploy.yml", "prod", "id-token"),
}


def test_write_grants_are_exactly_the_named_ones():
    grants = {
        (name, job_id, scope)
        for name, job_id, job in jobs()
        for scope, level in job["permissions"].items()
        if level == "write"
    }
    assert grants == WRITE_GRANTS
    for name, job_id, job in jobs():
        assert set(job["permissions"].values()) <= {"read", "write", "none"}, f"{name}:{job_id}"


def test_only_the_comment_job_can_write_to_pull_requests():
    assert {(n, j) for n, j, s in WRITE_GRANTS if s == "pull-requests"} == {("plan.yml", "comment")}
    comment = workflow("plan.yml")["jobs"]["comment"]
    assert not any(s.get("uses", "").startswith("actions/checkout") for s in comment["steps"]), (
        "the job that can write to the pull request must not check out (and so never run) the pull request's code"
    )


def test_aws_roles_are_assumed_only_through_oidc():
    text = "\n".join(path.read_text() for path in GITHUB.rglob("*") if path.suffix in (".yml", ".py"))
    assert "secrets." not in text
    for input_name in ("aws-access-key-id", "aws-secret-access-key", "aws-session-token"):
        assert input_name not in text
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for where, s in all_steps():
        if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
            assert set(s["with"]) == {"role-to-assume", "role-session-name", "aws-region"}, where


def test_id_token_only_where_a_role_is_assumed():
    for name, job_id, job in jobs():
        assumes = any(
            s.get("uses", "").startswith(("aws-actions/configure-aws-credentials@", "./.github/actions/deploy-"))
            for s in job.get("steps", [])
        )
        assert (job["permissions"].get("id-token") == "write") == assumes, f"{name}:{job_id}"


def test_every_checkout_keeps_no_credentials():
    checkouts = [(where, s) for where, s in all_steps() if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) >= 6
    for where, s in checkouts:
        assert s.get("with", {}).get("persist-credentials") is False, where


def test_no_expression_inside_a_script():
    """zizmor's template-injection audit judges which expressions are dangerous; ours is simpler: none at all in a
    script. Values reach scripts through `env:`."""
    for where, s in all_steps():
        if "run" in s:
            assert "${{" not in s["run"], f"{where}: {s.get('name', s['run'][:40])}"


def test_environments_of_the_config_are_deployed_in_order_behind_their_gates():
    environments = list(json.loads((ROOT / "cdktf.json").read_text())["context"]["environments"])
    deploy = workflow("deploy.yml")["jobs"]
    order = [job_id for job_id, job in deploy.items() if "needs" not in job]
    while successors := [job_id for job_id, job in deploy.items() if job.get("needs") == order[-1]]:
        (successor,) = successors
        order.append(successor)
    assert order == ["dev", "staging", "prod"] == environments
    for environment in order:
        job = deploy[environment]
        assert job["environment"] == environment
        assert job["concurrency"] == {"group": f"deploy-{environment}", "cancel-in-progress": False}
        (deploy_step,) = [s for s in job["steps"] if s.get("uses") == "./.github/actions/deploy-environment"]
        suffix = environment.upper().replace("-", "_")
        assert deploy_step["with"] == {
            "environment": environment,
            "role-arn": f"${{{{ vars.DEPLOY_ROLE_ARN_{suffix} }}}}",
            "role-variable": f"DEPLOY_ROLE_ARN_{suffix}",
        }
        steps = [s.get("uses", s.get("run")) for s in job["steps"]]
        assert steps.index("make synth") < steps.index("./.github/actions/deploy-environment")
    assert deploy["prod"]["environment"] == "prod"


def test_deploy_runs_on_pushes_to_main_that_change_a_stack_input():
    assert workflow("deploy.yml")["on"] == {"push": {"branches": ["main"], "paths": list(plan_review.STACK_INPUTS)}}


def test_plan_runs_on_pull_requests_read_only_and_comments_once():
    plan = workflow("plan.yml")
    assert plan["on"] == {"pull_request": {"branches": ["main"]}}
    plan_job = plan["jobs"]["plan"]
    script = step(plan_job["steps"], "Plan")["run"]
    assert "terraform plan -input=false -lock=false -out=plan.tfplan" in script
    assert plan_job["env"]["ROLE_ARN"] == "${{ vars[format('PLAN_ROLE_ARN_{0}', matrix.role_suffix)] }}"
    steps = [s.get("name", s.get("uses")) for s in plan_job["steps"]]
    assert steps.index("Synthesize") < steps.index("AWS credentials (read-only plan role)"), (
        "synthesis runs the pull request's code: no AWS credential may exist yet"
    )
    report = step(plan["jobs"]["report"]["steps"], "Report")["run"]
    assert 'make plan-report PLANS="${plans[*]}"' in report
    assert (
        'PLAN_REPORT_ARGS="--markdown review/report.md --summary review/summary.json --full review/full.md"' in report
    )
    comment_script = plan["jobs"]["comment"]["steps"][-1]["with"]["script"]
    assert f"const marker = '{REPORT_MARKER}';" in comment_script
    assert "updateComment" in comment_script and "createComment" in comment_script


def test_deploy_applies_exactly_the_compared_plan():
    steps = action("deploy-environment")["runs"]["steps"]
    replan = step(steps, "Re-plan")["run"]
    assert "-lock=false" not in replan
    assert "terraform plan -input=false -detailed-exitcode -out=plan.tfplan" in replan
    assert "terraform apply -input=false plan.tfplan" in step(steps, "Apply the compared plan")["run"]
    names = [s.get("name") for s in steps]
    assert names.index("Refuse unless the re-plan is the reviewed plan") < names.index("Apply the compared plan")
    assert (
        f"const marker = '{REPORT_MARKER}';"
        in step(steps, "Reviewed plan of the merged pull request")["with"]["script"]
    )


def test_github_scripts_parse(tmp_path):
    """github-script runs its `script` as the body of an async function: each must at least parse."""
    scripts = [(where, s["with"]["script"]) for where, s in all_steps() if "github-script@" in s.get("uses", "")]
    assert len(scripts) == 2
    for i, (where, script) in enumerate(scripts):
        source = tmp_path / f"script{i}.js"
        source.write_text(f"(async function (github, context, core, glob, io, exec, require) {{\n{script}\n}});\n")
        result = run(["node", "--check", str(source)])
        assert result.returncode == 0, f"{where}: {result.stderr}"


def test_toolchain_versions():
    steps = {s["name"]: s["with"] for s in action("toolchain")["runs"]["steps"]}
    assert steps["Python 3.11"]["python-version"] == "3.11"
    assert steps["Node 20"]["node-version"] == "20"
    assert re.fullmatch(r"1\.11\.\d+", steps["Terraform 1.11"]["terraform_version"])
    assert steps["Terraform 1.11"]["terraform_wrapper"] is False


def test_checks_run_the_ci_entry_point():
    (job,) = workflow("checks.yml")["jobs"].values()
    assert job["steps"][-1]["run"] == "bash .ci/run"
    assert set(workflow("checks.yml")["on"]) == {"pull_request", "push"}


# --- plan_review.py --------------------------------------------------------------------------------------------------

CONFIG = {"context": {"environments": {"dev": {"region": "us-east-1"}, "prod-eu": {"region": "eu-west-1"}}}}


@pytest.mark.parametrize(
    ("changed", "planned"),
    [
        (["README.md", "tests/unit/test_layout.py", "tools/plan_report.py"], []),
        (["constructsx/readme.md", ".github/workflows/checks.yml", "Pipfile"], []),
        (["README.md", "stacks/app.py"], ["dev", "prod-eu"]),
        (["lambda_src/inference/inference.py"], ["dev", "prod-eu"]),
        (["package-lock.json"], ["dev", "prod-eu"]),
        ([".github/workflows/deploy.yml"], ["dev", "prod-eu"]),
        ([], []),
    ],
)
def test_affected_environments(changed, planned):
    matrix = plan_review.affected(CONFIG, changed)
    assert [entry["name"] for entry in matrix] == planned


def test_the_plan_matrix_names_each_role_variable():
    assert plan_review.affected(CONFIG, ["cdktf.json"]) == [
        {"name": "dev", "region": "us-east-1", "role_suffix": "DEV"},
        {"name": "prod-eu", "region": "eu-west-1", "role_suffix": "PROD_EU"},
    ]


def resource_change(address: str, actions: list[str], before: Any = None, after: Any = None, **change: Any):
    return {"address": address, "change": {"actions": actions, "before": before, "after": after, **change}}


PLAN = {
    "format_version": "1.2",
    "terraform_version": "1.11.4",
    "timestamp": "2026-01-01T00:00:00Z",
    "resource_changes": [
        resource_change("aws_s3_bucket.raw", ["update"], {"tags": {"a": "1"}}, {"tags": {"a": "2"}}),
        resource_change("aws_kms_key.data", ["no-op"], {"id": "k"}, {"id": "k"}),
        resource_change("aws_iam_role.fn", ["delete", "create"], {"name": "x"}, {"name": "y"}),
    ],
    "output_changes": {"api_url": {"actions": ["no-op"], "before": "u", "after": "u"}},
    "prior_state": {"serial": 7, "values": {"root_module": {}}},
}


def variant(edit) -> dict[str, Any]:
    plan = json.loads(json.dumps(PLAN))
    edit(plan)
    return plan


def test_the_fingerprint_ignores_what_two_plans_of_the_same_change_differ_in():
    same = [
        variant(lambda p: p.update(timestamp="2026-02-02T00:00:00Z", terraform_version="1.11.5")),
        variant(lambda p: p["prior_state"].update(serial=8)),
        variant(lambda p: p["resource_changes"].reverse()),
        variant(lambda p: p["resource_changes"][1]["change"].update(before={"id": "drifted"})),  # a no-op
        variant(lambda p: p.update(resource_drift=[resource_change("aws_kms_key.data", ["update"])])),
    ]
    assert {plan_review.fingerprint(plan) for plan in same} == {plan_review.fingerprint(PLAN)}
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", plan_review.fingerprint(PLAN))


def test_the_fingerprint_changes_with_anything_an_apply_would_do():
    different = [
        variant(lambda p: p["resource_changes"][0]["change"].update(after={"tags": {"a": "3"}})),
        variant(lambda p: p["resource_changes"][0]["change"].update(before={"tags": {"a": "0"}})),
        variant(lambda p: p["resource_changes"][2]["change"].update(actions=["create", "delete"])),
        variant(lambda p: p["resource_changes"][1]["change"].update(actions=["delete"])),
        variant(lambda p: p["resource_changes"].pop(0)),
        variant(lambda p: p["output_changes"]["api_url"].update(actions=["update"], after="v")),
        variant(lambda p: p["resource_changes"][0]["change"].update(after_unknown={"arn": True})),
    ]
    prints = [plan_review.fingerprint(plan) for plan in different]
    assert len(set(prints)) == len(prints)
    assert plan_review.fingerprint(PLAN) not in prints


SENSITIVE_PLAN = {
    "variables": {"token": {"value": "var-secret"}, "name": {"value": "visible"}},
    "configuration": {"root_module": {"variables": {"token": {"sensitive": True}, "name": {}}}},
    "resource_changes": [
        resource_change(
            "aws_api_gateway_api_key.client",
            ["update"],
            before={"value": "key-before", "name": "client", "tags": {"t": "x"}},
            after={"value": "key-after", "name": "client2", "tags": {"t": "x"}},
            before_sensitive={"value": True, "tags": {}},
            after_sensitive={"value": True},
        ),
        resource_change(
            "aws_lambda_function.fn",
            ["update"],
            before={"environment": [{"variables": {"SECRET": "env-secret", "PLAIN": "p"}}]},
            after={"environment": [{"variables": {"SECRET": "env-secret2", "PLAIN": "p"}}]},
            before_sensitive={"environment": [{"variables": {"SECRET": True}}]},
            after_sensitive={"environment": [{"variables": {"SECRET": True}}]},
        ),
    ],
    "resource_drift": [
        resource_change(
            "aws_api_gateway_api_key.client",
            ["update"],
            {"value": "drift-secret"},
            {"value": "k"},
            before_sensitive={"value": True},
            after_sensitive={"value": True},
        ),
    ],
    "output_changes": {
        "key": {
            "actions": ["update"],
            "before": "out-before",
            "after": "out-after",
            "before_sensitive": True,
            "after_sensitive": True,
        },
        "url": {
            "actions": ["update"],
            "before": "u1",
            "after": "u2",
            "before_sensitive": False,
            "after_sensitive": False,
        },
    },
    "planned_values": {
        "outputs": {"key": {"sensitive": True, "value": "out-after"}, "url": {"sensitive": False, "value": "u2"}},
        "root_module": {
            "resources": [
                {
                    "address": "aws_api_gateway_api_key.client",
                    "values": {"value": "planned-secret"},
                    "sensitive_values": {"value": True},
                }
            ],
            "child_modules": [
                {
                    "resources": [
                        {
                            "address": "module.m.x",
                            "values": {"password": "child-secret"},
                            "sensitive_values": {"password": True},
                        }
                    ]
                }
            ],
        },
    },
    "prior_state": {
        "values": {
            "outputs": {"key": {"sensitive": True, "value": "prior-out"}},
            "root_module": {
                "resources": [
                    {
                        "address": "aws_api_gateway_api_key.client",
                        "values": {"value": "prior-secret", "id": "i"},
                        "sensitive_values": {"value": True},
                    }
                ]
            },
        }
    },
}
SECRETS = ["var-secret", "key-before", "key-after", "env-secret", "drift-secret", "out-before", "out-after",
           "planned-secret", "child-secret", "prior-out", "prior-secret"]  # fmt: skip


def test_redact_masks_every_sensitive_value_and_nothing_else():
    original = json.dumps(SENSITIVE_PLAN)
    redacted = plan_review.redact(SENSITIVE_PLAN)
    text = json.dumps(redacted)
    assert [secret for secret in SECRETS if secret in text] == []
    assert json.dumps(SENSITIVE_PLAN) == original, "redact must not change its input"
    for visible in ("visible", "client2", '"PLAIN": "p"', '"u2"', '"id": "i"', '"t": "x"'):
        assert visible in text
    assert redacted["resource_changes"][1]["change"]["after"]["environment"][0]["variables"] == {
        "SECRET": plan_review.MASK,
        "PLAIN": "p",
    }


def test_a_recorded_review_verifies_only_its_own_plan(tmp_path):
    good = "sha256:" + "a" * 64
    other = "sha256:" + "b" * 64
    marker = plan_review.record("c0ffee", False, {"dev": good, "prod-eu": other})
    comment = f"{REPORT_MARKER}\n{marker}\n## Plan report\n"
    assert plan_review.verify(comment, "dev", "c0ffee", good) == []
    assert plan_review.verify(comment, "prod-eu", "c0ffee", other) == []
    assert "differs from the reviewed plan" in plan_review.verify(comment, "dev", "c0ffee", other)[0]
    assert "did not cover staging" in plan_review.verify(comment, "staging", "c0ffee", good)[0]
    assert "did not finish for the last push" in plan_review.verify(comment, "dev", "beef", good)[0]
    blocking = f"{REPORT_MARKER}\n{plan_review.record('c0ffee', True, {'dev': good})}\n"
    assert "blocking findings" in plan_review.verify(blocking, "dev", "c0ffee", good)[0]
    assert "2 fingerprint markers" in plan_review.verify(comment + marker, "dev", "c0ffee", good)[0]
    assert "0 fingerprint markers" in plan_review.verify(REPORT_MARKER, "dev", "c0ffee", good)[0]
    with pytest.raises(ValueError, match="is not a fingerprint"):
        plan_review.record("c0ffee", False, {"dev": "sha256:short"})

    (tmp_path / "comment.md").write_text(comment)
    args = ["verify", "--environment", "dev", "--head-sha", "c0ffee", str(tmp_path / "comment.md")]
    assert plan_review.main([*args[:5], "--fingerprint", good, args[5]]) == 0
    assert plan_review.main([*args[:5], "--fingerprint", other, args[5]]) == 1


# --- the report step's script, with a stand-in for `make plan-report` ------------------------------------------------

STUB_MAKE = """#!/usr/bin/env bash
# Stands in for `make plan-report`: writes the reports named in PLAN_REPORT_ARGS as asked, exits $STUB_EXIT.
for arg in "$@"; do
  case "$arg" in
    PLANS=*) echo "${arg#PLANS=}" > "$STUB_LOG" ;;
    PLAN_REPORT_ARGS=*) set -- ${arg#PLAN_REPORT_ARGS=}; shift 1
      if [[ "$STUB_WRITES" == yes ]]; then echo "## Plan report" > "$1"; echo "{}" > "$3"; echo "full" > "$5"; fi ;;
  esac
done
exit "$STUB_EXIT"
"""


@pytest.fixture
def report_step(tmp_path):
    """Runs plan.yml's Report step in a scratch workspace; returns (exit code, outputs, review folder)."""
    script = step(workflow("plan.yml")["jobs"]["report"]["steps"], "Report")["run"]
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "make").write_text(STUB_MAKE)
    (tmp_path / "bin" / "make").chmod(0o755)
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "scripts").symlink_to(GITHUB / "scripts")

    def _run(plan_result: str, fingerprints: dict[str, str], writes: bool, exit_code: int):
        review = tmp_path / "review"
        review.mkdir(exist_ok=True)
        for environment, value in fingerprints.items():
            (review / f"plan-ml-pipeline-{environment}.json").write_text("{}")
            (review / f"plan-ml-pipeline-{environment}.fingerprint").write_text(value + "\n")
        outputs, summary = tmp_path / "outputs", tmp_path / "summary"
        env = {
            "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
            "PLAN_RESULT": plan_result,
            "HEAD_SHA": "c0ffee",
            "RUN_URL": "https://example.invalid/run/1",
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
            "STUB_EXIT": str(exit_code),
            "STUB_WRITES": "yes" if writes else "no",
            "STUB_LOG": str(tmp_path / "make.log"),
        }
        result = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        out = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
        return int(out["status"]), review, summary.read_text()

    return _run


FP_DEV, FP_PROD = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_report_step_records_the_reviewed_fingerprints(report_step, tmp_path):
    status, review, summary = report_step("success", {"dev": FP_DEV, "prod-eu": FP_PROD}, writes=True, exit_code=0)
    assert status == 0
    comment = (review / "comment.md").read_text()
    assert comment.startswith(REPORT_MARKER + "\n<!-- ml-pipeline-plan-fingerprint ")
    assert comment.endswith("## Plan report\n")
    assert plan_review.verify(comment, "dev", "c0ffee", FP_DEV) == []
    assert plan_review.verify(comment, "prod-eu", "c0ffee", FP_PROD) == []
    assert summary == "full\n"
    assert sorted((tmp_path / "make.log").read_text().split()) == [
        "review/plan-ml-pipeline-dev.json",
        "review/plan-ml-pipeline-prod-eu.json",
    ]


def test_report_step_marks_blocking_findings(report_step):
    status, review, _ = report_step("success", {"dev": FP_DEV}, writes=True, exit_code=2)  # make's code for "failed"
    assert status == 1
    comment = (review / "comment.md").read_text()
    assert "## Plan report" in comment
    assert "blocking findings" in plan_review.verify(comment, "dev", "c0ffee", FP_DEV)[0]


def test_report_step_without_a_report_records_nothing_as_reviewed(report_step):
    status, review, _ = report_step("success", {"dev": FP_DEV}, writes=False, exit_code=2)
    assert status == 2
    assert "The plan report failed" in (review / "comment.md").read_text()


def test_report_step_after_a_failed_plan(report_step):
    status, review, summary = report_step("failure", {}, writes=False, exit_code=0)
    assert status == 2
    comment = (review / "comment.md").read_text()
    assert "planning ended with `failure`" in comment
    assert "did not cover dev" in " ".join(plan_review.verify(comment, "dev", "c0ffee", FP_DEV))
    assert "planning ended" in summary


def test_report_step_when_no_environment_is_affected(report_step, tmp_path):
    status, review, _ = report_step("skipped", {}, writes=True, exit_code=0)
    assert status == 0
    assert "No environment is affected" in (review / "comment.md").read_text()
    assert not (tmp_path / "make.log").exists(), "the report tool is not run without plans"


# --- the plan and deploy steps against a real Terraform configuration (local state) ----------------------------------


def stack_config(state: Path, value: str) -> dict[str, Any]:
    """One resource whose input is ``value``, plus a sensitive variable (its value comes from the environment, so only
    the plan's values hold it) that reaches a resource attribute and an output. Not a resource's `input`: Terraform
    does not mark terraform_data's `output` (the input's copy) sensitive, and redact follows Terraform's marks."""
    return {
        "terraform": {"backend": {"local": {"path": str(state)}}},
        "variable": {"token": {"type": "string", "sensitive": True}},
        "resource": {
            "terraform_data": {"marker": {"input": value}, "credential": {"triggers_replace": "${var.token}"}}
        },
        "output": {"secret": {"value": "${var.token}-${terraform_data.marker.output}", "sensitive": True}},
    }


class Workspace:
    """A scratch GITHUB_WORKSPACE with the helper script and one stack, ml-pipeline-dev, on local state."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stack = root / "cdktf.out" / "stacks" / "ml-pipeline-dev"
        self.stack.mkdir(parents=True)
        self.state = root / "state" / "terraform.tfstate"
        (root / ".github").mkdir()
        (root / ".github" / "scripts").symlink_to(GITHUB / "scripts")
        self.env = terraform_env(
            root, {"GITHUB_WORKSPACE": str(root), "STACK": "ml-pipeline-dev", "TF_VAR_token": "s3cr3t"}
        )

    def configure(self, value: str) -> None:
        (self.stack / "cdk.tf.json").write_text(json.dumps(stack_config(self.state, value)))

    def run_step(self, script: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        outputs = self.root / "outputs"
        outputs.write_text("")
        result = run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=self.root,
            env={**self.env, "GITHUB_OUTPUT": str(outputs), **env},
        )
        return result, dict(line.split("=", 1) for line in outputs.read_text().splitlines())

    def review(self) -> str:
        """plan.yml's Plan step, then the comment the report step would write (the report itself is not run)."""
        plan_script = step(workflow("plan.yml")["jobs"]["plan"]["steps"], "Plan")["run"]
        result, _ = self.run_step(plan_script)
        assert result.returncode == 0, result.stdout + result.stderr
        fingerprint = (self.root / "review" / "plan-ml-pipeline-dev.fingerprint").read_text().strip()
        assert "s3cr3t" not in (self.root / "review" / "plan-ml-pipeline-dev.json").read_text()
        assert (self.root / "review" / "ml-pipeline-dev" / "cdk.tf.json").is_file(), "the report reads it"
        marker = plan_review.record("c0ffee", False, {"dev": fingerprint})
        (self.root / "reviewed-comment.md").write_text(f"{REPORT_MARKER}\n{marker}\n## Plan report\n")
        return fingerprint

    def deploy(self) -> tuple[str, subprocess.CompletedProcess[str] | None]:
        """The deploy action's Re-plan step, then (if it has changes) the refuse and apply steps. Returns whether
        the re-plan had changes and the refuse step's result (None when the plan had no changes)."""
        steps = action("deploy-environment")["runs"]["steps"]
        result, outputs = self.run_step(step(steps, "Re-plan")["run"])
        assert result.returncode == 0, result.stdout + result.stderr
        if outputs["changes"] == "false":
            return "false", None
        verdict, _ = self.run_step(
            step(steps, "Refuse unless the re-plan is the reviewed plan")["run"],
            ENVIRONMENT="dev",
            HEAD_SHA="c0ffee",
            FINGERPRINT=outputs["fingerprint"],
        )
        if verdict.returncode == 0:
            applied, _ = self.run_step(step(steps, "Apply the compared plan")["run"])
            assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "s3cr3t" not in (self.root / "deployed" / "plan-ml-pipeline-dev.json").read_text()
        return "true", verdict


def applied_input(workspace: Workspace) -> str:
    (marker,) = [r for r in json.loads(workspace.state.read_text())["resources"] if r["name"] == "marker"]
    return marker["instances"][0]["attributes"]["input"]["value"]


@pytest.mark.terraform
def test_a_reviewed_plan_is_applied_and_a_changed_state_is_refused(tmp_path):
    workspace = Workspace(tmp_path)
    workspace.configure("v1")
    workspace.review()
    changes, verdict = workspace.deploy()  # the re-plan differs from the review only in its timestamp
    assert changes == "true" and verdict is not None and verdict.returncode == 0, verdict and verdict.stderr
    assert applied_input(workspace) == "v1"
    assert workspace.deploy() == ("false", None)  # applied: nothing left to do

    workspace.configure("v2")
    workspace.review()  # reviewed against the state with v1
    workspace.configure("v3")  # another merge's reviewed change is deployed first
    terraform(["apply", "-input=false", "-auto-approve"], cwd=workspace.stack, env=workspace.env)
    workspace.configure("v2")
    changes, verdict = workspace.deploy()
    assert changes == "true" and verdict is not None
    assert verdict.returncode == 1, "a plan reviewed against another state must be refused"
    assert "differs from the reviewed plan" in verdict.stderr
    assert applied_input(workspace) == "v3"
