"""Raw torch.compile next to safe_compile, switch by switch, on the installed release.

Each switch runs in a fresh interpreter (``PROBE`` below), because torch reads
``TORCH_COMPILE_DISABLE`` once, when ``torch._dynamo.config`` is first imported, and 2.12 warns
once per process. The probe wraps a fresh function with raw ``torch.compile`` and with
``safe_compile`` (``fullgraph`` True and False), calls each twice, and records per call how often
the body ran, whether a compiled graph ran, what was raised and what was warned.

The tests state what raw torch does on this release, decided from torchcompat's own release
facts, and that safe_compile does the same thing on every release. If a new torch changes
behaviour, these tests are the ones that say so. With ``TORCHCOMPAT_PROBE_OUT`` set (tools/matrix.py
does), the raw probe results are also written there as JSON, and ``tools/compat_table.py`` builds
docs/compatibility.md from them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .conftest import FACTS, TORCH, run_python

pytestmark = pytest.mark.skipif(FACTS is None, reason="characterization needs a real torch")

# The switches. TORCH_COMPILE_DISABLE is read once, when torch._dynamo.config is imported: each
# value gets an interpreter of its own, with the variable set before torch starts. The others
# share one interpreter (torch._dynamo.reset() between cases): TORCHDYNAMO_DISABLE is read at
# every torch.compile() call, so it is set around the case; a runtime switch is flipped after
# wrapping and before the first call, then undone for a last call that shows whether the
# compiled function still compiles ("poisoned" or not).
SWITCHES = (
    "none",
    "TORCH_COMPILE_DISABLE=1",
    "TORCH_COMPILE_DISABLE=0",
    "TORCH_COMPILE_DISABLE=true",
    "TORCHDYNAMO_DISABLE=1",
    "config.disable",
    "force_eager",
)
RUNTIME_SWITCHES = ("config.disable", "force_eager")
# Interpreter -> (its environment, the switches it probes, in order).
INTERPRETERS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "shared": ({}, ("none", "TORCHDYNAMO_DISABLE=1", *RUNTIME_SWITCHES)),
    **{
        s: ({"TORCH_COMPILE_DISABLE": s.split("=")[1]}, (s,))
        for s in SWITCHES
        if s.startswith("TORCH_COMPILE_DISABLE=")
    },
}

PROBE = r'''
import json, os, sys, warnings

import torch
from torchcompat import safe_compile

counts = {}


def fresh(tag):
    # A new code object per case: torch marks code objects as skipped after a failure.
    src = (
        f"def body_{tag}(x):\n"
        f"    counts[{tag!r}] = counts.get({tag!r}, 0) + 1\n"
        f"    return x * 2 + 1\n"
    )
    namespace = {"counts": counts}
    exec(compile(src, f"<probe {tag}>", "exec"), namespace)
    return namespace[f"body_{tag}"]


class Backend:
    """Counts compiled frames and runs of compiled graphs (so "compiled" is observed)."""

    def __init__(self):
        self.frames = 0
        self.graph_runs = 0

    def __call__(self, gm, example_inputs):
        self.frames += 1

        def run(*args):
            self.graph_runs += 1
            return gm.forward(*args)

        return run


def describe(exc):
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:200]


def shown(record):
    lines = [(str(w.message).strip().splitlines() or [""])[0] for w in record]
    return [f"{w.category.__name__}: {line}"[:200] for w, line in zip(record, lines)]


def set_switch(switch, on):
    if switch == "config.disable":
        torch._dynamo.config.disable = on
    elif switch == "force_eager":
        torch.compiler.set_stance("force_eager" if on else "default")


def call(compiled, tag, backend):
    runs, frames, graphs = counts.get(tag, 0), backend.frames, backend.graph_runs
    x = torch.ones(3)
    error = ok = None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            ok = bool(torch.equal(compiled(x), x * 2 + 1))
        except Exception as exc:
            error = describe(exc)
    return {
        "runs": counts.get(tag, 0) - runs,
        "frames": backend.frames - frames,
        "graph_runs": backend.graph_runs - graphs,
        "ok": ok,
        "error": error,
        "warnings": shown(record),
    }


def case(switch, api, fullgraph):
    tag = f"{switch}_{api}_{'fullgraph' if fullgraph else 'graphbreaks'}".translate(
        {ord(c): "_" for c in "=."}
    )
    body, backend = fresh(tag), Backend()
    out = {"api": api, "fullgraph": fullgraph}
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:
        dynamo.reset()
    if switch == "force_eager" and not hasattr(getattr(torch, "compiler", None), "set_stance"):
        out["unavailable"] = "torch.compiler.set_stance came in 2.6"
        return out
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            wrap = torch.compile if api == "raw" else safe_compile
            compiled = wrap(body, fullgraph=fullgraph, backend=backend)
        except Exception as exc:
            out["wrap_error"] = describe(exc)
            compiled = None
    out["wrap_warnings"] = shown(record)
    if compiled is None:
        return out
    out["identity"] = compiled is body
    if switch in ("config.disable", "force_eager"):
        if "torch._dynamo" not in sys.modules:
            out["unavailable"] = "no torch._dynamo in this torch"
            return out
        set_switch(switch, True)
        try:
            out["calls"] = [call(compiled, tag, backend) for _ in range(2)]
        finally:
            set_switch(switch, False)
        out["after"] = call(compiled, tag, backend)
    else:
        out["calls"] = [call(compiled, tag, backend) for _ in range(2)]
    return out


def probe(switch):
    # Raw torch first: on 2.0-2.7 safe_compile makes torch's loose TORCH_COMPILE_DISABLE strict.
    cases = []
    for api in ("raw", "safe"):
        for fullgraph in (True, False):
            if switch == "TORCHDYNAMO_DISABLE=1":
                os.environ["TORCHDYNAMO_DISABLE"] = "1"
            try:
                cases.append(case(switch, api, fullgraph))
            finally:
                os.environ.pop("TORCHDYNAMO_DISABLE", None)
    return cases


print("PROBE-JSON " + json.dumps({switch: probe(switch) for switch in sys.argv[1:]}))
'''


def _probe(interpreter: str) -> dict[str, list[dict[str, Any]]]:
    extra, switches = INTERPRETERS[interpreter]
    done = run_python(PROBE, *switches, **extra)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("PROBE-JSON "))
    cases: dict[str, list[dict[str, Any]]] = json.loads(line.removeprefix("PROBE-JSON "))
    return cases


def _build() -> dict[str, Any]:
    import platform

    import torch

    return {
        "torch": torch.__version__,
        "git_version": getattr(getattr(torch, "version", None), "git_version", None),
        "cuda": getattr(getattr(torch, "version", None), "cuda", None),
        "python": platform.python_version(),
    }


@pytest.fixture(scope="module")
def probes() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Every switch probed once per session, two interpreters at a time (2 cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = {k: v for part in pool.map(_probe, INTERPRETERS) for k, v in part.items()}
    results = {switch: found[switch] for switch in SWITCHES}
    yield results
    target = os.environ.get("TORCHCOMPAT_PROBE_OUT")
    if target:
        payload = {"build": _build(), "probes": results}
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def _case(probes: dict[str, list[dict[str, Any]]], switch: str, api: str, fg: bool) -> Any:
    return next(c for c in probes[switch] if c["api"] == api and c["fullgraph"] == fg)


def kind(call: dict[str, Any]) -> str:
    """One word for a call: compiled, eager, eager+warn (no compiled frames), eager+raise."""
    no_frames = "found no compiled frames"
    if call["error"] is not None:
        assert call["runs"] == 1, f"the body ran {call['runs']} times before {call['error']}"
        return "eager+raise" if no_frames in call["error"] else f"error: {call['error']}"
    assert call["ok"], "the call returned a wrong result"
    assert call["runs"] == 1, f"the body ran {call['runs']} times in one call"
    warned = [w for w in call["warnings"] if no_frames in w]
    if call["warnings"] and not warned:
        return f"warns: {call['warnings']}"
    mode = "compiled" if call["graph_runs"] else "eager"
    return f"{mode}+warn" if warned else mode


def kinds(case: dict[str, Any]) -> list[str]:
    """The kind of each of the two calls made while the switch was set."""
    return [kind(c) for c in case["calls"]]


def _usable_or_refused(case: dict[str, Any]) -> bool:
    """False (after checking how raw torch refuses) where this torch cannot compile here."""
    assert FACTS is not None
    if not FACTS.has_compile:
        assert "AttributeError" in case["wrap_error"], case
        return False
    if FACTS.refuses_python:
        # "RuntimeError: <torch's text>": the text this release uses, from the release facts.
        refused = case["wrap_error"].removeprefix("RuntimeError: ")
        assert refused.startswith(FACTS.python_refusal_texts), case
        return False
    assert "wrap_error" not in case, case
    return True


def _assert_safe_eager_or_unusable(case: dict[str, Any], identity: bool = True) -> None:
    """safe_compile: the function itself (or torch's object), each call eager, silent."""
    assert FACTS is not None
    if not FACTS.compile_usable:
        assert case["identity"], "an unusable torch must hand back the object itself"
        # Said once per process, and only where no switch decided first.
        assert {w.split(":")[0] for w in case["wrap_warnings"]} <= {"TorchCompatWarning"}
    elif identity:
        assert case["identity"], "off at wrap time: safe_compile returns the object itself"
    assert kinds(case) == ["eager", "eager"], case


FULLGRAPH = pytest.mark.parametrize("fullgraph", [True, False], ids=["fullgraph", "graphbreaks"])


@FULLGRAPH
def test_no_switch_compiles(probes: Any, fullgraph: bool) -> None:
    """With no switch set, raw torch.compile and safe_compile both run a compiled graph."""
    raw, safe = (_case(probes, "none", api, fullgraph) for api in ("raw", "safe"))
    if not _usable_or_refused(raw):
        _assert_safe_eager_or_unusable(safe)
        # The probe wraps fullgraph=True first: that call says why, the second stays quiet.
        said = [w for w in safe["wrap_warnings"] if "uncompiled" in w]
        assert len(said) == (1 if fullgraph else 0), safe
        return
    assert kinds(raw) == ["compiled", "compiled"], f"{TORCH}: {raw}"
    assert kinds(safe) == ["compiled", "compiled"], f"{TORCH}: {safe}"


@FULLGRAPH
def test_torch_compile_disable_1(probes: Any, fullgraph: bool) -> None:
    """TORCH_COMPILE_DISABLE=1: raw fullgraph raises after the body (2.13+), warns once (2.12),
    is silently eager before; safe_compile hands back the function, eager and silent."""
    assert FACTS is not None
    raw, safe = (
        _case(probes, "TORCH_COMPILE_DISABLE=1", api, fullgraph) for api in ("raw", "safe")
    )
    _assert_safe_eager_or_unusable(safe)
    if not _usable_or_refused(raw):
        return
    check = FACTS.fullgraph_check if fullgraph else None
    expected = {
        "raise": ["eager+raise", "eager+raise"],  # every call, the result is lost
        "warn": ["eager+warn", "eager"],  # once per process
        None: ["eager", "eager"],
    }[check]
    assert kinds(raw) == expected, f"{TORCH} (fullgraph check: {check}): {raw}"


@FULLGRAPH
@pytest.mark.parametrize("value", ["0", "true"])
def test_torch_compile_disable_not_1(probes: Any, fullgraph: bool, value: str) -> None:
    """TORCH_COMPILE_DISABLE=0 or =true: raw torch turns dynamo off on 2.0-2.7 (any non-empty
    value), compiles from 2.8; safe_compile compiles on every release."""
    assert FACTS is not None
    switch = f"TORCH_COMPILE_DISABLE={value}"
    raw, safe = (_case(probes, switch, api, fullgraph) for api in ("raw", "safe"))
    if not _usable_or_refused(raw):
        _assert_safe_eager_or_unusable(safe)
        return
    expected = "eager" if FACTS.loose_env_parse else "compiled"
    assert kinds(raw) == [expected, expected], f"{TORCH} (loose parse: {FACTS.loose_env_parse})"
    assert kinds(safe) == ["compiled", "compiled"], f"{TORCH}: {safe}"


@FULLGRAPH
def test_torchdynamo_disable_1(probes: Any, fullgraph: bool) -> None:
    """TORCHDYNAMO_DISABLE=1: raw torch.compile returns the function itself (no check can fire);
    so does safe_compile."""
    raw, safe = (_case(probes, "TORCHDYNAMO_DISABLE=1", api, fullgraph) for api in ("raw", "safe"))
    _assert_safe_eager_or_unusable(safe)
    if not _usable_or_refused(raw):
        return
    assert raw["identity"], f"{TORCH}: {raw}"
    assert kinds(raw) == ["eager", "eager"], f"{TORCH}: {raw}"


def _runtime_expectation(switch: str, fullgraph: bool) -> list[str]:
    """What raw torch does on the two calls made while a runtime switch is set."""
    assert FACTS is not None
    check = FACTS.fullgraph_check if fullgraph else None
    if check == "raise" and switch == "config.disable":
        return ["eager+raise", "eager+raise"]
    # 2.12 has no stance condition: force_eager warns too; 2.13+ skip the check under it.
    if check == "warn":
        return ["eager+warn", "eager"]
    return ["eager", "eager"]


@FULLGRAPH
@pytest.mark.parametrize("switch", RUNTIME_SWITCHES)
def test_runtime_switch_after_wrapping(probes: Any, switch: str, fullgraph: bool) -> None:
    """config.disable / force_eager flipped after wrapping: raw fullgraph raises (config.disable,
    2.13+) or warns once (2.12); safe_compile runs the body eagerly and silently, and its
    result compiles again once the switch is undone."""
    assert FACTS is not None
    if not FACTS.has_compile:
        pytest.skip(f"{TORCH} has no torch._dynamo, so no runtime switch (they came in 2.0)")
    if switch == "force_eager" and not FACTS.has_set_stance:
        pytest.skip(f"{TORCH} has no torch.compiler.set_stance (it came in 2.6)")
    raw, safe = (_case(probes, switch, api, fullgraph) for api in ("raw", "safe"))
    if not _usable_or_refused(raw):
        if "calls" not in safe:
            # torch refused this Python before importing dynamo (2.5.1 on 3.13; 2.0.1 on 3.11
            # imports it first): no switch to flip, safe_compile handed back the function.
            assert "unavailable" in safe, f"{TORCH}: {safe}"
            assert safe["identity"], f"{TORCH}: {safe}"
            return
        _assert_safe_eager_or_unusable(safe)
        return
    assert kinds(raw) == _runtime_expectation(switch, fullgraph), f"{TORCH}: {raw}"
    assert kinds(safe) == ["eager", "eager"], f"{TORCH}: {safe}"
    # Nothing poisoned, on every release and for fullgraph True and False (issue 9): the
    # eager calls ran with dynamo's callback off, so the code compiles once the switch is off.
    assert kind(safe["after"]) == "compiled", f"{TORCH}: safe_compile stays eager: {safe}"


def test_probe_results_name_this_build(probes: Any) -> None:
    """Every switch was probed, four cases each, on the torch that this env installed."""
    assert set(probes) == set(SWITCHES)
    assert all(len(cases) == 4 for cases in probes.values())
    from packaging.version import Version

    # 2.0.1's wheel metadata says 2.0.1+cu117 where torch.__version__ says 2.0.1.
    assert Version(_build()["torch"]).public == Version(TORCH.removeprefix("torch ")).public
