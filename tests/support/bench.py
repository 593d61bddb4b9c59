"""Synth benchmark: the app against the naive provider import, against its floor, and at 12 environments.

Each run is a fresh ``python`` into a temporary CDKTF_OUTDIR, one per mode:

- ``lazy``: main.py, as ``python main.py`` runs it (the app as shipped);
- ``naive``: the same after ``import cdktf_cdktf_provider_aws``, which loads all ~2,100 provider modules and starts
  jsii's Node.js runtime before main.py can preload LAZY_PROVIDER_REQUIRES (so Node.js also loads the provider eagerly);
- ``floor``: the least a synth with this provider costs: one App, one TerraformStack holding only the AwsProvider,
  the provider loaded as constructs/aws_modules.py loads it, and jsii's Node.js runtime as it comes (the provider's
  whole JavaScript is loaded);
- ``floor-preload``: the same floor with main.py's Node.js preload (the provider's JavaScript loaded on use, as the
  app loads it);
- ``12-envs`` (``--scaling``, on by default): main.py in a temporary copy of the project whose cdktf.json has 9 more
  environments (cloned from the committed three, each in its own account).

Runs alternate between the modes (forward, then reversed: ABBA) to cancel drift. Wall time is measured here; just
before exiting, the child records len(sys.modules), its peak RSS, the peak RSS (VmHWM) of its jsii Node.js
descendants (still alive at that point) and how many round trips it made to the jsii kernel, by request type. lazy and
naive must write byte-identical output (every file, assets included), as must the two floors and every 12-env run;
``--reference DIR`` also compares the lazy output with an earlier synth (e.g. a cdktf.out from before a change).
The stream path's figures (tests/support/bench_stream.py) follow the synth table. Being over a target is reported,
not failed; differing outputs exit 1, as do stream results that differ between its two paths.

Run as ``python -m tests.support.bench [--runs N] [--no-scaling] [--reference DIR] [--json PATH]`` from the repository
root (``make bench`` does).
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REPORT_ENV = "BENCH_CHILD_REPORT"
RATIO_TARGET = 0.35  # lazy wall time / naive wall time
LAZY_RSS_TARGET_MIB = 650.0  # python + node
FLOOR_RATIO_TARGET = 1.25  # lazy wall time / floor wall time
SCALED_ENVIRONMENTS = 12
PROJECT_FILES = ("main.py", "cdktf.json", "stacks", "constructs", "lambda_src")
JSII_ENV = {
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}

# Every child counts its round trips to the jsii kernel (one counter per request: ~1 us of a ~500 us round trip).
# The module count is taken before this module is imported back, so the harness does not inflate it; the repository
# root goes last on sys.path, so a child in a project copy keeps importing the copy's own modules.
_CHILD = """\
import sys
from jsii._kernel.providers.process import _NodeProcess
calls = {{}}
_send = _NodeProcess.send
def _counted(process, request, response_type):
    calls[type(request).__name__] = calls.get(type(request).__name__, 0) + 1
    return _send(process, request, response_type)
_NodeProcess.send = _counted
try:
{body}
finally:
    modules = len(sys.modules)
    sys.path.append({root!r})
    from tests.support.bench import report_child
    report_child(modules, calls)
"""
_APP = """\
    {imports}import runpy
    sys.argv = ["main.py"]
    runpy.run_path("main.py", run_name="__main__")
"""
_FLOOR = """\
    import os
    {preload}import stacks
    from cdktf import App, TerraformStack
    from constructs.aws_modules import _package, aws
    _package()
    app = App(outdir=os.environ["CDKTF_OUTDIR"])
    aws.provider.AwsProvider(TerraformStack(app, "floor"), "aws", region="us-east-1")
    app.synth()
