"""safe_compile(fallback="eager"): no call raises for a failure of compilation; user errors do."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from torchcompat import TorchCompatWarning, fallback_reason, safe_compile
from torchcompat._fallback import FallbackState, is_compile_failure
from torchcompat._fallback_backend import with_fallback_backend

from .conftest import FACTS, TORCH, Counted, needs_compile, run_python

FALLBACK_PAGE = Path(__file__).resolve().parent.parent / "docs" / "fallback.md"


@pytest.mark.parametrize("bad", ["Eager", "inductor", "lazy", True, 1])
@pytest.mark.parametrize("off", [False, True])
def test_bad_fallback_is_named(bad: Any, off: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """fallback takes None or "eager"; anything else is a ValueError quoting it, on every torch."""
    if off:
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        safe_compile(Counted(), fallback=bad)


def test_bad_fallback_is_named_in_the_decorator_form() -> None:
    """The decorator form checks fallback when it is made, before any object is given."""
    with pytest.raises(ValueError, match="'lazy'"):
        safe_compile(fallback="lazy")


# Everything below compiles.
torch = pytest.importorskip("torch", reason="fallback needs a real torch")


class FailingBackend:
    """A real backend that fails to compile graph number ``fail_at`` on (1 = every graph)."""

    def __init__(self, fail_at: int = 1) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, gm: Any, example_inputs: Any) -> Any:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise RuntimeError("backend cannot compile this")
        return gm.forward


class OwnModule(torch.nn.Module):  # type: ignore[misc]
    """A module whose forward code no other test compiles.

    Before 2.5 a compiled nn.Linear runs through dynamo's one shared wrapper frame, guarded on the
    module's id: a new Linear at a freed one's address would reuse another test's compiled code.
    """

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, x: Any) -> Any:
        return self.linear(x) - 1


class Broken:
    """A body with a graph break between two graphs; ``log`` records each side effect."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def method(self, x: Any) -> Any:
        y = x.sin() + 1
        self.log.append("between")  # a side effect dynamo runs eagerly, between two graphs
        torch._dynamo.graph_break()
        return y.cos() * 2


