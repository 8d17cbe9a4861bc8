"""torchcompat.testing: counting compilation, switching it off for a block, fuzzing env flags."""

from __future__ import annotations

import json
import os
import re
import sys
import types
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import find, given, settings

import torchcompat
from torchcompat import _observers, compile_gate, safe_compile
from torchcompat.testing import (
    SWITCHES,
    CompileCounter,
    CompileCounts,
    RecordsMissing,
    assert_no_compilation,
    disable_compilation,
    expect_compilation,
    flag_values,
    non_disabling_flag_values,
    reset_compilation,
)

from .conftest import FACTS, TORCH, needs_compile, needs_dynamo, needs_torch, run_python

torch = pytest.importorskip("torch", reason="the testing kit's tests need a real torch")


def _needs(fact: bool, missing: str) -> pytest.MarkDecorator:
    """Skip unless torch can compile here and has ``fact``; the reason names what is missing."""
    if FACTS is None or not FACTS.compile_usable:
        return needs_compile
    return pytest.mark.skipif(not fact, reason=f"{TORCH} has no {missing}")


needs_stance = _needs(
    FACTS is not None and FACTS.has_set_stance, "torch.compiler.set_stance (it came in 2.6)"
)
needs_module_compile = _needs(
    FACTS is not None and FACTS.release >= (2, 1), "nn.Module.compile (it came in 2.1)"
)
FUZZ = settings(max_examples=300, database=None)
HERE = os.path.abspath(__file__)


def plain(x: Any) -> Any:
    return x.sin() + 1


def broken(x: Any) -> Any:
    y = x.sin()
    torch._dynamo.graph_break()
    return y.cos()


@pytest.fixture
def clean_dynamo() -> Iterator[None]:
    """Dynamo's caches empty before and after, so that each count starts from nothing."""
    import torch._dynamo

    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


class RecordingBackend:
    """A user's own backend: runs each graph as is and records that it was handed one."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, gm: Any, example_inputs: Any) -> Any:
        self.graphs += 1
        return gm.forward


# --- counting ---------------------------------------------------------------------------------


@needs_compile
@pytest.mark.usefixtures("clean_dynamo")
@pytest.mark.parametrize("backend", ["eager", "aot_eager", "user"])
@pytest.mark.parametrize(
    ("fn", "frames", "graphs"),
    [(plain, 1, 1), (broken, 2, 2)],
    ids=["one-graph", "graph-break"],
)
def test_counts_frames_and_graphs_with_any_backend(
    fn: Callable[[Any], Any], frames: int, graphs: int, backend: str
) -> None:
    """Frames and graphs are counted whatever the backend, and a user's backend stays in use."""
    user = RecordingBackend()
    compiled = torch.compile(fn, backend=user if backend == "user" else backend)
    x = torch.ones(3)
    with CompileCounter() as counter:
        assert torch.equal(compiled(x), fn(x))
    counter.expect(frames=frames, graphs=graphs, torch_compile_calls=0)
    assert counter.ops >= graphs
    assert all(HERE in frame for frame in counter.compiled_frames)
    if backend == "user":
        assert user.graphs == graphs


@needs_compile
@pytest.mark.usefixtures("clean_dynamo")
def test_cached_code_is_not_counted_again() -> None:
    """A second call that reuses dynamo's cached code compiles nothing."""
    compiled = torch.compile(plain, backend="eager")
    compiled(torch.ones(3))
    with assert_no_compilation() as counter:
        compiled(torch.ones(3))
    assert counter.counts == CompileCounts()


@needs_torch
def test_eager_code_counts_nothing() -> None:
    """Plain eager torch code gives all-zero counts and lists nothing."""
    with CompileCounter() as counter:
        plain(torch.ones(3))
    assert counter.counts == CompileCounts()
    assert counter.compiled_frames == counter.torch_compile_sites == ()
    assert "frames dynamo compiled: none" in counter.report()


def _direct(fn: Any) -> Any:
    return torch.compile(fn, backend="eager")


def _factory(fn: Any) -> Any:
    return torch.compile(backend="eager")(fn)


def _module(fn: Any) -> Any:
    module = torch.nn.Linear(3, 3)
    module.compile(backend="eager")
    return module


