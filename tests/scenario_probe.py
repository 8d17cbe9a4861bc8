"""The scenario probe: run in fresh interpreters by tests/test_scenarios.py, never by pytest.

    python -c "import tests.scenario_probe as p; p.main()" '[["config.disable", "cold", ...]]'

Each scenario is ``[switch, timing, composition, fullgraph, api]``: wrap fresh code with raw
``torch.compile`` (api "raw") or ``safe_compile`` (api "safe"), compose the result as the
composition says (call it from another compiled region, share its code, copy it, ...), then:

- timing "before": turn the switch on, wrap, call twice, turn it off;
- timing "cold": wrap, turn the switch on, call twice, turn it off;
- timing "warm": wrap, call once with the switch off (compiles), turn it on, call twice, off.

With the switch off again, the "after" checks call the result, whatever it composes with, and a
fresh wrap of the same code: whether code still compiles ("nothing poisoned"). Every call
records how often the body ran, whether a compiled graph ran (a counting backend), what was
raised and what was warned. Prints one line: ``PROBE-JSON <list of results>``.

Runs as an imported module (not ``__main__``) so that pickle finds the classes it makes. Each
scenario gets code objects of its own (exec), because torch marks code objects "skip for good";
``torch._dynamo.reset()`` runs between scenarios.
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["COMPOSITIONS", "ENV_SWITCHES", "RUNTIME_SWITCHES", "TIMINGS", "main"]

RUNTIME_SWITCHES = ("config.disable", "force_eager")
# Set before torch starts (TORCH_COMPILE_DISABLE), or around wrapping and calling
# (TORCHDYNAMO_DISABLE, which torch reads at every torch.compile call).
ENV_SWITCHES = ("TORCH_COMPILE_DISABLE=1", "TORCHDYNAMO_DISABLE=1")
TIMINGS = ("before", "cold", "warm")
COMPOSITIONS = (
    "direct",  # a function
    "method",  # a bound method
    "module",  # an nn.Module instance
    "class",  # an nn.Module class, instantiated after wrapping
    "nested",  # called from an outer torch.compile'd function (fullgraph=False)
    "shared",  # wrapped twice, fullgraph True and False, both called
    "deepcopy",  # copy.deepcopy of a module result
    "pickle",  # pickle.loads(pickle.dumps(...)) of a module result
    "torch.save",  # torch.save / torch.load(weights_only=False) of a module result
    "rewrap",  # wrap(wrap(f)): the same API twice
    "raw-outer",  # torch.compile(wrap(f)): raw torch.compile around the API's result
)

torch: Any = None
safe_compile: Any = None
counts: dict[str, Any] = {}
_backends: dict[str, Backend] = {}


def _backend(name: str) -> Backend:
    return _backends[name]


class Backend:
    """Counts compiled frames and runs of compiled graphs (so "compiled" is observed).

    Pickles by name, so that a copied OptimizedModule still counts here.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.frames = 0
        self.graph_runs = 0
        _backends[name] = self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_backend, (self.name,))

    def __call__(self, gm: Any, example_inputs: Any) -> Any:
        self.frames += 1

        def run(*args: Any) -> Any:
            self.graph_runs += 1
            return gm.forward(*args)

        return run


def _fresh(tag: str) -> dict[str, Any]:
    """A function, a class with a method and an nn.Module class, all with new code objects."""
    src = f"""
def body_{tag}(x):
    counts[{tag!r}].add_(1)
    return x * 2 + 1

class Obj_{tag}:
    def step(self, x):
        counts[{tag!r}].add_(1)
        return x * 2 + 1

class Net_{tag}(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(2.0), requires_grad=False)

    def forward(self, x):
        counts[{tag!r}].add_(1)
        return x * self.scale + 1

def outer_{tag}(x):
    return inner_{tag}(x)
"""
    # A tensor counts the runs: dynamo guards on its shape, not its value, so a compiled
    # body stays warm (an int in a dict would be guarded on, and recompile every call).
    counts[tag] = torch.zeros((), dtype=torch.int64)
    namespace = globals()
    exec(compile(src, f"<probe {tag}>", "exec"), namespace)
    return {k: namespace[f"{k}_{tag}"] for k in ("body", "Obj", "Net", "outer")}


