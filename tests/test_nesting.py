"""A safe_compile result inside another compiled region compiles as torch.compile's own does.

dynamo recognises compiled objects by exact type and by attributes (``istype(value,
OptimizedModule)``, ``_torchdynamo_inline``, ``_is_torch_compile``, ``dynamo_ctx``): each test
builds the same composition with raw ``torch.compile`` and with ``safe_compile`` and compares
what dynamo made of them, frames and graphs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from torchcompat import safe_compile
from torchcompat.testing import CompileCounter

from .conftest import FACTS, needs_compile

torch = pytest.importorskip("torch")


def RAW(obj: Any, **kwargs: Any) -> Any:
    """torch.compile as it is at the call."""
    return torch.compile(obj, **kwargs)


SAFE: Callable[..., Any] = safe_compile
MAKERS = {"raw": RAW, "safe": SAFE}


class Outer(torch.nn.Module):  # type: ignore[misc,name-defined]
    """A model around an inner (compiled) layer, with work of its own before and after."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.head = torch.nn.Linear(4, 4)

    def forward(self, x: Any) -> Any:
        return self.head(self.inner(x.relu())).sin()


class Layer(torch.nn.Module):  # type: ignore[misc,name-defined]
    """A user-written layer (dynamo traces its forward; torch's own modules are inlined too)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x: Any) -> Any:
        return self.linear(x) * 2


@needs_compile
def test_a_module_result_is_torchs_exact_optimized_module(dynamo: Any) -> None:
    """type(safe_compile(m)) is type(torch.compile(m)): the type dynamo unwraps when nested."""
    raw = torch.compile(Layer(), backend="eager")
    safe = safe_compile(Layer(), backend="eager")
    assert type(safe) is type(raw) is dynamo.eval_frame.OptimizedModule


def _counts(outer_make: Callable[..., Any], inner_make: Callable[..., Any], **outer: Any) -> Any:
    torch._dynamo.reset()
    model = outer_make(Outer(inner_make(Layer(), backend="eager")), backend="eager", **outer)
    with CompileCounter() as counter:
        for rows in (2, 3):  # a new shape: recompiles count too
            model(torch.ones(rows, 4))
    return counter.frames, counter.graphs


@needs_compile
@pytest.mark.parametrize("outer_fullgraph", [False, True], ids=["outer", "outer-fullgraph"])
@pytest.mark.parametrize("outer", ["raw", "safe"])
def test_a_nested_module_result_compiles_into_the_frames_and_graphs_raw_does(
    dynamo: Any, outer: str, outer_fullgraph: bool
) -> None:
    """A safe inner module in a raw or safe outer model: the frames and graphs of raw's inner.

    An outer ``fullgraph=True`` works where it works with raw (a subclass raised Unsupported).
    """
    make = MAKERS[outer]
    raw = _counts(make, RAW, fullgraph=outer_fullgraph)
    safe = _counts(make, SAFE, fullgraph=outer_fullgraph)
    assert safe == raw
    assert raw[1] >= 1


@needs_compile
def test_a_nested_function_result_compiles_as_raw_does(dynamo: Any) -> None:
    """A safe_compile'd function called from a compiled one: raw's frames and graphs."""

    def counts(inner_make: Callable[..., Any]) -> tuple[int, int]:
        torch._dynamo.reset()

        def inner(x: Any) -> Any:
            return x.cos() + 1

        compiled_inner = inner_make(inner, backend="eager", fullgraph=True)

        def outer(x: Any) -> Any:
            return compiled_inner(x.sin()) * 2

        compiled = torch.compile(outer, backend="eager", fullgraph=True)
        with CompileCounter() as counter:
            compiled(torch.ones(3))
        return counter.frames, counter.graphs

    assert counts(SAFE) == counts(RAW) == (1, 1)


@needs_compile
def test_the_guard_keeps_torchs_marks_of_a_compiled_function() -> None:
    """Every attribute torch puts on its compiled function to recognise it is on the guard too."""

    def f(x: Any) -> Any:
        return x + 1

    raw = torch.compile(f, backend="eager")
    safe = safe_compile(f, backend="eager")
    for name in ("_torchdynamo_inline", "_torchdynamo_orig_callable", "_is_torch_compile"):
        assert hasattr(safe, name) == hasattr(raw, name), name
    assert safe._torchdynamo_orig_callable is f
    assert torch._dynamo.eval_frame.innermost_fn(safe) is f


def _nested_fullgraph_enforced(make: Callable[..., Any]) -> bool:
    """Whether an inner fullgraph=True with a graph break raises inside a compiled outer."""
    torch._dynamo.reset()

    def inner(x: Any) -> Any:
        x = x + 1
        torch._dynamo.graph_break()
        return x * 2

    compiled_inner = make(inner, backend="eager", fullgraph=True)

    def outer(x: Any) -> Any:
        return compiled_inner(x).sin()

    compiled = torch.compile(outer, backend="eager")
    try:
        compiled(torch.ones(2))
    except torch._dynamo.exc.Unsupported:
        return True
    return False


@needs_compile
@pytest.mark.skipif(
    FACTS is None or FACTS.release < (2, 13),
    reason="config.nested_graph_breaks and its _is_torch_compile test are in torch 2.13+",
)
def test_a_nested_fullgraph_is_enforced_as_raw_under_nested_graph_breaks(dynamo: Any) -> None:
    """With nested_graph_breaks, an inner fullgraph=True safe result is enforced as raw's is."""
    config = dynamo.config
    if not hasattr(config, "nested_graph_breaks"):
        pytest.skip(f"torch {torch.__version__} has no config.nested_graph_breaks")
    with config.patch(nested_graph_breaks=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _nested_fullgraph_enforced(SAFE) == _nested_fullgraph_enforced(RAW)


@needs_compile
def test_a_framework_rewrapping_through_dynamo_ctx_keeps_the_guard(dynamo: Any) -> None:
    """``result.dynamo_ctx(fn)``, as Lightning compiles training_step, gives a guarded function.

    Under config.disable it runs once with no warning and no raise; torch's own context would
    raise "no compiled frames" (2.13+) or warn (2.12) with fullgraph=True.
    """
    runs: list[int] = []

    def step(x: Any) -> Any:
        runs.append(1)
        return x + 1

    result = safe_compile(Layer(), backend="eager", fullgraph=True)
    rewrapped = result.dynamo_ctx(step)
    assert isinstance(result.dynamo_ctx, type(torch.compile(Layer()).dynamo_ctx))
    dynamo.config.disable = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rewrapped(torch.ones(1))
            result(torch.ones(2, 4))
    finally:
        dynamo.config.disable = False
    assert runs == [1]
    assert torch.equal(rewrapped(torch.ones(1)), torch.full((1,), 2.0))


@needs_compile
def test_a_torch_rebuilt_copy_of_a_module_result_is_guarded(dynamo: Any) -> None:
    """``OptimizedModule(m, result.dynamo_ctx)``, torch's own rebuild, gives a guarded forward."""
    result = safe_compile(Layer(), backend="eager", fullgraph=True)
    rebuilt = dynamo.eval_frame.OptimizedModule(result._orig_mod, result.dynamo_ctx)
    assert hasattr(rebuilt.forward, "_torchcompat_compiled")


@needs_compile
@pytest.mark.parametrize("make", ["raw", "safe"])
def test_a_dropped_module_result_is_freed_at_once_as_torchs_own(make: str) -> None:
    """No reference cycle: the last reference gone, the result is freed without the collector.

    A GPU model's memory comes back at ``del``, as with ``torch.compile``'s result.
    """
    import gc
    import weakref

    result = MAKERS[make](Layer(), backend="eager")
    result(torch.ones(2, 4))
    ref = weakref.ref(result)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del result
        assert ref() is None
    finally:
        if enabled:
            gc.enable()
