"""Helpers of the plan review and deploy workflows (ARCHITECTURE §9). Standard library only: it runs on the runner's
Python, with or without the project's virtualenv.

  affected CDKTF_JSON < CHANGED_PATHS   print the plan matrix (JSON list: name, region, role_suffix) of the environments
                                        a change to these paths affects: all of cdktf.json's, or none
  fingerprint PLAN_JSON                 print the plan's fingerprint (what the deploy compares with the reviewed one)
  redact PLAN_JSON OUT_JSON             write a copy with every value Terraform marks sensitive masked (for artifacts)
  record --head-sha SHA [--blocking] ENV=FINGERPRINT_FILE ...
                                        print the hidden PR-comment marker that records the reviewed fingerprints
  verify --environment ENV --head-sha SHA --fingerprint FP COMMENT_FILE
                                        exit 0 only if the comment records FP as the reviewed, non-blocking plan of ENV
                                        at SHA; otherwise say why on stderr and exit 1

The fingerprint is a SHA-256 over the canonical JSON of what an apply of the plan would do: every resource change
and output change whose actions are not "no-op" (address, deposed key, previous address, reason, and the whole
`change`: actions, before, after, unknowns, sensitivity, replace paths). It leaves out what differs between two plans
of the same change: the timestamp, Terraform's version, the prior state and its serial, the configuration and drift
(drift that matters shows in the changes' `before`). It is computed from the unmasked plan, so a change of a
sensitive value changes it too; only the digest is ever published.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

# Paths whose change can change a synthesized environment stack, as GitHub `paths` filters: `dir/**` is everything
# under dir/, anything else one exact file. deploy.yml's `on.push.paths` lists the same (tests/workflows checks it).
STACK_INPUTS = (
    "constructs/**",
    "stacks/**",
    "lambda_src/**",
    "cdktf.json",
    "main.py",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    ".github/actions/**",
    ".github/scripts/**",
    ".github/workflows/plan.yml",
    ".github/workflows/deploy.yml",
)
MASK = "(sensitive value)"
MARKER = "ml-pipeline-plan-fingerprint"
MARKER_RE = re.compile(r"<!-- " + MARKER + r" (\{.*?\}) -->")
FINGERPRINT_RE = re.compile(r"sha256:[0-9a-f]{64}")


def affects_stacks(path: str) -> bool:
    """Whether a change to ``path`` (repository-relative) can change what an environment stack plans."""
    return any(
        path.startswith(pattern[: -len("**")]) if pattern.endswith("/**") else path == pattern
        for pattern in STACK_INPUTS
    )


def affected(cdktf_json: dict[str, Any], changed: list[str]) -> list[dict[str, str]]:
    """The plan matrix: every environment of the config if any changed path feeds the stacks, else none. The
    suffix names the repository variable of the environment's plan role (`PLAN_ROLE_ARN_PROD_EU` for `prod-eu`)."""
    if not any(affects_stacks(path) for path in changed):
        return []
    return [
        {"name": name, "region": settings["region"], "role_suffix": name.upper().replace("-", "_")}
        for name, settings in cdktf_json["context"]["environments"].items()
    ]


