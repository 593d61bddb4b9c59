"""Terraform CLI configuration for offline use: the provider comes from a local filesystem mirror when one exists.

The machine image may carry an unpacked mirror of hashicorp/aws (registry.terraform.io/hashicorp/aws/<v>/<os_arch>/).
``TF_PROVIDER_MIRROR`` names it explicitly; otherwise the usual locations are tried; with no mirror at all the config
is empty and Terraform uses the public registry. Run as ``python -m tests.support.terraform_cli OUT`` (the Makefile
does) or call :func:`write_cli_config` (the tests do).
"""

import os
import sys
from pathlib import Path

MIRROR_ENV = "TF_PROVIDER_MIRROR"
CANDIDATES = (
    "/opt/tf-plugins",
    "/usr/share/terraform/plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
)
PROVIDER_DIR = "registry.terraform.io/hashicorp/aws"


def find_mirror(environ: dict[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    explicit = environ.get(MIRROR_ENV)
    candidates = [explicit] if explicit else list(CANDIDATES)
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if (path / PROVIDER_DIR).is_dir():
            return path
    if explicit:
        raise SystemExit(f"{MIRROR_ENV}={explicit} holds no {PROVIDER_DIR}")
    return None


def render(mirror: Path | None) -> str:
    if mirror is None:
        return "# no local provider mirror found: providers come from the public registry\n"
    return (
        "# written by tests/support/terraform_cli.py: providers from the local mirror, nothing from the network\n"
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        "}\n"
    )


def write_cli_config(path: Path, environ: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(find_mirror(environ)))
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".terraform-cli.tfrc")
    print(write_cli_config(out))
