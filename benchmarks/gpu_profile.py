"""Profile of safe_compile's guard on the smallest GPU workload (the 4x512 MLP, batch 8).

    python benchmarks/gpu_profile.py --out "$OUT/gpu-profile.json"

Where ``gpu.py`` finds guarded / torch.compile a little over 1.01 for this model, this says
where the difference goes: a long interleaved A/B of the two (one compiled object, the guard
installed by safe_compile), the same A/B calling ``forward`` directly (no
``nn.Module.__call__`` around it), and cProfile's own time of each function per call.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu import MODELS
from run import install_guard, source_fingerprint, summarize


def _ab(calls: dict[str, Any], sync: Any, rounds: int, number: int) -> dict[str, Any]:
    names = list(calls)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(names)
        for n in names:
            call = calls[n]
            sync()
            t, c = time.perf_counter(), time.thread_time()
            for _ in range(number):
                call()
            sync()
            wall[n].append((time.perf_counter() - t) / number * 1e6)
            cpu[n].append((time.thread_time() - c) / number * 1e6)
    a, b = "guarded", "torch.compile"
    return {
        "per_call_us": {n: summarize(v) for n, v in wall.items()},
        "thread_cpu_per_call_us": {n: summarize(v) for n, v in cpu.items()},
        f"{a}_over_{b}": summarize([x / y for x, y in zip(wall[a], wall[b])]),
        f"{a}_minus_{b}_us": summarize([x - y for x, y in zip(wall[a], wall[b])]),
    }


def _profile(call: Any, sync: Any, number: int) -> dict[str, Any]:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(number):
        call()
    sync()
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    for (path, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(path).name}:{line}({func})",
                "calls_per_call": nc / number,
                "own_us_per_call": tt / number * 1e6,
                "cum_us_per_call": ct / number * 1e6,
            }
        )
    rows.sort(key=lambda r: -r["own_us_per_call"])
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
    return {"top_own_time": rows[:40], "text": text.getvalue()}


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--number", type=int, default=50)
    parser.add_argument("--mode", default="reduce-overhead")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--profile-calls", type=int, default=3000)
    parser.add_argument("--backend", default="inductor")
    args = parser.parse_args(argv)

    import torch

    torch.manual_seed(0)
    model, inputs = MODELS["mlp-4x512-b8"](args.device)
    model = model.to(args.device).eval()
    inputs = tuple(t.to(args.device) for t in inputs)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    kw = {"fullgraph": True, "backend": args.backend, "mode": args.mode}
    out: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "torchcompat": source_fingerprint(),
        "kwargs": kw,
    }
    with torch.no_grad():
        compiled = torch.compile(model, **kw)
        for _ in range(5):
            compiled(*inputs)
        plain = compiled.forward
        guarded = install_guard(model, compiled, kw, "installed")

        # A/B through nn.Module.__call__ (what users call): alternate forward per sample.
        names = {"guarded": guarded, "torch.compile": plain}
        wall: dict[str, list[float]] = {n: [] for n in names}
        rng = random.Random(1)
        order = list(names)
        for _ in range(20):
            for n in order:
                compiled.forward = names[n]
                compiled(*inputs)
        sync()
        for _ in range(args.rounds):
            rng.shuffle(order)
            for n in order:
                compiled.forward = names[n]
                sync()
                t = time.perf_counter()
                for _ in range(args.number):
                    compiled(*inputs)
                sync()
                wall[n].append((time.perf_counter() - t) / args.number * 1e6)
        compiled.forward = plain
        out["module_call"] = {
            "per_call_us": {n: summarize(v) for n, v in wall.items()},
            "guarded_over_torch": summarize(
                [g / p for g, p in zip(wall["guarded"], wall["torch.compile"])]
            ),
            "guarded_minus_torch_us": summarize(
                [g - p for g, p in zip(wall["guarded"], wall["torch.compile"])]
            ),
        }
        # The forward alone: the guard's frame over dynamo's wrapper, without Module.__call__.
        out["forward_call"] = _ab(
            {"guarded": lambda: guarded(*inputs), "torch.compile": lambda: plain(*inputs)},
            sync,
            args.rounds // 2,
            args.number,
        )
        # cProfile: the guard's own frames per call, next to everything else on the path.
        compiled.forward = plain
        out["profile_torch_compile"] = _profile(lambda: compiled(*inputs), sync, args.profile_calls)
        compiled.forward = guarded
        out["profile_guarded"] = _profile(lambda: compiled(*inputs), sync, args.profile_calls)
        compiled.forward = plain
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    mc = out["module_call"]
    fc = out["forward_call"]
    print(
        "module call: guarded/torch",
        round(mc["guarded_over_torch"]["median"], 4),
        "minus us",
        round(mc["guarded_minus_torch_us"]["median"], 3),
        {k: round(v["median"], 2) for k, v in mc["per_call_us"].items()},
    )
    print(
        "forward call:",
        {k: round(v["median"], 4) for k, v in fc.items() if isinstance(v, dict) and "median" in v},
        {k: round(v["median"], 2) for k, v in fc["per_call_us"].items()},
    )
    for name in ("profile_guarded", "profile_torch_compile"):
        print(name)
        for row in out[name]["top_own_time"][:14]:
            print(
                f"  {row['own_us_per_call']:8.3f} us own  {row['calls_per_call']:5.2f}x  "
                f"{row['function']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