"""


def _child(body: str) -> str:
    return _CHILD.format(body=body, root=str(ROOT))


@dataclass(frozen=True)
class Mode:
    name: str
    source: str  # the child's program (python -c)
    group: str  # every run of every mode in a group must write byte-identical output
    scaled: bool = False  # runs in the project copy with SCALED_ENVIRONMENTS environments


MODES = (
    Mode("lazy", _child(_APP.format(imports="")), "app"),
    Mode("naive", _child(_APP.format(imports="import cdktf_cdktf_provider_aws\n    ")), "app"),
    Mode("floor", _child(_FLOOR.format(preload="")), "floor"),
    Mode("floor-preload", _child(_FLOOR.format(preload="import main\n    main.start_jsii_runtime()\n    ")), "floor"),
    Mode(f"{SCALED_ENVIRONMENTS}-envs", _child(_APP.format(imports="")), "scaled", scaled=True),
)
Outputs = dict[str, bytes]
Sample = dict[str, Any]


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # exited meanwhile
        return {}
    return {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}


def _descendants(root: int) -> list[int]:
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    parents = {pid: int(_status(pid).get("PPid", "0")) for pid in pids}
    found: list[int] = []
    frontier = [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def report_child(modules: int, calls: dict[str, int]) -> None:
    """Child side: module count, peak RSS (KiB) of this process and of its (node) descendants, jsii round trips."""
    node_kib = sum(int(_status(pid).get("VmHWM", "0 kB").split()[0]) for pid in _descendants(os.getpid()))
    python_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    report = {"modules": modules, "python_kib": python_kib, "node_kib": node_kib, "calls": calls}
    Path(os.environ[REPORT_ENV]).write_text(json.dumps(report))


def read_outputs(outdir: Path) -> Outputs:
    """Every file the synth wrote (relative path -> bytes): the cdk.tf.json files, the assets, the manifest."""
    return {str(path.relative_to(outdir)): path.read_bytes() for path in sorted(outdir.rglob("*")) if path.is_file()}


def run_once(mode: Mode, cwd: Path) -> tuple[Sample, Outputs]:
    """One synth in a fresh interpreter: wall time, peak RSS (MiB), module count and jsii round trips, plus its
    output."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        outdir, report = Path(tmp) / "cdktf.out", Path(tmp) / "report.json"
        env = {**os.environ, **JSII_ENV, "CDKTF_OUTDIR": str(outdir), REPORT_ENV: str(report)}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", mode.source], cwd=cwd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0 or not report.exists():
            sys.exit(f"{mode.name} synth failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        child = json.loads(report.read_text())
        python_mib, node_mib = child["python_kib"] / 1024, child["node_kib"] / 1024
        sample = {
            "wall_s": wall,
            "python_mib": python_mib,
            "node_mib": node_mib,
            "total_mib": python_mib + node_mib,
            "modules": child["modules"],
            "jsii_calls": sum(child["calls"].values()),
            "calls": child["calls"],
        }
        return sample, read_outputs(outdir)


def differences(reference: Outputs, other: Outputs) -> list[str]:
    """Files that are missing on one side or differ in any byte."""
    return sorted(name for name in reference.keys() | other.keys() if reference.get(name) != other.get(name))


def rotation(modes: list[Mode], index: int) -> list[Mode]:
    """Run ``index`` visits the modes forward if even, backward if odd (A B C, C B A, ...)."""
    return modes if index % 2 == 0 else modes[::-1]


def scaled_context(context: dict[str, Any], count: int) -> dict[str, Any]:
    """``context`` with environments added, cloned round-robin from its own, up to ``count`` environments: each has a
    distinct name (``envNN``) and its own account (``9000000000NN``), so it also gets its own state stack."""
    scaled = json.loads(json.dumps(context))
    environments = scaled["environments"]
    originals = list(environments.values())
    for number in range(len(originals) + 1, count + 1):
        clone = json.loads(json.dumps(originals[(number - 1) % len(originals)]))
        clone["account_ids"] = [f"{9 * 10**11 + number}"]
        environments[f"env{number:02d}"] = clone
    return scaled


@contextmanager
def scaled_project(count: int) -> Iterator[Path]:
    """A temporary copy of the project whose cdktf.json has ``count`` environments."""
    with tempfile.TemporaryDirectory(prefix="bench-project-") as tmp:
        project = Path(tmp)
        for name in PROJECT_FILES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, project / name)
        document = json.loads((ROOT / "cdktf.json").read_text())
        document["context"] = scaled_context(document["context"], count)
        (project / "cdktf.json").write_text(json.dumps(document, indent=2) + "\n")
        yield project


