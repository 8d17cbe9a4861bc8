"""The compile gate: is compilation off, and which switch says so.

Importing this module and calling the gate never imports torch, and importing it costs ``os``
alone (no ``typing``, ``functools`` or ``collections``). The environment is read on every call,
so a test's ``monkeypatch.setenv`` or a launcher's late ``os.environ[...] = "1"`` is seen.

Only the exact string ``"1"`` disables, for every variable, on every torch release, as torch
2.8+ itself parses ``TORCH_COMPILE_DISABLE``: ``"0"``, ``"true"``, ``" 1"`` and a full-width
one leave compilation on.

This module owns the switch vocabulary: :data:`ENV_SWITCHES`, :data:`RUNTIME_SWITCHES` and
:data:`UNAVAILABLE` are every ``CompileGate.switch`` there is.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from torchcompat._releases import ReleaseFacts

    _GateTuple = tuple[bool, Optional[str], Optional[str]]
else:
    _GateTuple = tuple

__all__ = [
    "ENV_SWITCHES",
    "RUNTIME_SWITCHES",
    "UNAVAILABLE",
    "CompileGate",
    "compile_gate",
    "is_compile_disabled",
    "unusable_reason",
]

#: The environment variables the gate reads, in the order it reads them (fixed for the process
#: once torch read them: no guard can undo them).
ENV_SWITCHES = ("TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE")
#: The switches torch reads per call, which can be undone at run time: a result made while one
#: is on is guarded (eager while it is on), not handed back uncompiled for good.
RUNTIME_SWITCHES = ("config.disable", "force_eager")
#: Why compilation is off when no switch is: this torch cannot compile here.
UNAVAILABLE = ("no_torch", "no_compile", "python")


class CompileGate(_GateTuple):
    """The gate's decision, immutable: a tuple ``(disabled, reason, switch)``.

    Written out by hand rather than as a NamedTuple, whose ``typing`` import would cost more
    than all of ``import torchcompat``.

    Attributes:
        disabled: whether compilation is off.
        reason: which switch turned it off, as a short sentence (``"TORCH_COMPILE_DISABLE=1"``),
            or ``None`` when compilation is on.
        switch: a stable identifier of that switch for programs: one of :data:`ENV_SWITCHES`,
            :data:`RUNTIME_SWITCHES` or :data:`UNAVAILABLE`; ``None`` when compilation is on.
    """

    __slots__ = ()

    def __new__(
        cls, disabled: bool, reason: str | None = None, switch: str | None = None
    ) -> CompileGate:
        return tuple.__new__(cls, (disabled, reason, switch))

    def __repr__(self) -> str:
        return f"CompileGate(disabled={self[0]!r}, reason={self[1]!r}, switch={self[2]!r})"

    def __getnewargs__(self) -> tuple[bool, str | None, str | None]:
        return (self[0], self[1], self[2])

    @property
    def disabled(self) -> bool:
        """Whether compilation is off."""
        return self[0]

    @property
    def reason(self) -> str | None:
        """Which switch turned it off, as a sentence; ``None`` when compilation is on."""
        return self[1]

    @property
    def switch(self) -> str | None:
        """A stable identifier of that switch; ``None`` when compilation is on."""
        return self[2]

    @property
    def unavailable(self) -> bool:
        """Whether compilation is off because this torch cannot compile here, not by a switch."""
        return self[2] in UNAVAILABLE


_ON = CompileGate(disabled=False)
# _release_gate()'s answer: fixed for the process, so decided once.
_release: list[CompileGate] = []


def compile_gate() -> CompileGate:
    """Decide whether compilation is off, and why.

    Sources, first match wins: ``TORCH_COMPILE_DISABLE=1``; ``TORCHDYNAMO_DISABLE=1``; whether
    this torch can compile on this Python at all (known from the release, without importing
    torch); then, if torch already loaded dynamo, ``torch._dynamo.config.disable`` and the
    ``force_eager`` stance. A switch this torch keeps where torchcompat cannot read it counts as
    on (with a :class:`~torchcompat.TorchCompatWarning` naming it): eager while it cannot tell.
    """
    environ = os.environ
    for name in ENV_SWITCHES:
        if environ.get(name) == "1":
            return CompileGate(True, f"{name}=1", name)
    release = _release[0] if _release else _release_gate()
    if release.disabled or "torch._dynamo" not in sys.modules:
        return release
    from torchcompat import _runtime

    disable = _runtime.config_disable()
    if disable is _runtime.UNREADABLE:
        return CompileGate(True, "torch._dynamo.config.disable cannot be read", "config.disable")
    # A string is torch 2.0-2.7's raw parse of TORCH_COMPILE_DISABLE; only "1" counts here
    # (safe_compile makes torch agree before it compiles).
    if disable is True or disable == "1":
        return CompileGate(True, "torch._dynamo.config.disable is set", "config.disable")
    stance = _runtime.force_eager()
    if stance:
        reason = (
            'torch.compiler.set_stance("force_eager") is in effect'
            if stance is True
            else "the set_stance state cannot be read"
        )
        return CompileGate(True, reason, "force_eager")
    return _ON


def _release_gate() -> CompileGate:
    # What the installed release allows on this Python.
    from torchcompat.version import installed_facts

    facts = installed_facts()
    if facts is None:
        gate = CompileGate(True, "torch is not installed", "no_torch")
    elif not facts.compile_usable:
        switch = "python" if facts.has_compile else "no_compile"
        gate = CompileGate(True, unusable_reason(facts), switch)
    else:
        gate = _ON
    _release[:] = [gate]
    return gate


def is_compile_disabled() -> bool:
    """Whether compilation is off: ``compile_gate().disabled``."""
    return compile_gate().disabled


def unusable_reason(facts: ReleaseFacts) -> str:
    """Why this torch cannot compile here, as a sentence; for a release that can, a note so."""
    from torchcompat.version import _installed_text

    # As torch writes it, as the pytest header shows it: packaging would cost every run ~4 ms.
    version = _installed_text()
    if not facts.has_compile:
        return f"torch {version} has no torch.compile (it came in 2.0)"
    if not facts.refuses_python:
        return f"torch {version}'s torch.compile can run here"
    refused = ".".join(map(str, facts.python_refused_from or ()))
    python = ".".join(map(str, facts.python))
    return (
        f"torch {version}'s torch.compile refuses Python {python} (it refuses {refused} and later)"
    )
