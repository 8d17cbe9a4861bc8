"""``python -m torchcompat --check``: does ``torch.compile`` really work on this machine?

The release table says whether a release *can* compile on this Python; only a compile says
whether this machine has what the default backend needs (a C++ compiler for inductor's CPU code,
Triton for its GPU code, a GPU for ``--device cuda``). The check compiles a tiny function and a
tiny module with the default backend in a fresh interpreter, with fresh inductor and Triton caches
(a warm cache would hide a missing compiler), under a time limit, and says in one sentence why
it failed. This process never imports torch: the child does.

Exit statuses (``EXIT_*``): 0 compilation works; 1 it should (a release that compiles on this
Python, no switch on) but does not; 3 it is not expected to (a switch is on, the release cannot
compile here, no torch), so a CI preflight that runs ``--check`` fails on anything but 0 and
can still tell "broken" from "off". 2 is argparse's usage error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, TextIO

from torchcompat.gate import compile_gate

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "EXIT_BROKEN",
    "EXIT_NOT_EXPECTED",
    "EXIT_WORKS",
    "HEARTBEAT_S",
    "run_check",
]

EXIT_WORKS = 0
EXIT_BROKEN = 1
EXIT_NOT_EXPECTED = 3
#: Inductor's first compile of a tiny function takes 10-45 s on a small, busy CPU.
DEFAULT_TIMEOUT_S = 300.0
#: Seconds between two "still compiling" lines while the check runs.
HEARTBEAT_S = 5.0
_MARK = "torchcompat-check:"


def run_check(
    timeout_s: float = DEFAULT_TIMEOUT_S,
    device: str = "auto",
    progress: TextIO | None = None,
    heartbeat_s: float = HEARTBEAT_S,
) -> dict[str, Any]:
    """Compile a tiny function and module with the default backend in a fresh interpreter.

    ``device`` is ``"auto"`` (CUDA where a GPU is visible, else the CPU), ``"cpu"`` or
    ``"cuda"``. With ``progress`` (a stream), says there what it is doing when it starts, the
    elapsed time every ``heartbeat_s`` seconds while the child compiles, and when it is done,
    flushing each line. Returns a JSON-ready dict: ``works``, ``expected``, ``exit_status``,
    ``reason`` (one sentence, ``None`` when it works), ``torch_build``, ``cuda``, ``device``,
    ``first_compile_s``, ``module_compile_s``, ``timeout_s``.

    Raises:
        ValueError: ``timeout_s`` is not positive, or ``device`` is not one of the three.
    """
    if not timeout_s > 0:
        raise ValueError(f"the check's time limit must be positive, got {timeout_s!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    result: dict[str, Any] = {
        "works": False,
        "expected": True,
        "exit_status": EXIT_BROKEN,
        "reason": None,
        "torch_build": None,
        "cuda": None,
        "device": None,
        "first_compile_s": None,
        "module_compile_s": None,
        "timeout_s": timeout_s,
    }
    gate = compile_gate()
    if gate.disabled:
        result["expected"] = False
        result["exit_status"] = EXIT_NOT_EXPECTED
        result["reason"] = (
            f"not tried: {gate.reason}"
            if gate.unavailable
            else f"not tried: compilation is switched off ({gate.reason})"
        )
        return result
    say = _Progress(progress)
    say(
        f"compiling a tiny function and module with the default backend in a fresh "
        f"interpreter (device {device}, time limit {timeout_s:g} s; inductor's first compile "
        "can take a minute)"
    )
    probe = _run_probe(timeout_s, device, say, heartbeat_s)
    say(f"done in {say.elapsed():.1f} s")
    result.update({k: probe.get(k) for k in ("torch_build", "cuda", "device")})
    result.update({k: probe.get(k) for k in ("first_compile_s", "module_compile_s")})
    result["reason"] = _failure_sentence(probe, timeout_s)
    if result["reason"] is None:
        result["works"] = True
        result["exit_status"] = EXIT_WORKS
    return result


class _Progress:
    """Lines of ``torchcompat --check: ...`` on a stream, flushed; nothing without one."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def __call__(self, what: str) -> None:
        if self.stream is not None:
            print(f"torchcompat --check: {what}", file=self.stream, flush=True)


