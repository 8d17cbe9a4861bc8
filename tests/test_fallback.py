"""safe_compile(fallback="eager"): compile failures fall back once, user errors never do."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import pytest

from torchcompat import TorchCompatWarning, fallback_reason, safe_compile
from torchcompat.compile import is_compile_failure

from .conftest import FACTS, TORCH, Counted, needs_compile, run_python

torch = pytest.importorskip("torch", reason="fallback needs a real torch")

pytestmark = needs_compile


class FailingBackend:
    """A real backend that fails to compile, counting how often torch asked it to."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, gm: Any, example_inputs: Any) -> Any:
        self.calls += 1
        raise RuntimeError("backend cannot compile this")


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


def _recorded(fn: Any, *args: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fn(*args)
    return result, [w for w in record if issubclass(w.category, TorchCompatWarning)]


@pytest.mark.parametrize("kind", ["function", "module"])
def test_failing_backend_falls_back_with_one_warning(kind: str, dynamo: Any) -> None:
    """fullgraph=True: the failing call runs eagerly once, warns once; later calls stay eager."""
    backend = FailingBackend()
    body: Any = Counted() if kind == "function" else OwnModule()
    compiled = safe_compile(body, fullgraph=True, backend=backend, fallback="eager")
    x = torch.ones(2)
    expected = body(x)
    if kind == "function":
        body.runs = 0
    first, caught = _recorded(compiled, x)
    second, caught_again = _recorded(compiled, x)
    assert torch.allclose(first, expected)
    assert torch.allclose(second, expected)
    assert len(caught) == 1
    assert "compilation failed" in str(caught[0].message)
    assert caught_again == []
    assert backend.calls == 1
    assert fallback_reason(compiled) is not None
    assert "BackendCompilerFailed" in (fallback_reason(compiled) or "") or "backend" in (
        fallback_reason(compiled) or ""
    )
    if kind == "function":
        assert body.runs == 2


def test_without_fallback_torch_errors_pass_through(dynamo: Any) -> None:
    """Without fallback, a failing backend raises torch's own error, unchanged."""
    backend = FailingBackend()
    compiled = safe_compile(Counted(), fullgraph=True, backend=backend)
    with pytest.raises(Exception, match="backend cannot compile this") as info:
        compiled(torch.ones(2))
    assert is_compile_failure(info.value)
    assert fallback_reason(compiled) is None


def test_graph_breaking_call_reraises_then_runs_eagerly(dynamo: Any) -> None:
    """fullgraph=False: the failing call re-raises (the body may have run); later ones are eager."""
    backend = FailingBackend()
    body = Counted()
    compiled = safe_compile(body, backend=backend, fallback="eager")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorchCompatWarning)
        with pytest.raises(Exception, match="backend cannot compile this"):
            compiled(torch.ones(2))
    assert fallback_reason(compiled) is not None
    runs = body.runs
    assert torch.equal(compiled(torch.ones(2)), torch.full((2,), 3.0))
    assert body.runs == runs + 1
    assert backend.calls == 1


@pytest.mark.parametrize("fullgraph", [True, False])
def test_user_exception_propagates_exactly_once(fullgraph: bool, dynamo: Any) -> None:
    """An exception of the user's own code is never swallowed and never causes a re-run."""
    runs = []

    def body(x: Any) -> Any:
        runs.append(1)
        if x.shape[0] == 3:
            raise ValueError("user error 42")
        return x + 1

    compiled = safe_compile(body, fullgraph=fullgraph, backend="eager", fallback="eager")
    with warnings.catch_warnings():
        # Releases that cannot trace a raise (2.1) fall back, and the eager run raises it.
        warnings.simplefilter("ignore", TorchCompatWarning)
        with pytest.raises(Exception) as info:  # noqa: PT011 - the class depends on the release
            compiled(torch.ones(3))
    # The ValueError itself, or (fullgraph, 2.6+) dynamo's report of the "observed" exception.
    assert "user error 42" in str(info.value) + str(info.value.__cause__)
    assert not is_compile_failure(info.value)
    assert len(runs) <= 1
    if fallback_reason(compiled) is not None:
        assert type(info.value) is ValueError, "after a fallback the eager run raises it as is"