def benchmark(modes: list[Mode], runs: int, scaled: Path | None) -> tuple[dict[str, list[Sample]], dict[str, Outputs]]:
    """``runs`` samples of every mode, interleaved; exits 1 as soon as a group's outputs differ."""
    samples: dict[str, list[Sample]] = {mode.name: [] for mode in modes}
    first: dict[str, Outputs] = {}
    for index in range(runs):
        for mode in rotation(modes, index):
            sample, outputs = run_once(mode, scaled if mode.scaled and scaled else ROOT)
            wall, rss = sample["wall_s"], sample["total_mib"]
            print(f"  run {index + 1}/{runs} {mode.name:13}  {wall:6.2f} s  {rss:6.0f} MiB", flush=True)
            if not any(name.endswith("cdk.tf.json") for name in outputs):
                sys.exit(f"{mode.name} synth wrote no cdk.tf.json")
            reference = first.setdefault(mode.group, outputs)
            if differing := differences(reference, outputs):
                differ = ", ".join(differing)
                print(f"FAIL: {mode.name} output differs from the first {mode.group} run in: {differ}", file=sys.stderr)
                sys.exit(1)
            samples[mode.name].append(sample)
    for group, outputs in first.items():
        print(f"  {group} outputs identical across all runs: {len(outputs)} files")
    return samples, first


def summarize(samples: dict[str, list[Sample]]) -> dict[str, dict[str, Any]]:
    """Median wall time, module count and jsii round trips; the largest peak RSS seen over the runs."""
    summary = {}
    for mode, runs in samples.items():
        summary[mode] = {
            "wall_s": statistics.median(run["wall_s"] for run in runs),
            "modules": statistics.median(run["modules"] for run in runs),
            "jsii_calls": statistics.median(run["jsii_calls"] for run in runs),
            "calls": runs[0]["calls"],
            **{key: max(run[key] for run in runs) for key in ("python_mib", "node_mib", "total_mib")},
        }
    return summary


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "OVER"


def print_table(summary: dict[str, dict[str, Any]], runs: int) -> dict[str, Any]:
    lazy, naive, floor, preload = (summary[name] for name in ("lazy", "naive", "floor", "floor-preload"))
    rows = [
        ("wall time, median (s)", "wall_s", "{:.2f}"),
        ("peak RSS python (MiB)", "python_mib", "{:.0f}"),
        ("peak RSS node (MiB)", "node_mib", "{:.0f}"),
        ("peak RSS total (MiB)", "total_mib", "{:.0f}"),
        ("modules loaded, median", "modules", "{:.0f}"),
        ("jsii round trips", "jsii_calls", "{:.0f}"),
    ]
    names = list(summary)
    print(f"\nsynth, {runs} run(s) each, interleaved  (peak RSS: max over runs)")
    print(f"{'':24}" + "".join(f"{name:>15}" for name in names))
    for label, key, fmt in rows:
        print(f"{label:24}" + "".join(f"{fmt.format(summary[name][key]):>15}" for name in names))
    calls = ", ".join(f"{count} {kind.removesuffix('Request')}" for kind, count in sorted(lazy["calls"].items()))
    print(f"lazy's jsii round trips: {calls}")
    print("floor: one stack with only the AwsProvider, jsii's Node.js runtime as it comes (all provider JavaScript);")
    print("floor-preload: the same with main.py's Node.js preload (provider JavaScript loaded on use, as the app does)")

    ratio = lazy["wall_s"] / naive["wall_s"]
    floor_ratio = lazy["wall_s"] / floor["wall_s"]
    ratio_ok, rss_ok = ratio <= RATIO_TARGET, lazy["total_mib"] <= LAZY_RSS_TARGET_MIB
    floor_ok = floor_ratio <= FLOOR_RATIO_TARGET
    print(f"\n{_verdict(ratio_ok)}  wall time lazy/naive = {ratio:.2f} (target <= {RATIO_TARGET})")
    print(f"{_verdict(rss_ok)}  lazy peak RSS = {lazy['total_mib']:.0f} MiB (target <= {LAZY_RSS_TARGET_MIB:.0f} MiB)")
    print(f"{_verdict(floor_ok)}  wall time lazy/floor = {floor_ratio:.2f} (target <= {FLOOR_RATIO_TARGET})")
    print(
        f"      wall time lazy/floor-preload = {lazy['wall_s'] / preload['wall_s']:.2f} (no target): the app's own "
        f"work is {lazy['wall_s'] - preload['wall_s']:.2f} s over a floor that loads the provider as the app does"
    )
    return {
        "wall_ratio": ratio,
        "wall_ratio_ok": ratio_ok,
        "lazy_rss_ok": rss_ok,
        "floor_ratio": floor_ratio,
        "floor_ratio_ok": floor_ok,
    }


