"""The CPU ratio suite: what torchcompat costs next to torch.compile and plain eager.

Run it with the interpreter of the venv whose torch you want to measure::

    python benchmarks/run.py --out benchmarks/results/cpu-torch-<version>.json

then ``python benchmarks/render.py`` writes ``docs/performance.md`` from every JSON file under
``benchmarks/results/``. Why a plain script and not pytest-benchmark: see ``benchmarks/README.md``
(in short: interleaved rounds and ratios taken inside one round, which pytest-benchmark does not
do, and separate processes for what must start cold).

Sections (each a ratio or a cost, median and spread over interleaved rounds):

1. ``import``: ``import torchcompat`` over a bare interpreter, and that torch stayed unimported.
2. ``startup``: a whole process that builds a Linear and wraps it with ``fullgraph=True`` under
   ``TORCH_COMPILE_DISABLE=1``: safe_compile's script over torch.compile's.
3. ``percall_on``: calling safe_compile's result over calling torch.compile's, compilation on,
   ``backend="eager"``, ``fullgraph=True`` and ``False``: a tiny function and a small MLP; then
   (3b) the guard alone around one compiled one-liner, and the ``config.disable`` reads alone.
4. ``percall_off``: the same under ``TORCH_COMPILE_DISABLE=1``, against torch.compile's result
   and plain eager.
5. ``gate``: ``is_compile_disabled()`` and ``compile_gate()`` in ns per call, in each state a
   process can be in (torch not imported, torch imported, dynamo loaded, a switch set).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["main", "summarize"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Each timed sample runs this long: long enough that timer resolution and one context switch are
# small against it, short enough that many rounds fit and drift between variants stays small.
SAMPLE_S = 0.02


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Median, quartiles and range of ``values``, with the values themselves."""
    ordered = sorted(values)
    quart = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return {
        "median": statistics.median(ordered),
        "p25": quart[0],
        "p75": quart[2],
        "min": ordered[0],
        "max": ordered[-1],
        "n": len(ordered),
        "raw": list(values),
    }


# In-process samples are timed in CPU time of this process (user + system), not wall time: on a
# shared box the wall clock also counts the time the scheduler gave a neighbour, which is most of
# the noise there. Workers run torch with one thread, so CPU time is the work of the calls.
TIMER = time.process_time


def _time(fn: Callable[[], object], number: int) -> float:
    return timeit.Timer(fn, timer=TIMER).timeit(number=number)


def _calibrate(fn: Callable[[], object]) -> int:
    """How many calls of ``fn`` make one sample of about ``SAMPLE_S``."""
    number = 1
    while True:
        elapsed = _time(fn, number)
        if elapsed >= SAMPLE_S / 4:
            return max(1, int(number * SAMPLE_S / elapsed))
        number *= 4


def interleave(
    variants: dict[str, Callable[[], object]], rounds: int, seed: int = 0
) -> dict[str, list[float]]:
    """Per-call seconds of each variant, one sample each per round, in a shuffled order.

    Every variant gets the same call count (calibrated on the slowest), so that each round's
    ratio compares equal amounts of work done in the same few hundred milliseconds.
    """
    for fn in variants.values():  # warm up: first calls compile, fill caches, load code
        for _ in range(50):
            fn()
    number = min(_calibrate(fn) for fn in variants.values())
    rng = random.Random(seed)
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            # timeit turns the garbage collector off while it times.
            samples[name].append(_time(variants[name], number) / number)
    return samples


def ratios(samples: dict[str, list[float]], num: str, den: str) -> dict[str, Any]:
    """``num``/``den`` per round (both measured in the same round), summarized."""
    return summarize([a / b for a, b in zip(samples[num], samples[den])])


# ---------------------------------------------------------------------------------------------
# Workers: each runs in its own interpreter (the parent picks the environment) and prints JSON.


def _torch_info() -> dict[str, Any]:
    import torch

    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "git": torch.version.git_version,
        "debug": torch.version.debug,
        "threads": torch.get_num_threads(),
    }


TINY_SRC = "def tiny(x):\n    return x + 1\n"

MLP_SRC = """
import torch

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(32, 64)
        self.fc2 = torch.nn.Linear(64, 64)
        self.fc3 = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))
"""


