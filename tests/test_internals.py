"""Every private torch name torchcompat reads: present on this release, loud and safe when not.

The planted tests stub torch's internals (a renamed config entry, a new storage shape, a
removed ``_stance``, a renamed exception class, a renamed ``OptimizedModule`` attribute): the
plausible change of the next release, planted in a fresh interpreter before torchcompat reads
it. Each plant shows one :class:`~torchcompat.TorchCompatWarning` naming what is missing and the
release, and the safe path, never a silent wrong answer. All plants run in one interpreter
(each undoes its stub and torchcompat forgets what it read), so the matrix stays fast.
"""

from __future__ import annotations

import json

import pytest

from torchcompat import _internals

from .conftest import FACTS, TORCH, needs_compile, needs_dynamo, run_python


def test_every_row_says_where_when_and_why() -> None:
    """Each row names a module (or an object's attribute), a first release, a purpose and a
    safe path."""
    for name, row in _internals.INTERNALS.items():
        assert name.endswith(row.attr), name
        assert row.since, name
        assert all(isinstance(part, int) for part in row.since), name
        assert row.purpose, name
        assert row.safe, name


def test_the_exception_tables_are_the_rows() -> None:
    """fallback's three exception tables are rows of the one table, none in two of them."""
    tables = (_internals.COMPILE_FAILURES, _internals.USER_ERRORS, _internals.DYNAMO_SIGNALS)
    names = [name for table in tables for name in table]
    assert len(names) == len(set(names))
    assert set(names) <= set(_internals.INTERNALS)
    assert all(tables)


@needs_dynamo
def test_this_release_has_every_name_it_should() -> None:
    """On every released torch, nothing torchcompat reads is missing (the table is right)."""
    code = (
        "import warnings\n"
        "from torchcompat import TorchCompatWarning, _internals\n"
        "warnings.simplefilter('error', TorchCompatWarning)\n"
        "print(_internals.missing(load=True))\n"
    )
    assert run_python(code).stdout.strip().splitlines()[-1] == "[]", TORCH


# The plants, run one after another in one fresh interpreter; each prints a JSON line.
_PLANTS = r"""
import contextlib, json, sys, warnings
import torch, torch._dynamo, torch.nn as nn
from torch._dynamo import config
from torch._dynamo import eval_frame
from torchcompat import TorchCompatWarning, _config_read, _internals, _runtime, _warnings
from torchcompat import compile_gate
from torchcompat import safe_compile, _guard

def forget():
    _internals.clear(); _warnings.said.clear()
    _runtime._checked = None; _runtime._reader = None
    torch._dynamo.reset()

class Body:
    def __init__(self): self.runs = 0
    def __call__(self, x):
        self.runs += 1
        return x + 1

class Graphs:
    def __init__(self): self.compiled = 0
    def __call__(self, gm, inputs):
        self.compiled += 1
        return gm.forward

@contextlib.contextmanager
def plant(name):
    forget()
    out = {"plant": name}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            yield out
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
    out["warnings"] = [str(w.message) for w in seen if w.category is TorchCompatWarning]
    print(json.dumps(out))
    forget()

def call(fn, *args):
    try:
        fn(*args)
        return "ok"
    except Exception as exc:
        return type(exc).__name__

x = torch.ones(2)

# A renamed config entry: config.disable is gone.
with plant("renamed config entry") as out:
    entry = config._config.pop("disable")
    try:
        gate = compile_gate()
        out["gate"] = [gate.disabled, gate.switch]
        body, graphs = Body(), Graphs()
        result = safe_compile(body, fullgraph=True, backend=graphs)
        out["call"] = call(result, x)
        out["runs"] = [body.runs, graphs.compiled]
    finally:
        config._config["disable"] = entry

# A new storage shape: the entries kept in a mapping that is not a dict.
with plant("new storage shape") as out:
    import collections
    entries = config._config
    # A mapping, not a dict, over the same entries: torch's own writes still land (2.0-2.5
    # write values into it), but the shape is none that torchcompat has read.
    shaped = collections.UserDict()
    shaped.data = entries
    object.__setattr__(config, "_config", shaped)
    try:
        out["fast"] = _config_read.fast_disable_reader() is not None
        body, graphs = Body(), Graphs()
        result = safe_compile(body, fullgraph=True, backend=graphs)
        out["on"] = call(result, x)
        config.disable = True
        out["off"] = call(result, torch.ones(3))
        config.disable = False
        out["runs"] = [body.runs, graphs.compiled]
    finally:
        object.__setattr__(config, "_config", entries)
        config.disable = False

# A removed _stance (set_stance's state kept elsewhere).
if hasattr(eval_frame, "_stance"):
    with plant("removed _stance") as out:
        stance = eval_frame.__dict__.pop("_stance")
        try:
            gate = compile_gate()
            out["gate"] = [gate.disabled, gate.switch]
            body = Body()
            # A guard that reads the stance (torch 2.12's fullgraph results), torch never entered.
            how = _guard.Guard(stance=True, state=None, rerun_safe=True)
            guarded = _guard.guard(lambda x: 1 / 0, body, how)
        finally:
            eval_frame._stance = stance  # torch's own code reads it; torchcompat decided
        out["call"] = call(guarded, x)
        out["runs"] = [body.runs]

# A renamed exception class: dynamo's UserError is gone.
with plant("renamed exception class") as out:
    from torch._dynamo import exc as dynamo_exc
    user_error = dynamo_exc.__dict__.pop("UserError")
    try:
        def fails(gm, inputs):
            raise RuntimeError("the backend failed")
        body = Body()
        result = safe_compile(body, fullgraph=True, backend=fails, fallback="eager")
        out["call"] = call(result, x)
    finally:
        dynamo_exc.UserError = user_error

# A renamed OptimizedModule attribute: dynamo_ctx is gone.
with plant("renamed OptimizedModule attribute") as out:
    cls = eval_frame.OptimizedModule
    init = cls.__init__
    def renamed(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.__dict__["_dynamo_context"] = self.__dict__.pop("dynamo_ctx")
    cls.__init__ = renamed
    try:
        module = nn.Linear(2, 2)
        result = safe_compile(module, fullgraph=True, backend="eager")
        out["same"] = result is module
        config.disable = True
        out["call"] = call(result, x)
    finally:
        config.disable = False
        cls.__init__ = init
"""

