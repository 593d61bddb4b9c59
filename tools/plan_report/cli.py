"""Command line: read the plans, analyse, write the Markdown, the full report and the summary; exit 0/1/2."""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.plan_report.analysis import analyze
from tools.plan_report.inputs import InputError, load_acknowledgements, load_plan
from tools.plan_report.model import Plan
from tools.plan_report.render import render
from tools.plan_report.summary import fingerprint, summary

DEFAULT_ACKNOWLEDGEMENTS = Path("tools/plan-acknowledgements.json")
DEFAULT_MAX_CHARS = 60_000  # GitHub rejects comments over 65,536 characters; the rest is headroom
EXIT_OK, EXIT_BLOCKING, EXIT_BAD_INPUT = 0, 1, 2


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.plan_report",
        description=(
            "Review Terraform plans (terraform show -json) of the CDKTF stacks: action classes per stack, rows named "
            "by construct path, stateful deletes and data-loss precursors (blocking unless acknowledged), domain "
            "diffs, the phase flag, drift. Exit 0: nothing blocking; 1: blocking findings; 2: bad input."
        ),
    )
    parser.add_argument("plans", nargs="+", type=Path, metavar="PLAN", help="<stack>.json or plan-<stack>.json")
    parser.add_argument(
        "--synth",
        type=Path,
        metavar="DIR",
        help="the cdktf.out/stacks folder, for construct paths (default: a cdk.tf.json next to the plan, "
        "<plan dir>/<stack>/ or ./cdktf.out/stacks/<stack>/)",
    )
    parser.add_argument(
        "--stack", metavar="NAME", help="the stack of the (single) plan, when its file name does not say"
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the trimmed report here (default: stdout)")
    parser.add_argument("--full", type=Path, metavar="FILE", help="write the untrimmed report here")
    parser.add_argument("--summary", type=Path, metavar="FILE", help="write the machine-readable summary (JSON) here")
    parser.add_argument(
        "--acknowledgements",
        type=Path,
        metavar="FILE",
        help=f"the reviewed acknowledgement file (default: {DEFAULT_ACKNOWLEDGEMENTS}, when present)",
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=DEFAULT_MAX_CHARS,
        metavar="N",
        help="size budget of the Markdown (default: 60000)",
    )
    parser.add_argument("--show-values", action="store_true", help="render non-sensitive scalar values of changes")
    parser.add_argument(
        "--fingerprint",
        action="store_true",
        help="only print the plan fingerprint (sha256 over stack, address, actions, replace paths) and exit 0",
    )
    return parser


def _plans(args: argparse.Namespace) -> tuple[Plan, ...]:
    if args.stack and len(args.plans) > 1:
        raise InputError("--stack", "names the stack of one plan; name several plans <stack>.json instead")
    plans = tuple(load_plan(path, args.stack, args.synth) for path in args.plans)
    seen: dict[str, str] = {}
    for plan in plans:
        if plan.stack in seen:
            raise InputError(plan.source, f"is stack {plan.stack} again (already {seen[plan.stack]})")
        seen[plan.stack] = plan.source
    return plans


def _utf8(text: str) -> str:
    """Text that encodes as UTF-8: a lone surrogate (JSON allows "\\ud800") becomes U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(_utf8(text), encoding="utf-8")
    except OSError as error:
        raise InputError(path, f"cannot write it ({error.strerror or error.__class__.__name__})") from None


def run(args: argparse.Namespace) -> int:
    if args.max_chars < 1:
        raise InputError("--max-chars", "must be a positive number of characters")
    plans = _plans(args)
    if args.fingerprint:
        print(fingerprint(plans))  # hex digits only
        return EXIT_OK
    ack_path = args.acknowledgements or DEFAULT_ACKNOWLEDGEMENTS
    explicit = args.acknowledgements is not None
    acknowledgements = load_acknowledgements(ack_path) if explicit or ack_path.is_file() else ()
    report = analyze(plans, acknowledgements, str(ack_path))
    markdown = render(report, args.show_values, args.max_chars)
    if len(markdown) > args.max_chars:
        print(
            f"plan-report: the summary and blocking items alone take {len(markdown):,} characters "
            f"(over --max-chars {args.max_chars:,}); nothing else is left to trim",
            file=sys.stderr,
        )
    if args.full:
        _write(args.full, render(report, args.show_values))
    if args.summary:
        _write(args.summary, json.dumps(summary(report), indent=2, ensure_ascii=False) + "\n")
    if args.markdown:
        _write(args.markdown, markdown)
    else:
        sys.stdout.write(_utf8(markdown))
    return EXIT_BLOCKING if report.blocking else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except InputError as error:
        print(f"plan-report: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RecursionError:
        print("plan-report: error: an input is nested too deeply to review", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # a CI gate fails closed, with one line and never a traceback
        print(f"plan-report: internal error (please report it): {error.__class__.__name__}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
