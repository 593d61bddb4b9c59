"""Construct ↔ handler contracts (ARCHITECTURE §1): the environment each Lambda function gets from its construct is
exactly the environment its handler reads.

The handler side is read from source with ``ast`` (nothing is imported): ``lambda_src/<fn>/<fn>.py`` plus every
``mlp_common`` module it imports, transitively — the same files its zip holds. Reads go through the helpers of
``lambda_src/mlp_common/settings.py`` or ``os.environ`` / ``os.getenv``. The construct side is the synthesized JSON of
every ``ml-pipeline-*`` stack, in phase one and phase two.
"""

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.synth import Synth, of_type, path_of

LAMBDA_SRC = ROOT / "lambda_src"
SETTINGS_MODULE = "mlp_common.settings"

# Helpers of mlp_common/settings.py → position of their ``default`` parameter (also accepted as ``default=``). A read
# passing no default, or ``None``, raises ConfigError when the variable is unset or blank: the variable is required.
# env_flag has no default parameter: unset means False (the flag fails closed), so it never requires its variable.
# test_helper_table_matches_settings_py keeps this table in step with settings.py.
HELPER_DEFAULT_POSITION: dict[str, int | None] = {
    "env_str": 1,
    "env_int": 1,
    "env_float": 1,
    "env_choice": 2,
    "env_flag": None,
}

# Variables a construct sets that the handler does not read, each with the reason it is still set. An entry that is
# read again, or no longer set, fails test_unread_allowlist_has_no_stale_entries.
_RESERVED = (
    "constructs/lambda_function.py RESERVED_VARIABLES gives every function LOG_LEVEL, METRICS_NAMESPACE and ENVIRONMENT"
)
SET_BUT_UNREAD: dict[tuple[str, str], str] = {
    ("evaluate", "METRICS_NAMESPACE"): f"{_RESERVED}; evaluate emits no EMF metric",
    ("evaluate", "ENVIRONMENT"): f"{_RESERVED}; evaluate emits no EMF metric (ENVIRONMENT is its only dimension)",
    ("traffic_shift", "METRICS_NAMESPACE"): f"{_RESERVED}; traffic_shift emits no EMF metric",
    ("traffic_shift", "ENVIRONMENT"): f"{_RESERVED}; traffic_shift emits no EMF metric (nor any dimension)",
    ("validate", "METRICS_NAMESPACE"): f"{_RESERVED}; validate emits no EMF metric (the workflow reports its outcome)",
    ("validate", "ENVIRONMENT"): f"{_RESERVED}; validate emits no EMF metric (ENVIRONMENT is its only dimension)",
    ("approval", "METRICS_NAMESPACE"): f"{_RESERVED}; approval emits no EMF metric (decisions are in the registry)",
    ("approval", "ENVIRONMENT"): f"{_RESERVED}; approval emits no EMF metric (ENVIRONMENT is its only dimension)",
}

_HANDLER = re.compile(r"(?P<fn>[a-z_][a-z0-9_]*)\.handler")


@dataclass(frozen=True)
class EnvRead:
    """One read of an environment variable in handler source."""

    variable: str | None  # None: the name is not a literal, so the contract cannot be checked
    required: bool  # unset (or blank) fails the invocation
    where: str  # file:line
    code: str  # the read as written

    def __str__(self) -> str:
        return f"{self.where} {self.code}"


# --- the checker: environment reads ---


@dataclass
class _Names:
    """What the names of one module refer to (helpers and os, possibly aliased)."""

    helpers: dict[str, str]  # local name → helper name
    os_modules: set[str]
    environ: set[str]  # names bound to os.environ
    getenv: set[str]  # names bound to os.getenv
    constants: dict[str, str]  # module-level NAME = "literal"


