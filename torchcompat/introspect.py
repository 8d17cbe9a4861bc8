"""Questions about compiled objects: is it compiled, what is behind it, are we compiling now.

None of these imports ``torch._dynamo``: where torch has not loaded it, nothing can have been
compiled and nothing is being compiled, so the answer is known without it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from torchcompat.compile import FALLBACK_ATTR, GUARDED_ATTR, FallbackState

__all__ = ["fallback_reason", "is_compiled", "is_compiling", "unwrap"]

_DYNAMO = "torch._dynamo"


def _compiled_function(obj: object) -> bool:
    # torch.compile's function wrapper carries the original; torch.compiler.disable's wrapper
    # carries it too but is marked as a disable wrapper.
    return hasattr(obj, "_torchdynamo_orig_callable") and not getattr(
        obj, "_torchdynamo_disable", False
    )


def _optimized_module(obj: object) -> bool:
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    optimized = getattr(eval_frame, "OptimizedModule", None)
    return optimized is not None and isinstance(obj, optimized)


def is_compiled(obj: object) -> bool:
    """Whether ``obj`` is compiled: ``torch.compile``'s or ``safe_compile``'s result, or a module
    compiled in place (``nn.Module.compile`` or ``safe_compile(..., in_place=True)``).

    An object that ``safe_compile`` handed back uncompiled (compilation off) is not compiled.
    """
    if _DYNAMO not in sys.modules:
        return False
    if _optimized_module(obj) or _compiled_function(obj) or hasattr(obj, GUARDED_ATTR):
        return True
    return getattr(obj, "_compiled_call_impl", None) is not None


def unwrap(obj: Any) -> Any:
    """The original module or function behind ``torch.compile``'s or ``safe_compile``'s result.

    Follows every layer (a compiled module's ``_orig_mod``, a compiled function's original,
    safe_compile's wrappers); a module compiled in place is its own original. Anything else
    comes back as it is.
    """
    if _DYNAMO not in sys.modules:
        return obj
    for _ in range(64):  # a chain of wrappers, never a cycle; bounded all the same
        if _optimized_module(obj):
            obj = obj._orig_mod
        elif hasattr(obj, GUARDED_ATTR):
            obj = getattr(obj, GUARDED_ATTR)
        elif _compiled_function(obj):
            obj = obj._torchdynamo_orig_callable
        else:
            return obj
    raise ValueError(f"unwrap(): more than 64 layers of compiled wrappers around {obj!r}")


def fallback_reason(obj: object) -> str | None:
    """Why a ``safe_compile(..., fallback="eager")`` result runs eagerly, or ``None`` if it has
    not fallen back (or was made without ``fallback``).

    Takes the result itself: a function, a compiled module, a module compiled in place, or a
    class compiled in place (or an instance of it).
    """
    for candidate in (
        obj,
        getattr(obj, "forward", None),
        getattr(obj, "_compiled_call_impl", None),
        # A class compiled in place, or an instance of one: its guarded __call__.
        getattr(obj, "__call__", None),  # noqa: B004 (the attribute, not a callable test)
    ):
        state = getattr(candidate, FALLBACK_ATTR, None)
        if isinstance(state, FallbackState):
            return state.reason
    return None


_is_compiling: Callable[[], bool] | None = None


def _resolve_is_compiling() -> Callable[[], bool] | None:
    torch = sys.modules.get("torch")
    compiler = getattr(torch, "compiler", None)
    # torch 2.3+: the public, warning-free spelling. torch._dynamo.is_compiling is deprecated
    # there (2.6+ as a wrapper), and torch._utils.is_compiling warns from 2.6.
    found = getattr(compiler, "is_compiling", None)
    if found is None:  # 2.0-2.2
        found = getattr(sys.modules.get(_DYNAMO), "is_compiling", None)
    return found if callable(found) else None


def is_compiling() -> bool:
    """Whether the caller is being traced by ``torch.compile`` right now.

    Right on every release: ``torch.compiler.is_compiling`` where it exists (2.3+),
    ``torch._dynamo.is_compiling`` before, ``False`` on 1.13 and whenever dynamo is not loaded.
    Never warns. Cheap enough to call inside compiled code: dynamo sees torch's own function.
    """
    global _is_compiling
    found = _is_compiling
    if found is None:
        if _DYNAMO not in sys.modules:
            return False
        found = _is_compiling = _resolve_is_compiling()
        if found is None:
            return False
    return found()