def fingerprint(plan: dict[str, Any]) -> str:
    """The plan's fingerprint: equal for two plans exactly when an apply of either would make the same changes."""
    changes = [
        {
            "address": rc.get("address"),
            "deposed": rc.get("deposed"),
            "previous_address": rc.get("previous_address"),
            "action_reason": rc.get("action_reason"),
            "change": rc.get("change", {}),
        }
        for rc in plan.get("resource_changes") or []
        if rc.get("change", {}).get("actions") != ["no-op"]
    ]
    changes.sort(key=lambda c: (str(c["address"]), str(c["deposed"] or "")))
    outputs = {
        name: change
        for name, change in sorted((plan.get("output_changes") or {}).items())
        if change.get("actions") != ["no-op"]
    }
    canonical = json.dumps(
        {"resource_changes": changes, "output_changes": outputs},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def mask(value: Any, sensitive: Any) -> Any:
    """``value`` with every leaf that ``sensitive`` (Terraform's same-shaped sensitivity map) marks replaced."""
    if sensitive is True:
        return None if value is None else MASK
    if isinstance(sensitive, dict) and isinstance(value, dict):
        return {key: mask(item, sensitive.get(key, False)) for key, item in value.items()}
    if isinstance(sensitive, list) and isinstance(value, list):
        return [mask(item, sensitive[i] if i < len(sensitive) else False) for i, item in enumerate(value)]
    return value


def _mask_change(change: dict[str, Any]) -> None:
    for side in ("before", "after"):
        if side in change:
            change[side] = mask(change[side], change.get(f"{side}_sensitive", False))


def _mask_module(module: dict[str, Any]) -> None:
    for resource in module.get("resources") or []:
        resource["values"] = mask(resource.get("values"), resource.get("sensitive_values", False))
    for child in module.get("child_modules") or []:
        _mask_module(child)


def _mask_values(values: dict[str, Any]) -> None:
    """A `planned_values` or `prior_state.values` document."""
    for output in (values.get("outputs") or {}).values():
        if output.get("sensitive"):
            output["value"] = mask(output.get("value"), True)
    _mask_module(values.get("root_module") or {})


def redact(plan: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``plan`` with every value Terraform marks sensitive masked, everywhere the plan carries values."""
    plan = json.loads(json.dumps(plan))
    for key in ("resource_changes", "resource_drift"):
        for rc in plan.get(key) or []:
            _mask_change(rc.get("change") or {})
    for change in (plan.get("output_changes") or {}).values():
        _mask_change(change)
    if plan.get("planned_values"):
        _mask_values(plan["planned_values"])
    if (plan.get("prior_state") or {}).get("values"):
        _mask_values(plan["prior_state"]["values"])
    declared = ((plan.get("configuration") or {}).get("root_module") or {}).get("variables") or {}
    for name, variable in (plan.get("variables") or {}).items():
        if declared.get(name, {}).get("sensitive"):
            variable["value"] = mask(variable.get("value"), True)
    return plan


def record(head_sha: str, blocking: bool, fingerprints: dict[str, str]) -> str:
    """The hidden marker the PR comment carries: which fingerprint was reviewed per environment, at which head."""
    for environment, value in fingerprints.items():
        if not FINGERPRINT_RE.fullmatch(value):
            raise ValueError(f"{environment}: {value!r} is not a fingerprint")
    body = json.dumps({"head_sha": head_sha, "blocking": blocking, "fingerprints": fingerprints}, sort_keys=True)
    return f"<!-- {MARKER} {body} -->"


def verify(comment: str, environment: str, head_sha: str, planned: str) -> list[str]:
    """Why ``planned`` may not be applied to ``environment`` given the reviewed ``comment`` (empty: it may)."""
    found = MARKER_RE.findall(comment)
    if len(found) != 1:
        return [f"the plan comment carries {len(found)} fingerprint markers, expected exactly one"]
    reviewed = json.loads(found[0])
    problems = []
    if reviewed.get("head_sha") != head_sha:
        problems.append(
            f"the reviewed plan is of commit {reviewed.get('head_sha')}, but the pull request was merged at "
            f"{head_sha}: the plan workflow did not finish for the last push"
        )
    if reviewed.get("blocking") is not False:
        problems.append("the reviewed plan report had blocking findings (deletes or replacements not acknowledged)")
    expected = (reviewed.get("fingerprints") or {}).get(environment)
    if expected is None:
        problems.append(f"the pull request's plan did not cover {environment}, but the re-plan has changes")
    elif expected != planned:
        problems.append(
            f"the re-plan of {environment} ({planned}) differs from the reviewed plan ({expected}): the state or "
            "the code changed since the review"
        )
    return problems


def _load(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    aff = commands.add_parser("affected")
    aff.add_argument("cdktf_json")
    fp = commands.add_parser("fingerprint")
    fp.add_argument("plan")
    rd = commands.add_parser("redact")
    rd.add_argument("plan")
    rd.add_argument("out")
    rec = commands.add_parser("record")
    rec.add_argument("--head-sha", required=True)
    rec.add_argument("--blocking", action="store_true")
    rec.add_argument("fingerprints", nargs="*", metavar="ENV=FILE")
    ver = commands.add_parser("verify")
    ver.add_argument("--environment", required=True)
    ver.add_argument("--head-sha", required=True)
    ver.add_argument("--fingerprint", required=True)
    ver.add_argument("comment")
    args = parser.parse_args(argv)

    if args.command == "affected":
        changed = [line.strip() for line in sys.stdin if line.strip()]
        print(json.dumps(affected(_load(args.cdktf_json), changed), separators=(",", ":")))
    elif args.command == "fingerprint":
        print(fingerprint(_load(args.plan)))
    elif args.command == "redact":
        Path(args.out).write_text(json.dumps(redact(_load(args.plan))))
    elif args.command == "record":
        pairs = dict(item.split("=", 1) for item in args.fingerprints)
        print(record(args.head_sha, args.blocking, {env: Path(f).read_text().strip() for env, f in pairs.items()}))
    else:
        problems = verify(Path(args.comment).read_text(), args.environment, args.head_sha, args.fingerprint)
        for problem in problems:
            print(f"refusing to apply: {problem}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
