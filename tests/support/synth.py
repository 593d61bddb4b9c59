"""Synthesize a config context in-process and read the stacks back as parsed Terraform JSON."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stacks  # noqa: F401  (first: it makes constructs.<module> importable)

# isort: split
from constructs.naming import Kind, Naming
from stacks.app import build_app
from stacks.config import parse_config

# The stacks of the committed cdktf.json, written out (not derived) so tests see a change: one state bootstrap per
# account and region of the environments (each in its own account, us-east-1), then the environments.
COMMITTED_STACKS = (
    "state-backend-111111111111-us-east-1",
    "state-backend-222222222222-us-east-1",
    "state-backend-333333333333-us-east-1",
    "ml-pipeline-dev",
    "ml-pipeline-staging",
    "ml-pipeline-prod",
)


@dataclass(frozen=True)
class Synth:
    outdir: Path
    stacks: dict[str, dict[str, Any]]  # stack name -> cdk.tf.json

    def stack(self, name: str) -> dict[str, Any]:
        return self.stacks[name]

    def stack_dir(self, name: str) -> Path:
        return self.outdir / "stacks" / name


def artifacts_bucket(context: dict[str, Any], env: str) -> str:
    """The real model-artifacts bucket of ``env``: a global name, so it ends with the deploy account (the first of
    ``account_ids``) and the region, e.g. ``mlpipe-model-artifacts-dev-111111111111-us-east-1``."""
    settings = context["environments"][env]
    naming = Naming(
        context["project"],
        env,
        settings.get("suffix"),
        account_id=settings["account_ids"][0],
        region=settings["region"],
    )
    return naming.name("model-artifacts", Kind.S3_BUCKET)


def with_trained_models(context: dict[str, Any], endpoints_enabled: bool) -> None:
    """Edit a context as the runbook does: every variant gets model data in its environment's real artifacts bucket
    (``s3://<artifacts bucket>/models/<variant>/model.tar.gz``); the phase flag as given."""
    for env, settings in context["environments"].items():
        bucket = artifacts_bucket(context, env)
        settings.setdefault("sagemaker", {})["variants"] = [
            {"name": v, "weight": w, "model_data_url": f"s3://{bucket}/models/{v}/model.tar.gz"}
            for v, w in (("A", 80), ("B", 20))
        ]
        settings["endpoints_enabled"] = endpoints_enabled


def synth_context(context: dict[str, Any], outdir: Path, environ: dict[str, str] | None = None) -> Synth:
    config = parse_config(context, environ or {})
    build_app(config, str(outdir)).synth()
    documents = {
        path.parent.name: json.loads(path.read_text()) for path in sorted((outdir / "stacks").glob("*/cdk.tf.json"))
    }
    return Synth(outdir, documents)


def resources(stack: dict[str, Any], rtype: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, logical id, body) of every resource in a stack, optionally of one type."""
    for resource_type, items in stack.get("resource", {}).items():
        if rtype is None or resource_type == rtype:
            for logical_id, body in items.items():
                yield resource_type, logical_id, body


def of_type(stack: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return stack.get("resource", {}).get(rtype, {})


def path_of(body: dict[str, Any]) -> str:
    """Construct path, e.g. ``ml-pipeline-dev/data-lake/raw/bucket``."""
    return body["//"]["metadata"]["path"]


def by_path(stack: dict[str, Any], rtype: str, suffix: str) -> dict[str, Any]:
    """The one resource of ``rtype`` whose construct path ends with ``suffix``."""
    matches = [body for body in of_type(stack, rtype).values() if path_of(body).endswith(suffix)]
    assert len(matches) == 1, f"{len(matches)} {rtype} resources end with {suffix!r}"
    return matches[0]


def ref_id(body: dict[str, Any]) -> str:
    """Logical id of a resource, as Terraform references it."""
    return body["//"]["metadata"]["uniqueId"]


def policy_of(body: dict[str, Any], field: str = "policy") -> dict[str, Any]:
    return json.loads(body[field])