def _fresh(src: str, name: str) -> Any:
    """A new function or class compiled from ``src``: its own code objects.

    dynamo keeps its compiled entries on the code object. Two wrappers around one code object
    share that list, and the second one's lookup walks past the first one's entry (a guard
    failure) on every call; a code object per variant keeps the comparison fair.
    """
    namespace: dict[str, Any] = {}
    exec(compile(src, f"<bench {name} {id(namespace)}>", "exec"), namespace)
    return namespace[name]


def _workloads() -> dict[str, tuple[Callable[[], Any], tuple[Any, ...]]]:
    """name -> (factory of a fresh callable, its arguments)."""
    import torch

    torch.manual_seed(0)
    state = _fresh(MLP_SRC, "MLP")().state_dict()

    def mlp() -> Any:
        model = _fresh(MLP_SRC, "MLP")()
        model.load_state_dict(state)
        return model.eval()

    return {
        "tiny": (lambda: _fresh(TINY_SRC, "tiny"), (torch.ones(4),)),
        "mlp": (mlp, (torch.randn(8, 32),)),
    }


def worker_percall(rounds: int, off: bool) -> dict[str, Any]:
    import torch

    # One intra-op thread: on a small shared box a second thread makes every op wait for a core
    # that a neighbour may hold, which swings the MLP's time by 2x between samples. The cost
    # under test (Python around the compiled call) is single-threaded anyway.
    torch.set_num_threads(1)

    import torchcompat

    out: dict[str, Any] = {"torch": _torch_info(), "workloads": {}}
    with torch.inference_mode():
        for fullgraph in (True, False):
            kwargs: dict[str, Any] = {"fullgraph": fullgraph, "backend": "eager"}
            # With compilation off, torch 2.13+ raise RuntimeError from a fullgraph=True call
            # ("found no compiled frames") after the body ran, so torch.compile's result is
            # timed with fullgraph=False there: the wrapper a caller without safe_compile keeps.
            torch_kwargs = {**kwargs, "fullgraph": False} if off else kwargs
            for name, (factory, args) in _workloads().items():
                original = factory()
                via_safe = torchcompat.safe_compile(original, **kwargs)
                # On, each variant needs its own code objects (see _fresh). Off, safe_compile
                # hands back ``original`` itself (checked below), so "plain eager" is that same
                # object: a second instance would add its own layout in memory to the
                # comparison, which measured up to 2.5% on the MLP and is no cost of
                # safe_compile's.
                eager = original if off else factory()
                via_torch = torch.compile(factory(), **torch_kwargs)
                expected = eager(*args)
                for result in (via_torch(*args), via_safe(*args)):
                    torch.testing.assert_close(result, expected)
                target = getattr(via_safe, "forward", via_safe)
                info = {
                    "kwargs": kwargs,
                    "torch_kwargs": torch_kwargs,
                    # Off: the object itself must come back. On: a guarded result.
                    "safe_is_input": via_safe is original,
                    "safe_guarded": is_guard(target),
                    "safe_type": type(via_safe).__name__,
                    "torch_type": type(via_torch).__name__,
                }
                variants: dict[str, Callable[[], object]] = {
                    "eager": lambda f=eager, a=args: f(*a),
                    "torch.compile": lambda f=via_torch, a=args: f(*a),
                    "safe_compile": lambda f=via_safe, a=args: f(*a),
                }
                samples = interleave(variants, rounds)
                key = name if fullgraph else f"{name}, fullgraph=False"
                out["workloads"][key] = {
                    **info,
                    "per_call_s": {k: summarize(v) for k, v in samples.items()},
                    "safe_over_torch": ratios(samples, "safe_compile", "torch.compile"),
                    "safe_over_eager": ratios(samples, "safe_compile", "eager"),
                    "torch_over_eager": ratios(samples, "torch.compile", "eager"),
                }
        if not off:
            out["guard_ns"] = guard_cost(rounds)
    return out


def is_guard(fn: Any) -> bool:
    """Whether ``fn`` is a guard of safe_compile's: a guarded function result, or the guarded
    ``forward`` of a module result (a closure made by ``torchcompat._guard.guard``)."""
    from torchcompat._guard import GUARDED_ATTR

    return hasattr(fn, GUARDED_ATTR) or getattr(fn, "__qualname__", "").startswith("guard.<locals>")


