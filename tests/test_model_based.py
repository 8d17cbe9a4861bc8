"""Random compositions of safe_compile results, checked against the contract (issue 20).

Three regression tests for what the state machine below found on a91197e (each next to raw
``torch.compile``), then the machine itself: it makes results (function, bound method, module,
class, in place; fullgraph True/False; fallback or not), copies them (deepcopy, pickle,
torch.save), wraps them again (torch.compile, safe_compile, both), flips the runtime switches
(``config.disable``, ``force_eager``) and calls them (directly, or inside a raw or a safe_compile'd
outer function) with a new batch size each time. After every call: the body ran exactly once,
the output is eager's, nothing raised or warned. At the end, with every switch off: every live
result runs compiled code for a new shape (nothing left "skip for good"), and every module
loads its own state dict.
"""

from __future__ import annotations

import builtins
import copy
import gc
import io
import pickle
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from torchcompat import safe_compile
from torchcompat.testing import reset_compilation

from .conftest import FACTS, needs_compile

torch = pytest.importorskip("torch")

HAS_STANCE = FACTS is not None and FACTS.has_set_stance
needs_module_compile = pytest.mark.skipif(
    not hasattr(torch.nn.Module, "compile"),
    reason=f"torch {torch.__version__} has no nn.Module.compile (in place came in 2.1)",
)


# --- shared pieces: a counting backend, fresh bodies, copies, switches ----------------------


class Counting:
    """The "eager" backend, counting the runs of what it compiled: proof of compiled code.

    Defined at module level so that results made with it pickle.
    """

    def __init__(self) -> None:
        self.graph_runs = 0

    def __call__(self, gm: Any, example_inputs: Any) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            self.graph_runs += 1
            return gm.forward(*args)

        return run

    def __reduce__(self) -> str:
        return "BACKEND"  # a copy compiles with the one counted here, as a deepcopy does


BACKEND = Counting()


def batch(n: int) -> Any:
    """A deterministic input of batch size ``n``."""
    return torch.arange(n * 3, dtype=torch.float32).reshape(n, 3) / 7


class Runs:
    """A function body's run counter (functions have no ``self`` to count on)."""

    def __init__(self) -> None:
        self.runs = 0

    def reference(self, x: Any) -> Any:
        return x * 2 + 1


def _function_body(x: Any) -> Any:
    RUNS.runs += 1  # type: ignore[name-defined]  # noqa: F821  # each copy's own global
    return x * 2 + 1


def fresh_function() -> tuple[Callable[[Any], Any], Runs]:
    """A function with a code object of its own (dynamo caches per code object), and its counter."""
    runs = Runs()
    code = _function_body.__code__.replace()
    # dynamo needs __builtins__ in a function's globals.
    namespace = {"RUNS": runs, "__builtins__": builtins}
    return types.FunctionType(code, namespace, "f"), runs


class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
    """A module that counts the runs of its forward; ``reference`` is its output, uncounted."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)
        self.runs = 0

    def forward(self, x: Any) -> Any:
        self.runs += 1
        return self.linear(x).relu()

    def reference(self, x: Any) -> Any:
        with torch.no_grad():
            return torch.nn.functional.linear(x, self.linear.weight, self.linear.bias).relu()

    def method(self, x: Any) -> Any:
        self.runs += 1
        return self.linear(x).relu()


_classes = iter(range(sys.maxsize))


def fresh_net_class() -> type:
    """A subclass of Net with code objects of its own, importable by name (so it pickles)."""
    name = f"Net{next(_classes)}"
    members = {
        attr: types.FunctionType(getattr(Net, attr).__code__.replace(), globals(), attr)
        for attr in ("forward", "method")
    }
    cls = type(name, (Net,), {**members, "__module__": __name__, "__qualname__": name})
    globals()[name] = cls
    return cls


def _torch_save_load(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    # 2.6+ default weights_only to True, which refuses modules.
    return torch.load(buffer, weights_only=False)


COPIES: dict[str, Callable[[Any], Any]] = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "torch.save": _torch_save_load,
}


def set_switch(name: str, on: bool) -> None:
    """Turn one of torch's runtime switches on or off."""
    if name == "config.disable":
        torch._dynamo.config.disable = on
    else:
        torch.compiler.set_stance("force_eager" if on else "default")


def switches_off() -> None:
    """Every runtime switch off."""
    set_switch("config.disable", False)
    if HAS_STANCE:
        set_switch("force_eager", False)


