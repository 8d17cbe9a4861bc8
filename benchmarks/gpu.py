"""GPU evidence: the per-call cost of safe_compile's guard on real models, next to torch.compile.

Run on the device machine (H100, its own CUDA build of torch), from the repository root::

    pip install --no-deps -e . && python benchmarks/gpu.py --out "$OUT/gpu.json"

Per model and mode (inductor, ``fullgraph=True``; ``mode=None`` and ``"reduce-overhead"``, the
CUDA-graph mode where per-call overhead shows most) it compiles the model once with
``torch.compile`` and times, interleaved in shuffled rounds, CUDA-synchronised after each sample
of many calls (wall time, and the calling thread's CPU time):

- ``eager``: the module itself;
- ``torch.compile``: torch.compile's object as torch returns it;
- ``guarded (installed read)`` / ``guarded (public read)``: the *same* object with the guard
  that safe_compile installs around its ``forward`` (on every release that compiles), put there
  by safe_compile itself (see ``run.install_guard``), with the ``config.disable`` read it picks
  for this torch or the public fallback read.

The guarded variants share torch.compile's compiled code, dynamo cache entries and CUDA graphs,
so ``guarded / torch.compile`` is the guard's cost and nothing else. It also checks that
every variant's output equals eager within tolerance, and that with ``TORCH_COMPILE_DISABLE=1``
or ``TORCHDYNAMO_DISABLE=1`` safe_compile returns the module itself (in-process, and in a fresh
process where torch._dynamo must stay unimported).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import guard_cost, install_guard, is_guard, reader_info, source_fingerprint, summarize  # noqa: E402


def _mlp(device: str) -> tuple[Any, tuple[Any, ...]]:
    import torch

    layers: list[torch.nn.Module] = []
    for _ in range(4):
        layers += [torch.nn.Linear(512, 512), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers)
    return model, (torch.randn(8, 512),)


def _bert(device: str) -> tuple[Any, tuple[Any, ...]]:
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=1000,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=128,
    )
    inner = BertModel(config, add_pooling_layer=False)

    class LastHidden(torch.nn.Module):
        """The BERT model, returning its last hidden state as a tensor."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=ids).last_hidden_state  # type: ignore[no-any-return]

    return LastHidden(), (torch.randint(0, 1000, (4, 64)),)


def _vit(device: str) -> tuple[Any, tuple[Any, ...]]:
    import timm
    import torch

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=1000)
    return model, (torch.randn(2, 3, 224, 224),)


MODELS: dict[str, Callable[[str], tuple[Any, tuple[Any, ...]]]] = {
    "mlp-4x512-b8": _mlp,
    "bert-4L-256-b4s64 (transformers, from config)": _bert,
    "vit_tiny_patch16_224-b2 (timm, from config)": _vit,
}


def _rel_err(out: Any, ref: Any) -> float:
    import torch

    out = out.double()
    ref = ref.double()
    return float(torch.linalg.vector_norm(out - ref) / torch.linalg.vector_norm(ref))


