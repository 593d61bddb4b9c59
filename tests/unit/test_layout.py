"""The repository layout rules that keep the app importable and the README honest."""

import ast
import re
import subprocess
from dataclasses import dataclass
from pathlib import PurePosixPath

import pytest

from tests.conftest import ROOT


def test_constructs_folder_has_no_init_py():
    assert not (ROOT / "constructs" / "__init__.py").exists(), (
        "constructs/__init__.py makes our folder a regular package named `constructs`, which shadows the constructs "
        "library that cdktf imports: nothing would import any more. Our modules are reached through the library's "
        "package path instead (see stacks/__init__.py)."
    )


def test_our_construct_modules_import_beside_the_library():
    import constructs
    from constructs.naming import Naming

    assert hasattr(constructs, "Construct")  # still the library
    assert Naming("p", "dev").name("raw") == "p-raw-dev"


def test_readme_documents_exactly_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)", quickstart, flags=re.MULTILINE)
    assert commands == ["make synth", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_committed_file_names_a_package_registry_host():
    hosts = "|".join(
        ["pypi" + r"\.org", "files" + r"\.pythonhosted", "registry" + r"\.npmjs", "registry" + r"\.yarnpkg"]
    )
    found = subprocess.run(["git", "grep", "-nIE", hosts], cwd=ROOT, capture_output=True, text=True, check=False)
    assert found.stdout == "", found.stdout


def test_pinned_stack():
    pipfile = (ROOT / "Pipfile").read_text()
    assert 'cdktf = "==0.21.0"' in pipfile
    assert 'cdktf-cdktf-provider-aws = "==20.1.0"' in pipfile
    assert 'url = "${PIP_INDEX_URL}"' in pipfile
    assert '"cdktf-cli": "0.21.0"' in (ROOT / "package.json").read_text()


# --- Layers point one way: main.py → stacks/ → constructs/; lambda_src/ imports none of them (ARCHITECTURE §1) ---


@dataclass(frozen=True)
class LayerRule:
    forbidden: frozenset[str]  # top-level module names this layer must not import, in any form
    reason: str  # why, for the assertion message


LAYER_RULES = {
    "constructs": LayerRule(
        frozenset({"stacks", "main"}),
        "a construct must not know the app that composes it. constructs/ is the library layer "
        "(main.py → stacks/ → constructs/): stacks/ passes settings and wiring down and nothing flows back up. "
        "Move the shared value into constructs/ and let stacks/ import it from there",
    ),
    "stacks": LayerRule(
        frozenset({"main"}),
        "main.py is the entry point that composes stacks/ (load config → App → synth); a stack importing it "
        "points the layers backwards and couples the app to the CLI",
    ),
    "lambda_src": LayerRule(
        frozenset({"main", "stacks", "constructs", "cdktf", "cdktf_cdktf_provider_aws", "pydantic"}),
        "handler code is zipped alone (<fn>.py + mlp_common/) and runs on the python3.12 Lambda runtime with the "
        "standard library and boto3 only: it cannot import the app (main.py, stacks/, our constructs/ or the "
        "constructs library) nor the synth-time libraries cdktf and pydantic",
    ),
}


def imported_modules(source: str, path: str) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in ``source``, at any depth (functions, ``if TYPE_CHECKING``),
    including ``importlib.import_module``/``__import__`` of a literal name. Relative imports are resolved against the
    folders of ``path`` (repository-relative)."""
    package = list(PurePosixPath(path).parent.parts)
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [(node.lineno, name) for name in _from_import_targets(node, package)]
        elif isinstance(node, ast.Call) and (name := _dynamic_import_target(node)):
            found.append((node.lineno, name))
    return sorted(found)


def _from_import_targets(node: ast.ImportFrom, package: list[str]) -> list[str]:
    module = node.module.split(".") if node.module else []
    if node.level == 0:
        base = module
    else:
        keep = len(package) - (node.level - 1)
        if keep < 0:  # above the repository root: cannot name one of our layers
            return ["." * node.level + (node.module or "")]
        base = package[:keep] + module
    if node.module:
        return [".".join(base)]
    return [".".join([*base, alias.name]) for alias in node.names]  # `from .. import stacks`


def _dynamic_import_target(node: ast.Call) -> str | None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and not first.value.startswith("."):
        return first.value
    return None


def forbidden_imports(source: str, path: str) -> list[str]:
    """One message per import in ``source`` (the module at repository-relative ``path``) that its layer forbids."""
    rule = LAYER_RULES.get(PurePosixPath(path).parts[0])
    if rule is None:
        return []
    return [
        f"{path}:{line} imports {module}, which {PurePosixPath(path).parts[0]}/ must not import: {rule.reason}."
        for line, module in imported_modules(source, path)
        if module.split(".")[0] in rule.forbidden
    ]


def _layer_violations(folder: str) -> list[str]:
    modules = sorted(
        path
        for path in (ROOT / folder).rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)  # .mypy_cache and the like
    )
    assert modules, f"no Python modules under {folder}/: the check would pass on nothing"
    return [
        problem
        for path in modules
        for problem in forbidden_imports(path.read_text(), path.relative_to(ROOT).as_posix())
    ]


def test_constructs_import_neither_stacks_nor_main():
    problems = _layer_violations("constructs")
    assert problems == [], "\n".join(problems)


def test_stacks_do_not_import_main():
    problems = _layer_violations("stacks")
    assert problems == [], "\n".join(problems)


def test_lambda_src_imports_neither_the_app_nor_synth_libraries():
    problems = _layer_violations("lambda_src")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("path", "source", "line", "module"),
    [
        ("constructs/example.py", "import stacks\n", 1, "stacks"),
        ("constructs/example.py", "import stacks.config_sections\n", 1, "stacks.config_sections"),
        (
            "constructs/example.py",
            "from stacks.config_sections import LOG_RETENTION_DAYS\n",
            1,
            "stacks.config_sections",
        ),
        ("constructs/example.py", "from stacks import config\n", 1, "stacks"),
        ("constructs/example.py", "from .. import stacks\n", 1, "stacks"),
        ("constructs/example.py", "from ..stacks.config import AppConfig\n", 1, "stacks.config"),
        ("constructs/example.py", "def build():\n    from stacks.config import AppConfig\n", 2, "stacks.config"),
        ("constructs/example.py", "if TYPE_CHECKING:\n    import main\n", 2, "main"),
        ("constructs/example.py", "import importlib\nimportlib.import_module('stacks.config')\n", 2, "stacks.config"),
        ("stacks/example.py", "import main\n", 1, "main"),
        ("stacks/example.py", "from main import run\n", 1, "main"),
        ("stacks/example.py", "from .. import main\n", 1, "main"),
        ("lambda_src/inference/inference.py", "from constructs import Construct\n", 1, "constructs"),
        ("lambda_src/inference/inference.py", "from constructs.naming import Naming\n", 1, "constructs.naming"),
        ("lambda_src/mlp_common/log.py", "from stacks.config import AppConfig\n", 1, "stacks.config"),
        ("lambda_src/mlp_common/log.py", "from ... import main\n", 1, "main"),
        ("lambda_src/evaluate/evaluate.py", "import cdktf\n", 1, "cdktf"),
        ("lambda_src/evaluate/evaluate.py", "from pydantic import BaseModel\n", 1, "pydantic"),
        (
            "lambda_src/evaluate/evaluate.py",
            "import cdktf_cdktf_provider_aws.s3_bucket\n",
            1,
            "cdktf_cdktf_provider_aws.s3_bucket",
        ),
    ],
)
def test_layer_checker_reports_an_upward_import(path, source, line, module):
    layer = PurePosixPath(path).parts[0]
    assert forbidden_imports(source, path) == [
        f"{path}:{line} imports {module}, which {layer}/ must not import: {LAYER_RULES[layer].reason}."
    ]


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("constructs/example.py", "from constructs import Construct\nfrom constructs.naming import Naming\n"),
        ("constructs/example.py", "from . import naming\nimport stacksutil\nimport mainframe\n"),
        ("stacks/example.py", "from stacks.config import AppConfig\nfrom . import main\nimport constructs\n"),
        ("lambda_src/inference/inference.py", "import json\nimport botocore.session\nfrom mlp_common import aws\n"),
        ("main.py", "from stacks.app import build_app\nfrom constructs.naming import NamingError\n"),
    ],
)
def test_layer_checker_accepts_downward_and_unrelated_imports(path, source):
    assert forbidden_imports(source, path) == []
