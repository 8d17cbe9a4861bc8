"""The one reader of how torch stores ``torch._dynamo.config.disable``, for a ~50 ns read.

The public read (``config.disable``) goes through ``ConfigModule.__getattr__`` (~2 us), too
slow for a guard on every call. Here the entry's storage shape is recognised (each shape a
released torch used), and the direct read is checked against the public one before it is
trusted; a shape no release used is said aloud (``_internals.report_absent``) and the public
read is kept. Looks only at modules already in ``sys.modules``.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from typing import Any

from torchcompat import _internals

__all__ = ["disable_entry", "fast_disable_reader"]

_CONFIG = "torch._dynamo.config"


def disable_entry(config: Any) -> Any:
    """The config entry of ``disable`` where its value is kept per thread (torch 2.12+), or None.

    There the config holds a ``ContextVar`` of user overrides over one default, read from
    ``TORCH_COMPILE_DISABLE`` at import: setting ``config.disable`` changes the calling thread
    only, and the default is what every other thread reads. Before 2.12 a plain value is shared.
    The one reader of the entry's shape outside the fast read (the testing kit's switches use it).
    """
    entries = getattr(config, "_config", None)
    entry = entries.get("disable") if isinstance(entries, dict) else None
    var = getattr(entry, "user_override", None)
    if isinstance(var, contextvars.ContextVar) and hasattr(entry, "default"):
        return entry
    return None


def _entry_is_plain(config: Any, entry: Any, unset: object) -> bool:
    """Whether ``entry``'s value is its user override over a plain bool default, nothing else.

    Every layer torch has put in front of the override (an alias, a forced or default env value,
    a JustKnob, 2.15's implications) makes the answer ``False``, and the public read is used.
    """
    implications = getattr(config, "_implications", None)
    return (
        getattr(entry, "alias", None) is None
        and getattr(entry, "justknob", None) is None
        and getattr(entry, "env_value_force", unset) is unset
        and getattr(entry, "env_value_default", unset) is unset
        and isinstance(getattr(entry, "default", None), bool)
        and not (isinstance(implications, dict) and "disable" in implications)
    )


def _shaped_reader(config: Any) -> Callable[[], object] | None:
    """A direct read of ``config.disable`` for the storage shapes released torch uses, or None.

    - torch 2.0-2.5: the config module keeps plain values in a ``_config`` dict.
    - torch 2.6-2.11: a ``_ConfigEntry`` per name, the user's value in ``user_override``.
    - torch 2.12+: the same, with ``user_override`` a ``ContextVar`` (per thread).
    """
    entries = getattr(config, "_config", None)
    if not isinstance(entries, dict) or "disable" not in entries:
        _unknown_shape("no _config dict holding 'disable'")
        return None
    entry = entries["disable"]
    if isinstance(entry, (bool, str)):  # 2.0-2.5; 2.0-2.7 may hold the raw env string

        def read_plain() -> object:
            return entries["disable"]

        return read_plain
    if not (hasattr(entry, "user_override") and hasattr(entry, "default")):
        _unknown_shape(f"its entry is a {type(entry).__name__} without user_override/default")
        return None
    unset = _internals.resolve("torch.utils._config_module._UNSET_SENTINEL")
    if not unset or not _entry_is_plain(config, entry, unset):
        return None
    override = getattr(entry, "user_override", None)
    if isinstance(override, contextvars.ContextVar):
        get = override.get

        def read_var() -> object:
            value = get(unset)
            return entry.default if value is unset else value

        return read_var

    def read_entry() -> object:
        value = entry.user_override
        return entry.default if value is unset else value

    return read_entry


def _agrees(config: Any, read: Callable[[], object]) -> bool:
    """Whether ``read`` says what the public ``config.disable`` says, now and when flipped.

    Flipping is only done where it cannot be seen outside this check: where overrides live in a
    ``ContextVar`` (2.12+, and the shape any later torch most likely keeps), inside a copy of
    the current context. On older shapes, released and frozen, the value now is compared.
    """

    def public() -> object:
        return getattr(config, "disable", None)

    if bool(read()) != bool(public()):
        return False
    entry = config._config["disable"]
    if not isinstance(getattr(entry, "user_override", None), contextvars.ContextVar):
        return True

    def flipped() -> bool:
        for value in (True, False):
            config.disable = value
            if bool(read()) is not value or bool(public()) is not value:
                return False
        return True

    try:
        return contextvars.copy_context().run(flipped)
    except Exception:  # a config that refuses the write: trust nothing but the public read
        return False


def fast_disable_reader() -> Callable[[], object] | None:
    """A read of ``torch._dynamo.config.disable`` in ~50-100 ns instead of ~2 us, or ``None``.

    The public read goes through ``ConfigModule.__getattr__``. Where the entry is stored in a
    shape torch has used (see :func:`_shaped_reader`) *and* the direct read agrees with the
    public one (checked once, see :func:`_agrees`), returns that read; otherwise ``None`` and
    callers use the public read. A torch that adds a layer the check does not know fails the
    check rather than being read as "on".
    """
    config = sys.modules.get(_CONFIG)
    read = _shaped_reader(config) if config is not None else None
    if read is None:
        return None
    if not _agrees(config, read):
        _unknown_shape("its direct read disagrees with the public one")
        return None
    return read


def _unknown_shape(detail: str) -> None:
    """Say that config.disable is stored in a shape no released torch used (the public read)."""
    _internals.report_absent("torch._dynamo.config._config", f"storage shape: {detail}")
