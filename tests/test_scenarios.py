"""The runtime contract as a scenario matrix: raw torch.compile next to safe_compile.

switch (env at wrap, ``config.disable``, ``force_eager``) x timing (before wrapping, after
wrapping cold, after wrapping warm) x composition (direct, method, module, class, nested in a
compiled region, shared code, deepcopy, pickle, torch.save, wrapped again) x fullgraph, each run
by tests/scenario_probe.py in fresh interpreters, many scenarios per interpreter.

safe_compile is held to one contract on every release that can compile: while a runtime switch
is on, a call runs the original eagerly, exactly once, silently, warm or cold; once it is off,
the result, everything composed with it and a fresh wrap of the same code compile (nothing is
poisoned). With an env switch set at wrapping it hands back the object itself. Raw torch.compile
is asserted where torchcompat's release facts predict what it does, and recorded otherwise.
With ``TORCHCOMPAT_PROBE_OUT`` set, the results also go to ``<that path's stem>.scenarios.json``
for tools/compat_table.py (docs/compatibility.md).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .conftest import FACTS, TORCH, run_python
from .scenario_probe import COMPOSITIONS, ENV_SWITCHES, RUNTIME_SWITCHES, TIMINGS

pytestmark = pytest.mark.skipif(FACTS is None, reason="the scenarios need a real torch")

PROBE = Path(__file__).with_name("scenario_probe.py")
# Loaded under its own module name (not __main__), so that pickle finds the classes it makes.
LOADER = (
    "import importlib.util, sys\n"
    f"spec = importlib.util.spec_from_file_location('scenario_probe', {str(PROBE)!r})\n"
    "probe = importlib.util.module_from_spec(spec)\n"
    "sys.modules['scenario_probe'] = probe\n"
    "spec.loader.exec_module(probe)\n"
    "probe.main()\n"
)
COPIES = ("deepcopy", "pickle", "torch.save")
NO_FRAMES = "found no compiled frames"

Key = tuple[str, str, str, bool]  # switch, timing, composition, fullgraph
CELLS: list[Key] = [
    *(
        (s, t, c, fg)
        for s, t, c, fg in itertools.product(RUNTIME_SWITCHES, TIMINGS, COMPOSITIONS, (True, False))
    ),
    *(
        (s, "before", c, fg)
        for s, c, fg in itertools.product(ENV_SWITCHES, COMPOSITIONS, (True, False))
    ),
]


def _specs(switches: tuple[str, ...]) -> list[list[Any]]:
    return [[*cell, api] for cell in CELLS if cell[0] in switches for api in ("raw", "safe")]


# Interpreter -> (its environment, its scenarios). TORCH_COMPILE_DISABLE is read once, when
# torch._dynamo.config is imported: its scenarios get an interpreter of their own. The other
# switches are set and undone by the probe; they share two interpreters (2 cores).
GROUPS: dict[str, tuple[dict[str, str], list[list[Any]]]] = {
    "config.disable": ({}, _specs(("config.disable", "TORCHDYNAMO_DISABLE=1"))),
    "force_eager": ({}, _specs(("force_eager",))),
    "TORCH_COMPILE_DISABLE=1": ({"TORCH_COMPILE_DISABLE": "1"}, _specs(ENV_SWITCHES[:1])),
}


def _probe(group: str) -> list[dict[str, Any]]:
    env, specs = GROUPS[group]
    done = run_python(LOADER, json.dumps(specs), **env)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("PROBE-JSON "))
    found: list[dict[str, Any]] = json.loads(line.removeprefix("PROBE-JSON "))
    return found


@pytest.fixture(scope="module")
def results() -> Iterator[dict[tuple[Any, ...], dict[str, Any]]]:
    """Every scenario, raw and safe, run once per session, two interpreters at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = [r for part in pool.map(_probe, GROUPS) for r in part]
    yield {(r["switch"], r["timing"], r["composition"], r["fullgraph"], r["api"]): r for r in found}
    target = os.environ.get("TORCHCOMPAT_PROBE_OUT")
    if target:
        out = Path(target).with_suffix(".scenarios.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"torch": TORCH, "scenarios": found}) + "\n", encoding="utf-8")


def kind(call: dict[str, Any]) -> str:
    """One word for a call: compiled, eager, eager+warn, eager+raise, or what went wrong."""
    if "wrap_error" in call:
        return f"wrap error: {call['wrap_error']}"
    if call["error"] is not None:
        if NO_FRAMES in call["error"] and call["runs"] == 1:
            return "eager+raise"
        return f"error after {call['runs']} runs: {call['error']}"
    if call["runs"] != 1 or not call["ok"]:
        return f"ran {call['runs']} times, result {'right' if call['ok'] else 'wrong'}"
    warned = [w for w in call["warnings"] if NO_FRAMES in w]
    if call["warnings"] and not warned:
        return f"warns: {call['warnings']}"
    mode = "compiled" if call["graph_runs"] else "eager"
    return f"{mode}+warn" if warned else mode


def _where(cell: Key, api: str) -> str:
    switch, timing, comp, fullgraph = cell
    who = "torch.compile" if api == "raw" else "safe_compile"
    return f"{TORCH}, {who}, {switch} {timing}, {comp}, fullgraph={fullgraph}"


def _kinds(case: dict[str, Any], part: str) -> Any:
    if part == "after":
        return {name: kind(c) for name, c in case.get("after", {}).items()}
    return [kind(c) for c in case.get(part, [])]


def _id(cell: Key) -> str:
    return f"{cell[0]}-{cell[1]}-{cell[2]}-{'fullgraph' if cell[3] else 'graphbreaks'}"


# ---------------------------------------------------------------------------------------------
# safe_compile: one contract


def _safe_expected(cell: Key, raw: dict[str, Any]) -> dict[str, Any]:
    """What safe_compile must do in ``cell`` on this release (raw: raw torch in the same cell)."""
    assert FACTS is not None
    switch, _timing, comp, _ = cell
    n_under = 2
    if not FACTS.compile_usable or switch in ENV_SWITCHES:
        # Nothing compiles: the object itself, every call eager; torch.compile(...) around it
        # (raw-outer) does what raw torch does.
        usable_outer = comp == "raw-outer" and FACTS.compile_usable
        under = _kinds(raw, "calls") if usable_outer else ["eager"] * n_under
        after = {} if switch in ENV_SWITCHES else "eager"
        return {"identity": True, "warmup": "eager", "calls": under, "after": after}
    if comp == "raw-outer":
        # Raw torch.compile around safe_compile's result is torch's own: it does what the same
        # nesting of raw torch.compile does (skip marks included), and wraps without an error.
        return {"calls": _kinds(raw, "calls"), "after": _kinds(raw, "after"), "warmup": "compiled"}
    # Nested in a compiled region that torch still runs compiled (its cache is warm): the body
    # ran inside that graph.
    under: Any = ["eager"] * n_under
    if comp == "nested":
        under = [{"eager", "compiled"}] * n_under
    return {"calls": under, "after": "compiled", "warmup": "compiled"}


@pytest.mark.parametrize("cell", CELLS, ids=[_id(c) for c in CELLS])
def test_safe_compile_contract(results: Any, cell: Key) -> None:
    """safe_compile: eager once and silent under any switch, compiles again once it is off."""
    assert FACTS is not None
    safe, raw = results[(*cell, "safe")], results[(*cell, "raw")]
    where = _where(cell, "safe")
    if "unavailable" in safe:
        pytest.skip(f"{TORCH}: {safe['unavailable']}")
    assert "wrap_error" not in safe, f"{where}: raises when wrapping: {safe['wrap_error']}"
    # A torch that cannot compile here says so once per process (a TorchCompatWarning), and only
    # where no switch decided first; nothing else warns when wrapping.
    allowed = set() if FACTS.compile_usable else {"TorchCompatWarning"}
    wrap_warnings = {w.split(":")[0] for w in safe["wrap_warnings"]}
    assert wrap_warnings <= allowed, f"{where}: warns when wrapping: {safe['wrap_warnings']}"
    expected = _safe_expected(cell, raw)
    if expected.get("identity"):
        assert safe["identity"], f"{where}: does not hand back the object itself"
    for call in safe.get("warmup", []):
        assert kind(call) == expected["warmup"], f"{where}: warm-up call: {call}"
    calls = _kinds(safe, "calls")
    for got, want in zip(calls, expected["calls"]):
        ok = got in want if isinstance(want, set) else got == want
        assert ok, f"{where}: under the switch {calls}, expected {expected['calls']}: {safe}"
    after = _kinds(safe, "after")
    want_after = expected["after"]
    if isinstance(want_after, str):
        want_after = dict.fromkeys(after, want_after)
    for name, want in want_after.items():
        assert after.get(name) == want, (
            f"{where}: after the switch is off, {name}: {after.get(name)}, expected {want} "
            f"(all: {after})"
        )
    if cell[2] in COPIES:
        assert safe["own_weights"], f"{where}: the copy shares weights with the original"


def test_every_scenario_ran(results: Any) -> None:
    """Every cell was probed for both APIs, on the torch that this env installed."""
    assert set(results) == {(*cell, api) for cell in CELLS for api in ("raw", "safe")}


# ---------------------------------------------------------------------------------------------
# raw torch.compile: what the release facts predict


def _through_fullgraph(cell: Key, part: str) -> list[bool] | dict[str, bool]:
    """Which calls of ``part`` go through a fullgraph=True wrapper of torch's own."""
    _, _, comp, fullgraph = cell
    if part == "calls":
        if comp == "shared":  # the fullgraph=(not fullgraph) twin first, then the result
            return [not fullgraph, fullgraph]
        # torch rebuilds a copied OptimizedModule through __init__ and drops fullgraph.
        return [False, False] if comp in COPIES else [fullgraph, fullgraph]
    # The checks after the switch: the result again, a fresh wrap of the same code, and what
    # the composition adds (the twin, the inner result, the original of a copy).
    checks = {"again": fullgraph and comp not in COPIES, "fresh": fullgraph}
    if comp == "shared":
        checks["other"] = not fullgraph
    elif comp == "nested":
        checks["result"] = fullgraph
    elif comp in COPIES:
        checks["original"] = fullgraph
    return checks


def _no_frames(cell: Key, through: bool, warned: list[bool]) -> str | None:
    """A call that compiled nothing: what the no-compiled-frames check makes of it."""
    assert FACTS is not None
    check = FACTS.fullgraph_check if through else None
    if check == "raise" and cell[0] != "force_eager":  # 2.13+: not under a non-default stance
        return "eager+raise"
    if check == "warn":  # 2.12: once per process (the probe forgets it between scenarios)
        first = not warned
        warned.append(True)
        return "eager+warn" if first else "eager"
    return "eager"


def _raw_expected(cell: Key) -> dict[str, Any] | None:
    """What raw torch.compile does in ``cell`` on this release, or None where the facts in
    torchcompat/_releases.py do not say."""
    assert FACTS is not None
    switch, timing, comp, _ = cell
    if not FACTS.compile_usable:
        # No torch.compile (AttributeError), or this release's refusal of this Python.
        refusal = tuple(f"RuntimeError: {text}" for text in FACTS.python_refusal_texts)
        return {"wrap_error": refusal or ("AttributeError",)}
    if switch == "TORCHDYNAMO_DISABLE=1":  # torch.compile hands back its input
        return {"identity": True, "calls": ["eager", "eager"]}
    warm_cache = switch == "config.disable" and timing == "warm"
    if comp in ("class", "pickle", "torch.save") or (warm_cache and comp in COPIES):
        # Not in the release facts: torch.compile(cls) raises on 2.1 ("optimize is called on a
        # non function object"), an OptimizedModule does not pickle there (a local function in
        # its context), and whether a copy reuses the original's cache varies.
        return None
    warned: list[bool] = []
    through = _through_fullgraph(cell, "calls")
    assert isinstance(through, list)
    calls = ["compiled"] * 2 if warm_cache else [_no_frames(cell, t, warned) for t in through]
    after: str | dict[str, str | None] = {}  # env switches: nothing to undo
    if switch == "force_eager" or warm_cache:
        after = "compiled"
    elif switch == "config.disable" and FACTS.fullgraph_check != "warn":
        # config.disable reached torch's frame callback with nothing compiled: torch marked the
        # body's code "skip for good", on every release. (2.12 may warn about it again or not.)
        after_through = _through_fullgraph(cell, "after")
        assert isinstance(after_through, dict)
        after = {k: _no_frames(cell, t, [True]) for k, t in after_through.items()}
    return {"calls": calls, "after": after}


@pytest.mark.parametrize("cell", CELLS, ids=[_id(c) for c in CELLS])
def test_raw_torch_compile_as_the_facts_say(results: Any, cell: Key) -> None:
    """Raw torch.compile: raises (2.13+) or warns (2.12) where fullgraph finds nothing compiled,
    leaves code poisoned after config.disable, runs a warm cache under it: as _releases says."""
    raw = results[(*cell, "raw")]
    where = _where(cell, "raw")
    if "unavailable" in raw:
        pytest.skip(f"{TORCH}: {raw['unavailable']}")
    expected = _raw_expected(cell)
    if expected is None:
        pytest.skip(f"{where}: the release facts do not predict it; recorded in the table only")
    if "wrap_error" in expected:
        assert raw.get("wrap_error", "").startswith(expected["wrap_error"]), f"{where}: {raw}"
        return
    assert "wrap_error" not in raw, f"{where}: raises when wrapping: {raw['wrap_error']}"
    if expected.get("identity"):
        assert raw["identity"], f"{where}: does not hand back the object itself"
    for call in raw.get("warmup", []):
        assert kind(call) == "compiled", f"{where}: warm-up call: {call}"
    calls = _kinds(raw, "calls")
    assert calls == expected["calls"], f"{where}: under the switch {calls}: {raw}"
    after = _kinds(raw, "after")
    want_after = expected.get("after", {})
    if isinstance(want_after, str):
        want_after = dict.fromkeys(after, want_after)
    for name, want in want_after.items():
        assert after.get(name) == want, f"{where}: after the switch, {name}: {after}"
