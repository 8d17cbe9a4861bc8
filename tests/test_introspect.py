"""in_place compile, is_compiled, unwrap and is_compiling on every release."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest

from torchcompat import TorchCompatWarning, is_compiled, is_compiling, safe_compile, unwrap
from torchcompat._runtime import inlines_builtin_modules
from torchcompat.testing import reset_compilation

from .conftest import FACTS, TORCH, needs_compile, run_python

torch = pytest.importorskip("torch", reason="these questions are about real torch objects")

HAS_MODULE_COMPILE = hasattr(torch.nn.Module, "compile")


def _dynamo_loaded_inlines() -> bool:
    import torch._dynamo  # noqa: F401 - loads the config that is read

    return inlines_builtin_modules()


# Whether dynamo traces into torch's own modules (2.5+); before, it calls them as graph leaves,
# so compiling nn.Linear in place compiles nothing there, as nn.Module.compile does.
INLINES_BUILTIN_MODULES = FACTS is not None and FACTS.has_compile and _dynamo_loaded_inlines()


class UserModel(torch.nn.Module):  # type: ignore[misc]
    """A model with a forward of its own, which dynamo compiles on every release."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)

    def forward(self, x: Any) -> Any:
        return self.linear(x).relu()


def _builtin() -> Any:
    return torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())


def _module_cases() -> list[Any]:
    return [
        pytest.param(UserModel, id="user-module"),
        pytest.param(
            _builtin,
            id="torch-module",
            marks=pytest.mark.skipif(
                not INLINES_BUILTIN_MODULES,
                reason=f"{TORCH} calls torch's own modules as graph leaves (inlined from 2.5)",
            ),
        ),
    ]


def _f(x: Any) -> Any:
    return x.sin() + 1


@pytest.fixture
def counter(dynamo: Any) -> Any:
    """A CompileCounter backend: proof that torch really compiled something."""
    from torch._dynamo.testing import CompileCounter

    return CompileCounter()


# --- in_place ----------------------------------------------------------------------------------


@needs_compile
@pytest.mark.skipif(not HAS_MODULE_COMPILE, reason=f"{TORCH} has no nn.Module.compile (2.1+)")
@pytest.mark.parametrize("fullgraph", [True, False])
@pytest.mark.parametrize("make", _module_cases())
def test_in_place_compiles_the_module_itself(make: Any, fullgraph: bool, counter: Any) -> None:
    """in_place=True: the same object comes back, compiled, with unchanged state_dict keys."""
    model = make()
    keys = list(model.state_dict())
    x = torch.randn(2, 3)
    with torch.no_grad():
        expected = model(x)
    assert safe_compile(model, in_place=True, fullgraph=fullgraph, backend=counter) is model
    with torch.no_grad():
        assert torch.allclose(model(x), expected)
    assert counter.frame_count == 1
    assert list(model.state_dict()) == keys
    assert is_compiled(model)
    assert unwrap(model) is model