_RELEASE = f"torch {TORCH.split()[-1]}"


@pytest.fixture(scope="module")
def plants() -> dict[str, dict[str, object]]:
    """Every plant's outcome, from one fresh interpreter."""
    lines = run_python(_PLANTS).stdout.strip().splitlines()
    found = [json.loads(line) for line in lines if line.startswith("{")]
    return {entry["plant"]: entry for entry in found}


def _warned(entry: dict[str, object], name: str) -> None:
    warnings = entry["warnings"]
    assert isinstance(warnings, list)
    assert [w for w in warnings if name in w and _RELEASE in w], (name, warnings)
    assert "error" not in entry, entry["error"]


@needs_compile
def test_a_renamed_config_entry_runs_eagerly(plants: dict[str, dict[str, object]]) -> None:
    """Planted (stubs torch's config table): without config.disable the gate says off, and a
    fullgraph result runs its body eagerly without raising, never read as "on"."""
    entry = plants["renamed config entry"]
    _warned(entry, "torch._dynamo.config.disable")
    assert entry["gate"] == [True, "config.disable"]
    assert (entry["call"], entry["runs"]) == ("ok", [1, 0])


@needs_compile
def test_a_new_storage_shape_takes_the_public_read(plants: dict[str, dict[str, object]]) -> None:
    """Planted (stubs the config's storage): an unknown shape gets no fast read; the public
    read still turns the guard eager while config.disable is set, and compiles after."""
    entry = plants["new storage shape"]
    _warned(entry, "storage shape")
    assert entry["fast"] is False
    assert (entry["on"], entry["off"], entry["runs"]) == ("ok", "ok", [2, 1])


@needs_compile
def test_a_removed_stance_runs_eagerly(plants: dict[str, dict[str, object]]) -> None:
    """Planted (removes torch's eval_frame._stance): the gate says off and a guard that reads
    the stance runs eagerly, where it used to raise AttributeError on every call."""
    if FACTS is None or not FACTS.has_set_stance:
        pytest.skip(f"{TORCH} has no set_stance (it came in 2.6)")
    entry = plants["removed _stance"]
    _warned(entry, "torch._dynamo.eval_frame._stance")
    assert entry["gate"] == [True, "force_eager"]
    assert (entry["call"], entry["runs"]) == ("ok", [1])


@needs_compile
def test_a_renamed_exception_class_falls_back_from_nothing(
    plants: dict[str, dict[str, object]],
) -> None:
    """Planted (removes dynamo's UserError): fallback='eager' cannot tell the user's errors from
    compile failures, so the backend's failure propagates instead of being swallowed."""
    entry = plants["renamed exception class"]
    _warned(entry, "torch._dynamo.exc.UserError")
    assert entry["call"] != "ok"


@needs_compile
def test_a_renamed_module_attribute_returns_the_module(
    plants: dict[str, dict[str, object]],
) -> None:
    """Planted (renames OptimizedModule.dynamo_ctx): a module result that cannot be guarded is
    the module itself, uncompiled, and calls under config.disable never raise."""
    entry = plants["renamed OptimizedModule attribute"]
    _warned(entry, "OptimizedModule.dynamo_ctx")
    assert (entry["same"], entry["call"]) == (True, "ok")
