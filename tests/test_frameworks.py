"""safe_compile results in frameworks that wrap modules: Lightning Fabric, DDP, re-compiling.

Every scenario is one training step at a time: compiled (batch 2), under
``torch._dynamo.config.disable`` with a new batch shape (batch 5), and with the switch off again
(batch 7), for a ``safe_compile`` result next to a raw ``torch.compile`` one. All run in one fresh
interpreter (``PROBE`` below), because the DDP process group (gloo, world size 1, this process on
the CPU) and Fabric's replacement of ``torch.compile`` are process-wide.

What Fabric does, read from its source (``lightning_fabric/fabric.py``, ``wrappers.py``):
importing it replaces ``torch.compile`` with a wrapper that stores the keywords on a compiled
module (``_compile_kwargs``); ``setup()`` then unwraps any ``OptimizedModule`` to ``_orig_mod``,
wraps that (DDP for ``strategy="ddp"``) and compiles it again with ``torch.compile`` itself: the
guard is gone. ``setup(..., _reapply_compile=False)`` keeps the result as it is, inside Fabric's
wrappers: the recipe in docs/frameworks.md "With Lightning Fabric and DDP".
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from .conftest import FACTS, needs_compile, run_python
from .docs_pages import python_blocks

PROBE = r"""
import copy, json, sys, warnings

import torch
from torchcompat import safe_compile
from torchcompat.testing import reset_compilation

# Compiled before Fabric is imported: torch.compile is still torch's own, no _compile_kwargs.
early = {
    "raw": torch.compile(torch.nn.Linear(3, 3), backend="eager"),
    "safe": safe_compile(torch.nn.Linear(3, 3), backend="eager"),
}

import lightning_fabric
import torch.distributed as dist
from torch._dynamo import config
from torch.nn.parallel import DistributedDataParallel as DDP

# An in-process store, no port to pick; Fabric's "ddp" finds the group and reuses it.
dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
FABRIC = {
    "auto": lightning_fabric.Fabric(accelerator="cpu", devices=1),
    "ddp": lightning_fabric.Fabric(accelerator="cpu", devices=1, strategy="ddp"),
}
FABRIC["ddp"].launch()
results = {}

for maker, compile_ in (("raw", torch.compile), ("safe", safe_compile)):
    try:
        FABRIC["auto"].setup(early[maker])
        results[f"early/{maker}"] = None
    except Exception as exc:
        results[f"early/{maker}"] = f"{type(exc).__name__}: {exc}"


GRAPHS = {}


class Backend:
    # Counts in GRAPHS: Fabric re-compiles with a deepcopy of the keywords, backend included.
    def __init__(self, key):
        self.key = key
        GRAPHS[key] = 0

    @property
    def graphs(self):
        return GRAPHS[self.key]

    def __call__(self, gm, example_inputs):
        GRAPHS[self.key] += 1
        return gm.forward


def fresh_net():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 3)
            self.runs = 0

        def forward(self, x):
            self.runs += 1
            return self.linear(x).relu()

    # A code object of its own: dynamo's caches and skip marks are per code object.
    Net.forward.__code__ = Net.forward.__code__.replace()
    return Net()


def fabric_setup(strategy, reapply):
    def compose(compiled, compile_, kwargs):
        fabric = FABRIC[strategy]
        optimizer = torch.optim.SGD(compiled.parameters(), lr=0.1)
        model, optimizer = fabric.setup(compiled, optimizer, _reapply_compile=reapply)
        return model, optimizer, fabric
    return compose


def plain(wrap):
    def compose(compiled, compile_, kwargs):
        model = wrap(compiled, compile_, kwargs)
        return model, torch.optim.SGD(model.parameters(), lr=0.1), None
    return compose


def inner(model):
    # The compiled object inside the framework's wrappers: class names, "(guarded)" where the
    # forward is safe_compile's guard (results are torch's exact OptimizedModule).
    seen = []
    while model is not None and len(seen) < 4:
        guarded = hasattr(vars(model).get("forward"), "_torchcompat_compiled")
        seen.append(type(model).__name__ + (" (guarded)" if guarded else ""))
        found = getattr(model, "_forward_module", None)
        model = getattr(model, "module", None) if found is None else found
    return "/".join(seen)


