"""What ``fallback="eager"`` costs per call while nothing has failed, next to torch.compile.

Run it with the interpreter of the venv whose torch you want to measure::

    python benchmarks/fallback.py [--rounds 40] [--out benchmarks/results/fallback-torch-X.json]

A tiny function (``x + 1``) compiled with ``backend="eager"``, ``fullgraph`` True and False:
``safe_compile(..., fallback="eager")``'s result over ``torch.compile``'s, per call, each ratio
taken inside one round of interleaved samples (``run.py``'s method and timer). Goal: <= 1.05.
The fallback's backend wrapper runs only when dynamo compiles a graph, so what is measured here
is the runtime guard around each call.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import interleave, ratios, summarize

__all__ = ["main"]


def measure(rounds: int) -> dict[str, Any]:
    """Per-call seconds of each variant, and the ratios, for fullgraph True and False."""
    import torch

    from torchcompat import fallback_reason, safe_compile

    torch.set_num_threads(1)
    x = torch.ones(4)
    results: dict[str, Any] = {"torch": torch.__version__}
    for fullgraph in (False, True):

        def tiny(x: Any) -> Any:
            return x + 1

        raw = torch.compile(tiny, fullgraph=fullgraph, backend="eager")
        safe = safe_compile(tiny, fullgraph=fullgraph, backend="eager", fallback="eager")
        variants = {
            "eager": lambda: tiny(x),
            "torch.compile": lambda raw=raw: raw(x),
            "safe_compile(fallback)": lambda safe=safe: safe(x),
        }
        samples = interleave(variants, rounds)
        assert fallback_reason(safe) is None, "the measured result must not have fallen back"
        results[f"fullgraph={fullgraph}"] = {
            "per_call_ns": {k: summarize([v * 1e9 for v in s]) for k, s in samples.items()},
            "ratio_vs_torch_compile": ratios(samples, "safe_compile(fallback)", "torch.compile"),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = measure(args.rounds)
    for case, data in results.items():
        if case == "torch":
            print(f"torch {data}")
            continue
        ns = {k: round(v["median"]) for k, v in data["per_call_ns"].items()}
        ratio = data["ratio_vs_torch_compile"]
        print(
            f"{case}: per call (ns, median) {ns}; safe_compile(fallback)/torch.compile "
            f"median {ratio['median']:.3f} (p25 {ratio['p25']:.3f}, p75 {ratio['p75']:.3f})"
        )
    if args.out:
        for data in results.values():
            if isinstance(data, dict):
                for block in (data["per_call_ns"].values(), [data["ratio_vs_torch_compile"]]):
                    for item in block:
                        item.pop("raw", None)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
