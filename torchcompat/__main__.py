"""``python -m torchcompat [--json] [--check [--timeout S] [--device D]]``, and ``run``.

What torch.compile and safe_compile do here; with ``--check``, whether compilation really works
(exit statuses in :mod:`torchcompat._check`). ``python -m torchcompat run script.py [args]``
(or ``run -m module [args]``) runs a program with torchcompat installed
(:mod:`torchcompat._runner`).
"""

from __future__ import annotations

import argparse
import json
import sys

from torchcompat.report import build_report, format_check, format_report

__all__ = ["main"]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Print the report; returns the exit status.

    0 without ``--check``; with it, 0 when compilation works, 1 when it should but does not,
    3 when it is not expected to (a switch is on, or this torch cannot compile here).
    """
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["run"]:
        from torchcompat._runner import run

        return run(words[1:])
    from torchcompat._check import DEFAULT_TIMEOUT_S, run_check

    parser = argparse.ArgumentParser(
        prog="python -m torchcompat",
        description="Report torch, Python, the compile switches, and what safe_compile does. "
        "'python -m torchcompat run script.py [args]' (or 'run -m module [args]') runs a program "
        "with every torch.compile in it as safe_compile.",
        epilog="--check exits 0 when compilation works, 1 when it should but does not, 3 when "
        "it is not expected to (a switch is on, or this torch cannot compile on this Python).",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help="really compile a tiny function and module with the default backend, in a fresh "
        "interpreter, and say whether and why not it worked",
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"time limit of --check (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where --check compiles: auto (a GPU if one is visible), cpu, or cuda (a missing "
        "GPU is then a failure)",
    )
    args = parser.parse_args(argv)
    report = build_report()
    status = 0
    if args.check:
        # The lines known at once go out first; while the child compiles (tens of seconds),
        # what it does and the time so far go to stderr, so stdout stays the report (or the
        # one JSON object) alone.
        if not args.json:
            print(format_report(report), flush=True)
        report["check"] = run_check(args.timeout, args.device, progress=sys.stderr)
        status = report["check"]["exit_status"]
        if not args.json:
            print(format_check(report["check"]))
            return int(status)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_report(report))
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