def _recorded(fn: Any, *args: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fn(*args)
    return result, [w for w in record if issubclass(w.category, TorchCompatWarning)]


def _body(kind: str) -> Any:
    """A fresh body of each kind of object safe_compile takes."""
    if kind == "function":
        counted = Counted()

        def function(x: Any) -> Any:
            return counted(x)

        return function
    if kind == "method":
        holder = Broken()
        return holder.method
    return OwnModule()


# The method breaks its graph in two: fullgraph=True could not trace it at all.
@needs_compile
@pytest.mark.parametrize(
    ("kind", "fullgraph"),
    [
        ("function", True),
        ("function", False),
        ("module", True),
        ("module", False),
        ("method", False),
    ],
)
def test_failing_backend_never_fails_a_call(kind: str, fullgraph: bool, dynamo: Any) -> None:
    """A backend that fails: the first call already returns eager's result, warns once, and
    every later call runs eagerly without asking the backend again."""
    backend = FailingBackend()
    body = _body(kind)
    compiled = safe_compile(body, fullgraph=fullgraph, backend=backend, fallback="eager")
    x = torch.ones(2)
    expected = body(x)
    first, caught = _recorded(compiled, x)
    second, caught_again = _recorded(compiled, x)
    assert torch.allclose(first, expected)
    assert torch.allclose(second, expected)
    assert len(caught) == 1
    assert "compilation failed" in str(caught[0].message)
    assert caught[0].filename == __file__, "the warning points at the caller's line"
    assert caught_again == []
    assert backend.calls == 1
    assert "backend cannot compile this" in (fallback_reason(compiled) or "")


@needs_compile
def test_failing_class_backend_never_fails_a_call(dynamo: Any) -> None:
    """A module class compiled with a failing backend: its instances' calls do not raise."""

    class Module(torch.nn.Module):  # type: ignore[misc]
        def forward(self, x: Any) -> Any:
            return x * 3

    backend = FailingBackend()
    compiled = safe_compile(Module, backend=backend, fallback="eager")
    outs, caught = _recorded(lambda: [compiled()(torch.ones(2)) for _ in range(3)])
    assert all(torch.equal(out, torch.full((2,), 3.0)) for out in outs)
    assert len(caught) == 1
    assert backend.calls == 1
    assert "backend cannot compile this" in (fallback_reason(Module) or "")


@needs_compile
def test_second_graph_failing_continues_from_that_graph(dynamo: Any) -> None:
    """The first graph compiles and runs, the second fails: that graph runs eagerly, the code
    between them ran once, the call returns eager's result; raw torch.compile raises there."""
    body = Broken()
    raw_backend = FailingBackend(fail_at=2)
    with pytest.raises(Exception, match="backend cannot compile this") as info:
        torch.compile(body.method, backend=raw_backend)(torch.ones(3))
    assert is_compile_failure(info.value)
    assert body.log == ["between"], "raw torch ran the code before the failing graph"
    dynamo.reset()

    body = Broken()
    backend = FailingBackend(fail_at=2)
    compiled = safe_compile(body.method, backend=backend, fallback="eager")
    out, caught = _recorded(compiled, torch.ones(3))
    assert torch.allclose(out, (torch.ones(3).sin() + 1).cos() * 2)
    assert body.log == ["between"]
    assert backend.calls == 2, "the first graph compiled, the second was tried once"
    assert len(caught) == 1
    out, _ = _recorded(compiled, torch.ones(3))
    assert body.log == ["between", "between"]
    assert backend.calls == 2


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_user_exception_propagates_as_torch_compile_raises_it(fullgraph: bool, dynamo: Any) -> None:
    """The user's own exception: the one torch.compile raises, once, with no fallback; where
    raw torch cannot trace the raise (a compile failure), the eager run raises it as is."""

    def make() -> tuple[Any, list[int]]:
        runs: list[int] = []

        def body(x: Any) -> Any:
            runs.append(1)
            if x.shape[0] == 3:
                raise ValueError("user error 42")
            return x + 1

        return body, runs

    raw_body, raw_runs = make()
    with pytest.raises(Exception) as raw:  # noqa: PT011 - the class depends on the release
        torch.compile(raw_body, fullgraph=fullgraph, backend="eager")(torch.ones(3))
    dynamo.reset()
    body, runs = make()
    compiled = safe_compile(body, fullgraph=fullgraph, backend="eager", fallback="eager")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(Exception) as info:  # noqa: PT011
            compiled(torch.ones(3))
    # Under fullgraph, 2.6+ find the raise while tracing: the traced append never happens.
    assert len(runs) <= 1
    if is_compile_failure(raw.value):  # releases that cannot trace a raise under fullgraph
        assert type(info.value) is ValueError
        assert fallback_reason(compiled) is not None
    else:
        assert type(info.value) is type(raw.value)
        assert str(info.value) == str(raw.value)
        assert len(runs) == len(raw_runs)
        assert fallback_reason(compiled) is None
        assert not [w for w in record if issubclass(w.category, TorchCompatWarning)]


@needs_compile
def test_error_in_users_ops_is_not_a_compile_failure(dynamo: Any) -> None:
    """A shape error found while tracing is the user's, propagates, and does not fall back."""

    def body(x: Any) -> Any:
        return x.mm(torch.ones(5, 5))

    compiled = safe_compile(body, fullgraph=True, backend="eager", fallback="eager")
    with pytest.raises(RuntimeError):
        compiled(torch.ones(3, 3))
    assert fallback_reason(compiled) is None


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_recompile_limit_never_fails_a_call(fullgraph: bool, dynamo: Any) -> None:
    """At the recompile limit raw torch raises (fullgraph, newer releases) or runs the frame
    eagerly; safe_compile's result never raises, and falls back exactly where torch raises."""
    config = dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"

    def body(x: Any) -> Any:
        return x + 1

    def raw_error() -> Exception | None:
        raw = torch.compile(body, fullgraph=fullgraph, backend="eager", dynamic=False)
        try:
            for n in range(1, 5):
                raw(torch.ones(n))
        except Exception as exc:  # the release decides whether it raises at the limit
            return exc
        return None

    with config.patch(**{name: 1}):
        error = raw_error()
        assert error is None or is_compile_failure(error), f"{TORCH}: {error!r}"
        dynamo.reset()
        safe = safe_compile(
            body, fullgraph=fullgraph, backend="eager", dynamic=False, fallback="eager"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TorchCompatWarning)
            results = [safe(torch.ones(n)) for n in range(1, 5)]
    assert [r.tolist() for r in results] == [[2.0] * n for n in range(1, 5)]
    assert (fallback_reason(safe) is not None) is (error is not None)


def _lazy_backward_switch() -> bool:
    from torch._functorch import config

    return hasattr(config, "force_non_lazy_backward_lowering")


@needs_compile
def test_failing_backward_compile(dynamo: Any) -> None:
    """AOTAutograd with a backward compiler that fails: where torch can compile the backward
    with the forward, the fallback's gradients equal eager's; before, backward() raises as with
    raw torch.compile (docs/fallback.md: where it cannot help)."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    def fails(gm: Any, example_inputs: Any) -> Any:
        raise RuntimeError("backward cannot compile")

    backend = aot_autograd(fw_compiler=lambda gm, _: make_boxed_func(gm.forward), bw_compiler=fails)

    def body(x: Any, w: Any) -> Any:
        return (x * w).sin().sum()

    w_eager = torch.linspace(0, 1, 3, requires_grad=True)
    body(torch.ones(3), w_eager).backward()
    w = torch.linspace(0, 1, 3, requires_grad=True)
    compiled = safe_compile(body, backend=backend, fallback="eager")
    if _lazy_backward_switch():
        loss, caught = _recorded(compiled, torch.ones(3), w)
        loss.backward()
        assert torch.allclose(w.grad, w_eager.grad)
        assert len(caught) == 1
        assert "backward cannot compile" in (fallback_reason(compiled) or "")
    else:
        with pytest.raises(Exception, match="backward cannot compile"):
            compiled(torch.ones(3), w).backward()
    # Raw torch.compile is not changed by a fallback result's eager backward: still lazy.
    dynamo.reset()
    w_raw = torch.linspace(0, 1, 3, requires_grad=True)
    raw_loss = torch.compile(body, backend=backend)(torch.ones(3), w_raw)
    with pytest.raises(Exception, match="backward cannot compile"):
        raw_loss.backward()


def _config(module: Any) -> dict[str, Any]:
    """Every entry of one of torch's config modules."""
    try:
        return dict(module.get_config_copy())
    except TypeError:  # 2.1 deep-copies through pickle, and some entries hold modules
        return dict(module._config)  # 2.1: the entries' values, by name


@needs_compile
# torch 2.1 warns whenever a process switches backends without a reset, raw or not.
@pytest.mark.filterwarnings("ignore:changing options to `torch.compile:UserWarning")
def test_a_fallback_changes_nothing_outside_its_result(dynamo: Any) -> None:
    """After one result falls back: another result and raw torch.compile of the same function
    compile as before, raw torch still raises for the failing backend, and no config changed."""
    import torch._functorch.config as functorch_config

    before = (_config(dynamo.config), _config(functorch_config))
    body = Counted()

    def function(x: Any) -> Any:
        return body(x)

    fell = safe_compile(function, backend=FailingBackend(), fallback="eager")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorchCompatWarning)
        fell(torch.ones(2))
    assert fallback_reason(fell) is not None
    seen: list[int] = []

    def counting(gm: Any, example_inputs: Any) -> Any:
        seen.append(1)
        return gm.forward

    other = safe_compile(function, backend=counting, fallback="eager")
    assert torch.equal(other(torch.ones(2)), torch.full((2,), 3.0))
    assert fallback_reason(other) is None
    assert torch.equal(
        torch.compile(function, backend=counting)(torch.ones(3)), torch.full((3,), 3.0)
    )
    assert len(seen) == 2, "both compiled with their own backend"
    with pytest.raises(Exception, match="backend cannot compile this"):
        torch.compile(function, backend=FailingBackend())(torch.ones(4))
    assert (_config(dynamo.config), _config(functorch_config)) == before


