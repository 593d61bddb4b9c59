"""main.py as a subprocess against a temporary copy of the project: exit codes, error output, atomic output swap.

Each test copies main.py, cdktf.json, stacks/ and constructs/ into tmp_path and points CDKTF_OUTDIR into tmp_path, so
the repository's own cdktf.out/ is never touched. Only one test runs a full synth (~4 s); the failing runs stop at the
configuration or at a stub ``build_app`` and take well under a second each.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Until tests/conftest.py exists: repo root on sys.path, and `import stacks` makes `constructs.<module>` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import stacks  # noqa: F401
from stacks.output_folder import MARKER, MARKER_TEXT
from tests.support.synth import COMMITTED_STACKS

# isort: split
import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("main.py", "cdktf.json", "stacks", "constructs", "lambda_src")
STACKS = set(COMMITTED_STACKS)
UNKNOWN_KEY = "unknown key (check the spelling; unknown keys are rejected)"
TIMEOUT = 300


@dataclass
class Project:
    root: Path  # the copied project (main.py, cdktf.json, stacks/, constructs/)
    outdir: Path  # CDKTF_OUTDIR: <tmp>/cdktf.out, a sibling of root

    def edit_context(self, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.root / "cdktf.json"
        document = json.loads(path.read_text())
        change(document["context"])
        path.write_text(json.dumps(document, indent=2))

    def run(self, **extra_env: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ML_PIPELINE_") and k != "PYTHONPATH"}
        env.update(
            {
                "CDKTF_OUTDIR": str(self.outdir),
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
                "PYTHONDONTWRITEBYTECODE": "1",
                **extra_env,
            }
        )
        return subprocess.run(
            [sys.executable, "main.py"],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def leftovers(self) -> list[str]:
        """Temporary synth folders (.cdktf.out.*) next to the output folder."""
        return sorted(p.name for p in self.outdir.parent.glob(f".{self.outdir.name}.*"))


def make_project(base: Path) -> Project:
    root = base / "project"
    root.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    return Project(root=root, outdir=base / "cdktf.out")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (relative path → bytes), plus empty directories as b'<dir>'."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(folder.rglob("*"))
        if p.is_file() or not any(p.iterdir())
    }


def break_config(context: dict[str, Any]) -> None:
    """Three problems in three environments."""
    context["environments"]["dev"]["kinesis"]["shards"] = 2
    context["environments"]["staging"]["logs"]["retention_days"] = 42
    context["environments"]["prod"]["dynamodb"]["predictions_ttl_days"] = -1


BROKEN_CONFIG_PROBLEMS = [
    f"  - environment 'dev', field 'kinesis.shards': {UNKNOWN_KEY}",
    "  - environment 'staging', field 'logs.retention_days': 42 is not a CloudWatch Logs retention; allowed: "
    "[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] "
    "(got 42)",
    "  - environment 'prod', field 'dynamodb.predictions_ttl_days': "
    "Input should be greater than or equal to 1 (got -1)",
]

ARGUMENTS = {
    "NamingError": '"dev", "injected failure half-way through synth"',
    "RuntimeError": '"injected failure half-way through synth"',
}

# A stand-in for stacks/app.py whose synth writes part of the output and then fails.
HALF_WRITING_APP = """
from pathlib import Path

from constructs.naming import NamingError


class _HalfWritingApp:
    def __init__(self, outdir):
        self.outdir = Path(outdir)

    def synth(self):
        stack = self.outdir / "stacks" / "ml-pipeline-dev"
        stack.mkdir(parents=True)
        (stack / "cdk.tf.json").write_text('{"half": ')
        raise {exception}({arguments})


def build_app(config, outdir):
    return _HalfWritingApp(outdir)