def _describe(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:200]


def _shown(record: list[warnings.WarningMessage]) -> list[str]:
    lines = [(str(w.message).strip().splitlines() or [""])[0] for w in record]
    return [f"{w.category.__name__}: {line}"[:200] for w, line in zip(record, lines)]


def _set_switch(switch: str, on: bool) -> None:
    if switch == "config.disable":
        torch._dynamo.config.disable = on
    elif switch == "force_eager":
        torch.compiler.set_stance("force_eager" if on else "default")
    elif switch == "TORCHDYNAMO_DISABLE=1":
        if on:
            os.environ["TORCHDYNAMO_DISABLE"] = "1"
        else:
            os.environ.pop("TORCHDYNAMO_DISABLE", None)


def _runs(tag: str) -> int:
    return int(counts[tag].item())


def _call(fn: Callable[[Any], Any], tag: str, backend: Backend) -> dict[str, Any]:
    runs, graphs = _runs(tag), backend.graph_runs
    x = torch.ones(3)
    error = ok = None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            ok = bool(torch.equal(fn(x), x * 2 + 1))
        except Exception as exc:
            error = _describe(exc)
    return {
        "runs": _runs(tag) - runs,
        "graph_runs": backend.graph_runs - graphs,
        "ok": ok,
        "error": error,
        "warnings": _shown(record),
    }


def _copy(how: str, obj: Any) -> Any:
    if how == "deepcopy":
        return copy.deepcopy(obj)
    if how == "pickle":
        return pickle.loads(pickle.dumps(obj))
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def _own_weights(a: Any, b: Any) -> bool:
    ours = {p.data_ptr() for p in a.parameters()}
    return bool(ours) and not ours & {p.data_ptr() for p in b.parameters()}


class Scenario:
    """One composition, built (wrapped) at the time its timing says."""

    def __init__(self, tag: str, composition: str, fullgraph: bool, api: str, backend: Backend):
        self.tag, self.composition, self.fullgraph, self.api = tag, composition, fullgraph, api
        self.backend = backend
        self.code = _fresh(tag)
        self.out: dict[str, Any] = {}

    def wrap(self, obj: Any, fullgraph: bool | None = None) -> Any:
        fullgraph = self.fullgraph if fullgraph is None else fullgraph
        wrap = torch.compile if self.api == "raw" else safe_compile
        return wrap(obj, fullgraph=fullgraph, backend=self.backend)

    def fresh_instance(self) -> Any:
        """The class wrapped again, and an instance of it."""
        return self.wrap(self.code["Net"])()

    def raw_outer(self, fn: Any, fullgraph: bool) -> Any:
        """Raw torch.compile around ``fn`` where this torch can compile, else ``fn`` itself."""
        if not usable:
            return fn
        return torch.compile(fn, fullgraph=fullgraph, backend=self.backend)

    def build(self, warm: bool) -> None:
        """Wrap; set ``self.under`` (the two calls made under the switch) and ``self.checks``."""
        code, comp = self.code, self.composition
        checks: dict[str, Callable[[], Any]] = {}
        if comp in ("direct", "shared", "nested", "rewrap", "raw-outer"):
            result = self.wrap(code["body"])
            self.entry = result
            self.identity = result is code["body"]
            checks["fresh"] = lambda: self.wrap(code["body"])
            if comp == "shared":
                other = self.wrap(code["body"], not self.fullgraph)
                self.under = [other, result]
                checks["other"] = lambda: other
            elif comp == "nested":
                code["outer"].__globals__[f"inner_{self.tag}"] = result
                self.entry = self.raw_outer(code["outer"], False)
                checks["result"] = lambda: result
            elif comp == "rewrap":
                self.entry = self.wrap(result)
                self.identity = self.entry is code["body"]
            elif comp == "raw-outer":
                self.entry = self.raw_outer(result, self.fullgraph)
        elif comp == "method":
            obj = code["Obj"]()
            step = obj.step
            self.entry = self.wrap(step)
            self.identity = self.entry is step
            checks["fresh"] = lambda: self.wrap(obj.step)
        elif comp == "module":
            net = code["Net"]()
            self.entry = self.wrap(net)
            self.identity = self.entry is net
            checks["fresh"] = lambda: self.wrap(code["Net"]())
        elif comp == "class":
            cls = self.wrap(code["Net"])
            self.identity = cls is code["Net"]
            self.entry = cls()
            checks["fresh"] = self.fresh_instance
        else:  # the copies
            net = code["Net"]()
            original = self.wrap(net)
            self.identity = original is net
            if warm:  # a trained model is copied (an EMA copy, a checkpoint)
                _call(original, self.tag, self.backend)
            self.entry = _copy(comp, original)
            self.out["own_weights"] = _own_weights(self.entry, original)
            checks["original"] = lambda: original
            checks["fresh"] = lambda: self.wrap(code["Net"]())
        if not hasattr(self, "under"):
            self.under = [self.entry, self.entry]
        self.checks = {"again": lambda: self.entry, **checks}
        self.out["identity"] = self.identity


