"""Run the terraform CLI against synthesized stacks, offline, with our CLI config."""

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.terraform_cli import write_cli_config

ROOT = Path(__file__).resolve().parents[2]


def terraform_env(tmp_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for terraform: our CLI config (mirror if present), no checkpoint calls, no colour."""
    env = dict(os.environ)
    configured = env.get("TF_CLI_CONFIG_FILE", "")
    if not configured or not Path(configured).is_file():
        env["TF_CLI_CONFIG_FILE"] = str(write_cli_config(tmp_dir / "terraform-cli.tfrc"))
    env.update({"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"})
    env.update(extra or {})
    return env


def terraform(args: list[str], cwd: Path, env: dict[str, str], check: bool = True, timeout: int = 600):
    binary = shutil.which("terraform")
    assert binary, "terraform >= 1.10 must be on PATH"
    result = subprocess.run(
        [binary, *args, "-no-color"] if args[0] not in ("output", "version") else [binary, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"terraform {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result
