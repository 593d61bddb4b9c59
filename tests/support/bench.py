"""Synth benchmark: the full app with lazy provider loading vs the naive ``import cdktf_cdktf_provider_aws``.

Each run is a fresh ``python`` that runs main.py (as ``python main.py`` would) into a temporary CDKTF_OUTDIR; the naive
variant imports the provider package first, which is the only difference. Runs alternate between the two (ABBA order)
to cancel drift. Wall time is measured here; just before exiting, the child records len(sys.modules), its own peak RSS
and the peak RSS (VmHWM) of its jsii Node.js descendants, which are still alive at that point. Both variants must write
byte-identical cdk.tf.json files (exit 1 otherwise). Being over a target is reported, not failed.

Run as ``python -m tests.support.bench [--runs N] [--json PATH]`` from the repository root (``make bench`` does).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT_ENV = "BENCH_CHILD_REPORT"
RATIO_TARGET = 0.35  # lazy wall time / naive wall time
LAZY_RSS_TARGET_MIB = 650.0  # python + node
JSII_ENV = {
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}
# The module count is taken before this module is imported back, so the harness does not inflate it.
CHILD = """\
import {imports}runpy, sys
sys.argv = ["main.py"]
try:
    runpy.run_path("main.py", run_name="__main__")
finally:
    modules = len(sys.modules)
    from tests.support.bench import report_child
    report_child(modules)
"""
MODES = {"lazy": CHILD.format(imports=""), "naive": CHILD.format(imports="cdktf_cdktf_provider_aws, ")}
Outputs = dict[str, bytes]


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


def report_child(modules: int) -> None:
    """Child side: write module count and peak RSS (KiB) of this process and of its (node) descendants."""
    node_kib = sum(int(_status(pid).get("VmHWM", "0 kB").split()[0]) for pid in _descendants(os.getpid()))
    python_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    report = {"modules": modules, "python_kib": python_kib, "node_kib": node_kib}
    Path(os.environ[REPORT_ENV]).write_text(json.dumps(report))


def _outputs(outdir: Path) -> Outputs:
    return {str(path.relative_to(outdir)): path.read_bytes() for path in sorted(outdir.rglob("cdk.tf.json"))}


def run_once(mode: str) -> tuple[dict[str, float], Outputs]:
    """One synth in a fresh interpreter: wall time, peak RSS (MiB) and module count, plus the cdk.tf.json files."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        outdir, report = Path(tmp) / "cdktf.out", Path(tmp) / "report.json"
        env = {**os.environ, **JSII_ENV, "CDKTF_OUTDIR": str(outdir), REPORT_ENV: str(report)}
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MODES[mode]], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0 or not report.exists():
            sys.exit(f"{mode} synth failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        child = json.loads(report.read_text())
        python_mib, node_mib = child["python_kib"] / 1024, child["node_kib"] / 1024
        sample = {"wall_s": wall, "python_mib": python_mib, "node_mib": node_mib, "total_mib": python_mib + node_mib}
        return {**sample, "modules": child["modules"]}, _outputs(outdir)


def _differences(reference: Outputs, other: Outputs) -> list[str]:
    return sorted(name for name in reference.keys() | other.keys() if reference.get(name) != other.get(name))


def benchmark(runs: int) -> dict[str, list[dict[str, float]]]:
    samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    reference: Outputs | None = None
    for index in range(runs):
        for mode in MODES if index % 2 == 0 else reversed(MODES):
            sample, outputs = run_once(mode)
            wall, rss = sample["wall_s"], sample["total_mib"]
            print(f"  run {index + 1}/{runs} {mode:5}  {wall:6.2f} s  {rss:6.0f} MiB", flush=True)
            if not outputs:
                sys.exit(f"{mode} synth wrote no cdk.tf.json")
            reference = reference or outputs
            if differing := _differences(reference, outputs):
                print(f"FAIL: {mode} output differs from the first run in: {', '.join(differing)}", file=sys.stderr)
                sys.exit(1)
            samples[mode].append(sample)
    print(f"  outputs identical across all runs: {len(reference or {})} cdk.tf.json files")
    return samples


def summarize(samples: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Median wall time and module count; the largest peak RSS seen over the runs."""
    summary = {}
    for mode, runs in samples.items():
        summary[mode] = {
            "wall_s": statistics.median(run["wall_s"] for run in runs),
            "modules": statistics.median(run["modules"] for run in runs),
            **{key: max(run[key] for run in runs) for key in ("python_mib", "node_mib", "total_mib")},
        }
    return summary


def print_table(summary: dict[str, dict[str, float]], runs: int) -> dict[str, float | bool]:
    lazy, naive = summary["lazy"], summary["naive"]
    rows = [
        ("wall time, median (s)", "wall_s", "{:.2f}"),
        ("peak RSS python (MiB)", "python_mib", "{:.0f}"),
        ("peak RSS node (MiB)", "node_mib", "{:.0f}"),
        ("peak RSS total (MiB)", "total_mib", "{:.0f}"),
        ("modules loaded, median", "modules", "{:.0f}"),
    ]
    print(f"\nfull-app synth, {runs} run(s) each, interleaved  (peak RSS: max over runs)")
    print(f"{'':26}{'lazy':>10}{'naive':>10}")
    for label, key, fmt in rows:
        print(f"{label:26}{fmt.format(lazy[key]):>10}{fmt.format(naive[key]):>10}")
    ratio = lazy["wall_s"] / naive["wall_s"]
    ratio_ok, rss_ok = ratio <= RATIO_TARGET, lazy["total_mib"] <= LAZY_RSS_TARGET_MIB
    print(f"\n{'PASS' if ratio_ok else 'OVER'}  wall time lazy/naive = {ratio:.2f} (target <= {RATIO_TARGET})")
    verdict = "PASS" if rss_ok else "OVER"
    print(f"{verdict}  lazy peak RSS = {lazy['total_mib']:.0f} MiB (target <= {LAZY_RSS_TARGET_MIB:.0f} MiB)")
    return {"wall_ratio": ratio, "wall_ratio_ok": ratio_ok, "lazy_rss_ok": rss_ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="synths per variant (default 3)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to PATH")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    samples = benchmark(args.runs)
    summary = summarize(samples)
    verdicts = print_table(summary, args.runs)
    if args.json:
        targets = {"wall_ratio": RATIO_TARGET, "lazy_total_mib": LAZY_RSS_TARGET_MIB}
        result = {"runs": args.runs, "targets": targets, "summary": summary, **verdicts, "samples": samples}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
