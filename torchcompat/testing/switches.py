"""Turning compilation off for a block through each switch, and putting every switch back.

The switches: ``TORCH_COMPILE_DISABLE`` in the environment, ``torch._dynamo.config.disable``
and the ``force_eager`` stance (2.6+). Every one is restored for every thread, whatever the
block imported.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from torchcompat._config_read import disable_entry
from torchcompat.gate import CompileGate, compile_gate
from torchcompat.testing.reset import reset_compilation, reset_dynamo
from torchcompat.version import installed_facts, torch_version

__all__ = ["SWITCHES", "disable_compilation"]

#: The switches :func:`disable_compilation` can turn: the ``TORCH_COMPILE_DISABLE`` environment
#: variable, the runtime ``torch._dynamo.config.disable``, and the ``force_eager`` stance (2.6+).
SWITCHES = ("env", "config", "stance")

_TCD = "TORCH_COMPILE_DISABLE"


def _torch_own_disable() -> object:
    """What torch itself sets ``torch._dynamo.config.disable`` to, for the environment now."""
    facts = installed_facts()
    value = os.environ.get(_TCD)
    if facts is not None and facts.loose_env_parse:
        # torch 2.0-2.7: ``os.environ.get("TORCH_COMPILE_DISABLE", False)``, the raw string.
        return value if value is not None else False
    return value == "1"


def _load_dynamo(switch: str) -> Any:
    """``torch._dynamo``, imported if need be, for a switch that only exists there."""
    facts = installed_facts()
    if facts is None:
        raise RuntimeError(f"disable_compilation({switch!r}): torch is not installed")
    if not facts.compile_usable:
        raise RuntimeError(
            f"disable_compilation({switch!r}): torch {torch_version()} cannot compile here "
            f"({compile_gate().reason}), so it has no {switch} switch to turn"
        )
    import torch._dynamo

    return torch._dynamo


def _give_torch_its_own_default(config: Any) -> None:
    """Make ``config.disable`` what torch would have read without the block, in every thread."""
    value = _torch_own_disable()
    entry = disable_entry(config)
    if entry is None:
        config.disable = value  # before 2.12: one value for all threads
        return
    # 2.12+: the default is what threads without an override of their own read. torch read
    # TORCH_COMPILE_DISABLE=1 into it when dynamo was first imported in the block; a plain
    # ``config.disable = ...`` would fix the calling thread only.
    # (torchcompat's own reader of config.disable reads the default live: it sees this too.)
    entry.default = value


@contextlib.contextmanager
def _env_disabled(dynamo_was_loaded: bool) -> Iterator[None]:
    before = os.environ.get(_TCD)
    os.environ[_TCD] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_TCD, None)
        else:
            os.environ[_TCD] = before
        config = sys.modules.get("torch._dynamo.config")
        if config is not None and not dynamo_was_loaded:
            # torch read TORCH_COMPILE_DISABLE=1 when dynamo was first imported in the block, and
            # never reads it again: give it the value it would have read without the block.
            _give_torch_its_own_default(config)


@contextlib.contextmanager
def _config_disabled(dynamo: Any) -> Iterator[None]:
    config = dynamo.config
    entry = disable_entry(config)
    # 2.12+: the calling thread's own override, or torch's "none" marker (then the thread reads
    # the shared default, which may change later: it must not be pinned to today's value).
    override = entry.user_override.get() if entry is not None else None
    before = config.disable
    config.disable = True
    try:
        yield
    finally:
        config.disable = before
        if entry is not None:
            entry.user_override.set(override)


@contextlib.contextmanager
def disable_compilation(*switches: str, reset: bool = True) -> Iterator[CompileGate]:
    """Turn compilation off for the block, through each switch, and put everything back after.

    ``switches`` (default: all of :data:`SWITCHES`):

    - ``"env"``: ``TORCH_COMPILE_DISABLE=1`` in ``os.environ``. torchcompat's gate and
      ``safe_compile`` see it at once; torch reads it only when ``torch._dynamo`` is first
      imported, so where that happens in the block, ``torch._dynamo.config.disable`` is given
      back the value torch would have read without the block when it ends.
    - ``"config"``: ``torch._dynamo.config.disable = True``. With ``"env"`` as well it is set
      only if ``torch._dynamo`` is loaded already (else the variable does it); alone, it imports
      ``torch._dynamo``. On torch 2.12+ this value is per thread, as torch keeps it.
    - ``"stance"``: ``torch.compiler.set_stance("force_eager")`` (torch 2.6+), process-wide.
      With ``"env"`` it is set only if ``torch._dynamo`` is loaded already, and skipped on
      releases without stances; alone, it needs them.

    Each switch is restored in a ``finally``, so blocks nest and an exception changes nothing.
    With ``reset`` (the default) ``torch._dynamo.reset()`` runs, where dynamo is loaded, when the
    block starts (code compiled before would otherwise keep running compiled) and when it ends
    (:func:`reset_compilation`, so that the next test compiles afresh: before torch 2.11,
    compiled code that ran while ``config.disable`` was set stays marked as skipped for good
    otherwise).

    Yields:
        The :class:`~torchcompat.CompileGate` in the block (``disabled`` is True).

    Raises:
        ValueError: an unknown switch name.
        RuntimeError: a switch asked for alone that this torch lacks (``"config"`` where torch
            cannot compile, ``"stance"`` before 2.6).

    Example::

        with disable_compilation() as gate:
            assert gate.disabled and safe_compile(model) is model
    """
    unknown = [name for name in switches if name not in SWITCHES]
    if unknown:
        raise ValueError(
            f"disable_compilation(): unknown switch {unknown[0]!r}; the switches are "
            f"{', '.join(map(repr, SWITCHES))}"
        )
    chosen = set(switches) if switches else set(SWITCHES)
    facts = installed_facts()
    dynamo_loaded = "torch._dynamo.config" in sys.modules
    dynamo: Any = sys.modules.get("torch._dynamo") if dynamo_loaded else None
    with contextlib.ExitStack() as stack:
        if reset:
            # Compiled code that dynamo cached keeps running whatever the switches say (a warm
            # entry whose guards pass), so empty the caches first; and running compiled code
            # while dynamo is off can mark it as skipped for good, so leave a clean state too.
            reset_dynamo()
            # Registered first, so it runs last, after every switch is back.
            stack.callback(reset_compilation)
        if "env" in chosen:
            stack.enter_context(_env_disabled(dynamo_loaded))
        if "config" in chosen and (dynamo is not None or "env" not in chosen):
            stack.enter_context(_config_disabled(dynamo or _load_dynamo("config")))
        if "stance" in chosen:
            has_stance = facts is not None and facts.has_set_stance
            if "env" not in chosen and not has_stance:
                raise RuntimeError(
                    f"disable_compilation('stance'): torch {torch_version()} has no "
                    "torch.compiler.set_stance (it came in 2.6)"
                )
            if has_stance and (dynamo is not None or "env" not in chosen):
                if dynamo is None:
                    _load_dynamo("stance")
                import torch

                stack.enter_context(torch.compiler.set_stance("force_eager"))
        yield compile_gate()