def call_strictly(fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn(x)`` with every warning an error (torch 2.12 warns "found no compiled frames").

    But torch 2.0-2.1's own "changing options" warning, which a call compiling with a second
    backend object gives raw or not (setup.cfg ignores it suite-wide for the same reason).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", "changing options to `torch.compile", UserWarning)
        return fn(x)


def raw_compile(
    model: Any, *, fallback: str | None = None, in_place: bool = False, **kwargs: Any
) -> Any:
    """torch.compile (in place: ``nn.Module.compile``) with safe_compile's signature."""
    del fallback  # raw torch has none
    if in_place:
        model.compile(**kwargs)
        return model
    return torch.compile(model, **kwargs)


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    """A fresh dynamo, every switch off, before and after the test."""
    import torch._dynamo  # noqa: F401  # its config, for set_switch

    reset_compilation()
    yield
    switches_off()
    reset_compilation()


# --- regression tests: one per bug of issue 20 ----------------------------------------------

API = {"raw": raw_compile, "safe": safe_compile}


@needs_compile
@needs_module_compile
@pytest.mark.parametrize("fullgraph", [True, False])
@pytest.mark.parametrize(("api", "fallback"), [("raw", None), ("safe", None), ("safe", "eager")])
def test_in_place_result_compiles_again(
    fresh_dynamo: None, api: str, fallback: str | None, fullgraph: bool
) -> None:
    """A module compiled in place, compiled again, runs compiled for a new batch size, silently."""
    compile_ = API[api]
    model = fresh_net_class()()
    compile_(model, in_place=True, backend=BACKEND)
    again = compile_(model, fallback=fallback, fullgraph=fullgraph, backend=BACKEND)
    for n in (2, 5):
        before = BACKEND.graph_runs
        out = call_strictly(again, batch(n))
        assert torch.equal(out, model.reference(batch(n)))
        assert BACKEND.graph_runs > before, f"batch {n} ran no compiled code"


@needs_compile
@needs_module_compile
@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("api", list(API))
def test_copy_of_in_place_result_outlives_the_original(
    fresh_dynamo: None, api: str, how: str
) -> None:
    """A copy of an in-place result loads its own state dict after the original is gone."""
    model = API[api](fresh_net_class()(), in_place=True, backend=BACKEND)
    model(batch(2))
    clone = COPIES[how](model)
    expected = {key: value.clone() for key, value in clone.state_dict().items()}
    del model
    gc.collect()
    clone.load_state_dict(clone.state_dict(), strict=True)
    assert all(torch.equal(clone.state_dict()[key], value) for key, value in expected.items())
    assert torch.equal(call_strictly(clone, batch(3)), clone.reference(batch(3)))


NESTINGS: dict[str, Callable[[Callable[[Any], Any], bool], Any]] = {
    "safe_compile(f)": lambda f, fg: f,
    "safe_compile(torch.compile(f))": lambda f, fg: torch.compile(f, fullgraph=fg, backend=BACKEND),
    "safe_compile(safe_compile(f))": lambda f, fg: safe_compile(f, fullgraph=fg, backend=BACKEND),
}


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
@pytest.mark.parametrize("nesting", list(NESTINGS))
def test_wrapped_compiled_function_runs_eagerly_while_disabled(
    fresh_dynamo: None, nesting: str, fullgraph: bool
) -> None:
    """safe_compile of a compiled function runs it once, silently, under config.disable, and
    compiles it once the switch is off (raw nesting has no guard: see the raw test below)."""
    f, runs = fresh_function()
    result = safe_compile(NESTINGS[nesting](f, fullgraph), fullgraph=fullgraph, backend=BACKEND)
    set_switch("config.disable", True)
    try:
        out = call_strictly(result, batch(2))
    finally:
        set_switch("config.disable", False)
    assert runs.runs == 1
    assert torch.equal(out, batch(2) * 2 + 1)
    before = BACKEND.graph_runs
    assert torch.equal(call_strictly(result, batch(4)), batch(4) * 2 + 1)
    assert BACKEND.graph_runs > before, "left 'skip for good': no compiled code ran"
    assert runs.runs == 2


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_raw_nested_compiled_function_compiles(fresh_dynamo: None, fullgraph: bool) -> None:
    """Raw torch.compile(torch.compile(f)) compiles f and runs it once per call, switches off."""
    f, runs = fresh_function()
    inner = torch.compile(f, fullgraph=fullgraph, backend=BACKEND)
    result = torch.compile(inner, fullgraph=fullgraph, backend=BACKEND)
    before = BACKEND.graph_runs
    assert torch.equal(call_strictly(result, batch(2)), batch(2) * 2 + 1)
    assert BACKEND.graph_runs > before
    assert runs.runs == 1


# --- the state machine ----------------------------------------------------------------------

KINDS = ["function", "method", "module", "class"] + (
    ["in_place"] if hasattr(torch.nn.Module, "compile") else []
)
SWITCHES = ["config.disable"] + (["force_eager"] if HAS_STANCE else [])
REWRAPS = ["torch.compile", "safe_compile", "both"]
CALLS = ["direct", "raw outer", "safe outer"]


def _outer_body(x: Any) -> Any:
    return INNER(x) + 1  # type: ignore[name-defined]  # noqa: F821  # each copy's own global


def outer(inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A function of its own code object that calls ``inner``."""
    namespace = {"INNER": inner, "__builtins__": builtins}
    return types.FunctionType(_outer_body.__code__.replace(), namespace, "outer")


def is_optimized(obj: Any) -> bool:
    """Whether ``obj`` is torch's ``OptimizedModule`` (a module result), or a subclass."""
    import torch._dynamo

    return isinstance(obj, torch._dynamo.eval_frame.OptimizedModule)


def innermost(module: Any) -> Any:
    """The module under every ``OptimizedModule`` (the one that counts its runs)."""
    while is_optimized(module):
        module = module._orig_mod
    return module


@dataclass(eq=False)
class Result:
    """A live result: what to call, and the body (``runs``, ``reference``) it runs."""

    obj: Any
    body: Any
    #: safe_compile's is the outermost wrapper: the contract holds under every switch.
    guarded: bool
    #: How it was made, for messages.
    made: str
    #: An instance of a compiled class (or a copy of one).
    of_class: bool = False

    @property
    def is_module(self) -> bool:
        return isinstance(self.obj, torch.nn.Module)


class Compositions(RuleBasedStateMachine):
    """Results made, copied, wrapped again, switched and called at random; see the module doc."""

    compile = staticmethod(safe_compile)
    results = Bundle("results")

    def __init__(self) -> None:
        super().__init__()
        import torch._dynamo

        reset_compilation()
        # Copies share their class's forward code, and dynamo's recompile limit (8) per code
        # object is torch's own business: raw torch.compile copies run eagerly past it too.
        config = torch._dynamo.config
        name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
        self.limit = (name, getattr(config, name))
        setattr(config, name, 64)
        self.on: set[str] = set()
        self.size = 1
        self.live: list[Result] = []
        self.expected_runs: dict[int, tuple[Any, int]] = {}

    def _add(
        self, made: str, obj: Any, body: Any, guarded: bool = True, of_class: bool = False
    ) -> Result:
        result = Result(obj, body, guarded, made, of_class)
        self.live.append(result)
        self.expected_runs.setdefault(id(body), (body, body.runs))
        return result

    def _kwargs(self, fullgraph: bool, fallback: bool) -> dict[str, Any]:
        return {"fullgraph": fullgraph, "fallback": "eager" if fallback else None}

    @rule(
        target=results, kind=st.sampled_from(KINDS), fullgraph=st.booleans(), fallback=st.booleans()
    )
    def make(self, kind: str, fullgraph: bool, fallback: bool) -> Result:
        kwargs = {**self._kwargs(fullgraph, fallback), "backend": BACKEND}
        made = f"a {kind} result (fullgraph={fullgraph}, fallback={fallback})"
        if kind == "function":
            f, body = fresh_function()
            return self._add(made, self.compile(f, **kwargs), body)
        if kind == "class":
            body = self.compile(fresh_net_class(), **kwargs)()
            return self._add(made, body, body, of_class=True)
        body = fresh_net_class()()
        target = body.method if kind == "method" else body
        compiled = self.compile(target, in_place=kind == "in_place", **kwargs)
        return self._add(made, compiled, body)

    @rule(target=results, source=results, how=st.sampled_from(list(COPIES)))
    def copy(self, source: Result, how: str) -> Any:
        # Skipped steps return nothing rather than assume(): a failed assume() would end the
        # whole example there.
        if not source.is_module:
            return multiple()
        clone = COPIES[how](source.obj)
        made = f"a {how} copy of {source.made}"
        return self._add(made, clone, innermost(clone), source.guarded, source.of_class)

    @rule(
        target=results,
        source=results,
        how=st.sampled_from(REWRAPS),
        fullgraph=st.booleans(),
        fallback=st.booleans(),
    )
    def rewrap(self, source: Result, how: str, fullgraph: bool, fallback: bool) -> Any:
        # torch's own: torch.compile(an instance of a torch.compile'd class) raises
        # "compile_wrapper already has a get_compiler_config attribute" (2.13), raw or safe.
        if source.of_class:
            return multiple()
        obj = source.obj
        if how != "safe_compile":
            obj = torch.compile(obj, fullgraph=fullgraph, backend=BACKEND)
        if how != "torch.compile":
            obj = self.compile(obj, **self._kwargs(fullgraph, fallback), backend=BACKEND)
        made = f"{how}(fullgraph={fullgraph}, fallback={fallback}) of {source.made}"
        return self._add(made, obj, source.body, guarded=how != "torch.compile")

    @rule(result=consumes(results))
    def drop(self, result: Result) -> None:
        """Let the result go (its body lives on in results made from it)."""
        self.live.remove(result)
        result.obj = result.body = None
        gc.collect()

    @rule(switch=st.sampled_from(SWITCHES), on=st.booleans())
    def flip(self, switch: str, on: bool) -> None:
        set_switch(switch, on)
        if on:
            self.on.add(switch)
        else:
            self.on.discard(switch)

    @rule(result=results, where=st.sampled_from(CALLS), fullgraph=st.booleans())
    def call(self, result: Result, where: str, fullgraph: bool) -> None:
        # raw torch.compile outermost, or a raw fullgraph outer, under a switch: torch's own
        # trap, which the contract does not cover.
        if self.on and (not result.guarded or (where == "raw outer" and fullgraph)):
            return
        # A module result inside a compiled region compiles as torch.compile's own does, which
        # is not the same on every release: tests/test_nesting.py compares it with raw's there.
        if where != "direct" and is_optimized(result.obj):
            return
        fn = result.obj
        if where == "raw outer":
            fn = torch.compile(outer(fn), fullgraph=fullgraph, backend=BACKEND)
        elif where == "safe outer":
            fn = self.compile(outer(fn), fullgraph=fullgraph, backend=BACKEND)
        self._check_call(result, fn, lift=0 if where == "direct" else 1)

    def _check_call(self, result: Result, fn: Callable[[Any], Any], lift: int = 0) -> None:
        self.size += 1
        x = batch(self.size)
        expected = result.body.reference(x) + lift
        out = call_strictly(fn, x)  # also what failed: the steps say which result it was
        body, runs = self.expected_runs[id(result.body)]
        self.expected_runs[id(body)] = (body, runs + 1)
        assert torch.equal(out, expected), f"{result.made}: the output differs from eager's"

    @invariant()
    def bodies_ran_once_per_call(self) -> None:
        for body, runs in self.expected_runs.values():
            assert body.runs == runs, f"the body ran {body.runs - runs:+d} times more than called"

    def teardown(self) -> None:
        try:
            self.check_live()
        finally:
            self.clean_up()

    def check_live(self) -> None:
        """Every switch off: each live result compiles new shapes and loads its state dict."""
        switches_off()
        self.on.clear()
        for result in self.live:
            for _ in range(2):  # a new shape, then a recompile (dynamic from the second)
                before = BACKEND.graph_runs
                self._check_call(result, result.obj)
                self.bodies_ran_once_per_call()
                assert BACKEND.graph_runs > before, f"{result.made}: no compiled code ran"
            if result.is_module:
                result.obj.load_state_dict(result.obj.state_dict(), strict=True)

    def clean_up(self) -> None:
        switches_off()
        setattr(torch._dynamo.config, *self.limit)
        reset_compilation()


class RawCompositions(Compositions):
    """The same machine with raw torch.compile (and nn.Module.compile) for safe_compile."""

    compile = staticmethod(raw_compile)


# A few hundred steps on the releases that raise (2.13+), fewer on the others; no database, so
# every run is the same run. No shrinking: every step compiles, and shrinking a failure takes
# many minutes on two cores; the failing steps are printed as found (fifteen at most).
MACHINE = settings(
    phases=[Phase.explicit, Phase.generate],
    max_examples=15 if FACTS is not None and FACTS.fullgraph_check == "raise" else 6,
    stateful_step_count=15,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@needs_compile
def test_random_compositions_keep_the_contract() -> None:
    """Every composition of safe_compile results keeps the contract, step by step."""
    run_state_machine_as_test(Compositions, settings=MACHINE)


def replay(machine: type[Compositions], kind: str, fullgraph: bool) -> BaseException | None:
    """Run the machine's steps that make, switch off, call and switch on: what they raise."""
    state = machine()
    try:
        result = state.make(kind=kind, fullgraph=fullgraph, fallback=False)
        state.flip(switch="config.disable", on=True)
        state.call(result=result, where="direct", fullgraph=False)
        state.flip(switch="config.disable", on=False)
        state.bodies_ran_once_per_call()
        state.check_live()
    except (AssertionError, RuntimeError) as exc:
        return exc
    finally:
        state.clean_up()
    return None


@needs_compile
@pytest.mark.skipif(
    FACTS is None or FACTS.fullgraph_check != "raise",
    reason="raw torch.compile raises after the body ran from torch 2.13",
)
@pytest.mark.parametrize("fullgraph", [True, False])
@pytest.mark.parametrize("kind", ["function", "module"])
def test_the_machine_fails_raw_torch_compile(kind: str, fullgraph: bool) -> None:
    """Steps of the machine that safe_compile passes fail with raw torch.compile (2.13+): it
    raises after the body ran (fullgraph), or never compiles again ("skip for good")."""
    assert replay(Compositions, kind, fullgraph) is None
    failure = replay(RawCompositions, kind, fullgraph)
    assert isinstance(failure, RuntimeError if fullgraph else AssertionError), failure
