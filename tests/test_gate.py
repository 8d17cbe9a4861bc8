"""The gate: only the exact string "1" disables; which switch decides; no torch import."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from torchcompat import CompileGate, compile_gate, is_compile_disabled
from torchcompat.gate import ENV_SWITCHES

from .conftest import FACTS, needs_compile, needs_dynamo, run_python

# What an environment can hold: any text but NUL and lone surrogates.
_env_chars = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
# Weighted toward what people actually type, plus everything else Hypothesis finds.
flag_values = st.one_of(
    st.sampled_from(
        [
            "0",
            "",
            " 1",
            "1 ",
            "01",
            "1.0",
            "true",
            "True",
            "yes",
            "on",
            "\uff11",
            "\u0661",
            "1\n",
            "\t1",
            "+1",
            "I",
            "l",
        ]
    ),
    st.text(alphabet=_env_chars),
    st.text(alphabet=st.characters(whitelist_categories=["Nd", "Zs"])),
)
FUZZ = settings(max_examples=5_000)


@pytest.mark.parametrize("name", ENV_SWITCHES)
@FUZZ
@given(value=flag_values)
@example(value="1")
def test_only_the_string_1_disables(name: str, value: str) -> None:
    """An env switch disables for exactly "1"; any other text leaves compilation to the rest."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv(name, value)
        gate = compile_gate()
        if value == "1":
            assert gate == CompileGate(True, f"{name}=1", name)
        else:
            assert gate.switch != name
            assert gate == _gate_without_env()
    finally:
        mp.undo()


def _gate_without_env() -> CompileGate:
    mp = pytest.MonkeyPatch()
    try:
        for name in ENV_SWITCHES:
            mp.delenv(name, raising=False)
        return compile_gate()
    finally:
        mp.undo()


def test_env_is_read_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A late ``os.environ[...] = "1"`` is seen by the next call, and so is its removal."""
    before = compile_gate()
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    assert is_compile_disabled()
    monkeypatch.delenv("TORCH_COMPILE_DISABLE")
    assert compile_gate() == before


def test_torch_compile_disable_is_read_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """With both variables set, the reason names TORCH_COMPILE_DISABLE."""
    monkeypatch.setenv("TORCHDYNAMO_DISABLE", "1")
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    assert compile_gate().reason == "TORCH_COMPILE_DISABLE=1"
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "0")
    assert compile_gate().reason == "TORCHDYNAMO_DISABLE=1"


def test_gate_is_frozen() -> None:
    """A decision cannot be changed after the fact."""
    gate = compile_gate()
    with pytest.raises(AttributeError):
        gate.disabled = not gate.disabled  # type: ignore[misc]


@needs_compile
def test_on_when_nothing_says_off() -> None:
    """Where this torch can compile and no switch is set, the gate is on with no reason."""
    assert compile_gate() == CompileGate(False, None, None)


@needs_compile
def test_runtime_config_disable_is_seen(dynamo: object) -> None:
    """``torch._dynamo.config.disable = True`` turns the gate off while it is set.

    Only where this torch can compile here: elsewhere the release decides first (2.0 on 3.11).
    """
    from torch._dynamo import config

    config.disable = True
    gate = compile_gate()
    assert gate.disabled
    assert gate.switch == "config.disable"
    assert "torch._dynamo.config.disable" in (gate.reason or "")
    config.disable = False
    assert compile_gate().switch != "config.disable"


@needs_compile
@pytest.mark.skipif(
    FACTS is None or not FACTS.has_set_stance, reason="torch.compiler.set_stance came in 2.6"
)
def test_force_eager_stance_is_seen(dynamo: object) -> None:
    """Under ``set_stance("force_eager")`` the gate is off and names the stance."""
    import torch

    with torch.compiler.set_stance("force_eager"):
        gate = compile_gate()
        assert (gate.disabled, gate.switch) == (True, "force_eager")
        assert "force_eager" in (gate.reason or "")
    assert compile_gate().switch != "force_eager"


@pytest.mark.skipif(
    FACTS is None or FACTS.compile_usable,
    reason="only where this torch cannot compile on this Python (1.13; 2.0 on 3.11)",
)
def test_unusable_torch_is_reported() -> None:
    """1.13 (no torch.compile) and 2.0 on Python 3.11 (refused) read as off, with why."""
    gate = compile_gate()
    assert gate.disabled
    assert gate.unavailable
    expected = "has no torch.compile" if not FACTS.has_compile else "refuses Python"  # type: ignore[union-attr]
    assert expected in (gate.reason or "")


def test_gate_never_imports_torch() -> None:
    """Importing torchcompat and asking the gate, with each switch, leaves torch unimported."""
    code = (
        "import sys, torchcompat\n"
        "g = torchcompat.compile_gate(); torchcompat.is_compile_disabled()\n"
        "torchcompat.torch_version(); torchcompat.torch_at_least('2.0')\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
        "print(g.reason)\n"
    )
    assert run_python(code).returncode == 0
    assert run_python(code, TORCH_COMPILE_DISABLE="1").stdout.strip() == "TORCH_COMPILE_DISABLE=1"


def test_gate_reads_nothing_torch_has_not_loaded() -> None:
    """With torch imported, asking the gate loads no torch module (dynamo above all)."""
    if FACTS is None:
        pytest.skip("torch is not installed")
    code = (
        "import sys, torch, torchcompat\n"
        "before = set(sys.modules)\n"
        "torchcompat.compile_gate()\n"
        "added = sorted(m for m in set(sys.modules) - before if m.split('.')[0] == 'torch')\n"
        "assert not added, added\n"
    )
    run_python(code)


@needs_dynamo
def test_an_unusable_release_is_decided_before_the_runtime_switches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a release that cannot compile here the gate says so, not config.disable."""
    import torch._dynamo

    from torchcompat import gate

    unusable = gate.CompileGate(True, "torch x's torch.compile refuses Python y", "python")
    monkeypatch.setattr(gate, "_release", [unusable])
    # Not monkeypatch.setattr: its undo deletes an attribute the module's __dict__ lacks, and
    # deleting a torch config entry hides it for the rest of the process.
    torch._dynamo.config.disable = True
    try:
        assert compile_gate() == unusable
    finally:
        torch._dynamo.config.disable = False


@pytest.mark.parametrize(
    "gate_tuple",
    [CompileGate(False), CompileGate(True, "TORCH_COMPILE_DISABLE=1", "TORCH_COMPILE_DISABLE")],
)
def test_the_gate_is_a_tuple_of_its_fields(gate_tuple: CompileGate) -> None:
    """CompileGate unpacks, compares, pickles and prints as (disabled, reason, switch)."""
    import pickle

    disabled, reason, switch = gate_tuple
    assert (gate_tuple.disabled, gate_tuple.reason, gate_tuple.switch) == (disabled, reason, switch)
    assert pickle.loads(pickle.dumps(gate_tuple)) == gate_tuple
    assert type(pickle.loads(pickle.dumps(gate_tuple))) is CompileGate
    assert repr(gate_tuple).startswith("CompileGate(disabled=")