def _names_of(tree: ast.Module) -> _Names:
    names = _Names({h: h for h in HELPER_DEFAULT_POSITION}, {"os"}, set(), set(), {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.os_modules |= {alias.asname or alias.name for alias in node.names if alias.name == "os"}
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and node.level == 0:
            names.environ |= {alias.asname or alias.name for alias in node.names if alias.name == "environ"}
            names.getenv |= {alias.asname or alias.name for alias in node.names if alias.name == "getenv"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "settings":
            for alias in node.names:
                if alias.name in HELPER_DEFAULT_POSITION:
                    names.helpers[alias.asname or alias.name] = alias.name
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            names.constants[node.targets[0].id] = node.value.value
    return names


def _literal(node: ast.expr | None, names: _Names) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.constants.get(node.id)
    return None


def _is_environ(node: ast.expr, names: _Names) -> bool:
    if isinstance(node, ast.Name):
        return node.id in names.environ
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id in names.os_modules
    )


def _helper_of(call: ast.Call, names: _Names) -> str | None:
    if isinstance(call.func, ast.Name):
        return names.helpers.get(call.func.id)
    if isinstance(call.func, ast.Attribute) and call.func.attr in HELPER_DEFAULT_POSITION:
        return call.func.attr
    return None


def _default_given(call: ast.Call, position: int) -> bool:
    given = call.args[position] if len(call.args) > position else None
    given = given or next((kw.value for kw in call.keywords if kw.arg == "default"), None)
    if any(isinstance(arg, ast.Starred) for arg in call.args) or any(kw.arg is None for kw in call.keywords):
        return False  # *args/**kwargs: cannot tell, assume required
    return given is not None and not (isinstance(given, ast.Constant) and given.value is None)


def _call_read(call: ast.Call, names: _Names) -> tuple[ast.expr | None, bool] | None:
    """(name argument, required) when ``call`` reads an environment variable."""
    helper = _helper_of(call, names)
    if helper is not None:
        position = HELPER_DEFAULT_POSITION[helper]
        return (call.args[0] if call.args else None), position is not None and not _default_given(call, position)
    func = call.func
    is_get = isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value, names)
    is_getenv = (isinstance(func, ast.Name) and func.id in names.getenv) or (
        isinstance(func, ast.Attribute)
        and func.attr == "getenv"
        and isinstance(func.value, ast.Name)
        and func.value.id in names.os_modules
    )
    if is_get or is_getenv:
        return (call.args[0] if call.args else None), False  # None (or the given default) when unset
    return None


def _node_read(node: ast.AST, names: _Names) -> tuple[ast.expr | None, bool] | None:
    if isinstance(node, ast.Call):
        return _call_read(node, names)
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value, names):
        return node.slice, True  # KeyError when unset
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.In | ast.NotIn)
        and _is_environ(node.comparators[0], names)
    ):
        return node.left, False  # presence test
    return None


def env_reads(source: str, filename: str) -> list[EnvRead]:
    """Every environment variable read in ``source``, in line order."""
    tree = ast.parse(source, filename=filename)
    names = _names_of(tree)
    reads = []
    for node in ast.walk(tree):
        found = _node_read(node, names)
        if found is not None and isinstance(node, ast.expr):
            name_node, required = found
            where = f"{filename}:{node.lineno}"
            reads.append(EnvRead(_literal(name_node, names), required, where, ast.unparse(node)))
    return sorted(reads, key=lambda read: (int(read.where.rsplit(":", 1)[1]), read.code))


# --- the checker: which files a function's handler runs ---


def _module_file(module: str, source_root: Path) -> Path | None:
    """The file of a runtime module name in a function's zip (``<fn>`` or ``mlp_common[.x]``), if it is ours."""
    target = source_root.joinpath(*module.split("."))
    for candidate in (target.with_suffix(".py"), target / "__init__.py"):
        if module.split(".")[0] == "mlp_common" and candidate.is_file():
            return candidate
    return None


def _imported_names(tree: ast.Module, package: str) -> Iterator[str]:
    """Runtime module names an import may load (a ``from m import x`` may load the submodule ``m.x``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base = parts[: len(parts) - node.level + 1] if node.level <= len(parts) else None
                if base is None:
                    continue  # beyond the zip root: fails at runtime, cannot load our code
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def handler_files(function: str, source_root: Path = LAMBDA_SRC) -> list[Path]:
    """``<fn>/<fn>.py`` and every mlp_common module it imports, transitively (what runs in the function)."""
    entry = source_root / function / f"{function}.py"
    files, pending = {entry: function}, [(entry, "")]  # the handler module is top-level in its zip
    while pending:
        path, package = pending.pop()
        for name in _imported_names(ast.parse(path.read_text(), filename=str(path)), package):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing mlp_common.x runs mlp_common/__init__.py first
                found = _module_file(".".join(parts[:depth]), source_root)
                if found is not None and found not in files:
                    module = ".".join(parts[:depth])
                    files[found] = module
                    pending.append((found, module if found.name == "__init__.py" else module.rpartition(".")[0]))
    return sorted(files)


def function_reads(function: str, source_root: Path = LAMBDA_SRC) -> list[EnvRead]:
    """Every read the function's code makes. The helpers' own reads in settings.py (``os.environ.get(name)``) are
    the mechanism, not a variable: they are counted at the helpers' call sites."""
    settings_file = source_root.joinpath(*SETTINGS_MODULE.split(".")).with_suffix(".py")
    reads = []
    for path in handler_files(function, source_root):
        where = path.relative_to(source_root.parent).as_posix()
        reads += [
            read for read in env_reads(path.read_text(), where) if not (path == settings_file and read.variable is None)
        ]
    return reads


