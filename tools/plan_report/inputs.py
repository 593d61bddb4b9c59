"""Reading the inputs: plans (``terraform show -json``), synthesized stacks (``cdk.tf.json``) and the reviewed
acknowledgement file. Everything is validated here, once; a problem raises :class:`InputError` with one line that
names the file and what is wrong (the command line prints it and exits 2).
"""

import json
from pathlib import Path
from typing import Any

from tools.plan_report.model import Acknowledgement, AttrPath, Change, Plan, Redacted
from tools.plan_report.paths import step_into

GENERIC_PLAN_NAMES = frozenset({"plan", "tfplan", "plan.tfplan", "terraform", "show"})


class InputError(Exception):
    """A bad input: the message names the file and what is wrong, on one line."""

    def __init__(self, source: str | Path, problem: str) -> None:
        super().__init__(f"{source}: {problem}")


# --- JSON ------------------------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(path: Path) -> Any:
    """The parsed document; unreadable, non-UTF-8, invalid or absurdly nested content is an InputError."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(path, f"cannot read it ({error.strerror or error.__class__.__name__})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text (write it with `terraform show -json plan.tfplan > FILE`)") from None
    if not text.strip():
        raise InputError(path, "empty file (want the output of `terraform show -json plan.tfplan`)")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise InputError(path, "not JSON this tool can read (nested too deeply)") from None
    except ValueError as error:
        where = f" at line {error.lineno} column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise InputError(path, f"not JSON{where}") from None


# --- Plans -----------------------------------------------------------------------------------------------------------


def load_plan(path: Path, stack: str | None, synth_dir: Path | None) -> Plan:
    """A validated plan, its stack name and (when a synthesized stack is found) its construct paths."""
    document = read_json(path)
    _check_plan_document(path, document)
    synth_file = _synth_file(path, stack, synth_dir)
    synth = _read_synth(synth_file) if synth_file else None
    name = _stack_name(path, stack, synth_file, synth)
    if synth_dir is not None and synth is None:
        raise InputError(synth_dir / name / "cdk.tf.json", "not found (--synth names the cdktf.out/stacks folder)")
    if synth is None:
        synth_file = _discovered_synth(path, name)
        synth = _read_synth(synth_file) if synth_file else None
    return Plan(
        source=str(path),
        stack=name,
        changes=_changes(path, document, "resource_changes"),
        drift=_changes(path, document, "resource_drift"),
        prior=_prior_resources(document.get("prior_state")),
        references=_references(document.get("configuration")),
        relevant=_relevant(document.get("relevant_attributes")),
        region=_region(document.get("configuration")),
        errored=document.get("errored") is True,
        complete=document.get("complete") is not False,
        constructs=_construct_paths(synth_file, synth, name) if synth_file and synth else {},
    )


def _check_plan_document(path: Path, document: Any) -> None:
    if not isinstance(document, dict) or not isinstance(document.get("format_version"), str):
        raise InputError(path, "not a Terraform plan: no format_version/resource_changes (want `terraform show -json`)")
    if not any(key in document for key in ("resource_changes", "planned_values", "resource_drift")):
        raise InputError(path, "a Terraform state, not a plan (run `terraform show -json` on the saved plan file)")
    major = document["format_version"].split(".")[0]
    if major != "1":
        raise InputError(path, f"format_version {document['format_version']} is not supported (this tool reads 1.x)")


def _changes(path: Path, document: dict[str, Any], key: str) -> tuple[Change, ...]:
    entries = document.get(key, [])
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise InputError(path, f"{key} is not a list")
    return tuple(_change(path, f"{key}[{index}]", entry) for index, entry in enumerate(entries))


def _change(path: Path, where: str, entry: Any) -> Change:
    if not isinstance(entry, dict):
        raise InputError(path, f"{where} is not an object")
    for field in ("address", "type"):
        if not isinstance(entry.get(field), str) or not entry[field]:
            raise InputError(path, f"{where}.{field} is not a non-empty string")
    change = entry.get("change")
    if not isinstance(change, dict):
        raise InputError(path, f"{where}.change is not an object")
    actions = change.get("actions")
    if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
        raise InputError(path, f"{where}.change.actions is not a non-empty list of strings")
    return Change(
        address=entry["address"],
        type=entry["type"],
        mode=_optional_str(path, where, entry, "mode") or "managed",
        actions=tuple(actions),
        before=redact(change.get("before"), change.get("before_sensitive")),
        after=redact(change.get("after"), change.get("after_sensitive")),
        after_unknown=change.get("after_unknown"),
        before_sensitive=change.get("before_sensitive"),
        after_sensitive=change.get("after_sensitive"),
        replace_paths=_replace_paths(path, where, change.get("replace_paths")),
        action_reason=_optional_str(path, where, entry, "action_reason"),
        previous_address=_optional_str(path, where, entry, "previous_address"),
        importing=isinstance(change.get("importing"), dict),
        deposed=_optional_str(path, where, entry, "deposed"),
    )


def redact(value: Any, marks: Any) -> Any:
    """The value with every part Terraform marks sensitive replaced by a :class:`Redacted` stand-in."""
    if marks is True:
        return Redacted(value)
    if isinstance(value, dict) and isinstance(marks, dict) and marks:
        return {key: redact(item, step_into(marks, key)) for key, item in value.items()}
    if isinstance(value, list) and isinstance(marks, list) and marks:
        return [redact(item, step_into(marks, index)) for index, item in enumerate(value)]
    return value


def _optional_str(path: Path, where: str, entry: dict[str, Any], field: str) -> str | None:
    value = entry.get(field)
    if value is not None and not isinstance(value, str):
        raise InputError(path, f"{where}.{field} is not a string")
    return value or None


def _replace_paths(path: Path, where: str, value: Any) -> tuple[AttrPath, ...]:
    if value is None:
        return ()
    problem = InputError(path, f"{where}.change.replace_paths is not a list of attribute paths")
    if not isinstance(value, list):
        raise problem
    paths: list[AttrPath] = []
    for item in value:
        if not isinstance(item, list) or not all(isinstance(s, str | int) and not isinstance(s, bool) for s in item):
            raise problem
        paths.append(tuple(item))
    return tuple(paths)


def _prior_resources(prior_state: Any) -> dict[str, tuple[str, Any]]:
    """address -> (type, values) of every managed resource in the prior state, child modules included."""
    found: dict[str, tuple[str, Any]] = {}
    values = prior_state.get("values") if isinstance(prior_state, dict) else None
    pending = [values.get("root_module")] if isinstance(values, dict) else []
    while pending:
        module = pending.pop()
        if not isinstance(module, dict):
            continue
        for resource in module.get("resources") or []:
            if _is_managed(resource):
                values = redact(resource.get("values"), resource.get("sensitive_values"))
                found[resource["address"]] = (resource["type"], values)
        children = module.get("child_modules")
        pending.extend(children if isinstance(children, list) else [])
    return found


def _is_managed(resource: Any) -> bool:
    return (
        isinstance(resource, dict)
        and isinstance(resource.get("address"), str)
        and isinstance(resource.get("type"), str)
        and resource.get("mode", "managed") == "managed"
    )


def _references(configuration: Any) -> dict[str, dict[str, tuple[str, ...]]]:
    """address -> attribute -> the addresses its expression refers to (root module: a CDKTF stack has no modules)."""
    root = configuration.get("root_module") if isinstance(configuration, dict) else None
    resources = root.get("resources") if isinstance(root, dict) else None
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for resource in resources if isinstance(resources, list) else []:
        if not isinstance(resource, dict) or not isinstance(resource.get("address"), str):
            continue
        expressions = resource.get("expressions")
        attributes: dict[str, tuple[str, ...]] = {}
        for name, expression in (expressions if isinstance(expressions, dict) else {}).items():
            refs = expression.get("references") if isinstance(expression, dict) else None
            if isinstance(refs, list):
                attributes[name] = tuple(r for r in refs if isinstance(r, str))
        found[resource["address"]] = attributes
    return found


def _relevant(entries: Any) -> dict[str, tuple[AttrPath, ...]] | None:
    """address -> the attribute paths Terraform says the planned changes depend on (drift elsewhere is noise)."""
    if not isinstance(entries, list):
        return None
    found: dict[str, list[AttrPath]] = {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        attribute = entry.get("attribute") if isinstance(entry, dict) else None
        if isinstance(resource, str) and isinstance(attribute, list):
            steps = tuple(s for s in attribute if isinstance(s, str | int) and not isinstance(s, bool))
            found.setdefault(resource, []).append(steps)
    return {address: tuple(paths) for address, paths in found.items()}


def _region(configuration: Any) -> str | None:
    """The default AWS provider's region, when the configuration states it as a constant (CDKTF always does)."""
    providers = configuration.get("provider_config") if isinstance(configuration, dict) else None
    aws = providers.get("aws") if isinstance(providers, dict) else None
    expressions = aws.get("expressions") if isinstance(aws, dict) else None
    region = expressions.get("region") if isinstance(expressions, dict) else None
    value = region.get("constant_value") if isinstance(region, dict) else None
    return value if isinstance(value, str) else None