def test_error_in_users_ops_is_not_a_compile_failure(dynamo: Any) -> None:
    """A shape error found while tracing is the user's, propagates, and does not fall back."""

    def body(x: Any) -> Any:
        return x.mm(torch.ones(5, 5))

    compiled = safe_compile(body, fullgraph=True, backend="eager", fallback="eager")
    with pytest.raises(RuntimeError):
        compiled(torch.ones(3, 3))
    assert fallback_reason(compiled) is None


def test_recompile_limit_falls_back(dynamo: Any) -> None:
    """Where raw torch raises at the recompile limit under fullgraph, safe_compile falls back."""
    config = dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"

    def body(x: Any) -> Any:
        return x + 1

    def raw_error() -> Exception | None:
        raw = torch.compile(body, fullgraph=True, backend="eager", dynamic=False)
        try:
            for n in range(1, 5):
                raw(torch.ones(n))
        except Exception as exc:  # the release decides whether it raises at the limit
            return exc
        return None

    with config.patch(**{name: 1}):
        error = raw_error()
        raises = error is not None
        assert error is None or is_compile_failure(error), f"{TORCH}: {error!r}"
        dynamo.reset()
        safe = safe_compile(body, fullgraph=True, backend="eager", dynamic=False, fallback="eager")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TorchCompatWarning)
            results = [safe(torch.ones(n)) for n in range(1, 5)]
    assert [r.tolist() for r in results] == [[2.0] * n for n in range(1, 5)]
    assert (fallback_reason(safe) is not None) is raises


def test_fallback_is_decided_once_across_threads(dynamo: Any) -> None:
    """Many threads hitting one failing wrapper: one warning, one reason, every result right."""
    backend = FailingBackend()
    compiled = safe_compile(Counted(), fullgraph=True, backend=backend, fallback="eager")
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(compiled(torch.ones(2)))

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == 8
    assert all(torch.equal(r, torch.full((2,), 3.0)) for r in results)
    assert len([w for w in record if issubclass(w.category, TorchCompatWarning)]) == 1


@pytest.mark.parametrize("bad", ["Eager", "inductor", True, 1])
@pytest.mark.parametrize("off", [False, True])
def test_bad_fallback_is_named(bad: Any, off: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """fallback takes None or "eager"; anything else is a ValueError quoting it, on or off."""
    if off:
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
        safe_compile(Counted(), fallback=bad)


@pytest.mark.skipif(
    FACTS is None or not FACTS.compile_usable, reason="inductor needs a usable torch.compile"
)
def test_inductor_without_a_compiler_falls_back() -> None:
    """Inductor with no working C++ compiler: the real failure, caught, eager from then on."""
    code = (
        "import warnings, torch, torch._inductor.config as ic\n"
        "from torchcompat import safe_compile, fallback_reason, TorchCompatWarning\n"
        "ic.cpp.cxx = ('/nonexistent/c++',)\n"
        "runs = []\n"
        "def f(x):\n"
        "    runs.append(1)\n"
        "    return (x.sin() + 1).relu()\n"
        "g = safe_compile(f, fullgraph=True, backend='inductor', fallback='eager')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    out = g(torch.ones(3))\n"
        "assert torch.allclose(out, f(torch.ones(3))), out\n"
        "assert len(runs) == 2, runs\n"
        "assert sum(issubclass(x.category, TorchCompatWarning) for x in w) == 1\n"
        "print(fallback_reason(g))\n"
    )
    reason = run_python(code).stdout.strip()
    assert reason not in ("", "None"), f"{TORCH}: no fallback recorded"
