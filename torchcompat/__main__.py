"""``python -m torchcompat [--json]``: what torch.compile and safe_compile do here."""

from __future__ import annotations

import argparse
import json
import sys

from torchcompat.report import build_report, format_report

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Print the report; returns the exit status (0)."""
    parser = argparse.ArgumentParser(
        prog="python -m torchcompat",
        description="Report torch, Python, the compile switches, and what safe_compile does.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = build_report()
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