# --- the construct side ---


@dataclass(frozen=True)
class DeployedFunction:
    stack: str
    path: str  # construct path
    function: str  # lambda_src folder, from the handler string
    variables: dict[str, str]

    def __str__(self) -> str:
        return f"{self.stack}: function {self.function} ({self.path})"


def deployed_functions(synth: Synth) -> list[DeployedFunction]:
    functions = []
    pipelines = sorted(name for name in synth.stacks if name.startswith("ml-pipeline-"))
    assert pipelines, f"no ml-pipeline-* stack among {sorted(synth.stacks)}"
    for stack in pipelines:
        bodies = of_type(synth.stack(stack), "aws_lambda_function").values()
        assert bodies, f"{stack} has no aws_lambda_function: the contract would be checked on nothing"
        for body in bodies:
            match = _HANDLER.fullmatch(body["handler"])
            assert match, f"{stack} {path_of(body)}: handler {body['handler']!r} is not '<fn>.handler'"
            variables = body.get("environment", {}).get("variables", {})
            functions.append(DeployedFunction(stack, path_of(body), match["fn"], variables))
    return functions


@pytest.fixture(params=["synthesized", "phase_two"], scope="module")
def deployed(request: pytest.FixtureRequest) -> list[DeployedFunction]:
    """The functions of every ml-pipeline-* stack, in phase one (committed config) and phase two."""
    return deployed_functions(request.getfixturevalue(request.param))


@pytest.fixture(scope="module")
def reads_by_function() -> dict[str, list[EnvRead]]:
    functions = sorted(path.parent.name for path in LAMBDA_SRC.glob("*/*.py") if path.stem == path.parent.name)
    assert functions, "no lambda_src/<fn>/<fn>.py found"
    return {function: function_reads(function) for function in functions}


# --- the contract ---


def test_every_function_has_its_handler_module(deployed, reads_by_function):
    missing = sorted(
        {f"{fn}: lambda_src/{fn.function}/{fn.function}.py" for fn in deployed if fn.function not in reads_by_function}
    )
    assert missing == [], "handler string names a module that does not exist:\n" + "\n".join(missing)


def _missing_required(fn: DeployedFunction, reads: list[EnvRead]) -> Iterator[str]:
    for read in reads:
        if not read.required or read.variable is None:
            continue
        value = fn.variables.get(read.variable)
        if value is None:
            yield f"{fn} does not set {read.variable}, which its handler requires: {read}"
        elif not value.strip():
            yield f"{fn} sets {read.variable} blank, which its handler reads as unset and refuses: {read}"


def test_every_variable_a_handler_requires_is_set_by_its_construct(deployed, reads_by_function):
    problems = [problem for fn in deployed for problem in _missing_required(fn, reads_by_function.get(fn.function, []))]
    assert problems == [], "\n".join(problems)


def test_every_variable_a_construct_sets_is_read_by_its_handler(deployed, reads_by_function):
    problems = []
    for fn in deployed:
        read = {r.variable for r in reads_by_function.get(fn.function, [])}
        for variable in sorted(fn.variables):
            if variable not in read and (fn.function, variable) not in SET_BUT_UNREAD:
                problems.append(
                    f"{fn} sets {variable}, which no code of lambda_src/{fn.function}/{fn.function}.py or the "
                    "mlp_common modules it imports reads: dead configuration (remove it, or add it to "
                    "SET_BUT_UNREAD with the reason)"
                )
    assert problems == [], "\n".join(problems)