def install_guard(model: Any, compiled: Any, kwargs: dict[str, Any], reader: str) -> Any:
    """Run safe_compile over an already compiled ``compiled``: its guard, around that object.

    safe_compile calls ``torch.compile(model, **kwargs)`` and guards what comes back; here that
    call returns ``compiled``, so every variant of a benchmark shares one compiled object (the
    same dynamo cache entries and CUDA graphs) and differs only by the guard. ``reader``:

    - ``"installed"``: the ``config.disable`` read safe_compile picks for this torch (the fast
      read for its storage shape, where it checks out; see ``torchcompat._runtime``);
    - ``"public"``: the public ``torch._dynamo.config.disable`` read, the fallback a torch with
      an unknown config layout gets.

    Every release that compiles gets the guard (there is nothing to pretend). For a module,
    safe_compile moves ``compiled`` to its guarded subclass in place; this returns the guarded
    ``forward`` and puts torch's own back, so the caller can switch between the two.
    """
    import functools

    import torch

    import torchcompat
    from torchcompat import _config_read, _runtime

    real_compile = torch.compile
    plain_forward = getattr(compiled, "forward", None)

    @functools.wraps(real_compile)  # the signature safe_compile checks keywords against
    def hand_back(*args: Any, **kw: Any) -> Any:
        return compiled

    torch.compile = hand_back
    # The reader is settled once per process (_runtime._checked): make it again for "public".
    saved_checked, saved_fast = _runtime._checked, _config_read.fast_disable_reader
    if reader == "public":
        _runtime._checked = None
        _config_read.fast_disable_reader = lambda: None  # type: ignore[assignment]
    try:
        result = torchcompat.safe_compile(model, **kwargs)
    finally:
        torch.compile = real_compile
        _runtime._checked = saved_checked
        _config_read.fast_disable_reader = saved_fast  # type: ignore[assignment]
    wrapper = result
    if result is compiled and plain_forward is not None:
        wrapper = compiled.forward
        compiled.forward = plain_forward
    if not is_guard(wrapper):
        raise RuntimeError("safe_compile installed no guard: nothing to measure")
    return wrapper


def reader_info() -> dict[str, Any]:
    """Which ``config.disable`` read this torch got: the fast one for its shape, or the public."""
    from torchcompat import _config_read, _runtime

    read = _runtime.disable_reader()
    return {"reader": read.__name__, "fast": _config_read.fast_disable_reader() is not None}


def guard_cost(rounds: int) -> dict[str, Any]:
    """safe_compile's guard around a compiled one-liner, next to the compiled call it wraps.

    One compiled object (``backend="eager"``) per fullgraph value, bare and guarded by
    safe_compile (with the read it picks here, and with the public read), plus the floor of any
    Python wrapper: a bare ``def f(*args, **kwargs): return compiled(*args, **kwargs)``. The
    difference per round is the guard's own cost in ns. The flag reads alone are timed too.
    """
    import torch

    from torchcompat import _runtime

    x = torch.ones(1)
    variants: dict[str, Callable[[], object]] = {}
    pairs: dict[str, str] = {}
    for fullgraph in (True, False):
        noop = _fresh("def noop(x):\n    return x\n", "noop")
        kwargs = {"fullgraph": fullgraph, "backend": "eager"}
        plain = torch.compile(noop, **kwargs)
        bare = f"compiled, fullgraph={fullgraph}"
        variants[bare] = lambda p=plain: p(x)
        readers = ("installed", "public") if fullgraph else ("installed",)
        for reader in readers:
            guard = install_guard(noop, plain, kwargs, reader)
            name = f"guarded, fullgraph={fullgraph} ({reader} read)"
            variants[name] = lambda g=guard: g(x)
            pairs[name] = bare
        if fullgraph:

            def passthrough(*args: Any, _p: Any = plain, **kw: Any) -> Any:
                return _p(*args, **kw)

            variants["pass-through wrapper, fullgraph=True"] = lambda: passthrough(x)
            pairs["pass-through wrapper, fullgraph=True"] = bare
    samples = interleave(variants, rounds, seed=3)
    out: dict[str, Any] = {k: summarize([s * 1e9 for s in v]) for k, v in samples.items()}
    out["added_ns"] = {
        name: summarize([(g - p) * 1e9 for g, p in zip(samples[name], samples[base])])
        for name, base in pairs.items()
    }
    config = sys.modules["torch._dynamo.config"]
    reads = interleave(
        {
            "installed read": _runtime.disable_reader(),
            "public read": lambda: config.disable,
        },
        rounds,
        seed=4,
    )
    out["read_ns"] = {k: summarize([s * 1e9 for s in v]) for k, v in reads.items()}
    out["reader"] = reader_info()
    out["alone_ns"] = guard_alone(rounds)
    return out


