"""safe_compile results composed the way real code composes them, next to raw torch.compile.

Copies, checkpoints, classes, wrapping again, a replaced ``torch.compile``, threads, and where a
warning points. The scenario matrix in fresh interpreters (switch x timing x composition) is in
test_characterization.py; these are the in-process specifications of each piece.
"""

from __future__ import annotations

import copy
import io
import pickle
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from torchcompat import TorchCompatWarning, _warnings, safe_compile

from .conftest import FACTS, needs_compile, needs_torch

torch = pytest.importorskip("torch")


class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
    """A module that counts the runs of its forward."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)
        self.runs = 0

    def forward(self, x: Any) -> Any:
        self.runs += 1
        return self.linear(x).relu()


class CountingBackend:
    """A backend that counts compiled graphs and their runs."""

    def __init__(self) -> None:
        self.graphs = 0
        self.graph_runs = 0

    def __call__(self, gm: Any, example_inputs: Any) -> Callable[..., Any]:
        self.graphs += 1

        def run(*args: Any) -> Any:
            self.graph_runs += 1
            return gm.forward(*args)

        return run


def _disabled_call(result: Any, runs: Callable[[], int], x: Any) -> None:
    """Call ``result`` under config.disable: the body runs exactly once, silently."""
    from torch._dynamo import config

    before = runs()
    config.disable = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result(x)
    finally:
        config.disable = False
    assert runs() - before == 1, "the body did not run exactly once under config.disable"


COPIES: dict[str, Callable[[Any], Any]] = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
}


def _torch_save_load(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    # weights_only exists from 1.13; 2.6+ default it to True, which refuses modules.
    return torch.load(buffer, weights_only=False)


COPIES["torch.save"] = _torch_save_load


@pytest.fixture
def fresh_dynamo(dynamo: Any) -> Any:
    """dynamo, reset around the test (conftest's fixture, named for what it gives here)."""
    return dynamo


# --- copies ---------------------------------------------------------------------------------


@needs_compile
@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("in_place", [False, True], ids=["result", "in_place"])
def test_copy_keeps_the_guard_and_has_its_own_weights(
    fresh_dynamo: Any, how: str, in_place: bool
) -> None:
    """A copy of a module result is compiled the same way, guarded, and has its own weights."""
    if in_place and not hasattr(torch.nn.Module, "compile"):
        pytest.skip("torch 2.0 has no nn.Module.compile (in_place comes back uncompiled)")
    backend = "eager"
    model = Net()
    result = safe_compile(model, fullgraph=True, backend=backend, in_place=in_place)
    result(torch.ones(2, 3))
    clone = COPIES[how](result)
    assert type(clone) is type(result)
    assert clone.linear.weight is not model.linear.weight
    assert torch.equal(clone.linear.weight, model.linear.weight)
    inner = clone if in_place else clone._orig_mod
    _disabled_call(clone, lambda: inner.runs, torch.ones(5, 3))  # a new shape: cold
    with torch.no_grad():
        clone.linear.weight.zero_()
        clone.linear.bias.zero_()
    assert torch.equal(clone(torch.ones(1, 3)), torch.zeros(1, 3))
    assert not torch.equal(model.linear.weight, clone.linear.weight)


@needs_compile
def test_deepcopy_compiles_with_the_same_backend(fresh_dynamo: Any) -> None:
    """A deepcopy compiles with the original's backend object on every release (a deepcopy
    of raw torch.compile's result uses the same object on 2.1, a copy of it on 2.13)."""
    backend = CountingBackend()
    clone = copy.deepcopy(safe_compile(Net(), fullgraph=True, backend=backend))
    clone(torch.ones(2, 3))
    assert backend.graphs == 1


class Broken:
    """A backend that cannot compile anything (picklable: defined at module level)."""

    def __call__(self, gm: Any, example_inputs: Any) -> Any:
        raise RuntimeError("this backend cannot compile anything")


@needs_compile
@pytest.mark.parametrize("how", list(COPIES))
def test_copy_keeps_the_fallback(fresh_dynamo: Any, how: str) -> None:
    """A copy of a fallback result is rebuilt with the same arguments, and falls back too."""
    from torchcompat import fallback_reason

    result = safe_compile(Net(), fullgraph=True, backend=Broken(), fallback="eager")
    clone = COPIES[how](result)
    with pytest.warns(TorchCompatWarning, match="compilation failed"):
        out = clone(torch.ones(2, 3))
    assert torch.equal(out, clone._orig_mod.linear(torch.ones(2, 3)).relu())
    assert fallback_reason(clone) is not None
    assert fallback_reason(result) is None, "the original fell back with its copy"


# --- checkpoints ----------------------------------------------------------------------------

SIDES = ["off", "on", "in_place"]


def _build(side: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    model = Net()
    if side == "off":
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
        try:
            return safe_compile(model, fullgraph=True, backend="eager")
        finally:
            monkeypatch.delenv("TORCH_COMPILE_DISABLE")
    return safe_compile(model, fullgraph=True, backend="eager", in_place=side == "in_place")


@needs_torch
@pytest.mark.parametrize("saved", SIDES)
@pytest.mark.parametrize("loaded", SIDES)
def test_checkpoint_loads_strictly_whatever_the_switch(
    saved: str, loaded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state_dict saved from a result loads with strict=True into any other result."""
    if FACTS is None or (not FACTS.compile_usable and {saved, loaded} != {"off"}):
        pytest.skip("needs a torch that compiles here (2.1+ on Python 3.11) for the on side")
    source = _build(saved, monkeypatch)
    target = _build(loaded, monkeypatch)
    state = source.state_dict()
    assert list(state) == ["linear.weight", "linear.bias"]
    target.load_state_dict(state, strict=True)
    assert torch.equal(target.linear.weight, source.linear.weight)


@needs_compile
@pytest.mark.parametrize("loaded", SIDES)
def test_raw_torch_compile_checkpoint_loads(loaded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint of raw torch.compile's result (``_orig_mod.`` keys) loads strictly too."""
    raw = torch.compile(Net(), backend="eager")
    state = raw.state_dict()
    assert all(key.startswith("_orig_mod.") for key in state)
    target = _build(loaded, monkeypatch)
    target.load_state_dict(state, strict=True)
    assert torch.equal(target.linear.weight, raw.linear.weight)


@needs_compile
def test_nested_result_checkpoints_as_the_plain_model(fresh_dynamo: Any) -> None:
    """A result used as a submodule saves and loads under the parent as the plain module."""
    plain = torch.nn.Sequential(Net())
    parent = torch.nn.Sequential(safe_compile(Net(), backend="eager"))
    assert list(parent.state_dict()) == list(plain.state_dict())
    parent.load_state_dict(plain.state_dict(), strict=True)
    assert torch.equal(parent[0].linear.weight, plain[0].linear.weight)


# --- classes, re-wrapping, a replaced torch.compile -----------------------------------------


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_class_result_is_guarded(fresh_dynamo: Any, fullgraph: bool) -> None:
    """@safe_compile on a module class: instances compile, and run eagerly once while off."""
    backend = CountingBackend()

    @safe_compile(fullgraph=fullgraph, backend=backend)
    class Decorated(Net):
        pass

    model = Decorated()
    model(torch.ones(2, 3))
    assert backend.graph_runs >= 1
    _disabled_call(model, lambda: model.runs, torch.ones(4, 3))
    before = backend.graph_runs
    model(torch.ones(2, 3))
    assert backend.graph_runs > before, "the class no longer runs compiled after the switch"


@needs_compile
@pytest.mark.parametrize(
    "wrap",
    [
        "torch.compile(safe_compile(f, fullgraph=True))",
        "safe_compile(safe_compile(f, fullgraph=True), fullgraph=True)",
        "torch.compile(safe_compile(f, fallback='eager'))",
        "torch.compile(torch.compile(f, fullgraph=True))",
    ],
)
def test_wrapping_again_behaves_as_nested_torch_compile(fresh_dynamo: Any, wrap: str) -> None:
    """Every nesting of safe_compile and torch.compile wraps and runs as raw nesting does."""

    def f(x: Any) -> Any:
        return x * 2 + 1

    namespace = {"torch": torch, "safe_compile": safe_compile, "f": f}
    result = eval(wrap.replace(")", ", backend='eager')"), namespace)
    assert torch.equal(result(torch.ones(3)), torch.full((3,), 3.0))


@needs_compile
def test_replaced_torch_compile_is_deferred_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch.compile replaced by a spy taking **kwargs gets every keyword it is given."""
    seen: list[dict[str, Any]] = []

    def spy(model: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return model

    monkeypatch.setattr(torch, "compile", spy)
    f = safe_compile(lambda x: x, fullgraph=True, mode="default", anything_the_spy_takes=1)
    assert seen == [{"fullgraph": True, "mode": "default", "anything_the_spy_takes": 1}]
    assert f(3) == 3


# --- threads and warnings -------------------------------------------------------------------


@needs_compile
def test_config_disable_in_another_thread(fresh_dynamo: Any) -> None:
    """A thread that sets config.disable runs the result eagerly once; others are unaffected."""
    model = Net()
    result = safe_compile(model, fullgraph=True, backend="eager")
    result(torch.ones(2, 3))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _disabled_call(result, lambda: model.runs, torch.ones(6, 3))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert errors == []
    result(torch.ones(2, 3))


def _call_form() -> None:
    safe_compile(lambda x: x)


def _decorator_form() -> None:
    @safe_compile
    def f(x: Any) -> Any:
        return x


def _decorator_with_args_form() -> None:
    @safe_compile(fullgraph=True)
    def f(x: Any) -> Any:
        return x


@pytest.mark.skipif(
    FACTS is None or FACTS.compile_usable,
    reason="only where this torch cannot compile here (1.13; 2.0 on Python 3.11)",
)
@pytest.mark.parametrize("form", [_call_form, _decorator_form, _decorator_with_args_form])
def test_unusable_warning_points_at_the_callers_line(form: Callable[[], None]) -> None:
    """The "cannot compile here" warning names the caller's file and line, every call form."""
    _warnings.said.clear()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        form()
    said = [w for w in record if issubclass(w.category, TorchCompatWarning)]
    assert len(said) == 1
    assert said[0].filename == __file__
    # The decorator's line (3.11 reports the call there) or the def line under it.
    assert said[0].lineno in (form.__code__.co_firstlineno + 1, form.__code__.co_firstlineno + 2)