def _time_rounds(
    variants: dict[str, tuple[Callable[[], None], Callable[[], object]]],
    sync: Callable[[], None],
    rounds: int,
    sample_s: float,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-call seconds: per round, each variant once, shuffled; setup runs outside the clock.

    Returns wall time (CUDA-synchronised) and the calling thread's CPU time per call. The
    synchronisation spins on the CPU, so the thread's CPU time is the wall time less the time
    the scheduler gave the core to something else: on a shared VM, most of the noise.
    """
    for setup, call in variants.values():
        setup()
        for _ in range(20):
            call()
        sync()
    number = 10**9
    for setup, call in variants.values():
        setup()
        sync()
        start = time.perf_counter()
        for _ in range(20):
            call()
        sync()
        number = min(number, max(20, int(sample_s / ((time.perf_counter() - start) / 20))))
    rng = random.Random(0)
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu_samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            setup, call = variants[name]
            setup()
            sync()
            start = time.perf_counter()
            cpu = time.thread_time()
            for _ in range(number):
                call()
            sync()
            cpu = time.thread_time() - cpu
            samples[name].append((time.perf_counter() - start) / number)
            cpu_samples[name].append(cpu / number)
    return samples, cpu_samples


@contextlib.contextmanager
def _pinned(cpu: int | None) -> Iterator[None]:
    """Keep the calling thread on one CPU while it times (the scheduler moving it adds noise).

    Only the timing thread: compilation before it keeps every core.
    """
    if cpu is None or not hasattr(os, "sched_getaffinity"):
        yield
        return
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def _ratio(samples: dict[str, list[float]], num: str, den: str) -> dict[str, Any]:
    return summarize([a / b for a, b in zip(samples[num], samples[den])])


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def bench_model(  # noqa: PLR0915  (one linear script of steps)
    name: str, build: Callable[[str], tuple[Any, tuple[Any, ...]]], args: argparse.Namespace
) -> dict[str, Any]:
    import torch

    import torchcompat

    torch.manual_seed(0)
    model, inputs = build(args.device)
    model = model.to(args.device).eval()
    inputs = tuple(t.to(args.device) for t in inputs)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    out: dict[str, Any] = {"modes": {}}

    # The disabled path: the module itself, for every mode.
    for mode in args.modes:
        kw = {"fullgraph": True, "backend": args.backend, "mode": mode}
        for var in ("TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE"):
            with _env(var, "1"):
                out.setdefault("disabled_returns_module", {})[f"{var}=1 mode={mode}"] = (
                    torchcompat.safe_compile(model, **kw) is model
                )

    for mode in args.modes:
        kw = {"fullgraph": True, "backend": args.backend, "mode": mode}
        entry: dict[str, Any] = {"kwargs": {k: v for k, v in kw.items()}}
        out["modes"][str(mode)] = entry
        try:
            with torch.no_grad():
                t0 = time.perf_counter()
                via_torch = torch.compile(model, **kw)
                via_torch(*inputs)
                sync()
                entry["compile_s_torch"] = time.perf_counter() - t0
                # What a user gets from safe_compile on this torch (not called: calling would
                # compile it again): torch's OptimizedModule, moved to a guarded subclass.
                as_is = torchcompat.safe_compile(model, **kw)
                entry["safe_type"] = type(as_is).__name__
                entry["safe_is_torch_compile_type"] = isinstance(as_is, type(via_torch))
                entry["safe_guarded_by_torchcompat"] = is_guard(getattr(as_is, "forward", as_is))
                del as_is
                # safe_compile's guard, installed by safe_compile itself around
                # torch.compile's object: every variant below shares one compiled
                # forward (its dynamo cache and CUDA graphs) and differs only by the guard.
                plain_forward = via_torch.forward
                guards = {
                    f"guarded ({reader} read)": install_guard(model, via_torch, kw, reader)
                    for reader in ("installed", "public")
                }
                entry["reader"] = reader_info()

                def use(fwd: Any, target: Any = via_torch) -> Callable[[], None]:
                    def setup() -> None:
                        target.forward = fwd

                    return setup

                # Correctness: fresh inputs, every variant against eager.
                errs: dict[str, float] = {}
                fresh = tuple(
                    torch.randint_like(t, 0, 1000)
                    if not t.is_floating_point()
                    else torch.randn_like(t)
                    for t in inputs
                )
                ref = model(*fresh)
                for label, fwd in (("torch.compile", plain_forward), *guards.items()):
                    use(fwd)()
                    for _ in range(3):  # CUDA graphs record on a later call; check those too
                        got = via_torch(*fresh).clone()
                    errs[label] = _rel_err(got, ref)
                use(plain_forward)()
                entry["rel_err_vs_eager"] = errs
                entry["outputs_match"] = all(e <= args.tol for e in errs.values())

                variants = {
                    "eager": (lambda: None, lambda: model(*inputs)),
                    "torch.compile": (use(plain_forward), lambda c=via_torch: c(*inputs)),
                    **{
                        label: (use(fwd), lambda c=via_torch: c(*inputs))
                        for label, fwd in guards.items()
                    },
                }
                with _pinned(args.pin):
                    samples, cpu_samples = _time_rounds(variants, sync, args.rounds, args.sample_s)
                use(plain_forward)()
            entry["per_call_us"] = {k: summarize([s * 1e6 for s in v]) for k, v in samples.items()}
            entry["ratios_over_torch"] = {
                label: _ratio(samples, label, "torch.compile") for label in guards
            }
            entry["thread_cpu_per_call_us"] = {
                k: summarize([x * 1e6 for x in v]) for k, v in cpu_samples.items()
            }
            entry["ratios_over_torch_thread_cpu"] = {
                label: _ratio(cpu_samples, label, "torch.compile") for label in guards
            }
            entry["torch_over_eager"] = _ratio(samples, "torch.compile", "eager")
        except Exception as exc:  # one model's failure must not lose the others' numbers
            entry["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            entry["traceback"] = traceback.format_exc()[-4000:]
        finally:
            torch._dynamo.reset()
    return out


def fresh_process_disabled() -> dict[str, Any]:
    """In a new process with TORCH_COMPILE_DISABLE=1: the module back, dynamo never imported."""
    code = (
        "import sys, json, torch, torchcompat\n"
        "m = torch.nn.Linear(4, 4)\n"
        "r = torchcompat.safe_compile(m, fullgraph=True, mode='reduce-overhead')\n"
        "print(json.dumps({'is_module': r is m, "
        "'dynamo_imported': 'torch._dynamo' in sys.modules}))\n"
    )
    env = {**os.environ, "TORCH_COMPILE_DISABLE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--sample-s", type=float, default=0.01)
    parser.add_argument("--tol", type=float, default=1e-3, help="max ||out-eager||/||eager||")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--modes", nargs="*", default=["default", "reduce-overhead"])
    parser.add_argument("--pin", type=int, default=None, help="CPU to time on (default: none)")
    parser.add_argument("--budget-s", type=float, default=480, help="skip models after this")
    args = parser.parse_args(argv)
    args.modes = [None if m == "default" else m for m in args.modes]

    import torch

    import torchcompat

    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        "kind": "gpu",
        "command": " ".join(["python", *sys.argv]),
        "date_utc": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "torch": {
            "version": torch.__version__,
            "cuda": torch.version.cuda,
            "git": torch.version.git_version,
        },
        "torchcompat": {"version": torchcompat.__version__, **source_fingerprint()},
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "models": {},
    }
    for pkg in ("transformers", "timm", "triton"):
        with contextlib.suppress(Exception):
            result["torch"][pkg] = __import__(pkg).__version__

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")

    result["fresh_process_disabled"] = fresh_process_disabled()
    with _pinned(args.pin):
        result["guard_ns"] = guard_cost(60)
    save()
    for name in args.models:
        if time.perf_counter() - t_start > args.budget_s:
            result["models"][name] = {"skipped": "time budget"}
            continue
        print(f"[{time.perf_counter() - t_start:6.1f}s] {name}", file=sys.stderr, flush=True)
        try:
            result["models"][name] = bench_model(name, MODELS[name], args)
        except Exception as exc:
            result["models"][name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        save()
    result["elapsed_s"] = time.perf_counter() - t_start
    save()
    # A short table last: the device tool returns the end of the output.
    for name, model in result["models"].items():
        for mode, entry in model.get("modes", {}).items():
            if "per_call_us" in entry:
                pc = {k: round(v["median"], 1) for k, v in entry["per_call_us"].items()}
                print(
                    f"{name[:24]:24} {mode:15} {pc} "
                    + " ".join(
                        f"{k}/torch={v['median']:.4f}"
                        for k, v in entry["ratios_over_torch"].items()
                    )
                    + " cpu: "
                    + " ".join(
                        f"{k}/torch={v['median']:.4f}"
                        for k, v in entry["ratios_over_torch_thread_cpu"].items()
                    )
                    + f" ok={entry['outputs_match']}"
                )
            else:
                print(f"{name[:28]:28} {mode:15} {entry.get('error', '')[:300]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