def test_unread_allowlist_has_no_stale_entries(deployed, reads_by_function):
    stale = []
    for (function, variable), _reason in SET_BUT_UNREAD.items():
        if any(r.variable == variable for r in reads_by_function.get(function, [])):
            stale.append(f"{function} {variable}: the handler reads it now")
        if not any(fn.function == function and variable in fn.variables for fn in deployed):
            stale.append(f"{function} {variable}: no stack sets it any more")
    assert stale == [], "remove from SET_BUT_UNREAD:\n" + "\n".join(stale)


def test_every_environment_read_names_its_variable_literally(reads_by_function):
    unnamed = sorted({str(r) for reads in reads_by_function.values() for r in reads if r.variable is None})
    assert unnamed == [], "the contract cannot be checked for a read whose name is not a literal:\n" + "\n".join(
        unnamed
    )


def test_helper_table_matches_settings_py():
    tree = ast.parse((LAMBDA_SRC / "mlp_common" / "settings.py").read_text())
    helpers: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("env_"):
            positional = [arg.arg for arg in (*node.args.posonlyargs, *node.args.args)]
            helpers[node.name] = positional.index("default") if "default" in positional else None
    assert helpers == HELPER_DEFAULT_POSITION


# --- the checker finds what it must (it can fail) ---


HANDLER_SOURCE = """\
import os
from os import environ as env, getenv
from mlp_common import settings
from mlp_common.settings import env_choice, env_flag, env_int, env_str as text

TABLE = "TABLE_FROM_CONSTANT"

def config(name):
    return dict(
        a=text("REQUIRED_STR"),
        b=text("DEFAULTED_STR", "x"),
        c=text("NONE_DEFAULT", None),
        d=env_int("REQUIRED_INT", minimum=1),
        e=env_int("DEFAULTED_INT", default=3, minimum=1),
        f=settings.env_float("REQUIRED_FLOAT"),
        g=env_choice("CHOICE", ("a", "b"), "a"),
        h=env_flag("FLAG"),
        i=os.environ["SUBSCRIPT"],
        j=os.environ.get("GET"),
        k=getenv("GETENV", "v"),
        l="PRESENT" in env,
        m=text(TABLE),
        n=text(name),
    )

os.environ["WRITTEN"] = "not a read"
"""


def test_checker_classifies_each_kind_of_read():
    reads = [(r.variable, r.required) for r in env_reads(HANDLER_SOURCE, "fn.py")]
    assert reads == [
        ("REQUIRED_STR", True),
        ("DEFAULTED_STR", False),
        ("NONE_DEFAULT", True),
        ("REQUIRED_INT", True),
        ("DEFAULTED_INT", False),
        ("REQUIRED_FLOAT", True),
        ("CHOICE", False),
        ("FLAG", False),
        ("SUBSCRIPT", True),
        ("GET", False),
        ("GETENV", False),
        ("PRESENT", False),
        ("TABLE_FROM_CONSTANT", True),
        (None, True),
    ]


def test_checker_says_where_a_read_is():
    assert [str(r) for r in env_reads('x = 1\nenv_str("A")\n', "lambda_src/fn/fn.py")] == [
        "lambda_src/fn/fn.py:2 env_str('A')"
    ]


def test_checker_follows_mlp_common_imports_transitively(tmp_path):
    source = tmp_path / "lambda_src"
    (source / "fn").mkdir(parents=True)
    (source / "mlp_common").mkdir()
    (source / "fn" / "fn.py").write_text("from mlp_common import first\n")
    (source / "mlp_common" / "__init__.py").write_text("")
    (source / "mlp_common" / "first.py").write_text("from .second import value\n")
    (source / "mlp_common" / "second.py").write_text("import os\nvalue = os.environ['DEEP']\n")
    (source / "mlp_common" / "unused.py").write_text("import os\nos.environ['NOT_IMPORTED']\n")
    assert [str(r) for r in function_reads("fn", source)] == ["lambda_src/mlp_common/second.py:2 os.environ['DEEP']"]


def test_missing_required_variable_is_reported():
    fn = DeployedFunction("ml-pipeline-dev", "ml-pipeline-dev/functions/fn/function", "fn", {"SET": "x", "BLANK": " "})
    reads = env_reads('env_str("SET")\nenv_str("UNSET")\nenv_str("BLANK")\nenv_str("OPTIONAL", "d")\n', "fn.py")
    assert list(_missing_required(fn, reads)) == [
        "ml-pipeline-dev: function fn (ml-pipeline-dev/functions/fn/function) does not set UNSET, which its handler "
        "requires: fn.py:2 env_str('UNSET')",
        "ml-pipeline-dev: function fn (ml-pipeline-dev/functions/fn/function) sets BLANK blank, which its handler "
        "reads as unset and refuses: fn.py:3 env_str('BLANK')",
    ]