# --- Stack names and synthesized stacks ------------------------------------------------------------------------------


def stack_from_file_name(path: Path) -> str | None:
    """``ml-pipeline-dev.json`` or ``plan-ml-pipeline-dev.json`` -> ``ml-pipeline-dev``; a generic name -> None."""
    name = path.name
    for suffix in (".json", ".tfplan", ".plan"):
        name = name.removesuffix(suffix)
    name = name.removeprefix("plan-")
    return None if not name or name in GENERIC_PLAN_NAMES else name


def _synth_file(plan: Path, stack: str | None, synth_dir: Path | None) -> Path | None:
    """The synthesized stack the user pointed at: --synth DIR/<stack>, else a cdk.tf.json next to the plan."""
    name = stack or stack_from_file_name(plan)
    if synth_dir is not None:
        if not synth_dir.is_dir():
            raise InputError(synth_dir, "not a folder (--synth names the cdktf.out/stacks folder)")
        candidate = synth_dir / name / "cdk.tf.json" if name else None
        return candidate if candidate and candidate.is_file() else None
    beside = plan.parent / "cdk.tf.json"
    return beside if beside.is_file() else None


def _discovered_synth(plan: Path, stack: str) -> Path | None:
    """Where `make synth` leaves the stack: beside the plan in <stack>/, or ./cdktf.out/stacks/<stack>/."""
    for candidate in (plan.parent / stack / "cdk.tf.json", Path("cdktf.out") / "stacks" / stack / "cdk.tf.json"):
        if candidate.is_file():
            return candidate
    return None