@pytest.mark.parametrize("off_by", ["TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE"])
def test_in_place_off_returns_the_module_uncompiled(
    off_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off: the same module, not compiled, keys unchanged."""
    monkeypatch.setenv(off_by, "1")
    model = torch.nn.Linear(3, 3)
    keys = list(model.state_dict())
    assert safe_compile(model, in_place=True, fullgraph=True) is model
    assert getattr(model, "_compiled_call_impl", None) is None
    assert list(model.state_dict()) == keys
    assert not is_compiled(model)


@pytest.mark.skipif(
    HAS_MODULE_COMPILE or FACTS is None or not FACTS.compile_usable,
    reason="only where torch.compile works but nn.Module.compile does not exist (2.0)",
)
def test_in_place_without_module_compile_warns_and_returns_eager() -> None:
    """Where torch has no nn.Module.compile, in_place=True returns the module and says why."""
    model = torch.nn.Linear(3, 3)
    with pytest.warns(TorchCompatWarning, match="no nn.Module.compile"):
        assert safe_compile(model, in_place=True) is model


@needs_compile
@pytest.mark.skipif(
    FACTS is None or FACTS.fullgraph_check is None or not HAS_MODULE_COMPILE,
    reason="the runtime-switch guard exists only where torch checks fullgraph calls (2.12+)",
)
def test_in_place_survives_a_runtime_switch(counter: Any) -> None:
    """In place, fullgraph=True, dynamo turned off at run time: eager, silent, not poisoned."""
    model = UserModel()
    safe_compile(model, in_place=True, fullgraph=True, backend=counter)
    x = torch.randn(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch._dynamo.config.patch(disable=True):
            model(x)
        model(x)
    assert counter.frame_count == 1


@pytest.mark.parametrize("bad", [_f, torch.sin])
def test_in_place_needs_a_module(bad: Any) -> None:
    """in_place=True with a function is a TypeError naming what it got."""
    with pytest.raises(TypeError, match=r"needs an nn\.Module"):
        safe_compile(bad, in_place=True)


# --- is_compiled / unwrap ----------------------------------------------------------------------


def _cases() -> list[tuple[str, bool]]:
    cases = [("eager function", False), ("eager module", False), ("disabled function", False)]
    if FACTS is not None and FACTS.compile_usable:
        cases += [
            ("torch.compile function", True),
            ("torch.compile module", True),
            ("safe_compile function", True),
            ("safe_compile fullgraph function", True),
            ("safe_compile fallback function", True),
            ("safe_compile fullgraph module", True),
            ("safe_compile off", False),
        ]
        if HAS_MODULE_COMPILE:
            cases.append(("module.compile", True))
    return cases


def _build(case: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(object to ask about, the original behind it)."""
    module = torch.nn.Linear(2, 2)
    builders: dict[str, Any] = {
        "eager function": lambda: (_f, _f),
        "eager module": lambda: (module, module),
        "disabled function": lambda: (_disabled(), None),
        "torch.compile function": lambda: (torch.compile(_f, backend="eager"), _f),
        "torch.compile module": lambda: (torch.compile(module, backend="eager"), module),
        "safe_compile function": lambda: (safe_compile(_f, backend="eager"), _f),
        "safe_compile fullgraph function": lambda: (
            safe_compile(_f, fullgraph=True, backend="eager"),
            _f,
        ),
        "safe_compile fallback function": lambda: (
            safe_compile(_f, backend="eager", fallback="eager"),
            _f,
        ),
        "safe_compile fullgraph module": lambda: (
            safe_compile(module, fullgraph=True, backend="eager"),
            module,
        ),
        "module.compile": lambda: (_compiled_in_place(module), module),
    }
    if case == "safe_compile off":
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
        return safe_compile(_f, fullgraph=True), _f
    return builders[case]()  # type: ignore[no-any-return]


def _disabled() -> Any:
    if FACTS is None or not FACTS.has_compile:
        return _f
    return torch._dynamo.disable(_f)


def _compiled_in_place(module: Any) -> Any:
    module.compile(backend="eager")
    return module


@pytest.mark.parametrize(("case", "compiled"), _cases())
def test_is_compiled_and_unwrap(
    case: str, compiled: bool, monkeypatch: pytest.MonkeyPatch, dynamo_if_any: Any
) -> None:
    """Each kind of object: is_compiled says whether it is, unwrap finds the original."""
    obj, original = _build(case, monkeypatch)
    assert is_compiled(obj) is compiled
    if original is not None:
        assert unwrap(obj) is original
    assert not is_compiled(unwrap(obj)) or case == "module.compile"


@pytest.fixture
def dynamo_if_any() -> Any:
    """torch._dynamo reset around the test where the release has it."""
    if FACTS is None or not FACTS.has_compile:
        yield None
        return
    import torch._dynamo

    reset_compilation()
    yield torch._dynamo
    reset_compilation()


def test_questions_do_not_import_dynamo() -> None:
    """Asking about eager objects with dynamo unloaded answers without importing it."""
    code = (
        "import sys, torch, torchcompat as tc\n"
        "m = torch.nn.Linear(2, 2)\n"
        "assert not tc.is_compiled(m) and tc.unwrap(m) is m and not tc.is_compiling()\n"
        "assert tc.fallback_reason(m) is None\n"
        "assert 'torch._dynamo' not in sys.modules\n"
    )
    run_python(code)


# --- is_compiling ------------------------------------------------------------------------------


def test_is_compiling_is_false_in_eager_code() -> None:
    """Outside compiled code the answer is False, without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert is_compiling() is False


@needs_compile
@pytest.mark.parametrize("fullgraph", [True, False])
def test_is_compiling_is_true_while_traced(fullgraph: bool, counter: Any) -> None:
    """Inside a compiled function it is True, in one graph, with no warning."""

    def f(x: Any) -> Any:
        return x + 1 if is_compiling() else x - 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = torch.compile(f, fullgraph=fullgraph, backend=counter)(torch.zeros(1))
    assert out.item() == 1.0
    assert counter.frame_count == 1
    assert f(torch.zeros(1)).item() == -1.0


@needs_compile
@pytest.mark.skipif(
    not INLINES_BUILTIN_MODULES,
    reason=f"{TORCH} calls torch's own modules as graph leaves (inlined from 2.5)",
)
def test_in_place_modules_do_not_share_a_recompile_budget(counter: Any) -> None:
    """Many in-place torch.nn modules compile once each, none pushed past the recompile limit."""
    models = [torch.nn.Linear(3, 3) for _ in range(12)]
    for model in models:
        safe_compile(model, in_place=True, fullgraph=True, backend=counter)
    x = torch.randn(2, 3)
    with torch.no_grad():
        for model in models:
            assert torch.allclose(model(x), torch.nn.functional.linear(x, model.weight, model.bias))
    assert counter.frame_count == len(models)


@needs_compile
@pytest.mark.skipif(not HAS_MODULE_COMPILE, reason=f"{TORCH} has no nn.Module.compile (2.1+)")
def test_in_place_deepcopy_is_a_compiled_module_of_its_own(counter: Any) -> None:
    """A deepcopy of an in-place compiled module is compiled in place too, with its own weights
    (a bare nn.Module.compile() copy is uncompiled: torch drops the compiled call)."""
    import copy

    model = torch.nn.Linear(3, 3)
    safe_compile(model, in_place=True, fullgraph=True, backend=counter)
    clone = copy.deepcopy(model)
    with torch.no_grad():
        clone.weight.zero_()
        clone.bias.zero_()
        assert torch.equal(clone(torch.ones(1, 3)), torch.zeros(1, 3))
        assert not torch.equal(model(torch.ones(1, 3)), torch.zeros(1, 3))
    assert is_compiled(clone)
    bare = torch.nn.Linear(3, 3)
    bare.compile(backend=counter)
    assert not is_compiled(copy.deepcopy(bare))


@needs_compile
@pytest.mark.skipif(not HAS_MODULE_COMPILE, reason=f"{TORCH} has no nn.Module.compile (2.1+)")
def test_in_place_with_disable_true_adds_no_wrapper(dynamo_if_any: Any) -> None:
    """disable=True in place: torch hands back the eager call, and safe_compile wraps nothing."""
    model = UserModel()
    safe_compile(model, in_place=True, fullgraph=True, disable=True, fallback="eager")
    assert not hasattr(model._compiled_call_impl, "_torchcompat_compiled")
    x = torch.randn(2, 3)
    with torch.no_grad():
        assert torch.allclose(model(x), model.linear(x).relu())


def _plain(x: Any) -> Any:
    return x + 1


@needs_compile
def test_a_renamed_orig_callable_is_said_and_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A function result without _torchdynamo_orig_callable: a warning, and still compiled.

    Planted next release: the attribute is deleted from torch.compile's real result (stubbing
    torch's wrapper); is_compiled says True and unwrap follows ``__wrapped__``, both loudly.
    """
    from torchcompat import _warnings

    _warnings.said.clear()
    compiled = torch.compile(_plain, backend="eager")
    del compiled._torchdynamo_orig_callable
    with pytest.warns(TorchCompatWarning, match=rf"_torchdynamo_orig_callable.*{re.escape(TORCH)}"):
        assert is_compiled(compiled)
    _warnings.said.clear()
    with pytest.warns(TorchCompatWarning, match="__wrapped__ is followed"):
        assert unwrap(compiled) is _plain
    _warnings.said.clear()


@needs_compile
def test_a_renamed_optimized_module_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without eval_frame.OptimizedModule, a compiled module is still recognised, loudly.

    Planted next release: ``torch._dynamo.eval_frame.OptimizedModule`` is deleted for the test
    (stubbing torch); the module torch.compile made before is still compiled, its original found.
    """
    import sys

    from torchcompat import _warnings

    _warnings.said.clear()
    module = torch.nn.Linear(2, 2)
    compiled = torch.compile(module, backend="eager")
    monkeypatch.delattr(sys.modules["torch._dynamo.eval_frame"], "OptimizedModule")
    with pytest.warns(TorchCompatWarning, match=rf"OptimizedModule.*{re.escape(TORCH)}") as said:
        answers = (is_compiled(compiled), is_compiled(module), unwrap(compiled) is module)
    assert answers == (True, False, True)
    assert len(said) == 1, "said once"
    _warnings.said.clear()


@needs_compile
def test_a_compiled_module_without_orig_mod_cannot_be_unwrapped() -> None:
    """unwrap() of a compiled module without _orig_mod raises, naming the release: it never
    hands back the compiled module as the original.

    Planted next release: ``_orig_mod`` is removed from torch.compile's real module result.
    """
    compiled = torch.compile(torch.nn.Linear(2, 2), backend="eager")
    del compiled._modules["_orig_mod"]
    with pytest.raises(RuntimeError, match=rf"{re.escape(TORCH)} has no _orig_mod"):
        unwrap(compiled)


@needs_compile
@pytest.mark.skipif(not HAS_MODULE_COMPILE, reason=f"{TORCH} has no nn.Module.compile")
def test_a_renamed_compiled_call_impl_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release whose nn.Module lacks _compiled_call_impl: is_compiled says so, once.

    Planted next release: the class attribute is deleted from torch.nn.Module for the test.
    """
    from torchcompat import _warnings

    _warnings.said.clear()
    module = torch.nn.Linear(2, 2)
    monkeypatch.delattr(torch.nn.Module, "_compiled_call_impl")
    with pytest.warns(TorchCompatWarning, match=rf"_compiled_call_impl.*{re.escape(TORCH)}"):
        assert not is_compiled(module)
    _warnings.said.clear()
