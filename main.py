#!/usr/bin/env python
"""Entry point: load and validate the config in cdktf.json, build the stacks, synthesize.

Run by `cdktf synth|deploy` (see cdktf.json "app") or directly as `python main.py`; both write the same cdktf.out/.
Exit code 2 on invalid configuration (every problem listed) or an output folder that is not ours to replace;
either way nothing is written and nothing is deleted.

jsii starts its Node.js runtime on the first import of a jsii package (constructs, cdktf), so :func:`main` starts it
itself, with :data:`LAZY_PROVIDER_REQUIRES` preloaded, before it imports the rest of the app.
"""

import gc
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Set before jsii starts its Node.js runtime: Node 20 prints an end-of-life banner on every synth otherwise.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

# The Node.js half of our lazy provider loading (constructs/aws_modules.py is the Python half). When jsii loads the
# provider's assembly, the package's lib/index.js requires all ~2,100 resource modules: about 2 s of compiling
# JavaScript and ~450 MiB of Node.js heap, of which a synth uses ~60 modules. This preload rewrites each
# `exports.<name> = require("./<module>");` line of that one file into a getter that requires the module on first
# use; the kernel reaches every class through those exports, so it still finds each class it is asked for. Nothing
# else is touched, and a line that does not have this exact shape stays as it was (eager: slower, still correct).
LAZY_PROVIDER_REQUIRES = r"""
const Module = require("module");
const compile = Module.prototype._compile;
const PROVIDER_INDEX = /[\\/]@cdktf[\\/]provider-aws[\\/]lib[\\/]index\.js$/;
const EAGER_EXPORT = /^exports\.(\w+) = require\("(\.\/[\w-]+)"\);$/gm;
Module.prototype._compile = function (content, filename) {
  if (PROVIDER_INDEX.test(filename)) {
    content = content.replace(EAGER_EXPORT, (_, name, path) =>
      `Object.defineProperty(exports, "${name}", ` +
      `{ enumerable: true, configurable: true, get: () => require("${path}") });`);
  }
  return compile.call(this, content, filename);
};
"""


@contextmanager
def node_preload(script: str) -> Iterator[None]:
    """Node.js processes started inside the block run ``script`` first (``--require``, appended to NODE_OPTIONS).

    The script lives in a temporary folder for the duration of the block only: Node.js reads it at start-up.
    """
    previous = os.environ.get("NODE_OPTIONS")
    with tempfile.TemporaryDirectory(prefix="ml-pipeline-node-") as folder:
        preload = Path(folder) / "preload.js"
        preload.write_text(script)
        os.environ["NODE_OPTIONS"] = " ".join(filter(None, [previous, f"--require {json.dumps(preload.as_posix())}"]))
        try:
            yield
        finally:
            if previous is None:
                del os.environ["NODE_OPTIONS"]
            else:
                os.environ["NODE_OPTIONS"] = previous


def start_jsii_runtime() -> None:
    """Start jsii's Node.js runtime with :data:`LAZY_PROVIDER_REQUIRES` preloaded.

    Loading the first jsii assembly starts the runtime, and jsii's handshake returns only once the runtime's Node.js
    processes have started, so the preload is no longer needed after the import. If the runtime already runs (a caller
    imported cdktf first), this changes nothing.
    """
    with node_preload(LAZY_PROVIDER_REQUIRES):
        import constructs  # noqa: F401  (the library; its assembly is the first one jsii loads)


def synth(outdir: Path) -> None:
    """Validate the config, then synthesize into a fresh folder swapped in for ``outdir`` (see stacks/output_folder)."""
    from stacks.config import load_config
    from stacks.output_folder import write_output

    config = load_config(ROOT / "cdktf.json")
    from stacks.app import build_app  # imported after validation: a config error does not wait for the provider

    write_output(outdir, lambda folder: build_app(config, str(folder)).synth())


def main() -> int:
    start_jsii_runtime()
    from constructs.naming import NamingError
    from stacks.config import ConfigError
    from stacks.output_folder import OutputFolderError

    outdir = Path(os.environ.get("CDKTF_OUTDIR") or ROOT / "cdktf.out")
    try:
        synth(outdir)
    except (ConfigError, NamingError, OutputFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    status = main()
    # After a synth the interpreter's teardown took 0.23 s, a tenth of the app's own time, collecting objects the
    # process is about to drop anyway; frozen out of the collector's reach, it takes 0.05 s. The output is written
    # and closed by now, and atexit handlers (jsii stopping Node.js and removing its files) still run.
    gc.freeze()
    sys.exit(status)