def guard_alone(rounds: int) -> dict[str, Any]:
    """The guard closure itself, around a trivial Python callable instead of a compiled one.

    Around torch's compiled call (3-20 us, with its own jitter) a few hundred ns hide in the
    noise; the guard does not depend on what it wraps, so here ``torchcompat._guard.guard``
    builds the guard this release's results get (the same ``Guard`` safe_compile makes, the
    same read) around ``def target(x): return x``, timed next to that target called bare and
    through a bare pass-through ``def f(*args, **kwargs)``.
    """
    import torch

    from torchcompat import _guard, _runtime

    x = torch.ones(1)
    target = _fresh("def target(x):\n    return x\n", "target")
    original = _fresh("def target(x):\n    return x\n", "target")

    def passthrough(*args: Any, **kw: Any) -> Any:
        return target(*args, **kw)

    variants: dict[str, Callable[[], object]] = {
        "target": lambda: target(x),
        "pass-through": lambda: passthrough(x),
    }
    for fullgraph in (True, False):
        how = _guard.Guard(
            stance=_runtime.needs_stance(fullgraph), state=None, rerun_safe=fullgraph
        )
        guarded = _guard.guard(target, original, how)
        variants[f"guard, fullgraph={fullgraph}"] = lambda g=guarded: g(x)
    samples = interleave(variants, rounds, seed=5)
    out: dict[str, Any] = {k: summarize([s * 1e9 for s in v]) for k, v in samples.items()}
    out["added_ns"] = {
        name: summarize([(g - p) * 1e9 for g, p in zip(samples[name], samples["target"])])
        for name in samples
        if name != "target"
    }
    out["over_pass_through_ns"] = {
        name: summarize([(g - p) * 1e9 for g, p in zip(samples[name], samples["pass-through"])])
        for name in samples
        if name.startswith("guard")
    }
    return out


def worker_gate(rounds: int) -> dict[str, Any]:
    os.environ.pop("TORCH_COMPILE_DISABLE", None)
    os.environ.pop("TORCHDYNAMO_DISABLE", None)
    from torchcompat import compile_gate, is_compile_disabled

    def measure() -> dict[str, Any]:
        samples = interleave(
            {"is_compile_disabled": is_compile_disabled, "compile_gate": compile_gate}, rounds
        )
        return {k: summarize([s * 1e9 for s in v]) for k, v in samples.items()}

    states: dict[str, Any] = {}
    states["torch not imported"] = measure()
    assert "torch" not in sys.modules
    import torch

    states["torch imported, dynamo not loaded"] = (
        measure() if "torch._dynamo" not in sys.modules else None
    )
    import torch._dynamo  # noqa: F401  (loading dynamo is the state measured next)

    states["dynamo loaded"] = measure()
    os.environ["TORCH_COMPILE_DISABLE"] = "1"
    states["TORCH_COMPILE_DISABLE=1 (first source, returns early)"] = measure()
    return {"torch": _torch_info(), "states_ns": states}


WORKERS = {
    "percall_on": lambda rounds: worker_percall(rounds, off=False),
    "percall_off": lambda rounds: worker_percall(rounds, off=True),
    "gate": worker_gate,
}


# ---------------------------------------------------------------------------------------------
# The parent: spawns fresh interpreters, interleaves them, collects JSON.


IMPORT_PROBE = """
import sys, time, json
t = time.perf_counter()
c = time.process_time()
import torchcompat
dc = time.process_time() - c
dt = time.perf_counter() - t
print(json.dumps({"import_s": dt, "import_cpu_s": dc, "torch_loaded": "torch" in sys.modules,
                  "packaging_loaded": "packaging" in sys.modules}))
"""

STARTUP_SCRIPTS = {
    "safe_compile": (
        "import sys, torch\n"
        "from torchcompat import safe_compile\n"
        "model = torch.nn.Linear(8, 8)\n"
        "compiled = safe_compile(model, fullgraph=True)\n"
        "assert compiled is model\n"
        "print('torch._dynamo' in sys.modules)\n"
    ),
    "torch.compile": (
        "import sys, torch\n"
        "model = torch.nn.Linear(8, 8)\n"
        "compiled = torch.compile(model, fullgraph=True)\n"
        "print('torch._dynamo' in sys.modules)\n"
    ),
}


# Bytecode caching as an installed package has it (pip writes .pyc files; an editable install
# writes them on first import). A shell with PYTHONDONTWRITEBYTECODE=1, as on the box these
# numbers come from, would otherwise compile torchcompat's source at every start (~7 ms). The
# cache goes to a private folder so that the shared checkout gets no __pycache__.
PYCACHE = Path(tempfile.gettempdir()) / "torchcompat-bench-pycache"