THREADS = r"""
import json, sys, threading, warnings

import torch
from torchcompat import TorchCompatWarning, fallback_reason, safe_compile


def failing(gm, example_inputs):
    raise RuntimeError("backend cannot compile this")


# Dynamo's first compile in a process, made by eight threads at once, can crash torch 2.11
# (SIGSEGV): compile something on this thread first, as the suite in one process has.
torch.compile(lambda x: x + 1, backend="eager")(torch.ones(1))
compiled = safe_compile(
    lambda x: x * 2 + 1, fullgraph=sys.argv[1] == "True", backend=failing, fallback="eager"
)
results, barrier = [], threading.Barrier(8)


def worker():
    barrier.wait()
    results.append(compiled(torch.ones(2)).tolist())


with warnings.catch_warnings(record=True) as record:
    warnings.simplefilter("always")
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
said = [str(w.message) for w in record if issubclass(w.category, TorchCompatWarning)]
print("THREADS-JSON " + json.dumps(
    {"results": results, "said": said, "reason": fallback_reason(compiled)}
))
"""


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_fallback_is_decided_once_across_threads(fullgraph: bool) -> None:
    """Many threads hitting one failing result: one warning, one reason, every result right.

    In a fresh interpreter: on torch 2.11 (seen on Python 3.12), threads that fail to compile a
    fullgraph frame at once leave dynamo unable to compile the second frame of a later graph
    break in the process, raw torch.compile alike, and torch._dynamo.reset() does not undo it.
    """
    import json

    out = run_python(THREADS, str(fullgraph)).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("THREADS-JSON "))
    found = json.loads(line.removeprefix("THREADS-JSON "))
    assert found["results"] == [[3.0, 3.0]] * 8
    assert len(found["said"]) == 1, found["said"]
    assert "backend cannot compile this" in (found["reason"] or "")