def _read_synth(path: Path) -> dict[str, Any]:
    document = read_json(path)
    if not isinstance(document, dict):
        raise InputError(path, "not a synthesized stack (cdk.tf.json is a JSON object)")
    return document


def _synth_stack_name(document: dict[str, Any]) -> str | None:
    metadata = document.get("//", {}).get("metadata") if isinstance(document.get("//"), dict) else None
    name = metadata.get("stackName") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name else None


def _stack_name(plan: Path, given: str | None, synth_file: Path | None, synth: dict[str, Any] | None) -> str:
    from_synth = _synth_stack_name(synth) if synth else None
    name = given or stack_from_file_name(plan) or from_synth
    if not name:
        raise InputError(plan, "cannot tell which stack this plan is for: name it <stack>.json or pass --stack NAME")
    if from_synth and synth_file and from_synth != name:
        raise InputError(synth_file, f"is stack {from_synth}, but the plan is for {name}")
    return name


def _construct_paths(synth_file: Path, document: dict[str, Any], stack: str) -> dict[str, str]:
    """Terraform address (``<type>.<uniqueId>``, ``data.<type>.<uniqueId>``) -> construct path without the stack."""
    found: dict[str, str] = {}
    for section, prefix in (("resource", ""), ("data", "data.")):
        by_type = document.get(section)
        if by_type is None:
            continue
        if not isinstance(by_type, dict):
            raise InputError(synth_file, f"{section} is not an object")
        for rtype, items in by_type.items():
            for logical_id, body in (items if isinstance(items, dict) else {}).items():
                path = _metadata_path(body)
                if path:
                    found[f"{prefix}{rtype}.{logical_id}"] = path.removeprefix(f"{stack}/")
    return found


def _metadata_path(body: Any) -> str | None:
    comment = body.get("//") if isinstance(body, dict) else None
    metadata = comment.get("metadata") if isinstance(comment, dict) else None
    path = metadata.get("path") if isinstance(metadata, dict) else None
    return path if isinstance(path, str) and path else None


# --- Acknowledgements ------------------------------------------------------------------------------------------------

_ACK_KEYS = frozenset({"stack", "address", "reason", "actions", "//"})


def load_acknowledgements(path: Path) -> tuple[Acknowledgement, ...]:
    """The reviewed acknowledgement file: ``{"//": "...", "acknowledgements": [{stack, address, reason}, ...]}``."""
    document = read_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("acknowledgements"), list):
        raise InputError(path, 'not an acknowledgement file: want {"acknowledgements": [...]}')
    unknown = sorted(set(document) - {"//", "acknowledgements"})
    if unknown:
        raise InputError(path, f"unknown key {unknown[0]!r} (allowed: '//', 'acknowledgements')")
    found: list[Acknowledgement] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(document["acknowledgements"]):
        ack = _acknowledgement(path, f"acknowledgements[{index}]", entry)
        if (ack.stack, ack.address) in seen:
            raise InputError(path, f"acknowledgements[{index}] repeats {ack.stack} {ack.address}")
        seen.add((ack.stack, ack.address))
        found.append(ack)
    return tuple(found)


def _acknowledgement(path: Path, where: str, entry: Any) -> Acknowledgement:
    if not isinstance(entry, dict):
        raise InputError(path, f"{where} is not an object")
    unknown = sorted(set(entry) - _ACK_KEYS)
    if unknown:
        raise InputError(path, f"{where} has unknown key {unknown[0]!r} (allowed: stack, address, reason, actions)")
    for field in ("stack", "address", "reason"):
        value = entry.get(field)
        if not isinstance(value, str) or not value.strip():
            raise InputError(path, f"{where}.{field} must be a non-empty string")
    actions = entry.get("actions")
    if actions is not None and (
        not isinstance(actions, list) or not actions or not all(isinstance(a, str) and a for a in actions)
    ):
        raise InputError(path, f'{where}.actions must be a non-empty list of action names, e.g. ["delete", "create"]')
    return Acknowledgement(
        stack=entry["stack"].strip(),
        address=entry["address"].strip(),
        reason=" ".join(entry["reason"].split()),
        actions=tuple(actions) if actions is not None else None,
    )