def _env(*, bytecode: bool = True, **extra: str) -> dict[str, str]:
    drop = ("TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    env.update(extra)
    return env


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    return _timed(argv, env)[::2]  # type: ignore[return-value]


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system) and stdout of one child process."""
    cpu = _cpu_children()
    start = time.perf_counter()
    # Run from a neutral folder: ``python -c`` puts the working directory first on sys.path,
    # which in the repository root would import the checkout's torchcompat, not the one measured.
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir()
    )
    elapsed = time.perf_counter() - start
    cpu = _cpu_children() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{done.stderr}")
    return elapsed, cpu, done.stdout


def _importtime_ms(py: str, env: dict[str, str]) -> float:
    """``python -X importtime -c 'import torchcompat'``: the package's cumulative time, ms."""
    done = subprocess.run(
        [py, "-X", "importtime", "-c", "import torchcompat"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    for line in done.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == "torchcompat":
            return int(parts[1]) / 1e3
    raise RuntimeError(f"no torchcompat line in -X importtime's output:\n{done.stderr}")


def section_import(rounds: int) -> dict[str, Any]:
    py = sys.executable
    env = _env()
    bare: list[float] = []
    imported: list[float] = []
    bare_cpu: list[float] = []
    imported_cpu: list[float] = []
    inproc: list[float] = []
    inproc_cpu: list[float] = []
    inproc_nobytecode: list[float] = []
    importtime: list[float] = []
    env_nobytecode = _env(bytecode=False)
    torch_loaded = False
    packaging_loaded = False
    rng = random.Random(1)
    runs = [("bare", [py, "-c", "pass"]), ("import", [py, "-c", "import torchcompat"])]
    for _ in range(3):  # warm the page cache for both
        for _name, argv in runs:
            _wall(argv, env)
    for _ in range(rounds):
        rng.shuffle(runs)
        for name, argv in runs:
            wall, cpu, _ = _timed(argv, env)
            (bare if name == "bare" else imported).append(wall)
            (bare_cpu if name == "bare" else imported_cpu).append(cpu)
        probe = json.loads(_wall([py, "-c", IMPORT_PROBE], env)[1])
        inproc.append(probe["import_s"])
        inproc_cpu.append(probe["import_cpu_s"])
        inproc_nobytecode.append(
            json.loads(_wall([py, "-c", IMPORT_PROBE], env_nobytecode)[1])["import_s"]
        )
        torch_loaded |= probe["torch_loaded"]
        packaging_loaded |= probe["packaging_loaded"]
        importtime.append(_importtime_ms(py, env))
    return {
        "importtime_ms": summarize(importtime),
        "bare_process_ms": summarize([b * 1e3 for b in bare]),
        "import_process_ms": summarize([i * 1e3 for i in imported]),
        "delta_ms": summarize([(i - b) * 1e3 for i, b in zip(imported, bare)]),
        "delta_cpu_ms": summarize([(i - b) * 1e3 for i, b in zip(imported_cpu, bare_cpu)]),
        "in_process_import_ms": summarize([s * 1e3 for s in inproc]),
        "in_process_import_cpu_ms": summarize([s * 1e3 for s in inproc_cpu]),
        "in_process_import_no_bytecode_ms": summarize([s * 1e3 for s in inproc_nobytecode]),
        "torch_imported": torch_loaded,
        "packaging_imported": packaging_loaded,
    }


def section_startup(rounds: int) -> dict[str, Any]:
    py = sys.executable
    env = _env(TORCH_COMPILE_DISABLE="1")
    times: dict[str, list[float]] = {name: [] for name in STARTUP_SCRIPTS}
    cpu_times: dict[str, list[float]] = {name: [] for name in STARTUP_SCRIPTS}
    dynamo: dict[str, bool] = {}
    names = list(STARTUP_SCRIPTS)
    rng = random.Random(2)
    for name in names:  # warm the page cache for torch's files
        _wall([py, "-c", STARTUP_SCRIPTS[name]], env)
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            elapsed, cpu, stdout = _timed([py, "-c", STARTUP_SCRIPTS[name]], env)
            times[name].append(elapsed)
            cpu_times[name].append(cpu)
            dynamo[name] = stdout.strip() == "True"
    return {
        "process_s": {k: summarize(v) for k, v in times.items()},
        "safe_over_torch": summarize(
            [a / b for a, b in zip(times["safe_compile"], times["torch.compile"])]
        ),
        "process_cpu_s": {k: summarize(v) for k, v in cpu_times.items()},
        "safe_over_torch_cpu": summarize(
            [a / b for a, b in zip(cpu_times["safe_compile"], cpu_times["torch.compile"])]
        ),
        "dynamo_imported": dynamo,
    }


def _run_worker(kind: str, rounds: int, env: dict[str, str]) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--rounds",
        str(rounds),
    ]
    return json.loads(_wall(argv, env)[1])  # type: ignore[no-any-return]


def source_fingerprint() -> dict[str, Any]:
    """Which torchcompat source was measured: its folder, a hash of its files, the git commit.

    The checkout is shared and changes under a running benchmark; measure a snapshot
    (``git archive HEAD | tar -x -C SNAP`` and ``PYTHONPATH=SNAP``: the whole tree, which the
    plugin section installs with pip) and this says which one.
    """
    import hashlib

    import torchcompat

    folder = Path(torchcompat.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    out: dict[str, Any] = {"path": str(folder), "sha256": digest.hexdigest()[:16]}
    commit = os.environ.get("TORCHCOMPAT_BENCH_COMMIT")
    if commit:
        out["commit"] = commit
    else:
        try:
            out["commit"] = subprocess.run(
                ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(folder), "status", "--porcelain", "--", "."],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            out["uncommitted_changes"] = bool(dirty)
        except (OSError, subprocess.CalledProcessError):
            pass
    return out


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": model or platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument("--rounds", type=int, default=60, help="interleaved rounds per section")
    parser.add_argument(
        "--process-rounds", type=int, default=15, help="rounds of the whole-process start-up"
    )
    parser.add_argument(
        "--import-rounds", type=int, default=40, help="rounds of the import measurement"
    )
    parser.add_argument(
        "--counts",
        type=int,
        help="valgrind runs per plugin arm, median kept (default: plugin.COUNTS)",
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--only-import",
        action="store_true",
        help="measure the import and plugin sections alone (render.py needs a full run)",
    )
    args = parser.parse_args(argv)
    if args.counts is not None and args.counts < 1:
        parser.error(f"--counts takes a number of runs, at least 1; got {args.counts}")
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.rounds)))
        return 0

    started = datetime.now(timezone.utc)
    machine = _machine()
    result: dict[str, Any] = {
        "kind": "cpu",
        "command": " ".join(
            [
                *[f"{k}={os.environ[k]}" for k in ("PYTHONPATH",) if os.environ.get(k)],
                Path(sys.executable).as_posix(),
                *sys.argv,
            ]
        ),
        "date_utc": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine,
        "torchcompat": source_fingerprint(),
        "in_process_timer": "time.process_time: CPU time of the worker process (one torch thread)",
        "sections": {},
    }
    sections = result["sections"]
    print("import ...", file=sys.stderr)
    sections["import"] = section_import(args.import_rounds)
    print("plugin ...", file=sys.stderr)
    sys.modules.setdefault("run", sys.modules[__name__])  # plugin.py reads this module's helpers
    from plugin import section_plugin

    sections["plugin"] = section_plugin(args.import_rounds, args.counts)
    if args.only_import:
        from importlib.metadata import version

        result["kind"] = "import"
        result["torch"] = {"version": version("torch")}
        machine["loadavg_end"] = list(os.getloadavg())
        return _write(result, args.out)
    print("startup ...", file=sys.stderr)
    sections["startup"] = section_startup(args.process_rounds)
    print("percall on ...", file=sys.stderr)
    sections["percall_on"] = _run_worker("percall_on", args.rounds, _env())
    print("percall off ...", file=sys.stderr)
    sections["percall_off"] = _run_worker(
        "percall_off", args.rounds, _env(TORCH_COMPILE_DISABLE="1")
    )
    print("gate ...", file=sys.stderr)
    sections["gate"] = _run_worker("gate", args.rounds, _env())
    result["torch"] = sections["percall_on"]["torch"]
    machine["loadavg_end"] = list(os.getloadavg())
    result["elapsed_s"] = (datetime.now(timezone.utc) - started).total_seconds()
    return _write(result, args.out)


def _write(result: dict[str, Any], out: Path | None) -> int:
    """The run's JSON to ``out`` (--out), or to stdout without one."""
    text = json.dumps(result, indent=1)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"wrote {out}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