@needs_compile
def test_without_fallback_torch_errors_pass_through(dynamo: Any) -> None:
    """Without fallback, a failing backend raises torch's own error, unchanged."""
    backend = FailingBackend()
    compiled = safe_compile(Counted(), fullgraph=True, backend=backend)
    with pytest.raises(Exception, match="backend cannot compile this") as info:
        compiled(torch.ones(2))
    assert is_compile_failure(info.value)
    assert fallback_reason(compiled) is None


@needs_compile
@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ({}, ("default", None)),
        ({"mode": "max-autotune"}, ("max-autotune", None)),
        ({"options": {"max_autotune": True}}, (None, {"max_autotune": True})),
        ({"backend": "inductor", "mode": "reduce-overhead"}, ("reduce-overhead", None)),
    ],
)
def test_inductor_is_built_as_torch_builds_it(
    keywords: dict[str, Any], expected: tuple[Any, Any]
) -> None:
    """The default backend, mode and options become the inductor wrapper torch.compile builds."""
    resolved = with_fallback_backend(dict(keywords), FallbackState())
    assert "mode" not in resolved
    assert "options" not in resolved
    inner = resolved["backend"].inner
    assert inner == torch._TorchCompileInductorWrapper(*expected, None)


@needs_compile
def test_mode_and_options_together_are_torchs_error(dynamo: Any) -> None:
    """mode with options is left to torch.compile, which rejects it as it always does."""
    with pytest.raises(RuntimeError, match="mode or options") as raw:
        torch.compile(Counted(), mode="default", options={})
    with pytest.raises(RuntimeError, match="mode or options") as safe:
        safe_compile(Counted(), mode="default", options={}, fallback="eager")
    assert str(safe.value) == str(raw.value)


@needs_compile
def test_a_callable_backend_gets_what_torch_passes_it(dynamo: Any) -> None:
    """A callable backend with options gets them as torch.compile passes them."""
    seen: list[dict[str, Any]] = []

    def backend(gm: Any, example_inputs: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return gm.forward

    raw = torch.compile(Counted(), backend=backend, options={"a": 1})
    raw(torch.ones(2))
    dynamo.reset()
    safe = safe_compile(Counted(), backend=backend, options={"a": 1}, fallback="eager")
    safe(torch.ones(2))
    assert len(seen) == 2
    assert seen[0] == seen[1] == {"options": {"a": 1}}


@needs_compile
def test_compiler_config_is_not_reported() -> None:
    """docs/fallback.md: get_compiler_config() of a fallback result is None, where raw torch's is
    inductor's config (the backend torch sees is the fallback's wrapper)."""
    raw = torch.compile(Counted())
    if not hasattr(raw, "get_compiler_config"):
        pytest.skip(f"{TORCH}: torch.compile's result has no get_compiler_config")
    assert isinstance(raw.get_compiler_config(), dict)
    assert safe_compile(Counted(), fallback="eager").get_compiler_config() is None


def _readme_block() -> str:
    """The first ```python block of docs/fallback.md."""
    text = FALLBACK_PAGE.read_text(encoding="utf-8")
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@needs_compile
def test_readme_snippet_without_a_compiler_runs_eagerly_with_one_warning() -> None:
    """docs/fallback.md's snippet, as written, on a box with no C++ compiler (CXX names none):
    inductor fails, the first call returns, one TorchCompatWarning, and fallback_reason says why."""
    code = "import warnings\nwarnings.simplefilter('default')\n" + _readme_block()
    done = run_python(code, CXX="/nonexistent/c++")
    reason = done.stdout.strip().splitlines()[-1]
    assert reason != "None", f"{TORCH}: no fallback recorded\n{done.stderr}"
    assert done.stderr.count("TorchCompatWarning") == 1, done.stderr
    assert FACTS is not None
