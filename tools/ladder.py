"""The verification ladder on both cores: ``python -m tools.ladder`` (what ``make test`` runs).

The emulator round (the story of `make demo` and the round's own checks: mostly waiting on Terraform and the
emulator) runs in one pytest process, everything else (unit, handlers, properties, validate, checkov, linters of what
we generate, the second-account round) in a second one, side by side: the two lanes take about as long. Each writes
its own log; a failing lane prints its log, and the table at the end gives each lane's wall time. Extra arguments
go to both pytest runs (e.g. ``-x``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / ".ladder"


@dataclass(frozen=True)
class Lane:
    name: str
    selection: tuple[str, ...]  # pytest arguments choosing the lane's tests

    @property
    def log(self) -> Path:
        return LOG_DIR / f"{self.name}.log"


ROUND = "tests/emulator/test_round.py"
LANES = (
    Lane("round", (ROUND,)),
    Lane("rest", (f"--ignore={ROUND}",)),
)


def _summary_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("=")]
    return lines[-1].strip("= ") if lines else "(no pytest summary)"


def main(argv: list[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    LOG_DIR.mkdir(exist_ok=True)
    started = time.monotonic()
    running: dict[Lane, tuple[subprocess.Popen[bytes], float]] = {}
    for lane in LANES:
        command = [sys.executable, "-m", "pytest", *lane.selection, "-p", "no:cacheprovider", *extra]
        with lane.log.open("wb") as log:
            running[lane] = (
                subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT),  # noqa: S603 (our own pytest)
                time.monotonic(),
            )
        print(
            f"ladder: {lane.name:<8} started: pytest {' '.join(lane.selection)} (log: {lane.log.relative_to(ROOT)})",
            flush=True,
        )
    results: dict[Lane, tuple[int, float]] = {}
    try:
        while running:
            for lane, (process, began) in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                results[lane] = (code, time.monotonic() - began)
                del running[lane]
                state = "passed" if code == 0 else f"FAILED (exit {code})"
                print(
                    f"ladder: {lane.name:<8} {state} in {results[lane][1]:.0f} s: {_summary_line(lane.log)}", flush=True
                )
            time.sleep(1)
    except KeyboardInterrupt:
        for process, _ in running.values():
            process.terminate()
        for process, _ in running.values():
            process.wait(timeout=60)
        raise
    failed = [lane for lane, (code, _) in results.items() if code != 0]
    for lane in failed:
        print(f"\n----- {lane.name} log -----", flush=True)
        sys.stdout.write(lane.log.read_text(errors="replace"))
    print("\nladder: lane      seconds  result")
    for lane in LANES:
        code, seconds = results[lane]
        print(f"ladder: {lane.name:<9} {seconds:7.0f}  {'ok' if code == 0 else 'FAILED'}")
    print(f"ladder: total     {time.monotonic() - started:7.0f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