def _run_probe(timeout_s: float, device: str, say: _Progress, heartbeat_s: float) -> dict[str, Any]:
    """Run :func:`_probe` in a fresh interpreter; its findings, or how the child failed."""
    code = f"from torchcompat._check import _probe; _probe({device!r})"
    with tempfile.TemporaryDirectory(prefix="torchcompat-check-") as caches:
        env = dict(os.environ)
        env["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(caches, "inductor")
        env["TRITON_CACHE_DIR"] = os.path.join(caches, "triton")
        # The child's own process group, so that a timeout also stops inductor's compile
        # workers (POSIX; elsewhere the child alone is stopped).
        posix = hasattr(os, "killpg")
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=posix,
        )
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                left = deadline - time.monotonic()
                try:
                    # Waiting again after a TimeoutExpired is allowed: nothing is lost.
                    out, err = child.communicate(timeout=max(min(heartbeat_s, left), 0.001))
                    break
                except subprocess.TimeoutExpired:
                    if left <= heartbeat_s:
                        raise
                    say(f"still importing torch and compiling, {say.elapsed():.0f} s elapsed")
        except subprocess.TimeoutExpired:
            if posix:
                os.killpg(child.pid, 9)
            else:
                child.kill()
            child.communicate()
            return {"timed_out": True}
    for line in reversed(out.splitlines()):
        if line.startswith(_MARK):
            found: dict[str, Any] = json.loads(line[len(_MARK) :])
            return found
    last = next((line for line in reversed(err.splitlines()) if line.strip()), "no output")
    return {"crashed": f"exited with status {child.returncode}: {last.strip()}"}


def _failure_sentence(probe: dict[str, Any], timeout_s: float) -> str | None:
    """Why the probe failed, in one sentence; ``None`` when it compiled and ran."""
    if probe.get("timed_out"):
        return (
            f"the check did not finish within {timeout_s:g} s (inductor's first compile can "
            "take a minute on a small, busy CPU: raise --timeout)"
        )
    if "crashed" in probe:
        return f"the check's interpreter {probe['crashed']}"
    if probe.get("no_gpu"):
        build = f"a CUDA {probe['cuda']} build" if probe.get("cuda") else "a build without CUDA"
        return f"--device cuda, but no GPU is visible to this torch ({build})"
    error = probe.get("error")
    if error is None:
        return probe.get("wrong")
    return _error_sentence(error)


def _error_sentence(error: dict[str, Any]) -> str:
    """What a compile error means, from its class chain and its first line."""
    chain = " ".join(error["chain"])
    message = error["message"]
    if "InvalidCxxCompiler" in chain or "C++ compiler" in message:
        return (
            "inductor found no working C++ compiler, which it needs for CPU code "
            f"(install g++ or set CXX): {message}"
        )
    if "TritonMissing" in chain or "triton" in message.lower():
        return (
            "inductor found no working Triton, which it needs for GPU code (install the "
            f"triton that this torch pins): {message}"
        )
    return f"compilation failed: {error['chain'][0]}: {message}"


def _agrees(got: Any, want: Any) -> bool:
    """Whether a compiled result is eager's, as ``torch.testing.assert_close`` judges it (its
    tolerances for the dtype: float32 rtol 1.3e-6, atol 1e-5).

    Not ``allclose``'s defaults: their atol of 1e-8 calls a last-bit difference in inductor's
    sin wrong where the result is near 0 (6 in 3,000 random inputs on 2.14.1, failing a CI run).
    """
    import torch.testing

    try:
        torch.testing.assert_close(got, want)
    except AssertionError:
        return False
    return True


def _probe(device: str) -> None:  # pragma: no cover - runs in the child
    """The child's side: compile, run, compare with eager; print the findings as JSON."""
    import time

    found: dict[str, Any] = {}

    def report() -> None:
        print(_MARK + json.dumps(found), flush=True)

    import torch

    found["torch_build"] = str(torch.__version__)
    found["cuda"] = torch.version.cuda
    visible = torch.cuda.is_available()
    found["device"] = ("cuda" if visible else "cpu") if device == "auto" else device
    if found["device"] == "cuda" and not visible:
        found["no_gpu"] = True
        return report()

    def f(x: Any) -> Any:
        return x.sin() * 2 + 1

    # Fixed inputs, so that a check's verdict does not vary run to run.
    torch.manual_seed(0)
    x = torch.randn(16, device=found["device"])
    module = torch.nn.Linear(8, 4).to(found["device"])
    inputs = torch.randn(2, 8, device=found["device"])
    try:
        start = time.perf_counter()
        got = torch.compile(f)(x)
        found["first_compile_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        with torch.no_grad():
            got_module = torch.compile(module)(inputs)
            want_module = module(inputs)
        found["module_compile_s"] = round(time.perf_counter() - start, 3)
    except Exception as exc:
        chain, current = [], exc
        seen: set[int] = set()
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            chain.append(type(current).__name__)
            current = current.__cause__ or current.__context__  # type: ignore[assignment]
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        found["error"] = {"chain": chain, "message": lines[0] if lines else ""}
        return report()
    if not (_agrees(got, f(x)) and _agrees(got_module, want_module)):
        found["wrong"] = "the compiled results differ from eager ones"
    else:
        from torch._dynamo.utils import counters

        if counters["stats"]["unique_graphs"] < 2:
            found["wrong"] = "torch.compile ran, but dynamo compiled no graph"
    return report()
