"""The compile gate: is compilation off, and which switch says so.

Importing this module and calling the gate never imports torch. The environment is read on every
call, so a test's ``monkeypatch.setenv`` or a launcher's late ``os.environ[...] = "1"`` is seen.

Only the exact string ``"1"`` disables, for every variable, on every torch release, as torch
2.8+ itself parses ``TORCH_COMPILE_DISABLE``: ``"0"``, ``"true"``, ``" 1"`` and a full-width
one leave compilation on.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import NamedTuple

from torchcompat import _runtime
from torchcompat._releases import ReleaseFacts
from torchcompat.version import installed_facts, torch_version

__all__ = ["ENV_SWITCHES", "CompileGate", "compile_gate", "is_compile_disabled", "unusable_reason"]

#: The environment variables the gate reads, in the order it reads them.
ENV_SWITCHES = ("TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE")


class CompileGate(NamedTuple):
    """The gate's decision, immutable (a NamedTuple: dataclasses cost ~8 ms to import).

    Attributes:
        disabled: whether compilation is off.
        reason: which switch turned it off, as a short sentence (``"TORCH_COMPILE_DISABLE=1"``),
            or ``None`` when compilation is on.
        switch: a stable identifier of that switch for programs: ``"TORCH_COMPILE_DISABLE"``,
            ``"TORCHDYNAMO_DISABLE"``, ``"config.disable"``, ``"force_eager"``,
            ``"no_torch"``, ``"no_compile"``, ``"python"``; ``None`` when compilation is on.
    """

    disabled: bool
    reason: str | None = None
    switch: str | None = None

    @property
    def unavailable(self) -> bool:
        """Whether compilation is off because this torch cannot compile here, not by a switch."""
        return self.switch in ("no_torch", "no_compile", "python")


_ON = CompileGate(disabled=False)


def compile_gate() -> CompileGate:
    """Decide whether compilation is off, and why.

    Sources, first match wins: ``TORCH_COMPILE_DISABLE=1``; ``TORCHDYNAMO_DISABLE=1``; if torch
    already loaded dynamo, ``torch._dynamo.config.disable``; if loaded, the ``force_eager``
    stance; then whether this torch can compile on this Python at all (known from the release,
    without importing torch).
    """
    environ = os.environ
    for name in ENV_SWITCHES:
        if environ.get(name) == "1":
            return CompileGate(True, f"{name}=1", name)
    if "torch" in sys.modules:
        disable = _runtime.config_disable()
        # A string is torch 2.0-2.7's raw parse of TORCH_COMPILE_DISABLE; only "1" counts here
        # (safe_compile makes torch agree before it compiles).
        if disable is True or disable == "1":
            return CompileGate(True, "torch._dynamo.config.disable is set", "config.disable")
        if _runtime.force_eager():
            return CompileGate(
                True, 'torch.compiler.set_stance("force_eager") is in effect', "force_eager"
            )
    return _release_gate()


@functools.lru_cache(maxsize=1)
def _release_gate() -> CompileGate:
    # What the installed release allows on this Python: fixed for the process, so decided once.
    facts = installed_facts()
    if facts is None:
        return CompileGate(True, "torch is not installed", "no_torch")
    if not facts.compile_usable:
        switch = "python" if facts.has_compile else "no_compile"
        return CompileGate(True, unusable_reason(facts), switch)
    return _ON


def is_compile_disabled() -> bool:
    """Whether compilation is off: ``compile_gate().disabled``."""
    return compile_gate().disabled


def unusable_reason(facts: ReleaseFacts) -> str:
    """Why this torch cannot compile here, as a sentence; for a release that can, a note so."""
    version = torch_version()
    if not facts.has_compile:
        return f"torch {version} has no torch.compile (it came in 2.0)"
    if not facts.refuses_python:
        return f"torch {version}'s torch.compile can run here"
    refused = ".".join(map(str, facts.python_refused_from or ()))
    python = ".".join(map(str, facts.python))
    return (
        f"torch {version}'s torch.compile refuses Python {python} (it refuses {refused} and later)"
    )
