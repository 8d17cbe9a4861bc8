"""Questions about compiled objects: is it compiled, what is behind it, are we compiling now.

None of these imports ``torch._dynamo``: where torch has not loaded it, nothing can have been
compiled and nothing is being compiled, so the answer is known without it.

Where dynamo is loaded but a name these read is gone (a release that renamed it), they say so
once with a :class:`~torchcompat.TorchCompatWarning` naming it and the release, and answer from
what remains (a compiled function's ``__wrapped__``, a module's ``_orig_mod``) instead of a
silent ``False``; ``unwrap`` raises rather than hand back a compiled object as the original.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from torchcompat._fallback import FALLBACK_ATTR, FallbackState
from torchcompat._guard import GUARDED_ATTR

__all__ = ["fallback_reason", "is_compiled", "is_compiling", "unwrap"]

_DYNAMO = "torch._dynamo"


_EVAL_FRAME = "torch._dynamo.eval_frame"
_ORIG_CALLABLE = "_torchdynamo_orig_callable"


def _missing(name: str, instead: str) -> None:
    """One TorchCompatWarning per process naming the missing internal and the release."""
    from torchcompat._warnings import warn
    from torchcompat.version import torch_version

    warn(
        f"torchcompat.introspect cannot find {name} on torch {torch_version()}; {instead}. "
        "Please report this torch release to torchcompat.",
        once=True,
    )


def _dynamo_wrapper(obj: object) -> bool:
    """Whether ``obj`` is a function dynamo made around another (its code is eval_frame's)."""
    code = getattr(obj, "__code__", None)
    path = getattr(sys.modules.get(_EVAL_FRAME), "__file__", None)
    return (
        code is not None
        and path is not None
        and hasattr(obj, "__wrapped__")
        and (code.co_filename == path)
    )


def _orig_callable(obj: object) -> Any:
    """The original behind dynamo's function wrapper, or None if ``obj`` is none."""
    found = getattr(obj, _ORIG_CALLABLE, None)
    if found is None and _dynamo_wrapper(obj):
        # torch 2.0-2.15 set _torchdynamo_orig_callable on the functools.wraps wrapper.
        _missing(f"{_ORIG_CALLABLE} on dynamo's function wrapper", "__wrapped__ is followed")
        found = getattr(obj, "__wrapped__", None)
    return found


def _compiled_function(obj: object) -> bool:
    # torch.compile's function wrapper carries the original; torch.compiler.disable's wrapper
    # carries it too but is marked as a disable wrapper.
    return _orig_callable(obj) is not None and not getattr(obj, "_torchdynamo_disable", False)


def _optimized_module(obj: object) -> bool:
    eval_frame = sys.modules.get(_EVAL_FRAME)
    optimized = getattr(eval_frame, "OptimizedModule", None)
    if isinstance(optimized, type):
        return isinstance(obj, optimized)
    # torch 2.0-2.15: torch.compile's module results are eval_frame.OptimizedModule instances.
    _missing(
        f"{_EVAL_FRAME}.OptimizedModule, the class of torch.compile's module results",
        "an nn.Module with an _orig_mod submodule is taken for one",
    )
    modules = getattr(obj, "__dict__", {}).get("_modules")
    return isinstance(modules, dict) and "_orig_mod" in modules


def _orig_mod(obj: Any) -> Any:
    """A compiled module's ``_orig_mod``; raises RuntimeError naming the release without it."""
    modules = getattr(obj, "__dict__", {}).get("_modules")
    inner = modules.get("_orig_mod") if isinstance(modules, dict) else None
    if inner is None:
        from torchcompat.version import torch_version

        raise RuntimeError(
            f"unwrap(): {type(obj).__name__} on torch {torch_version()} has no _orig_mod, "
            "where torch 2.0-2.15 keep the original module: torchcompat cannot tell what is "
            "behind it. Please report this torch release to torchcompat."
        )
    return inner


def is_compiled(obj: object) -> bool:
    """Whether ``obj`` is compiled: ``torch.compile``'s or ``safe_compile``'s result, or a module
    compiled in place (``nn.Module.compile`` or ``safe_compile(..., in_place=True)``).

    An object that ``safe_compile`` handed back uncompiled (compilation off) is not compiled.
    """
    if _DYNAMO not in sys.modules:
        return False
    if _optimized_module(obj) or _compiled_function(obj) or hasattr(obj, GUARDED_ATTR):
        return True
    return _compiled_in_place(obj)


def _compiled_in_place(obj: object) -> bool:
    """Whether ``obj`` is a module that ``nn.Module.compile`` compiled in place."""
    module = getattr(sys.modules.get("torch.nn"), "Module", None)
    if not (isinstance(module, type) and isinstance(obj, module)):
        return getattr(obj, "_compiled_call_impl", None) is not None
    if hasattr(module, "compile") and not hasattr(module, "_compiled_call_impl"):
        # torch 2.1-2.15: nn.Module.compile stores torch.compile's result there.
        _missing(
            "nn.Module._compiled_call_impl, where nn.Module.compile keeps its result",
            "modules compiled in place are not recognised",
        )
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
            obj = _orig_mod(obj)
        elif hasattr(obj, GUARDED_ATTR):
            obj = getattr(obj, GUARDED_ATTR)
        elif _compiled_function(obj):
            obj = _orig_callable(obj)
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
