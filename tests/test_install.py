"""``torchcompat.install()``: every ``torch.compile`` in the process behaves as ``safe_compile``.

The calls here are made the way a library the user does not own makes them: plain
``torch.compile(...)`` and ``module.compile(...)``, never ``safe_compile``. Each switch case runs
raw ``torch.compile`` next to the installed one, in the same interpreter.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import torchcompat
from torchcompat import _install
from torchcompat._observers import wrap_observers

from .conftest import FACTS, Counted, needs_compile, needs_torch, run_python

torch = pytest.importorskip("torch")

has_module_compile = pytest.mark.skipif(
    not hasattr(torch.nn.Module, "compile"), reason="nn.Module.compile came in torch 2.1"
)


@pytest.fixture(autouse=True)
def _uninstalled_after() -> Iterator[None]:
    """Every test leaves torch.compile and nn.Module.compile as it found them."""
    before = (getattr(torch, "compile", None), torch.nn.Module.__dict__.get("compile"))
    yield
    torchcompat.uninstall()
    assert (getattr(torch, "compile", None), torch.nn.Module.__dict__.get("compile")) == before


@pytest.fixture
def safe_calls() -> Iterator[list[object]]:
    """What safe_compile was given, in order, while the test runs."""
    seen: list[object] = []
    wrap_observers.append(seen.append)
    yield seen
    wrap_observers.remove(seen.append)


def _patched() -> tuple[bool, bool]:
    module_compile = torch.nn.Module.__dict__.get("compile")
    return (
        getattr(getattr(torch, "compile", None), "_torchcompat_installed", False),
        getattr(module_compile, "_torchcompat_installed", False),
    )


@needs_torch
def test_install_replaces_and_uninstall_puts_back_exactly() -> None:
    """install() patches torch.compile (and nn.Module.compile, 2.1+); uninstall() restores them."""
    before = (getattr(torch, "compile", None), torch.nn.Module.__dict__.get("compile"))
    torchcompat.install()
    expected = (before[0] is not None, before[1] is not None)
    assert _patched() == expected
    assert _install.is_installed()
    torchcompat.uninstall()
    assert (getattr(torch, "compile", None), torch.nn.Module.__dict__.get("compile")) == before
    assert not _install.is_installed()


@needs_torch
def test_install_is_idempotent_and_installed_nests() -> None:
    """A second install() changes nothing; installed() undoes only what it did."""
    torchcompat.install()
    first = getattr(torch, "compile", None)
    torchcompat.install()
    assert getattr(torch, "compile", None) is first
    with torchcompat.installed():
        assert getattr(torch, "compile", None) is first
    assert _install.is_installed()  # it was installed before the block
    torchcompat.uninstall()
    with torchcompat.installed():
        assert _install.is_installed()
    assert not _install.is_installed()


@needs_torch
def test_install_and_uninstall_from_many_threads_end_consistent() -> None:
    """Racing install()/uninstall() calls leave either torch's functions or ours, never a mix."""
    original = getattr(torch, "compile", None)
    barrier = threading.Barrier(8)

    def flip(index: int) -> None:
        barrier.wait()
        for _ in range(50):
            (torchcompat.install if index % 2 else torchcompat.uninstall)()

    threads = [threading.Thread(target=flip, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    patched = _patched()
    if _install.is_installed():
        assert patched == (original is not None, "compile" in torch.nn.Module.__dict__)
    else:
        assert patched == (False, False)
        assert getattr(torch, "compile", None) is original


@needs_compile
def test_installed_torch_compile_is_safe_compile_once(safe_calls: list[object]) -> None:
    """Each call form of torch.compile reaches safe_compile exactly once, and returns its result."""
    torchcompat.install()

    def f(x: Any) -> Any:
        return x + 1

    direct = torch.compile(f, backend="eager", fullgraph=True)
    decorated = torch.compile(backend="eager")(f)
    assert safe_calls == [f, f]
    for result in (direct, decorated):
        assert hasattr(result, "_torchcompat_compiled")
        assert torch.equal(result(torch.ones(2)), torch.full((2,), 2.0))


@needs_compile
@has_module_compile
def test_installed_module_compile_is_in_place_safe_compile(safe_calls: list[object]) -> None:
    """module.compile(**kw) is safe_compile(module, in_place=True, **kw), once; it returns None."""
    torchcompat.install()
    model = torch.nn.Linear(3, 3)
    assert model.compile(backend="eager") is None
    assert safe_calls == [model]
    assert hasattr(model._compiled_call_impl, "_torchcompat_compiled")
    assert list(model.state_dict()) == ["weight", "bias"]


def _spy(calls: list[dict[str, Any]], inner: Callable[..., Any]) -> Callable[..., Any]:
    """A torch.compile replacement as profilers and Fabric write them: it takes **kwargs."""

    @functools.wraps(inner)
    def spy(model: Any = None, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return inner(model, **kwargs)

    return spy


@needs_compile
@pytest.mark.parametrize("spy_first", [True, False], ids=["spy-then-install", "install-then-spy"])
def test_a_replaced_torch_compile_keeps_working_whichever_came_first(
    spy_first: bool, safe_calls: list[object]
) -> None:
    """A spy on torch.compile sees each call once, with every keyword; safe_compile runs once."""
    original = torch.compile
    calls: list[dict[str, Any]] = []
    try:
        if spy_first:
            torch.compile = _spy(calls, original)
            torchcompat.install()
        else:
            torchcompat.install()
            torch.compile = _spy(calls, torch.compile)

        def f(x: Any) -> Any:
            return x * 3

        result = torch.compile(f, backend="eager", fullgraph=True)
        assert torch.equal(result(torch.ones(1)), torch.full((1,), 3.0))
        assert calls == [{"backend": "eager", "fullgraph": True}]
        assert safe_calls == [f]
        assert hasattr(result, "_torchcompat_compiled")
        torchcompat.uninstall()
        # A spy over ours stays where it is; ours inside it passes calls through from now on.
        again = torch.compile(f, backend="eager")
        assert not hasattr(again, "_torchcompat_compiled")
        assert safe_calls == [f]
    finally:
        torchcompat.uninstall()
        torch.compile = original


@needs_compile
def test_results_made_while_installed_stay_guarded_after_uninstall() -> None:
    """uninstall() changes what torch.compile does next, not the results it already made."""
    from torch._dynamo import config

    body = Counted()
    torchcompat.install()
    result = torch.compile(body, backend="eager", fullgraph=True)
    torchcompat.uninstall()
    config.disable = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result(torch.ones(2))
    finally:
        config.disable = False
    assert body.runs == 1


# One fresh interpreter per switch: each compiles a function and a module (in place too) with
# raw torch.compile, then the same code with torchcompat installed, and prints what happened.
_SWITCH_PROBE = r"""
import json, os, sys, warnings
import torch
import torchcompat

switch = sys.argv[1]
if switch == "config.disable":
    import torch._dynamo
    torch._dynamo.config.disable = True
elif switch == "force_eager":
    torch.compiler.set_stance("force_eager")
has_module_compile = hasattr(torch.nn.Module, "compile")

def run(make):
    runs = []
    def body(x):
        runs.append(1)
        return x + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = make(body)(torch.ones(2))
            error = None if torch.equal(out, torch.full((2,), 2.0)) else "wrong output"
        except Exception as exc:
            error = type(exc).__name__
    frames = [str(w.message) for w in caught if "no compiled frames" in str(w.message)]
    return {"runs": len(runs), "error": error, "warned": bool(frames)}

class Net(torch.nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body
    def forward(self, x):
        return self.body(x)

def in_place(body):
    net = Net(body)
    net.compile(backend="eager", fullgraph=True)
    return net

makers = {
    "function": lambda body: torch.compile(body, backend="eager", fullgraph=True),
    "module": lambda body: torch.compile(Net(body), backend="eager", fullgraph=True),
}
if has_module_compile:
    makers["in place"] = in_place
out = {"raw": {k: run(m) for k, m in makers.items()}}
torchcompat.install()
out["installed"] = {k: run(m) for k, m in makers.items()}
print(json.dumps(out))
"""

_SWITCHES = ["TORCH_COMPILE_DISABLE", "config.disable", "force_eager"]


@needs_compile
@pytest.mark.parametrize("switch", _SWITCHES)
def test_installed_code_you_do_not_own_runs_once_under_every_switch(switch: str) -> None:
    """Under each switch, installed torch.compile runs the body once with no raise or warning.

    Raw torch.compile, in the same interpreter, raises "no compiled frames" after the body ran
    (2.13+) or warns (2.12) under TORCH_COMPILE_DISABLE and config.disable.
    """
    import json

    assert FACTS is not None
    if switch == "force_eager" and not FACTS.has_set_stance:
        pytest.skip(f"set_stance came in torch 2.6 (this is {torch.__version__})")
    env = {"TORCH_COMPILE_DISABLE": "1"} if switch == "TORCH_COMPILE_DISABLE" else {}
    out = json.loads(run_python(_SWITCH_PROBE, switch, **env).stdout.splitlines()[-1])
    for outcome in out["installed"].values():
        assert outcome == {"runs": 1, "error": None, "warned": False}
    raw = out["raw"]["function"]
    assert raw["runs"] == 1  # the body ran before torch's check, raw or not
    if switch != "force_eager":  # 2.13+ skip the check under any non-default stance
        if FACTS.fullgraph_check == "raise":
            assert raw["error"] == "RuntimeError"
        elif FACTS.fullgraph_check == "warn":
            assert raw["warned"]


_BY_HAND = r"""
import sys, warnings
{imports}
torch.compile = torchcompat.safe_compile
import torch._dynamo
def f(x):
    return x + 1
result = torch.compile(f, backend="eager", fullgraph=True)
torch._dynamo.config.disable = True
with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert torch.equal(result(torch.ones(1)), torch.full((1,), 2.0))
torch._dynamo.config.disable = False
print(hasattr(result, "_torchcompat_compiled"))
"""


@needs_compile
def test_torch_compile_set_to_safe_compile_by_hand_works() -> None:
    """``torch.compile = torchcompat.safe_compile`` gives guarded results, no RecursionError."""
    code = _BY_HAND.format(imports="import torch\nimport torchcompat")
    assert run_python(code).stdout.split() == ["True"]


@needs_compile
def test_torch_compile_set_by_hand_before_torchcompat_saw_torch_is_a_clear_error() -> None:
    """If torch's own torch.compile is gone before torchcompat saw it, the error says what to do."""
    code = _BY_HAND.format(imports="import torchcompat\nimport torch")
    code = code.replace("result = ", "try:\n    result = ").replace(
        "\ntorch._dynamo.config.disable = True",
        "\nexcept RuntimeError as exc:\n    print('install()' in str(exc)); sys.exit()"
        "\ntorch._dynamo.config.disable = True",
        1,
    )
    assert run_python(code).stdout.split() == ["True"]


@needs_compile
def test_install_before_torch_is_imported_patches_it_on_import() -> None:
    """install() with torch not imported imports nothing, and patches torch when it comes."""
    code = """
import sys
import torchcompat
torchcompat.install()
print("torch" in sys.modules)
import torch
print(getattr(torch.compile, "_torchcompat_installed", False))
"""
    assert run_python(code).stdout.split() == ["False", "True"]


def test_install_without_torch_is_harmless() -> None:
    """In an interpreter where torch never comes, install() and uninstall() do nothing."""
    code = """
import sys
import torchcompat
torchcompat.install(); torchcompat.uninstall(); torchcompat.install()
print("torch" in sys.modules)
"""
    assert run_python(code).stdout.split() == ["False"]


def test_install_is_exported() -> None:
    """install, uninstall and installed are public API, at the top of the package."""
    for name in ("install", "uninstall", "installed"):
        assert name in torchcompat.__all__
        assert getattr(torchcompat, name) is getattr(_install, name)
