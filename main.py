#!/usr/bin/env python
"""Entry point: load and validate the config in cdktf.json, build the stacks, synthesize.

Run by `cdktf synth|deploy` (see cdktf.json "app") or directly as `python main.py`; both write the same cdktf.out/.
Exit code 2 on invalid configuration (every problem listed) or an output folder that is not ours to replace;
either way nothing is written and nothing is deleted.
"""

import os
import sys
from pathlib import Path

# Set before jsii starts its Node.js runtime: Node 20 prints an end-of-life banner on every synth otherwise.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from constructs.naming import NamingError  # noqa: E402
from stacks.config import ConfigError, load_config  # noqa: E402
from stacks.output_folder import OutputFolderError, write_output  # noqa: E402


def synth(outdir: Path) -> None:
    """Validate the config, then synthesize into a fresh folder swapped in for ``outdir`` (see stacks/output_folder)."""
    config = load_config(ROOT / "cdktf.json")
    from stacks.app import build_app  # imported after validation: a config error does not wait for the provider

    write_output(outdir, lambda folder: build_app(config, str(folder)).synth())


def main() -> int:
    outdir = Path(os.environ.get("CDKTF_OUTDIR") or ROOT / "cdktf.out")
    try:
        synth(outdir)
    except (ConfigError, NamingError, OutputFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