def _scenario(switch: str, timing: str, comp: str, fullgraph: bool, api: str) -> dict[str, Any]:
    tag = f"{switch}_{timing}_{comp}_{api}_{int(fullgraph)}"
    tag = "".join(c if c.isalnum() else "_" for c in tag)
    out: dict[str, Any] = {
        "switch": switch,
        "timing": timing,
        "composition": comp,
        "fullgraph": fullgraph,
        "api": api,
    }
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:
        dynamo.reset()
        # torch 2.12 warns "found no compiled frames" once per process (torch._dynamo.utils
        # .warn_once): forget what it said, as a fresh interpreter would.
        getattr(dynamo.utils, "warn_once_cache", set()).clear()
    if switch in RUNTIME_SWITCHES and dynamo is None:
        out["unavailable"] = "no torch._dynamo in this torch"
        return out
    if switch == "force_eager" and not hasattr(getattr(torch, "compiler", None), "set_stance"):
        out["unavailable"] = "torch.compiler.set_stance came in 2.6"
        return out
    backend = Backend(tag)
    scenario = Scenario(tag, comp, fullgraph, api, backend)
    env = switch in ENV_SWITCHES
    if env and timing != "before":
        raise ValueError(f"an env switch is set before wrapping, not {timing!r}")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            if timing == "before":
                _set_switch(switch, True)
            try:
                scenario.build(warm=timing == "warm")
            finally:
                if timing == "before" and not env:
                    _set_switch(switch, False)
        except Exception as exc:
            _set_switch(switch, False)
            out["wrap_error"] = _describe(exc)
    out["wrap_warnings"] = _shown(record)
    out.update(scenario.out)
    if "wrap_error" in out:
        return out
    _run(scenario, switch, timing, out)
    return out


def _run(scenario: Scenario, switch: str, timing: str, out: dict[str, Any]) -> None:
    """Warm up (timing "warm"), call twice under the switch, then the checks with it off."""
    tag, backend = scenario.tag, scenario.backend
    if timing == "warm":
        out["warmup"] = [_call(fn, tag, backend) for fn in dict.fromkeys(scenario.under)]
    _set_switch(switch, True)
    try:
        out["calls"] = [_call(fn, tag, backend) for fn in scenario.under]
    finally:
        _set_switch(switch, False)
    if switch in ENV_SWITCHES:  # cannot be undone: torch read it at import, or at wrapping
        return
    out["after"] = {}
    for name, get in scenario.checks.items():
        try:
            fn = get()
        except Exception as exc:
            out["after"][name] = {"wrap_error": _describe(exc)}
            continue
        out["after"][name] = _call(fn, tag, backend)


usable = False


def main() -> None:
    """Run the scenarios in ``sys.argv[1]`` (a JSON list) and print their results."""
    global torch, safe_compile, usable
    import torch as _torch

    from torchcompat import safe_compile as _safe_compile
    from torchcompat.version import installed_facts

    torch, safe_compile = _torch, _safe_compile
    facts = installed_facts()
    usable = bool(facts and facts.compile_usable)
    if facts is not None and facts.has_compile:
        # The runtime switches live in torch._dynamo; import it as torch.compile would.
        import torch._dynamo
    results = []
    for spec in json.loads(sys.argv[1]):
        start = time.perf_counter()
        results.append(_scenario(*spec))
        results[-1]["seconds"] = round(time.perf_counter() - start, 3)
    print("PROBE-JSON " + json.dumps(results))
