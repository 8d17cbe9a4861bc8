"""safe_compile: the eager object when off, torch.compile when on, never the fullgraph trap."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchcompat import TorchCompatWarning, _warnings, safe_compile

from .conftest import FACTS, TORCH, Counted, needs_compile, needs_torch, run_python

torch = pytest.importorskip("torch", reason="safe_compile's tests need a real torch")


class CountedModule(torch.nn.Module):  # type: ignore[misc]
    """A Linear whose forward counts its runs."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.runs = 0

    def forward(self, x: Any) -> Any:
        self.runs += 1
        return self.linear(x).relu()


def _function() -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        return x.sin() + 1

    return f


class _Holder:
    def method(self, x: Any) -> Any:
        return x.cos()


def _method() -> Callable[[Any], Any]:
    return _Holder().method


OBJECTS: dict[str, Callable[[], Callable[..., Any]]] = {
    "function": _function,
    "method": _method,
    "module": lambda: torch.nn.Linear(3, 3),
    "lambda": lambda: lambda x: x + 1,
}


def _kwargs_strategy() -> st.SearchStrategy[dict[str, Any]]:
    """Any combination of valid torch.compile keywords for the installed release."""
    accepted = FACTS.compile_kwargs if FACTS is not None else frozenset()
    values: dict[str, st.SearchStrategy[Any]] = {
        "fullgraph": st.booleans(),
        "dynamic": st.sampled_from([None, True, False]),
        "backend": st.sampled_from(["eager", "aot_eager", "inductor"]),
        "mode": st.sampled_from([None, "default", "reduce-overhead", "max-autotune"]),
        "options": st.sampled_from([None, {}, {"trace.enabled": False}]),
        "disable": st.booleans(),
        "name": st.sampled_from([None, "region"]),
        "recompile_limit": st.sampled_from([None, 1, 8]),
        "isolate_recompiles": st.booleans(),
        "shapes_spec": st.none(),
        "dynamic_shapes": st.none(),
    }
    # torch.compile refuses mode and options together (2.0-2.15), and so does safe_compile.
    return st.fixed_dictionaries(
        {}, optional={k: v for k, v in values.items() if k in accepted}
    ).filter(lambda kw: kw.get("mode") is None or kw.get("options") is None)


@pytest.fixture
def compiles(dynamo: Any) -> Any:
    """A CompileCounter backend: proof that torch really compiled something."""
    from torch._dynamo.testing import CompileCounter

    return CompileCounter()


