"""Properties of configuration loading and of the output folder (ARCHITECTURE §2, §8 rung 2).

Promises: any bytes, and any JSON value at any place of the committed configuration, end in either a valid config or
one ConfigError whose every line names where the problem is; problems of one environment never hide another's; a
config that validates also synthesizes (every generated name is checked at validation time); synth never replaces a
folder that is not its own output.
"""

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stacks.config import AppConfig, ConfigError, load_config, parse_config
from stacks.output_folder import MARKER, OutputFolderError, write_output
from tests.support.synth import synth_context

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = json.loads((ROOT / "cdktf.json").read_text())
LOCATED = ("environment '", "field '", "ML_PIPELINE_ENDPOINTS_ENABLED_", "cannot read ")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


CONTEXT_PATHS = _paths(COMMITTED["context"])

texts = st.text(
    st.characters(codec=None, exclude_categories=()), max_size=40
)  # any code point, lone surrogates included
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=12
)


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return document


def _outcome(context: Any) -> AppConfig | list[str]:
    try:
        return parse_config(context, {})
    except ConfigError as error:
        return error.problems


def _assert_located(problems: list[str]) -> None:
    assert problems, "a ConfigError lists at least one problem"
    for problem in problems:
        assert problem.startswith(LOCATED), problem
        assert "Traceback" not in problem


@given(path=st.sampled_from(CONTEXT_PATHS), value=json_values)
def test_any_value_at_any_place_is_a_config_or_located_problems(path: tuple[Any, ...], value: Any) -> None:
    context = _replace(copy.deepcopy(COMMITTED["context"]), path, value)
    outcome = _outcome(context)
    if not isinstance(outcome, AppConfig):
        _assert_located(outcome)


@given(path=st.sampled_from([p for p in CONTEXT_PATHS if p]), key=texts, value=json_values)
def test_an_added_key_is_accepted_only_where_the_schema_has_a_map(path: tuple[Any, ...], key: str, value: Any) -> None:
    context = copy.deepcopy(COMMITTED["context"])
    parent = context
    for part in path:
        parent = parent[part]
    assume(isinstance(parent, dict) and key not in parent)
    parent[key] = value
    outcome = _outcome(context)
    if not isinstance(outcome, AppConfig):
        _assert_located(outcome)


@settings(max_examples=200)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_are_a_config_or_a_config_error(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "cdktf.json"
    path.write_bytes(data)
    try:
        load_config(path, environ={})
    except ConfigError as error:
        _assert_located(error.problems)


@given(
    path=st.sampled_from(CONTEXT_PATHS), literal=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "9" * 400])
)
def test_non_standard_numbers_anywhere_in_the_file_are_refused(
    tmp_path_factory: Any, path: tuple[Any, ...], literal: str
) -> None:
    document = copy.deepcopy(COMMITTED)
    _replace(document, ("context", *path), "__LITERAL__")
    file = tmp_path_factory.mktemp("literal") / "cdktf.json"
    file.write_text(json.dumps(document).replace('"__LITERAL__"', literal))
    try:
        load_config(file, environ={})
    except ConfigError as error:
        _assert_located(error.problems)
        return
    raise AssertionError(f"{literal} at {path} was accepted")


FIELD_ERRORS = [  # (section, field, invalid value): each one schema error of the environment it is put in
    ("logs", "retention_days", 42),
    ("kinesis", "retention_hours", 1),
    ("dynamodb", "predictions_ttl_days", 0),
    ("api", "throttle_rate_limit", 0),
    ("functions", "memory_mb", 64),
]


@given(
    broken=st.sampled_from(["dev", "staging", "prod"]),
    error=st.sampled_from(FIELD_ERRORS),
    victim=st.sampled_from(["dev", "staging", "prod"]),
)
def test_a_schema_error_in_one_environment_never_hides_a_cross_field_error_in_another(
    broken: str, error: tuple[str, str, Any], victim: str
) -> None:
    assume(broken != victim)
    context = copy.deepcopy(COMMITTED["context"])
    section, field, value = error
    context["environments"][broken].setdefault(section, {})[field] = value
    victim_env = context["environments"][victim]
    victim_env["protect_stateful"] = True
    victim_env.setdefault("data_lake", {})["force_destroy"] = True
    problems = _outcome(context)
    assert isinstance(problems, list)
    assert any(p.startswith(f"environment '{broken}', field '{section}.{field}'") for p in problems)
    assert (
        f"environment '{victim}', field 'data_lake.force_destroy': cannot be true while protect_stateful is true"
        in (problems)
    )


