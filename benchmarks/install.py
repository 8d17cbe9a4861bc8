"""What ``install()`` and ``TORCHCOMPAT_INSTALL`` cost: ratios measured in one run.

    python benchmarks/install.py [--rounds N] [--out FILE.json]

Run with the interpreter of a venv where torchcompat is installed from its wheel (so that
``torchcompat-install.pth`` is in site-packages) and torch is installed. Three figures:

1. ``pth_unset_ns``: the ``.pth`` line itself with ``TORCHCOMPAT_INSTALL`` unset, in ns per
   run (what every interpreter start pays), next to one ``os.environ.get`` alone.
2. ``start_installed_over_plain``: a whole ``python -c pass`` with ``TORCHCOMPAT_INSTALL=1`` over
   one without (torchcompat and wrapt imported, the import hook registered; torch not imported).
3. ``call_installed_over_raw``: calling a tiny function that ``torch.compile`` made while
   installed over calling raw ``torch.compile``'s, ``backend="eager"``, ``fullgraph=True``,
   compilation on; next to ``safe_compile``'s result over raw's (the same guard, so the same
   ratio is expected).

Rounds are interleaved (A, B, A, B, ...) and each ratio is taken inside one round, so that the
load of a shared machine moves both sides together.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
import timeit
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _median_ratio(pairs: list[tuple[float, float]]) -> dict[str, float]:
    ratios = sorted(a / b for a, b in pairs)
    return {
        "median": statistics.median(ratios),
        "min": ratios[0],
        "max": ratios[-1],
        "rounds": len(ratios),
    }


def pth_line_cost(rounds: int) -> dict[str, Any]:
    """ns per run of the installed .pth line with the variable unset, and of the lookup alone."""
    pth = Path(sysconfig.get_paths()["purelib"]) / "torchcompat-install.pth"
    if not pth.exists():
        return {"skipped": f"no {pth.name} in {pth.parent}: install torchcompat from its wheel"}
    line = compile(pth.read_text().strip(), str(pth), "exec")
    os.environ.pop("TORCHCOMPAT_INSTALL", None)
    number = 200_000
    line_ns, lookup_ns = [], []
    for _ in range(rounds):
        line_ns.append(timeit.timeit(lambda: exec(line, {}), number=number) / number * 1e9)
        lookup_ns.append(
            timeit.timeit(lambda: os.environ.get("TORCHCOMPAT_INSTALL"), number=number)
            / number
            * 1e9
        )
    return {"line_ns": statistics.median(line_ns), "lookup_ns": statistics.median(lookup_ns)}


def _start(env: dict[str, str]) -> float:
    begin = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - begin


def start_cost(rounds: int) -> dict[str, float]:
    """A whole interpreter start with the variable set, over one without."""
    plain = {k: v for k, v in os.environ.items() if k != "TORCHCOMPAT_INSTALL"}
    installed = {**plain, "TORCHCOMPAT_INSTALL": "1"}
    pairs = [(_start(installed), _start(plain)) for _ in range(rounds)]
    out = _median_ratio(pairs)
    out["plain_ms"] = statistics.median(b for _, b in pairs) * 1e3
    out["installed_ms"] = statistics.median(a for a, _ in pairs) * 1e3
    return out


def call_cost(rounds: int) -> dict[str, Any]:
    """Calls of an installed torch.compile's result and safe_compile's, over raw torch.compile's."""
    import torch

    import torchcompat

    if not hasattr(torch, "compile") or torchcompat.compile_gate().disabled:
        return {"skipped": f"compilation is not on here: {torchcompat.compile_gate().reason}"}

    def make() -> Any:
        def tiny(x: Any) -> Any:
            return x + 1

        tiny.__code__ = tiny.__code__.replace()  # its own code object: its own cache entry
        return tiny

    raw = torch.compile(make(), backend="eager", fullgraph=True)
    safe = torchcompat.safe_compile(make(), backend="eager", fullgraph=True)
    with torchcompat.installed():
        installed = torch.compile(make(), backend="eager", fullgraph=True)
    x = torch.ones(4)
    for fn in (raw, safe, installed):
        fn(x)
    number = 2_000
    installed_pairs, safe_pairs = [], []
    for _ in range(rounds):
        t_raw = timeit.timeit(lambda: raw(x), number=number)
        t_installed = timeit.timeit(lambda: installed(x), number=number)
        t_safe = timeit.timeit(lambda: safe(x), number=number)
        installed_pairs.append((t_installed, t_raw))
        safe_pairs.append((t_safe, t_raw))
    return {
        "installed_over_raw": _median_ratio(installed_pairs),
        "safe_over_raw": _median_ratio(safe_pairs),
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure, print the figures as JSON, and write them to ``--out`` if given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    figures = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "load_average": os.getloadavg(),
        "pth_unset_ns": pth_line_cost(args.rounds),
        "start_installed_over_plain": start_cost(args.rounds),
        "call_installed_over_raw": call_cost(args.rounds),
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
