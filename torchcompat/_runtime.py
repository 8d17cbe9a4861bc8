"""Reading torch's live off-switches without importing anything torch has not loaded yet.

Every function here looks only at modules already in ``sys.modules``: asking whether dynamo is
off must never be what imports dynamo (~1-2 s).
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "config_disable",
    "disable_reader",
    "fast_disable_reader",
    "force_eager",
    "inlines_builtin_modules",
    "strict_loose_disable",
    "switch_reader",
    "without_dynamo",
]

_CONFIG = "torch._dynamo.config"
_EVAL_FRAME = "torch._dynamo.eval_frame"


# disable_reader()'s answer for the gate, made once dynamo's config is loaded.
_reader: Callable[[], object] | None = None
# The reader disable_reader() settled on: checked once per process (the config module is never
# replaced once imported).
_checked: Callable[[], object] | None = None


def config_disable() -> object:
    """``torch._dynamo.config.disable`` as torch holds it, or ``None`` if dynamo is not loaded.

    On 2.0-2.7 this may be the raw ``TORCH_COMPILE_DISABLE`` string (``"0"`` included).
    """
    global _reader
    if _reader is None:
        if _CONFIG not in sys.modules:
            return None
        _reader = disable_reader()
    return _reader()


def disable_reader() -> Callable[[], object]:
    """A function that reads ``torch._dynamo.config.disable`` now, in the calling thread.

    The fast read where :func:`fast_disable_reader` recognises the config's shape and checks
    it, else the public one; decided once. Needs ``torch._dynamo.config`` loaded.
    """
    global _checked
    if _checked is None:
        fast = fast_disable_reader()
        if fast is None:
            config = sys.modules[_CONFIG]

            def public() -> object:
                return getattr(config, "disable", None)

            fast = public
        _checked = fast
    return _checked


def force_eager() -> bool:
    """Whether ``torch.compiler.set_stance("force_eager")`` is in effect (2.6+)."""
    eval_frame = sys.modules.get(_EVAL_FRAME)
    # set_stance rebinds the module global ``_stance``: read it through the module every time.
    stance = getattr(eval_frame, "_stance", None)
    return getattr(stance, "stance", None) == "force_eager"


def inlines_builtin_modules() -> bool:
    """Whether dynamo traces into torch's own modules rather than calling them as graph leaves.

    ``torch._dynamo.config.inline_inbuilt_nn_modules``: absent before 2.5, on by default from
    2.5, deprecated (always on) from 2.13, where reading it emits a FutureWarning that is noise
    here. Read once per in-place compile, never per call.
    """
    import warnings

    config = sys.modules.get(_CONFIG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return bool(getattr(config, "inline_inbuilt_nn_modules", False))


def strict_loose_disable() -> None:
    """Give ``torch._dynamo.config.disable`` the strict meaning that torch 2.8 gave it.

    torch 2.0-2.7 store the raw ``TORCH_COMPILE_DISABLE`` string, so ``"0"`` or ``"false"`` turn
    dynamo off. This turns a string value into ``value == "1"``, upstream's own later rule
    (pytorch/pytorch#149840), backported. A bool (set by the user) is left alone.
    """
    config = sys.modules.get(_CONFIG)
    value = getattr(config, "disable", None)
    if isinstance(value, str):
        config.disable = value == "1"  # type: ignore[union-attr]


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
        return None
    entry = entries["disable"]
    if isinstance(entry, (bool, str)):  # 2.0-2.5; 2.0-2.7 may hold the raw env string

        def read_plain() -> object:
            return entries["disable"]

        return read_plain
    unset = getattr(sys.modules.get("torch.utils._config_module"), "_UNSET_SENTINEL", None)
    if unset is None or not _entry_is_plain(config, entry, unset):
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
    if read is None or not _agrees(config, read):
        return None
    return read


def switch_reader(stance: bool) -> Callable[[], object]:
    """A function whose result is truthy while torch's runtime switches turn dynamo off.

    ``config.disable`` always; with ``stance``, the ``force_eager`` stance too (only 2.12 needs
    it: its fullgraph check also warns under that stance, which later releases skip).
    """
    read = disable_reader()
    if not stance:
        return read
    eval_frame = sys.modules[_EVAL_FRAME]

    def off() -> object:
        # set_stance rebinds the module global: read it through the module every time.
        return read() or eval_frame._stance.stance == "force_eager"

    return off


def without_dynamo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, run with dynamo's frame callback removed for the call.

    A frame entered while a compiled region's callback is installed and ``config.disable`` is
    set is marked "skip for good" by torch; running the eager original with the callback off
    leaves no such mark on it or on anything it calls. ``torch._dynamo.disable`` (2.0+; public
    as ``torch.compiler.disable`` from 2.1) does exactly that.
    """
    dynamo = sys.modules["torch._dynamo"]

    def run_eagerly(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    disabled: Callable[..., Any] = dynamo.disable(run_eagerly)
    return disabled