# The documented environment name rule (README, "Configuration reference"), written out here as the oracle.
ENV_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
BAD_ENV_NAME = (
    "not a valid environment name; allowed: 2-16 characters of a-z, 0-9 and single hyphens, starting with a letter "
    "(e.g. dev, qa, prod-eu)"
)
env_names = (
    st.from_regex(r"[a-z][a-z0-9]{0,7}(-[a-z0-9]{1,4}){0,3}", fullmatch=True)  # mostly valid, up to 23 chars
    | st.text(st.sampled_from("az09-_AZ. é"), max_size=18)  # near misses: case, underscores, double hyphens, ...
    | texts
)


@given(name=env_names)
def test_an_environment_name_is_accepted_exactly_when_it_matches_the_documented_rule(name: str) -> None:
    context = copy.deepcopy(COMMITTED["context"])
    # dev's account and region (us-east-1): even a 16-char name keeps every bucket name within 63 chars.
    context["environments"] = {name: context["environments"]["dev"]}
    outcome = _outcome(context)
    if 2 <= len(name) <= 16 and ENV_NAME.fullmatch(name):
        assert isinstance(outcome, AppConfig), outcome
        assert list(outcome.environments) == [name]
    else:
        assert outcome == [f"environment '{name}': {BAD_ENV_NAME}"]


names = st.from_regex(r"[a-z][a-z0-9]{0,14}[a-z0-9]", fullmatch=True)


@settings(max_examples=4)
@given(
    project=names,
    env=st.from_regex(r"[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,4}){0,2}", fullmatch=True),
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-1"]),
    suffix=st.none() | st.from_regex(r"[a-z0-9]{1,16}", fullmatch=True),
    variant=st.from_regex(r"[A-Za-z0-9](-?[A-Za-z0-9]){0,30}", fullmatch=True),
)
def test_a_config_that_validates_also_synthesizes(
    tmp_path_factory: Any, project: str, env: str, region: str, suffix: str | None, variant: str
) -> None:
    context = copy.deepcopy(COMMITTED["context"])
    context["project"] = project
    environment = context["environments"]["dev"]
    context["environments"] = {env: environment}  # one environment: one stack and one state bootstrap to synthesize
    environment["region"] = region
    if suffix:
        environment["suffix"] = suffix
    environment["sagemaker"]["variants"][0]["name"] = variant
    outcome = _outcome(context)
    if not isinstance(outcome, AppConfig):
        _assert_located(outcome)
        return
    synth = synth_context(context, tmp_path_factory.mktemp("synth"), environ={})
    assert set(synth.stacks) == {f"ml-pipeline-{env}", f"state-backend-111111111111-{region}"}
    assert synth.stacks[f"ml-pipeline-{env}"]["resource"]


# --- the output folder ------------------------------------------------------------------------------------------------

file_names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}", fullmatch=True).filter(lambda n: n != MARKER)
trees = st.dictionaries(
    file_names, st.binary(max_size=20) | st.dictionaries(file_names, st.binary(max_size=8)), min_size=1, max_size=5
)


def _make(folder: Path, tree: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in tree.items():
        if isinstance(content, dict):
            _make(folder / name, content)
        else:
            (folder / name).write_bytes(content)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(folder.rglob("*"))}


@given(tree=trees)
def test_synth_never_replaces_a_folder_without_its_marker(tmp_path_factory: Any, tree: dict[str, Any]) -> None:
    base = tmp_path_factory.mktemp("out")
    target = base / "target"
    _make(target, tree)
    before = _snapshot(base)
    try:
        write_output(target, lambda folder: (folder / "manifest.json").write_text("{}"))
    except OutputFolderError:
        pass
    else:
        raise AssertionError("a folder without the marker was replaced")
    assert _snapshot(base) == before


@given(kind=st.sampled_from(["file", "symlink", "marked"]), content=st.binary(max_size=30))
def test_synth_replaces_only_its_own_marked_folder(tmp_path_factory: Any, kind: str, content: bytes) -> None:
    base = tmp_path_factory.mktemp("out")
    target = base / "target"
    if kind == "file":
        target.write_bytes(content)
    elif kind == "symlink":
        (base / "real").mkdir()
        (base / "real" / MARKER).write_text("")
        target.symlink_to(base / "real")
    else:
        _make(target, {MARKER: b"", "data": content})
    before = _snapshot(base)
    try:
        write_output(target, lambda folder: (folder / "manifest.json").write_text("{}"))
    except OutputFolderError:
        assert kind != "marked"
        assert _snapshot(base) == before
        return
    assert kind == "marked"
    assert sorted(os.listdir(base)) == ["target"]
    assert sorted(os.listdir(target)) == sorted([MARKER, "manifest.json"])