"""


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, subprocess.CompletedProcess[str]]:
    """One real synth of the committed config, over a stale earlier output that must be replaced entirely."""
    project = make_project(tmp_path_factory.mktemp("good"))
    (project.outdir / "stacks" / "ml-pipeline-qa").mkdir(parents=True)
    (project.outdir / "stale.txt").write_text("from an earlier synth")
    (project.outdir / MARKER).write_text(MARKER_TEXT)
    return project, project.run()


@pytest.fixture
def previous_output(good_run: tuple[Project, subprocess.CompletedProcess[str]], tmp_path: Path) -> Project:
    """A fresh project copy whose outdir holds the output of the good run."""
    good, result = good_run
    assert result.returncode == 0, result.stderr
    project = make_project(tmp_path)
    shutil.copytree(good.outdir, project.outdir)
    return project


def test_bad_config_exits_2_lists_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.edit_context(break_config)

    result = project.run()

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: invalid configuration in cdktf.json (3 problem(s)):",
        *BROKEN_CONFIG_PROBLEMS,
    ]
    assert not project.outdir.exists()
    assert project.leftovers() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_bad_override_from_environment_exits_2(tmp_path: Path) -> None:
    project = make_project(tmp_path)

    result = project.run(ML_PIPELINE_ENDPOINTS_ENABLED_STAGING="yes")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: invalid configuration in cdktf.json (1 problem(s)):",
        "  - environment 'staging', field 'endpoints_enabled' (ML_PIPELINE_ENDPOINTS_ENABLED_STAGING): "
        "must be true or false",
    ]
    assert not project.outdir.exists()


def test_bad_config_leaves_previous_output_untouched(previous_output: Project) -> None:
    project = previous_output
    before = snapshot(project.outdir)
    assert {f"stacks/{s}/cdk.tf.json" for s in STACKS} <= set(before)
    project.edit_context(break_config)

    result = project.run()

    assert result.returncode == 2
    assert result.stderr.splitlines()[1:] == BROKEN_CONFIG_PROBLEMS
    assert snapshot(project.outdir) == before
    assert project.leftovers() == []


@pytest.mark.parametrize(
    ("exception", "exit_code"),
    [("NamingError", 2), ("RuntimeError", 1)],
)
def test_failure_during_synth_leaves_previous_output_untouched(
    previous_output: Project, exception: str, exit_code: int
) -> None:
    project = previous_output
    before = snapshot(project.outdir)
    (project.root / "stacks" / "app.py").write_text(
        HALF_WRITING_APP.replace("{exception}", exception).replace("{arguments}", ARGUMENTS[exception])
    )

    result = project.run()

    assert result.returncode == exit_code
    if exit_code == 2:
        assert result.stderr.splitlines() == ["error: environment 'dev': injected failure half-way through synth"]
    else:
        assert result.stderr.splitlines()[-1] == "RuntimeError: injected failure half-way through synth"
    assert snapshot(project.outdir) == before
    assert project.leftovers() == []


def test_good_run_exits_0(good_run: tuple[Project, subprocess.CompletedProcess[str]]) -> None:
    _, result = good_run
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower()


def test_good_run_writes_every_stack(good_run: tuple[Project, subprocess.CompletedProcess[str]]) -> None:
    project, _ = good_run
    stacks_dir = project.outdir / "stacks"
    assert {p.name for p in stacks_dir.iterdir()} == STACKS
    for stack in STACKS:
        document = json.loads((stacks_dir / stack / "cdk.tf.json").read_text())
        assert document["resource"], stack
    manifest = json.loads((project.outdir / "manifest.json").read_text())
    assert set(manifest["stacks"]) == STACKS


def test_good_run_replaces_the_previous_output_entirely(
    good_run: tuple[Project, subprocess.CompletedProcess[str]],
) -> None:
    project, _ = good_run
    assert not (project.outdir / "stale.txt").exists()
    assert not (project.outdir / "stacks" / "ml-pipeline-qa").exists()


def test_good_run_leaves_no_temporary_folders(good_run: tuple[Project, subprocess.CompletedProcess[str]]) -> None:
    project, _ = good_run
    assert project.leftovers() == []
    assert sorted(p.name for p in project.outdir.parent.iterdir()) == ["cdktf.out", "project"]


@pytest.mark.parametrize("target", [".", "stacks", "cdktf.json", "main.py/out"])
def test_an_output_folder_that_is_not_ours_is_refused_and_left_untouched(tmp_path: Path, target: str) -> None:
    project = make_project(tmp_path)
    (project.root / ".git").mkdir()
    (project.root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = snapshot(project.root)

    result = project.run(CDKTF_OUTDIR=str(project.root / target))

    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()  # one error line, no traceback
    assert line.startswith("error: ")
    assert snapshot(project.root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
