#!/usr/bin/env python
"""Entry point: load and validate the config in cdktf.json, build the stacks, synthesize.

Run by `cdktf synth|deploy` (see cdktf.json "app") or directly as `python main.py`; both write the same cdktf.out/.
Exit code 2 on invalid configuration, with every problem listed and no output written.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

# Set before jsii starts its Node.js runtime: Node 20 prints an end-of-life banner on every synth otherwise.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from constructs.naming import NamingError  # noqa: E402
from stacks.config import ConfigError, load_config  # noqa: E402


def synth(outdir: Path) -> None:
    """Synthesize into a fresh sibling folder, then swap it in: a failure never leaves half-written output."""
    config = load_config(ROOT / "cdktf.json")
    from stacks.app import build_app  # imported after validation: a config error does not wait for the provider

    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        build_app(config, str(staging)).synth()
        previous = outdir.with_name(f"{staging.name}.old")
        if outdir.exists():
            outdir.rename(previous)
        staging.rename(outdir)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main() -> int:
    outdir = Path(os.environ.get("CDKTF_OUTDIR") or ROOT / "cdktf.out")
    try:
        synth(outdir.resolve())
    except (ConfigError, NamingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
