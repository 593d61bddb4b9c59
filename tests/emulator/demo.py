"""`make demo`: the whole product on this machine, no AWS account, no Docker.

It starts the local emulator, then tells the story of tests/emulator/story.py — the steps the emulator round asserts
in CI — printing a progress line per step with its time, and the plan report of the phase flip. Everything lives in
a temporary folder and the emulator's memory: on success, failure or Ctrl-C the emulator is stopped and the folder
removed, so nothing is left running or written.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.emulator.emulator import ROOT, running_emulator
from tests.emulator.story import STEPS, Story

TITLES = {
    "bootstrap": "bootstrap the state backend",
    "deploy": "deploy dev with cdktf",
    "train": "train, register, approve",
    "set_model_data": "serve the approved version",
    "review_phase_flip": "review the phase flip",
    "apply_phase_two": "apply phase two",
    "predict": "predict through the API",
    "stream": "predict through the stream",
    "ab_split": "read the A/B split",
    "shift": "shift traffic off variant A",
    "destroy": "destroy",
}


CONSOLE = sys.stdout  # the handlers' JSON log and EMF lines go to a file instead (see main)


def _say(line: str) -> None:
    CONSOLE.write(line + "\n")
    CONSOLE.flush()


def _report(markdown: str) -> None:
    _say(textwrap.indent(markdown.strip(), "    │ "))


def main() -> int:
    context = json.loads((ROOT / "cdktf.json").read_text())["context"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlpipe-demo-") as folder:
        home = Path(folder)
        (home / "emulator").mkdir()
        print("demo: starting the local AWS emulator (moto + tests/emulator/server.py)", flush=True)
        try:
            with running_emulator(home / "emulator") as emulator, (home / "handlers.log").open("w") as handler_log:
                story = Story(emulator, home / "work", context, say=_report)
                (home / "work").mkdir()
                for number, step in enumerate(STEPS, start=1):
                    _say(f"[{number:2}/{len(STEPS)}] {TITLES[step]} ...")
                    began = time.monotonic()
                    with contextlib.redirect_stdout(handler_log):  # our handlers run in-process and log to stdout
                        said = getattr(story, step)()
                    _say(f"        {time.monotonic() - began:5.1f} s  {said}")
        except KeyboardInterrupt:
            _say("\ndemo: interrupted; the emulator is stopped and its folder removed")
            return 130
        except Exception as error:  # any failure: report the step, then clean up (the with-blocks)
            _say(f"\ndemo: FAILED: {type(error).__name__}: {error}")
            return 1
    print(f"demo: done in {time.monotonic() - started:.0f} s; the emulator is stopped, nothing is left behind")
    return 0


if __name__ == "__main__":
    sys.exit(main())