def print_scaling(summary: dict[str, dict[str, Any]], environments: int) -> dict[str, float]:
    """Wall time at the committed 3 environments (the lazy runs) and at ``environments``, and the increment."""
    small, large = summary["lazy"], summary[f"{environments}-envs"]
    increment = (large["wall_s"] - small["wall_s"]) / (environments - 3)
    calls = (large["jsii_calls"] - small["jsii_calls"]) / (environments - 3)
    print(
        f"\nscaling: 3 environments {small['wall_s']:.2f} s, {environments} environments {large['wall_s']:.2f} s: "
        f"+{increment:.2f} s and +{calls:.0f} jsii round trips per environment (with its state stack)"
    )
    return {"environments": environments, "per_environment_s": increment, "per_environment_calls": calls}


def stream_section(runs: int) -> tuple[dict[str, Any], list[str]]:
    """The stream path's figures and table; returns them with the problems that are wrong results, not targets."""
    # Imported here, not at the top: every synth child imports this module to report and must not pay for it.
    from tests.support.bench_stream import RECORDS, stream_figures, table

    figures = stream_figures(runs=runs)
    targets = figures["targets"]
    print(
        f"\nstream path, {RECORDS} records, fake InvokeEndpoint {figures['call_delay_ms']:.0f} ms per call, "
        f"median of {figures['runs']} runs"
    )
    print(table(figures))
    print(
        f"{'PASS' if figures['met'] else 'OVER'}  new path: <= {targets['max_endpoint_calls']} endpoint calls, "
        f"<= {targets['max_batch_write_calls']} BatchWriteItem calls, >= {targets['min_speedup']}x records/s"
        + ("" if figures["met"] else ": " + "; ".join(figures["missed"]))
    )
    # bench_stream words every missed target "... (target ...)"; anything else is a wrong result.
    return figures, [problem for problem in figures["missed"] if "(target" not in problem]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="synths per mode (default 3)")
    parser.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also synthesize {SCALED_ENVIRONMENTS} environments (default: on; ~8 s a run)",
    )
    parser.add_argument("--reference", type=Path, metavar="DIR", help="an earlier synth the lazy output must equal")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to PATH")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    modes = [mode for mode in MODES if args.scaling or not mode.scaled]
    with scaled_project(SCALED_ENVIRONMENTS) if args.scaling else nullcontext() as project:
        samples, outputs = benchmark(modes, args.runs, project)
    status = 0
    if args.reference:
        if differing := differences(read_outputs(args.reference), outputs["app"]):
            print(f"FAIL: lazy output differs from {args.reference} in: {', '.join(differing)}", file=sys.stderr)
            status = 1
        else:
            print(f"  lazy output identical to {args.reference}: {len(outputs['app'])} files")
    summary = summarize(samples)
    verdicts = print_table(summary, args.runs)
    scaling = print_scaling(summary, SCALED_ENVIRONMENTS) if args.scaling else None
    stream, wrong = stream_section(args.runs)
    if wrong:
        print(f"FAIL: the stream paths' results differ: {'; '.join(wrong)}", file=sys.stderr)
        status = 1
    if args.json:
        targets = {"wall_ratio": RATIO_TARGET, "lazy_total_mib": LAZY_RSS_TARGET_MIB, "floor_ratio": FLOOR_RATIO_TARGET}
        result = {
            "runs": args.runs,
            "targets": targets,
            "summary": summary,
            **verdicts,
            "scaling": scaling,
            "stream": stream,
            "samples": samples,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