# --- compilation off ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(OBJECTS))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kwargs=_kwargs_strategy())
def test_off_returns_the_object_itself(
    kind: str, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TORCH_COMPILE_DISABLE=1, every call form hands back the very same object."""
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    obj = OBJECTS[kind]()
    assert safe_compile(obj, **kwargs) is obj
    assert safe_compile(**kwargs)(obj) is obj
    assert safe_compile(None, **kwargs)(obj) is obj
    assert safe_compile(obj) is obj


def test_off_imports_no_dynamo() -> None:
    """Off, safe_compile neither calls torch.compile nor imports torch._dynamo."""
    code = (
        "import sys, torch, torchcompat\n"
        "m = torch.nn.Linear(2, 2)\n"
        "assert torchcompat.safe_compile(m, fullgraph=True) is m\n"
        "@torchcompat.safe_compile(fullgraph=True)\n"
        "def f(x): return x\n"
        "assert f.__module__ == '__main__' and f.__name__ == 'f'\n"
        "assert 'torch._dynamo' not in sys.modules\n"
    )
    run_python(code, TORCH_COMPILE_DISABLE="1")
    run_python(code, TORCHDYNAMO_DISABLE="1")


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_off_body_runs_once_and_nothing_raises(
    fullgraph: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported bug: off + fullgraph=True runs the body once and returns its result."""
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    body = Counted()
    compiled = safe_compile(body, fullgraph=fullgraph, backend="eager")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(compiled(torch.ones(2)), torch.full((2,), 3.0))
    assert body.runs == 1


# --- compilation on ----------------------------------------------------------------------


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_on_compiles_and_matches_eager(fullgraph: bool, compiles: Any) -> None:
    """On, torch really compiles (a counting backend sees a frame) and results equal eager."""
    f = _function()
    compiled = safe_compile(f, fullgraph=fullgraph, backend=compiles)
    x = torch.randn(5)
    assert torch.allclose(compiled(x), f(x))
    assert compiles.frame_count == 1


@needs_compile
@pytest.mark.parametrize("form", ["call", "decorator", "decorator_with_args", "factory"])
def test_every_call_form_compiles(form: str, compiles: Any) -> None:
    """safe_compile(f), @safe_compile, @safe_compile(...), safe_compile(**kw)(f) all compile."""
    f = _function()
    if form == "call":
        compiled = safe_compile(f, backend=compiles)
    elif form == "decorator":
        compiled = safe_compile(f)
    elif form == "decorator_with_args":
        compiled = safe_compile(backend=compiles)(f)
    else:
        compiled = safe_compile(None, backend=compiles)(f)
    assert compiled is not f
    assert compiled.__name__ == "f"
    if form != "decorator":  # the default backend would be inductor: slow on this CPU
        compiled(torch.ones(3))
        assert compiles.frame_count == 1


@needs_compile
def test_module_keeps_what_users_rely_on(compiles: Any) -> None:
    """On, a module comes back as torch's OptimizedModule with _orig_mod and the same state,
    whose state_dict keys are the module's own (raw torch.compile adds "_orig_mod.")."""
    model = CountedModule()
    compiled = safe_compile(model, fullgraph=True, backend=compiles)
    raw = torch.compile(model, fullgraph=True, backend=compiles)
    assert isinstance(compiled, type(raw))
    assert compiled._orig_mod is model
    assert list(compiled.parameters()) == list(model.parameters())
    assert list(compiled.state_dict()) == list(model.state_dict())
    assert list(raw.state_dict()) == [f"_orig_mod.{k}" for k in model.state_dict()]
    x = torch.randn(2, 4)
    assert torch.allclose(compiled(x), model(x))
    assert compiles.frame_count == 1


@needs_compile
def test_options_dict_is_not_mutated(dynamo: Any) -> None:
    """The caller's options dict comes back unchanged (torch 2.8+ pops keys from it)."""
    assert FACTS is not None
    # guard_filter_fn is an option from torch 2.8 (the one it pops); before that inductor
    # rejects it as unknown, so older releases get a plain inductor option.
    if FACTS.release >= (2, 8):
        options: dict[str, Any] = {"guard_filter_fn": lambda entries: [True for _ in entries]}
    else:
        options = {"trace.enabled": False}
    before = dict(options)
    compiled = safe_compile(_function(), backend="inductor", options=options)
    assert options == before
    assert compiled is not None


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_every_result_is_guarded_and_unwraps_like_torchs(dynamo: Any, fullgraph: bool) -> None:
    """Every release, fullgraph or not: a guard that torch.compile unwraps to the original."""
    f = _function()
    compiled = safe_compile(f, fullgraph=fullgraph, backend="eager")
    raw = torch.compile(f, fullgraph=fullgraph, backend="eager")
    assert hasattr(compiled, "_torchcompat_compiled")
    assert compiled._torchdynamo_orig_callable is raw._torchdynamo_orig_callable is f
    assert compiled.__name__ == raw.__name__ == "f"
    assert compiled.__wrapped__ is f


# --- runtime switches after wrapping --------------------------------------------------------


def _runtime_switches() -> list[str]:
    switches = ["config.disable", "config.patch"]
    if FACTS is not None and FACTS.has_set_stance:
        switches.append("force_eager")
    return switches


def _switched_off(switch: str) -> Any:
    import contextlib

    from torch._dynamo import config

    if switch == "config.patch":
        return config.patch(disable=True)
    if switch == "force_eager":
        return torch.compiler.set_stance("force_eager")

    @contextlib.contextmanager
    def flag() -> Iterator[None]:
        config.disable = True
        try:
            yield
        finally:
            config.disable = False

    return flag()


@needs_compile
@pytest.mark.parametrize("switch", _runtime_switches())
@pytest.mark.parametrize("fullgraph", [True, False])
@pytest.mark.parametrize("kind", ["function", "module"])
def test_runtime_switch_after_wrapping(
    switch: str, fullgraph: bool, kind: str, compiles: Any
) -> None:
    """A switch flipped after wrapping: each call runs the body once, raises and warns nothing."""
    body: Any = Counted() if kind == "function" else CountedModule()
    compiled = safe_compile(body, fullgraph=fullgraph, backend=compiles)
    x = torch.ones(2, 4)
    expected = body(x)
    body.runs = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _switched_off(switch):
            for _ in range(3):
                assert torch.allclose(compiled(x), expected)
    assert body.runs == 3
    assert compiles.frame_count == 0


@needs_compile
@pytest.mark.skipif(
    FACTS is None or FACTS.fullgraph_check is None,
    reason="the guard exists only where torch checks fullgraph calls (2.12+)",
)
@pytest.mark.parametrize("switch", _runtime_switches())
@pytest.mark.parametrize("kind", ["function", "module"])
def test_runtime_switch_does_not_poison(switch: str, kind: str, compiles: Any) -> None:
    """After the switch is turned back on, the fullgraph result compiles as if never switched."""
    body: Any = Counted() if kind == "function" else CountedModule()
    compiled = safe_compile(body, fullgraph=True, backend=compiles)
    x = torch.ones(2, 4)
    with _switched_off(switch):
        compiled(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled(x)
    assert compiles.frame_count == 1


@needs_compile
@pytest.mark.skipif(
    FACTS is None or FACTS.fullgraph_check != "raise",
    reason="torch raises after the body only from 2.13 (2.12 warns)",
)
def test_raw_torch_raises_after_the_body(dynamo: Any) -> None:
    """The problem itself, on raw torch: the body ran, then RuntimeError; safe_compile is fine."""
    from torch._dynamo import config

    raw_body, safe_body = Counted(), Counted()
    raw = torch.compile(raw_body, fullgraph=True, backend="eager")
    safe = safe_compile(safe_body, fullgraph=True, backend="eager")
    with config.patch(disable=True):
        with pytest.raises(RuntimeError, match="found no compiled frames"):
            raw(torch.ones(2))
        safe(torch.ones(2))
    assert (raw_body.runs, safe_body.runs) == (1, 1)


# --- transparency of the guard -------------------------------------------------------------


@needs_compile
def test_guard_keeps_names_and_binds_as_a_method(compiles: Any) -> None:
    """A decorated method keeps its name and docstring and binds ``self`` like torch's wrapper."""

    class Net:
        scale = 3

        @safe_compile(fullgraph=True, backend=compiles)
        def forward(self, x: Any) -> Any:
            """Scale x."""
            return x * self.scale

    assert Net.forward.__name__ == "forward"
    assert Net.forward.__doc__ == "Scale x."
    assert torch.equal(Net().forward(torch.ones(2)), torch.full((2,), 3.0))


@needs_compile
def test_nested_compiled_call_inlines(compiles: Any) -> None:
    """Called from another compiled region, a safe_compile'd function is inlined in one graph."""
    inner = safe_compile(_function(), fullgraph=True, backend=compiles)

    def outer(x: Any) -> Any:
        return inner(x) * 2

    outer_compiled = torch.compile(outer, fullgraph=True, backend=compiles)
    x = torch.randn(3)
    assert torch.allclose(outer_compiled(x), (x.sin() + 1) * 2)
    assert compiles.frame_count == 1


# --- releases that cannot compile -----------------------------------------------------------


@pytest.mark.skipif(
    FACTS is None or FACTS.compile_usable,
    reason="only where this torch cannot compile here (1.13; 2.0 on Python 3.11)",
)
def test_unusable_release_returns_eager_and_warns_once() -> None:
    """No torch.compile (1.13) or a refused Python (2.0 on 3.11): eager object, one warning."""

    _warnings.said.clear()
    f, g = _function(), _function()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert safe_compile(f, fullgraph=True) is f
        assert safe_compile(g) is g
    assert [type(w.message) for w in record] == [TorchCompatWarning]
    assert "uncompiled" in str(record[0].message)


@needs_torch
@pytest.mark.skipif(
    FACTS is None or not FACTS.loose_env_parse or not FACTS.compile_usable,
    reason="only releases that parse TORCH_COMPILE_DISABLE loosely (2.0-2.7) and can compile",
)
@pytest.mark.parametrize("value", ["0", "false"])
def test_loose_release_compiles_with_env_zero(value: str) -> None:
    """TORCH_COMPILE_DISABLE=0 switches raw torch off on 2.0-2.7; safe_compile still compiles."""
    code = (
        "import torch, torchcompat\n"
        "from torch._dynamo.testing import CompileCounter\n"
        "raw_cnt, safe_cnt = CompileCounter(), CompileCounter()\n"
        "def f(x): return x.sin() + 1\n"
        "def g(x): return x.cos() + 1\n"
        "torch.compile(f, backend=raw_cnt)(torch.ones(2))\n"
        "torchcompat.safe_compile(g, backend=safe_cnt)(torch.ones(2))\n"
        "print(raw_cnt.frame_count, safe_cnt.frame_count)\n"
    )
    out = run_python(code, TORCH_COMPILE_DISABLE=value).stdout.split()
    # The raw call ran first, while torch still read "0" as off.
    assert out == ["0", "1"], f"{TORCH}: raw and safe frame counts {out}"


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("off", [False, True])
@pytest.mark.parametrize("bad", [3, "model", object(), [1, 2]])
def test_non_callable_is_named(bad: Any, off: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-callable gets a TypeError naming its type, whether compilation is on or off."""
    if off:
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    with pytest.raises(TypeError, match=type(bad).__name__):
        safe_compile(bad)


@pytest.mark.parametrize("off", [False, True])
@pytest.mark.parametrize("form", ["call", "decorator"])
def test_unknown_keyword_is_named(off: bool, form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo'd keyword is a TypeError naming it and the likely intent, even when off."""
    if off:
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    args = (_function(),) if form == "call" else ()
    with pytest.raises(TypeError, match=r"'fulgraph'.*did you mean 'fullgraph'"):
        safe_compile(*args, fulgraph=True)


@needs_compile
def test_safe_compile_says_once_that_it_assumes_the_facts_of_the_newest_release_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a torch newer than any release read, one TorchCompatWarning says whose facts it uses.

    Planted next release: the installed release's facts are stubbed as 2.16's (torchcompat's own
    lookup, not torch's behaviour); the real torch still compiles.
    """
    import torchcompat.compile as compile_module
    from torchcompat._releases import facts_for

    assert FACTS is not None
    planted = facts_for((2, 16, 0), FACTS.python)
    monkeypatch.setattr(compile_module, "installed_facts", lambda: planted)
    monkeypatch.setattr(_warnings, "said", set())
    with pytest.warns(TorchCompatWarning, match="newer than any release torchcompat has read"):
        compile_module.safe_compile(lambda x: x + 1, backend="eager")
