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
]

_CONFIG = "torch._dynamo.config"
_EVAL_FRAME = "torch._dynamo.eval_frame"


# disable_reader()'s answer for the gate, made once dynamo's config is loaded.
_reader: Callable[[], object] | None = None


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

    The fast read where :func:`fast_disable_reader` recognises the config's shape, else the
    public one. Needs ``torch._dynamo.config`` loaded.
    """
    config = sys.modules[_CONFIG]
    fast = fast_disable_reader()
    if fast is None:

        def read() -> object:
            return getattr(config, "disable", None)

    else:
        var, unset, default = fast

        def read() -> object:
            value = var.get(unset)
            return default if value is unset else value

    return read


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


def fast_disable_reader() -> tuple[contextvars.ContextVar[Any], object, object] | None:
    """What the hot path needs to read ``torch._dynamo.config.disable`` in ~50 ns, or ``None``.

    The public read goes through ``ConfigModule.__getattr__`` (~1.5 us on 2.13). Where the config
    entry is stored the way 2.12+ store it (a ``ContextVar`` of user overrides over a plain
    default, with no alias, forced env value, env default or JustKnob), the value is
    ``default if var.get() is unset else var.get()``. Returns ``(var, unset, default)`` then;
    ``None`` for any other shape, and the caller falls back to the public read.
    """
    config = sys.modules.get(_CONFIG)
    entries = getattr(config, "_config", None)
    entry = entries.get("disable") if isinstance(entries, dict) else None
    module = sys.modules.get("torch.utils._config_module")
    unset = getattr(module, "_UNSET_SENTINEL", None)
    if entry is None or unset is None:
        return None
    var = getattr(entry, "user_override", None)
    plain = (
        isinstance(var, contextvars.ContextVar)
        and getattr(entry, "alias", None) is None
        and getattr(entry, "justknob", None) is None
        and getattr(entry, "env_value_force", unset) is unset
        and getattr(entry, "env_value_default", unset) is unset
        and isinstance(getattr(entry, "default", None), bool)
    )
    if not plain:
        return None
    assert isinstance(var, contextvars.ContextVar)
    return var, unset, entry.default