@pytest.mark.parametrize(
    ("form", "target"),
    [
        pytest.param(_direct, "function plain", marks=needs_compile, id="direct"),
        pytest.param(_factory, "function plain", marks=needs_compile, id="decorator-factory"),
        pytest.param(
            _module, "method Linear._call_impl", marks=needs_module_compile, id="module.compile"
        ),
    ],
)
def test_torch_compile_calls_count_each_wrap_once(form: Any, target: str) -> None:
    """Each call form that hands torch.compile an object counts once, at the caller's line."""
    with CompileCounter() as counter:
        form(plain)
    assert counter.torch_compile_calls == 1
    (site,) = counter.torch_compile_sites
    assert site.startswith(f"torch.compile({target}), at {HERE}:")


@pytest.mark.parametrize("side", ["off", pytest.param("on", marks=needs_compile)])
def test_safe_compile_calls_count_on_both_sides(side: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """safe_compile counts once per object, on and off; torch.compile only when on."""
    if side == "off":
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    with CompileCounter() as counter:
        safe_compile(backend="eager")(plain)
    counter.expect(safe_compile_calls=1, torch_compile_calls=1 if side == "on" else 0)
    (site,) = counter.safe_compile_sites
    assert site.startswith(f"safe_compile(function plain), at {HERE}:")


@needs_compile
@pytest.mark.usefixtures("clean_dynamo")
def test_expect_failure_says_what_was_compiled_where() -> None:
    """A failed expect() lists each wrong count, the compiled frames and the call sites."""
    with CompileCounter() as counter:
        torch.compile(plain, backend="eager")(torch.ones(3))
    with pytest.raises(AssertionError) as raised:
        counter.expect(graphs=0, frames=1)
    message = str(raised.value)
    assert "graphs: expected 0, got 1" in message
    assert (
        "frames:" not in message.split("counts:", maxsplit=1)[0]
    )  # frames matched: not listed as wrong
    assert f"plain ({HERE}:" in message
    assert f"torch.compile(function plain), at {HERE}:" in message


@pytest.mark.parametrize(
    ("counts", "error", "match"),
    [
        ({}, ValueError, "at least one count"),
        ({"graphs": -1}, ValueError, "graphs must be 0 or more, got -1"),
        ({"frames": 1.0}, TypeError, "frames must be an int, got float"),
        ({"ops": True}, TypeError, "ops must be an int, got bool"),
        ({"graph": 0}, TypeError, "graph"),
    ],
)
def test_bad_expectations_are_named(counts: dict[str, Any], error: type, match: str) -> None:
    """expect() and expect_compilation() name a bad count; the latter before the block runs."""
    with CompileCounter() as counter:
        pass
    with pytest.raises(error, match=match):
        counter.expect(**counts)
    ran = []
    with pytest.raises(error, match=match), expect_compilation(**counts):
        ran.append(True)
    assert ran == []


@needs_compile
@pytest.mark.usefixtures("clean_dynamo")
def test_expect_compilation_checks_the_block() -> None:
    """expect_compilation passes on the right counts and fails on wrong ones."""
    with expect_compilation(frames=1, graphs=1, torch_compile_calls=1):
        torch.compile(plain, backend="eager")(torch.ones(3))
    wrong = pytest.raises(AssertionError, match="graphs: expected 0, got 2")
    with wrong, expect_compilation(graphs=0):
        torch.compile(broken, backend="eager")(torch.ones(1))


@needs_torch
def test_assert_no_compilation_passes_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """With compilation off, code that uses safe_compile neither wraps nor compiles."""
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    with assert_no_compilation() as counter:
        safe_compile(plain, fullgraph=True)(torch.ones(3))
    assert counter.safe_compile_calls == 1


@needs_compile
@pytest.mark.usefixtures("clean_dynamo")
def test_assert_no_compilation_fails_on_a_wrap_unless_allowed() -> None:
    """Asking torch.compile to wrap fails the assertion, unless allow_wrapping says it may."""
    wrapped = pytest.raises(AssertionError, match="torch_compile_calls: expected 0, got 1")
    with wrapped, assert_no_compilation():
        torch.compile(plain, disable=True)(torch.ones(3))
    with assert_no_compilation(allow_wrapping=True):
        torch.compile(plain, disable=True)(torch.ones(3))
    compiled = pytest.raises(AssertionError, match="graphs: expected 0, got 1")
    with compiled, assert_no_compilation(allow_wrapping=True):
        torch.compile(plain, backend="eager")(torch.ones(3))


@needs_torch
@pytest.mark.parametrize("raises", [False, True])
def test_counter_puts_torch_compile_back(raises: bool) -> None:
    """torch.compile is the original again after the block, and safe_compile unobserved."""
    before = getattr(torch, "compile", None)
    with pytest.raises(KeyError) if raises else _nothing(), CompileCounter():
        if FACTS is not None and FACTS.has_compile:
            assert torch.compile is not before  # wrapped while counting
        if raises:
            raise KeyError("boom")
    assert getattr(torch, "compile", None) is before
    assert _observers.wrap_observers == []


def test_counters_nest_and_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    """An inner counter's events count for the outer one too; the wrappers stay until the last."""
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    with CompileCounter() as outer:
        safe_compile(plain)
        with CompileCounter() as inner:
            safe_compile(plain)
        assert len(_observers.wrap_observers) == 1
        safe_compile(plain)
    assert (outer.safe_compile_calls, inner.safe_compile_calls) == (3, 1)
    assert _observers.wrap_observers == []


def test_a_counter_counts_one_block() -> None:
    """Entering a counter twice is an error that says so."""
    counter = CompileCounter()
    with counter:
        pass
    with pytest.raises(RuntimeError, match="counts one block"), counter:
        pass
    assert CompileCounter().counts == CompileCounts()  # before entering: nothing


@needs_torch
def test_counter_imports_no_torch_but_counts_it_once_imported() -> None:
    """A counter never imports torch; torch.compile is wrapped once the block imports torch."""
    code = """
import json, sys
from torchcompat.testing import CompileCounter
with CompileCounter():
    pass
untouched = "torch" not in sys.modules
with CompileCounter() as counter:
    import torch
    if hasattr(torch, "compile"):
        try:
            torch.compile(len, disable=True)
        except RuntimeError:  # torch 2.0 refuses Python 3.11 before looking at disable
            pass
print(json.dumps({"untouched": untouched, "calls": counter.torch_compile_calls,
                  "restored": type(getattr(torch, "compile", lambda: None)).__name__}))
"""
    result = json.loads(run_python(code).stdout.strip().splitlines()[-1])
    has_compile = FACTS is not None and FACTS.has_compile
    assert result == {"untouched": True, "calls": int(has_compile), "restored": "function"}


# --- switching compilation off ----------------------------------------------------------------


@pytest.mark.parametrize("before", [None, "0", "", "1"])
def test_env_switch_is_set_and_restored(
    before: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TORCH_COMPILE_DISABLE is "1" in the block and exactly as it was afterwards."""
    if before is not None:
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", before)
    with disable_compilation("env") as gate:
        assert os.environ["TORCH_COMPILE_DISABLE"] == "1"
        assert gate.switch == "TORCH_COMPILE_DISABLE"
        assert safe_compile(plain) is plain
    assert os.environ.get("TORCH_COMPILE_DISABLE") == before


def _stance() -> str | None:
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    stance = getattr(eval_frame, "_stance", None)
    return getattr(stance, "stance", None)


@needs_compile
@pytest.mark.parametrize("config_before", [False, True])
@pytest.mark.parametrize("raises", [False, True])
def test_every_switch_is_set_and_restored(config_before: bool, raises: bool) -> None:
    """With dynamo loaded, env, config.disable and the stance are all off, then all restored."""
    import torch._dynamo

    config = torch._dynamo.config
    config.disable = config_before
    try:
        with pytest.raises(KeyError) if raises else _nothing(), disable_compilation() as gate:
            assert gate.disabled
            assert os.environ["TORCH_COMPILE_DISABLE"] == "1"
            assert config.disable is True
            if FACTS is not None and FACTS.has_set_stance:
                assert _stance() == "force_eager"
            if raises:
                raise KeyError("boom")
        assert "TORCH_COMPILE_DISABLE" not in os.environ
        assert config.disable is config_before
        assert _stance() in (None, "default")
    finally:
        config.disable = False


@pytest.mark.parametrize(
    ("switch", "reason"),
    [
        ("env", "TORCH_COMPILE_DISABLE=1"),
        pytest.param("config", "torch._dynamo.config.disable is set", marks=needs_compile),
        pytest.param(
            "stance", 'torch.compiler.set_stance("force_eager") is in effect', marks=needs_stance
        ),
    ],
)
def test_one_switch_alone(switch: str, reason: str) -> None:
    """Each switch can be turned alone, and the gate names it."""
    with disable_compilation(switch) as gate:
        assert gate.reason == reason
        assert ("TORCH_COMPILE_DISABLE" in os.environ) == (switch == "env")
    assert not compile_gate().disabled or compile_gate().unavailable


def test_unknown_switch_is_named() -> None:
    """A switch name that does not exist is a ValueError naming it and the real ones."""
    named = pytest.raises(ValueError, match=r"unknown switch 'stanse'.*'env', 'config', 'stance'")
    with named, disable_compilation("stanse"):
        pass
    assert SWITCHES == ("env", "config", "stance")


@pytest.mark.skipif(
    FACTS is not None and FACTS.has_set_stance,
    reason=f"{TORCH} has set_stance (2.6+): no switch is missing",
)
def test_a_missing_switch_asked_alone_is_an_error() -> None:
    """Asking for a switch alone that this torch lacks says which release brings it."""
    assert FACTS is not None
    # Before 2.6 the stance is missing, whether or not torch compiles on this Python (2.0.1 on
    # 3.11 and 2.5.1 on 3.13 cannot); without torch.compile (1.13) dynamo's config is too. From
    # 2.6 nothing is missing, even where torch refuses this Python (2.9.1 on 3.14).
    if FACTS.has_compile:
        switch, match = "stance", r"no torch\.compiler\.set_stance \(it came in 2\.6\)"
    else:
        switch, match = "config", "cannot compile here"
    with pytest.raises(RuntimeError, match=match), disable_compilation(switch):
        pass


def test_blocks_nest() -> None:
    """An inner block leaves compilation off for the rest of the outer one."""
    with disable_compilation():
        with disable_compilation() as inner:
            assert inner.disabled
        assert os.environ.get("TORCH_COMPILE_DISABLE") == "1"
        assert compile_gate().disabled
        config = sys.modules.get("torch._dynamo.config")
        if config is not None:
            assert config.disable is True
    assert "TORCH_COMPILE_DISABLE" not in os.environ


@needs_compile
@pytest.mark.usefixtures("clean_dynamo")
@pytest.mark.parametrize("switches", [(), ("config",)], ids=["all", "config-alone"])
@pytest.mark.parametrize("fullgraph", [False, True])
def test_compiled_code_runs_eagerly_in_the_block_and_compiles_afresh_after(
    fullgraph: bool, switches: tuple[str, ...]
) -> None:
    """Code compiled before the block runs eagerly in it; after it, it compiles again.

    With config.disable alone (no stance), torch before 2.11 marks the code as skipped for good:
    this is what the block's end undoes.
    """
    compiled = safe_compile(plain, backend="eager", fullgraph=fullgraph)
    x = torch.ones(3)
    with expect_compilation(frames=1):
        compiled(x)
    with disable_compilation(*switches), assert_no_compilation():
        assert torch.equal(compiled(x), plain(x))
    with expect_compilation(frames=1, graphs=1):
        compiled(x)


@needs_compile
@pytest.mark.usefixtures("clean_dynamo")
def test_reset_compilation_undoes_skip_marks() -> None:
    """Compiled code run while config.disable was set compiles again after reset_compilation()."""
    import torch._dynamo

    compiled = torch.compile(broken, backend="eager")
    compiled(torch.ones(3))
    torch._dynamo.config.disable = True
    try:
        compiled(torch.ones(3))  # torch before 2.11 marks broken's code as skipped for good
    finally:
        torch._dynamo.config.disable = False
    reset_compilation()
    with expect_compilation(frames=2, graphs=2):
        compiled(torch.ones(3))


class Doubler:
    """A callable object: torch.compile runs it through a wrapper of its own (wrap_inline)."""

    def __call__(self, x: Any) -> Any:
        return x * 2


@needs_compile
@pytest.mark.usefixtures("clean_dynamo")
def test_reset_compilation_undoes_skip_marks_of_freed_wrappers() -> None:
    """A wrapper that ran while config.disable was set and is gone since leaves no trace."""
    import gc

    import torch._dynamo

    compiled = torch.compile(Doubler(), backend="eager")
    torch._dynamo.config.disable = True
    try:
        compiled(torch.ones(3))
    finally:
        torch._dynamo.config.disable = False
    del compiled
    gc.collect()
    reset_compilation()
    with expect_compilation(frames=1, graphs=1):
        torch.compile(torch.nn.Linear(3, 3), backend="eager")(torch.ones(3))


@needs_compile
def test_env_switch_before_dynamo_is_imported() -> None:
    """Where dynamo is first imported in the block, torch's own config is put back after it."""
    code = """
import json, sys
import torch
from torchcompat.testing import CompileCounter, disable_compilation
def f(x):
    return x + 1
loaded_before = "torch._dynamo.config" in sys.modules
with disable_compilation():
    compiled = torch.compile(f, backend="eager")
    with CompileCounter() as inside:
        compiled(torch.ones(2))
    disable_inside = bool(torch._dynamo.config.disable)
with CompileCounter() as after:
    compiled(torch.ones(2))
print(json.dumps({"loaded_before": loaded_before, "inside": inside.frames,
                  "disable_inside": disable_inside, "after": after.frames,
                  "disable_after": bool(torch._dynamo.config.disable)}))
"""
    result = json.loads(run_python(code).stdout.strip().splitlines()[-1])
    assert result == {
        "loaded_before": False,
        "inside": 0,
        "disable_inside": True,
        "after": 1,
        "disable_after": False,
    }


@needs_compile
def test_every_thread_compiles_after_a_block_that_imported_dynamo() -> None:
    """A block that first imports dynamo leaves compilation on for every thread, new ones too.

    torch reads TORCH_COMPILE_DISABLE=1 into config.disable's default then; on 2.12+ that default
    is what every thread without an override of its own reads.
    """
    code = """
import json, sys, threading
import torch
from torchcompat import compile_gate
from torchcompat.testing import CompileCounter, disable_compilation
def f(x):
    return x + 1
loaded_before = "torch._dynamo" in sys.modules
with disable_compilation():
    import torch._dynamo  # first imported here: torch reads TORCH_COMPILE_DISABLE=1
seen = {}
def other_thread():
    with CompileCounter() as counter:
        torch.compile(f, backend="eager")(torch.ones(2))
    seen.update(disable=bool(torch._dynamo.config.disable), gate=compile_gate().disabled,
                frames=counter.frames)
thread = threading.Thread(target=other_thread)
thread.start()
thread.join()
print(json.dumps({"loaded_before": loaded_before, "main": bool(torch._dynamo.config.disable),
                  **seen}))
"""
    result = json.loads(run_python(code).stdout.strip().splitlines()[-1])
    expected = {"disable": False, "gate": False, "frames": 1}
    assert result == {"loaded_before": False, "main": False, **expected}


@needs_dynamo
@pytest.mark.parametrize(
    ("module", "name", "what"),
    [
        ("torch._dynamo.convert_frame", "output_codes", "frames it compiled"),
        ("torch._dynamo.utils", "counters", "graphs it captured"),
    ],
)
def test_counter_refuses_to_count_without_dynamos_records(
    monkeypatch: pytest.MonkeyPatch, module: str, name: str, what: str
) -> None:
    """Where dynamo's records are gone (a release that moved them), counting is an error.

    Never a count of 0 that checked nothing: assert_no_compilation() must not pass vacuously.
    """
    import torch._dynamo  # noqa: F401  (loads both modules)

    monkeypatch.delattr(sys.modules[module], name)
    message = rf"cannot count on torch {re.escape(str(torchcompat.torch_version()))}.*{what}"
    with pytest.raises(RecordsMissing, match=message):
        CompileCounter().__enter__()
    with pytest.raises(RuntimeError, match=message), assert_no_compilation():
        pass


@needs_dynamo
def test_counter_refuses_when_records_vanish_in_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records readable when the block starts but not when it ends: the end raises, and so
    does every later read of the counter."""
    import torch._dynamo  # noqa: F401

    with pytest.raises(RecordsMissing), CompileCounter() as counter:
        monkeypatch.delattr(sys.modules["torch._dynamo.utils"], "counters")
    with pytest.raises(RecordsMissing):
        counter.expect(frames=0)
    assert "cannot count" in repr(counter)


@needs_dynamo
@pytest.mark.parametrize("key", ["unique_graphs", "calls_captured"])
def test_counter_refuses_a_renamed_counter_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str
) -> None:
    """A release whose dynamo counts under another key: counting is an error, never 0.

    Planted next release: torch._dynamo.output_graph is stubbed by a module whose source counts
    ``counters["stats"]["<key>_v2"]``, the upstream rename that would leave ours at 0 for ever.
    """
    import torch._dynamo  # noqa: F401

    source = tmp_path / "output_graph.py"
    kept = ({"unique_graphs", "calls_captured"} - {key}).pop()
    source.write_text(
        f'counters["stats"]["{key}_v2"] += 1\ncounters["stats"]["{kept}"] += 1\n',
        encoding="utf-8",
    )
    stub = types.ModuleType("torch._dynamo.output_graph")
    stub.__file__ = str(source)
    monkeypatch.setitem(sys.modules, "torch._dynamo.output_graph", stub)
    with pytest.raises(RecordsMissing, match=rf"cannot count.*{key}"):
        CompileCounter().__enter__()
    with pytest.raises(RecordsMissing), assert_no_compilation():
        pass


@needs_compile
def test_reset_says_when_dynamos_reset_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release without torch._dynamo.reset: one TorchCompatWarning naming it and the release.

    Planted next release: ``torch._dynamo.reset`` is deleted for the test (stubbing torch).
    """
    import torch._dynamo

    from torchcompat import TorchCompatWarning, _warnings

    _warnings.said.clear()
    monkeypatch.delattr(torch._dynamo, "reset")
    release = re.escape(str(torchcompat.torch_version()))
    with pytest.warns(TorchCompatWarning, match=rf"torch {release}.*torch\._dynamo\.reset"):
        reset_compilation()
    _warnings.said.clear()


@needs_compile
def test_reset_says_when_reset_code_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where reset keeps skip marks and reset_code is gone: a warning naming it, then a reset.

    Planted next release: ``torch._dynamo.eval_frame.reset_code`` is deleted and the release is
    taken to keep skip marks (the facts of torch before 2.11), stubbing torch and the table.
    """
    import torch._dynamo

    from torchcompat import TorchCompatWarning, _warnings
    from torchcompat._releases import facts_for
    from torchcompat.testing import reset as reset_module

    _warnings.said.clear()
    # On Python 3.11: 2.10 refuses 3.15, and reset does nothing where torch cannot compile.
    monkeypatch.setattr(reset_module, "installed_facts", lambda: facts_for((2, 10), (3, 11)))
    monkeypatch.delattr(sys.modules["torch._dynamo.eval_frame"], "reset_code")
    calls: list[None] = []
    real_reset = torch._dynamo.reset
    monkeypatch.setattr(torch._dynamo, "reset", lambda: calls.append(real_reset()))
    with pytest.warns(TorchCompatWarning, match=r"reset_code is missing"):
        reset_compilation()
    assert len(calls) == 1, "dynamo's own reset still ran"
    _warnings.said.clear()


def test_counter_repr_shows_its_state_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """repr() says whether the counter is counting and shows every count."""
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    counter = CompileCounter()
    zeros = "frames=0, graphs=0, ops=0, torch_compile_calls=0"
    assert repr(counter) == f"<CompileCounter not started: {zeros}, safe_compile_calls=0>"
    with counter:
        safe_compile(plain)
        assert repr(counter) == f"<CompileCounter counting: {zeros}, safe_compile_calls=1>"
    assert repr(counter) == f"<CompileCounter done: {zeros}, safe_compile_calls=1>"


def test_the_kit_is_a_package_of_small_modules() -> None:
    """torchcompat.testing keeps its public names; each module holds one thing, none large."""
    import torchcompat.testing as kit

    folder = Path(kit.__file__).parent
    sizes = {path.name: len(path.read_text("utf-8").splitlines()) for path in folder.glob("*.py")}
    assert {"counting.py", "switches.py", "strategies.py", "reset.py"} <= set(sizes)
    assert max(sizes.values()) <= 300, sizes
    for name in kit.__all__:
        home = getattr(getattr(kit, name), "__module__", "torchcompat.testing.switches")
        assert home.startswith("torchcompat.testing."), name


def test_every_module_is_small_and_says_what_it_exports() -> None:
    """Each module of the package (the kit's too) is at most ~300 lines and has ``__all__``:
    one grown past that is split by what it holds (the house style)."""
    import ast

    import torchcompat

    for path in sorted(Path(torchcompat.__file__).parent.rglob("*.py")):
        text = path.read_text("utf-8")
        assert len(text.splitlines()) <= 300, f"{path.name}: {len(text.splitlines())} lines"
        names = {
            target.id
            for node in ast.parse(text).body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        assert "__all__" in names, f"{path.name} has no __all__"


# --- hypothesis strategies --------------------------------------------------------------------


@FUZZ
@given(value=non_disabling_flag_values())
def test_non_disabling_values_leave_compilation_to_the_rest(value: str) -> None:
    """Every value drawn can be put in the environment, and none of them disables."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("TORCH_COMPILE_DISABLE", value)
        assert os.environ["TORCH_COMPILE_DISABLE"] == value
        assert compile_gate().switch != "TORCH_COMPILE_DISABLE"
    finally:
        mp.undo()
    assert value != "1"


@FUZZ
@given(value=flag_values())
def test_flag_values_disable_exactly_for_1(value: str) -> None:
    """torchcompat's own gate, fuzzed with the kit: off for "1" and for nothing else."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("TORCHDYNAMO_DISABLE", value)
        assert (compile_gate().switch == "TORCHDYNAMO_DISABLE") == (value == "1")
    finally:
        mp.undo()


def _other_one(value: str) -> bool:
    return any(
        char != "1" and unicodedata.digit(char, None) == 1 for char in value
    ) and value.strip() not in ("", "1")


@pytest.mark.parametrize(
    ("strategy", "predicate"),
    [
        (non_disabling_flag_values, lambda v: v == "0"),
        (non_disabling_flag_values, lambda v: v == ""),
        (non_disabling_flag_values, lambda v: v.lower() == "true"),
        (non_disabling_flag_values, lambda v: v != "" and v.isspace()),
        (non_disabling_flag_values, lambda v: v.strip() == "1"),
        (non_disabling_flag_values, _other_one),
        (flag_values, lambda v: v == "1"),
    ],
    ids=["zero", "empty", "true", "whitespace", "padded-one", "other-script-one", "one"],
)
def test_strategies_reach_the_tricky_values(strategy: Any, predicate: Any) -> None:
    """The tricky values come up within a few hundred draws."""
    found = find(strategy(), predicate, settings=settings(max_examples=500, database=None))
    assert predicate(found)


@pytest.mark.parametrize("strategy", [flag_values, non_disabling_flag_values])
def test_strategies_say_hypothesis_is_needed(
    strategy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Hypothesis the strategies raise an ImportError that says how to get it."""
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    with pytest.raises(ImportError, match="pip install hypothesis"):
        strategy()


def test_importing_the_kit_imports_neither_torch_nor_hypothesis() -> None:
    """torchcompat.testing and the plugin load without torch, Hypothesis or wrapt."""
    code = """
import sys
import torchcompat.testing, torchcompat.pytest_plugin
print(sorted(m for m in ("torch", "hypothesis", "wrapt") if m in sys.modules))
"""
    assert run_python(code).stdout.strip() == "[]"


class _nothing:
    """A context manager that does nothing (contextlib.nullcontext, typed for both branches)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