COMPOSITIONS = {
    "fabric": (fabric_setup("auto", True), None, None),
    "fabric-recipe": (fabric_setup("auto", False), None, None),
    "fabric-ddp": (fabric_setup("ddp", True), None, None),
    "fabric-ddp-recipe": (fabric_setup("ddp", False), None, None),
    "ddp-outside": (plain(lambda c, compile_, kw: DDP(c)), None, None),
    "ddp-inside": (plain(lambda c, compile_, kw: c), lambda net: DDP(net), None),
    "recompile": (plain(lambda c, compile_, kw: compile_(c._orig_mod, **kw)), None, None),
    # Used under the switch, then unwrapped and re-compiled with torch.compile itself.
    "recompile-after-use": (
        plain(lambda c, compile_, kw: c), None, lambda c, kw: torch.compile(c._orig_mod, **kw)
    ),
}


def step(model, optimizer, fabric, batch, net, backend):
    before = (net.runs, backend.graphs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loss = model(torch.randn(batch, 3)).sum()
            fabric.backward(loss) if fabric is not None else loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            error = None
        except Exception as exc:
            error = type(exc).__name__
    return {
        "error": error,
        "runs": net.runs - before[0],
        "graphs": backend.graphs - before[1],
        "warnings": [str(w.message)[:200] for w in caught if "NumPy" not in str(w.message)],
    }


for name, (compose, pre, recompile) in COMPOSITIONS.items():
    for fullgraph in (True, False):
        for maker, compile_ in (("raw", torch.compile), ("safe", safe_compile)):
            reset_compilation()
            key = f"{name}/{fullgraph}/{maker}"
            net, backend = fresh_net(), Backend(key)
            kwargs = {"backend": backend, "fullgraph": fullgraph}
            compiled = compile_(net if pre is None else pre(net), **kwargs)
            model, optimizer, fabric = compose(compiled, compile_, kwargs)
            row = {"inner": inner(model), "steps": []}
            results[key] = row
            row["steps"].append(step(model, optimizer, fabric, 2, net, backend))
            if row["steps"][-1]["error"]:
                continue
            config.disable = True
            try:
                row["steps"].append(step(model, optimizer, fabric, 5, net, backend))
            finally:
                config.disable = False
            if recompile is not None:
                model = recompile(compiled, kwargs)
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            row["steps"].append(step(model, optimizer, fabric, 7, net, backend))

# docs/frameworks.md's block, as written, then the same three steps on what it made.
namespace = {}
exec(sys.argv[1], namespace)
model, optimizer, fabric = namespace["model"], namespace["optimizer"], namespace["fabric"]
steps = []
for batch, off in ((2, False), (5, True), (7, False)):
    config.disable = off
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = model(torch.randn(batch, 8)).sum()
            fabric.backward(loss)
            optimizer.step()
        steps.append(None)
    except Exception as exc:
        steps.append(f"{type(exc).__name__}: {exc}")
    finally:
        config.disable = False
results["readme"] = {"inner": inner(model), "steps": steps}
dist.destroy_process_group()
print(json.dumps(results))
"""

needs_lightning = pytest.mark.skipif(
    FACTS is None
    or not FACTS.compile_usable
    or importlib.util.find_spec("lightning_fabric") is None,
    reason="lightning is not installed in this env (tox.ini installs lightning-fabric in some)",
)

pytestmark = [needs_compile, needs_lightning]


def _readme_block() -> str:
    """docs/frameworks.md's Fabric example: the one Python block that calls ``fabric.setup``."""
    blocks = python_blocks()  # README.md and docs/*.md
    found = [block for block in blocks if "fabric.setup(" in block]
    assert len(found) == 1, "the docs have one worked example with fabric.setup"
    return found[0]


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    """Every scenario's steps, from one fresh interpreter."""
    done = run_python(PROBE, _readme_block())
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _raw_under_switch(fullgraph: bool) -> str | None:
    """What raw torch's step under config.disable with a new shape raises, by release."""
    assert FACTS is not None
    # The check after a fullgraph=True call finds no compiled frame: 2.13+ raise, 2.12 warn.
    return "RuntimeError" if fullgraph and FACTS.fullgraph_check == "raise" else None


def _assert_contract(steps: list[dict[str, Any]]) -> None:
    """Compiled, then eager exactly once and silently under the switch, then compiling again."""
    first, disabled, after = steps
    assert (first["error"], first["graphs"] >= 1) == (None, True), first
    assert disabled == {"error": None, "runs": 1, "graphs": 0, "warnings": []}, disabled
    assert (after["error"], after["graphs"] >= 1) == (None, True), after


def _assert_raw_poisoned(steps: list[dict[str, Any]], fullgraph: bool) -> None:
    """Raw torch: the step under the switch marks the code skipped, so it never compiles again."""
    first, disabled, after = steps
    assert (first["error"], first["graphs"] >= 1) == (None, True), first
    assert disabled["error"] == _raw_under_switch(fullgraph), disabled
    # With fullgraph=True on 2.13+ even the step with compilation on raises "found no compiled
    # frames": the forward's code is marked "skip for good".
    assert after["error"] == _raw_under_switch(fullgraph), after
    assert after["graphs"] == 0, after


FULLGRAPH = pytest.mark.parametrize("fullgraph", [True, False], ids=["fullgraph", "graph-breaks"])

# Where the safe_compile result itself reaches the training step (its guarded forward inside).
KEPT = ["fabric-recipe", "fabric-ddp-recipe", "ddp-outside", "recompile"]


@FULLGRAPH
@pytest.mark.parametrize("composition", KEPT)
def test_guard_kept_through_framework(
    probe: dict[str, Any], composition: str, fullgraph: bool
) -> None:
    """Fabric with _reapply_compile=False, DDP around it, re-compiled by safe_compile: contract."""
    safe, raw = probe[f"{composition}/{fullgraph}/safe"], probe[f"{composition}/{fullgraph}/raw"]
    assert "OptimizedModule (guarded)" in safe["inner"], safe["inner"]
    _assert_contract(safe["steps"])
    _assert_raw_poisoned(raw["steps"], fullgraph)


@pytest.mark.parametrize(
    ("composition", "fullgraph"),
    [("fabric", True), ("fabric", False), ("fabric-ddp", False)],
)
def test_fabric_default_recompiles_with_raw_torch(
    probe: dict[str, Any], composition: str, fullgraph: bool
) -> None:
    """Fabric's default setup() re-compiles _orig_mod with torch.compile: raw torch's behaviour."""
    safe, raw = probe[f"{composition}/{fullgraph}/safe"], probe[f"{composition}/{fullgraph}/raw"]
    assert "(guarded)" not in safe["inner"]
    assert safe["inner"] == raw["inner"]
    assert "OptimizedModule" in safe["inner"], safe["inner"]
    _assert_raw_poisoned(safe["steps"], fullgraph)
    _assert_raw_poisoned(raw["steps"], fullgraph)


@pytest.mark.parametrize("composition", ["fabric-ddp", "ddp-inside"])
def test_compiling_ddp_with_fullgraph_is_unsupported(
    probe: dict[str, Any], composition: str
) -> None:
    """A compiled DDP with fullgraph=True fails on its first step, raw and safe alike (torch's)."""
    for maker in ("raw", "safe"):
        steps = probe[f"{composition}/True/{maker}"]["steps"]
        assert [s["error"] for s in steps] == ["Unsupported"], (maker, steps)


def test_safe_compile_of_ddp_keeps_the_contract(probe: dict[str, Any]) -> None:
    """safe_compile(DDP(model)) (graph breaks allowed) keeps the contract; raw torch's is marked."""
    _assert_contract(probe["ddp-inside/False/safe"]["steps"])
    _assert_raw_poisoned(probe["ddp-inside/False/raw"]["steps"], fullgraph=False)


@FULLGRAPH
def test_recompiling_orig_mod_after_the_switch_compiles(
    probe: dict[str, Any], fullgraph: bool
) -> None:
    """torch.compile(result._orig_mod) after a disabled step compiles: nothing was marked."""
    safe = probe[f"recompile-after-use/{fullgraph}/safe"]["steps"]
    raw = probe[f"recompile-after-use/{fullgraph}/raw"]["steps"]
    _assert_contract(safe)
    _assert_raw_poisoned(raw, fullgraph)


@pytest.mark.parametrize("maker", ["raw", "safe"])
def test_compiled_before_fabric_import_is_refused_by_setup(
    probe: dict[str, Any], maker: str
) -> None:
    """Compiled before Fabric's import: setup() raises Fabric's own error, raw and safe alike."""
    error = probe[f"early/{maker}"]
    assert error is not None
    assert error.startswith("RuntimeError: Failed to determine the arguments"), error


def test_readme_recipe(probe: dict[str, Any]) -> None:
    """The docs' Fabric block runs as written and keeps the contract across three steps."""
    readme = probe["readme"]
    assert "OptimizedModule (guarded)" in readme["inner"], readme["inner"]
    assert readme["steps"] == [None, None, None]
