"""Plan documents in the shape `terraform show -json` writes (Terraform 1.11), built in tests, and a way to run the
command line in-process."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.plan_report.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SYNTH = FIXTURES / "synth"
STACK = "ml-pipeline-dev"


def change(
    address: str,
    actions: list[str],
    before: Any = None,
    after: Any = None,
    **fields: Any,
) -> dict[str, Any]:
    """A resource_changes entry; ``fields`` go into ``change`` (after_unknown, *_sensitive, replace_paths, importing)
    except ``action_reason`` and ``previous_address``, which Terraform writes next to it."""
    rtype, name = address.removeprefix("data.").split(".")[:2]
    entry: dict[str, Any] = {
        "address": address,
        "mode": "data" if address.startswith("data.") else "managed",
        "type": rtype,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {
            "actions": actions,
            "before": before,
            "after": after,
            "after_unknown": fields.pop("after_unknown", {}),
            "before_sensitive": fields.pop("before_sensitive", {} if before is not None else False),
            "after_sensitive": fields.pop("after_sensitive", {} if after is not None else False),
        },
    }
    for key in ("action_reason", "previous_address"):
        if key in fields:
            entry[key] = fields.pop(key)
    entry["change"].update(fields)
    return entry


def plan(*changes: dict[str, Any], drift: tuple[dict[str, Any], ...] = (), **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "resource_changes": list(changes),
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "expressions": {"region": {"constant_value": "us-east-1"}}}}
        },
        "applyable": True,
        "complete": True,
        "errored": False,
    }
    if drift:
        document["resource_drift"] = list(drift)
    document.update(extra)
    return document


def synth(stack: str, paths: dict[str, str]) -> dict[str, Any]:
    """A cdk.tf.json holding just the construct metadata: address -> construct path (without the stack)."""
    resources: dict[str, dict[str, Any]] = {}
    for address, path in paths.items():
        rtype, unique_id = address.split(".")
        resources.setdefault(rtype, {})[unique_id] = {
            "//": {"metadata": {"path": f"{stack}/{path}", "uniqueId": unique_id}}
        }
    return {"//": {"metadata": {"stackName": stack, "version": "0.21.0"}}, "resource": resources}


def write(folder: Path, document: Any, name: str = f"{STACK}.json") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name / f"{STACK}.json").read_text())


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run(capsys: Any, *args: Any) -> Result:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def acknowledgements(folder: Path, *entries: dict[str, Any]) -> Path:
    return write(folder, {"//": "test", "acknowledgements": list(entries)}, "acks.json")