# --- table contracts: index names, key attributes, shard count --------------------------------------------------
#
# The construct side (constructs/tables.py) and the handler side (lambda_src, read with ast as above) each define the
# names and the shard count once; these tests fail when the two drift, or when the synthesized index is not theirs.

TABLE_CONTRACT: dict[str, tuple[str, ...]] = {
    # handler module (under lambda_src) → constants that must equal constructs/tables.py's of the same name
    "mlp_common/predictions.py": (
        "PREDICTIONS_VARIANT_INDEX",
        "PREDICTIONS_VARIANT_SHARD_ATTRIBUTE",
        "PREDICTIONS_CREATED_AT_ATTRIBUTE",
        "PREDICTIONS_VARIANT_SHARDS",
    ),
    "inference/inference.py": ("REGISTRY_STATUS_INDEX",),
}


def module_constants(source: str) -> dict[str, Any]:
    """Module-level ``NAME = <str or int literal>`` (annotated or not) of a source file."""
    constants: dict[str, Any] = {}
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        target = node.target if isinstance(node, ast.AnnAssign) else target
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str | int):
            constants[target.id] = value.value
    return constants


def contract_drift(source_root: Path = LAMBDA_SRC) -> list[str]:
    """Every constant of TABLE_CONTRACT whose handler-side value differs from constructs/tables.py's."""
    import constructs.tables as tables

    drift = []
    for module, names in TABLE_CONTRACT.items():
        handler = module_constants((source_root / module).read_text())
        for name in names:
            if handler.get(name, "<missing>") != getattr(tables, name):
                drift.append(
                    f"{name}: lambda_src/{module} has {handler.get(name, '<missing>')!r}, "
                    f"constructs/tables.py has {getattr(tables, name)!r}"
                )
    return drift


def test_handler_and_construct_define_the_same_indexes_and_shard_count():
    assert contract_drift() == []


def test_every_stack_builds_the_sharded_predictions_index_of_the_contract(synthesized, phase_two):
    import constructs.tables as tables

    expected = [
        {
            "name": tables.PREDICTIONS_VARIANT_INDEX,
            "hash_key": tables.PREDICTIONS_VARIANT_SHARD_ATTRIBUTE,
            "range_key": tables.PREDICTIONS_CREATED_AT_ATTRIBUTE,
            "projection_type": "ALL",
        }
    ]
    for synth in (synthesized, phase_two):
        for name in sorted(n for n in synth.stacks if n.startswith("ml-pipeline-")):
            predictions = [
                t
                for t in of_type(synth.stack(name), "aws_dynamodb_table").values()
                if path_of(t).endswith("/tables/predictions")
            ]
            assert len(predictions) == 1, name
            assert predictions[0]["global_secondary_index"] == expected, name


def test_contract_drift_is_reported(tmp_path):
    """The check can fail: a handler side with another shard count and index name is named, value by value."""
    source = tmp_path / "lambda_src"
    for module in TABLE_CONTRACT:
        (source / module).parent.mkdir(parents=True, exist_ok=True)
        (source / module).write_text((LAMBDA_SRC / module).read_text())
    predictions = source / "mlp_common" / "predictions.py"
    text = predictions.read_text()
    text = text.replace("PREDICTIONS_VARIANT_SHARDS = 16", "PREDICTIONS_VARIANT_SHARDS = 8")
    text = text.replace('PREDICTIONS_VARIANT_INDEX = "by-variant-shard-time"', 'PREDICTIONS_VARIANT_INDEX = "by-x"')
    predictions.write_text(text)
    (source / "inference" / "inference.py").write_text("MODELS_LIMIT = 50\n")
    assert contract_drift(source) == [
        "PREDICTIONS_VARIANT_INDEX: lambda_src/mlp_common/predictions.py has 'by-x', constructs/tables.py has "
        "'by-variant-shard-time'",
        "PREDICTIONS_VARIANT_SHARDS: lambda_src/mlp_common/predictions.py has 8, constructs/tables.py has 16",
        "REGISTRY_STATUS_INDEX: lambda_src/inference/inference.py has '<missing>', constructs/tables.py has "
        "'by-status'",
    ]
