"""``safe_compile``: ``torch.compile`` that compilation switches cannot break.

With the gate off (see :mod:`torchcompat.gate`), ``safe_compile`` returns the object itself: no
``torch.compile`` call, no ``torch._dynamo`` import, and so no fullgraph check that could fire.
With the gate on it defers to ``torch.compile``. On releases that check fullgraph calls for
compiled frames (2.12+), a ``fullgraph=True`` result also reads torch's runtime switches on each
call and runs the original eagerly while they turn dynamo off: torch would otherwise warn (2.12)
or raise after the body ran (2.13+), and mark the code as skipped for good.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, overload

from torchcompat import _runtime
from torchcompat.gate import compile_gate
from torchcompat.version import installed_facts

__all__ = ["TorchCompatWarning", "safe_compile"]

_F = TypeVar("_F", bound=Callable[..., Any])

# The attribute that marks a guarded wrapper and holds torch.compile's own result.
GUARDED_ATTR = "_torchcompat_compiled"


class TorchCompatWarning(UserWarning):
    """torchcompat returned an object uncompiled (or changed course) and says why."""


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, TorchCompatWarning, stacklevel=4)


@overload
def safe_compile(model: _F, **kwargs: Any) -> _F: ...


@overload
def safe_compile(model: None = None, **kwargs: Any) -> Callable[[_F], _F]: ...


def safe_compile(model: Any = None, **kwargs: Any) -> Any:
    """A drop-in for ``torch.compile`` that returns the eager object when compilation is off.

    Takes the same arguments as the installed torch's ``torch.compile``, and every call form:
    ``safe_compile(fn, ...)``, ``@safe_compile``, ``@safe_compile(...)``,
    ``safe_compile(**kw)(fn)``.

    Returns:
        ``model`` itself when :func:`~torchcompat.compile_gate` says compilation is off;
        otherwise what ``torch.compile`` returns (for ``fullgraph=True`` on torch 2.12+, a thin
        wrapper around it, or the same ``OptimizedModule`` with a guarded ``forward``). Without
        ``model``, a decorator.

    Raises:
        TypeError: a keyword that the installed ``torch.compile`` does not take (also when
            compilation is off), or a ``model`` that is not callable.

    Warns:
        TorchCompatWarning: once per reason, when this torch cannot compile here (no
            ``torch.compile``, or it refuses this Python) and ``model`` comes back uncompiled.
    """
    _check_kwargs(kwargs)
    if model is None:

        def decorate(obj: _F) -> _F:
            return safe_compile(obj, **kwargs)

        return decorate
    if not callable(model):
        raise TypeError(
            f"safe_compile() needs a callable (a function or an nn.Module), "
            f"got {type(model).__name__}"
        )
    gate = compile_gate()
    if gate.disabled:
        if gate.unavailable:
            _warn_once(f"safe_compile returns the object uncompiled: {gate.reason}")
        return model
    return _compile(model, kwargs)


def _compile(model: Any, kwargs: dict[str, Any]) -> Any:
    import torch
    import torch._dynamo

    facts = installed_facts()
    assert facts is not None  # the gate is off without torch
    if facts.loose_env_parse:
        _runtime.strict_loose_disable()
    options = kwargs.get("options")
    if isinstance(options, dict):
        # torch 2.8+ pops keys out of the caller's dict (guard_filter_fn, use_aoti).
        kwargs = {**kwargs, "options": dict(options)}
    compiled = torch.compile(model, **kwargs)
    if (
        facts.fullgraph_check is None
        or not kwargs.get("fullgraph")
        or compiled is model  # disable=True: torch handed the object back
        or isinstance(model, type)
    ):
        return compiled
    # 2.12 also warns under force_eager; 2.13+ skip the check under any non-default stance.
    check_stance = facts.fullgraph_check == "warn" and facts.has_set_stance
    if isinstance(compiled, torch.nn.Module) and hasattr(compiled, "_orig_mod"):
        compiled.forward = _guard(compiled.forward, compiled._orig_mod.__call__, check_stance)
        return compiled
    guarded = _guard(compiled, model, check_stance)
    return guarded


def _guard(
    compiled: Callable[..., Any], eager: Callable[..., Any], check_stance: bool
) -> Callable[..., Any]:
    """Call ``compiled``, or ``eager`` while torch's runtime switches turn dynamo off.

    Every line here is on the hot path of each compiled call.
    """
    eval_frame = sys.modules["torch._dynamo.eval_frame"]
    fast = _runtime.fast_disable_reader()
    if fast is not None:
        var, unset, default = fast

        def guarded(*args: Any, **kwargs: Any) -> Any:
            value = var.get(unset)
            if (default if value is unset else value) or (
                check_stance and eval_frame._stance.stance == "force_eager"
            ):
                return eager(*args, **kwargs)
            return compiled(*args, **kwargs)

    else:
        config = sys.modules["torch._dynamo.config"]

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if config.disable or (check_stance and eval_frame._stance.stance == "force_eager"):
                return eager(*args, **kwargs)
            return compiled(*args, **kwargs)

    # Keep what torch's wrapper carries (__name__, __doc__, _torchdynamo_orig_callable, and
    # _torchdynamo_inline, through which dynamo inlines the original when this wrapper is called
    # from another compiled region instead of tracing the guard).
    functools.update_wrapper(guarded, compiled)
    setattr(guarded, GUARDED_ATTR, compiled)
    return guarded


@functools.lru_cache(maxsize=4)
def _accepted_kwargs(compile_fn: object) -> frozenset[str]:
    import inspect

    assert callable(compile_fn)
    params = inspect.signature(compile_fn).parameters
    return frozenset(name for name in params if name != "model")


def _check_kwargs(kwargs: dict[str, Any]) -> None:
    if not kwargs:
        return
    torch = sys.modules.get("torch")
    compile_fn = getattr(torch, "compile", None)
    if compile_fn is not None:
        # Defer to the real signature where torch is loaded; the table agrees (tested).
        accepted = _accepted_kwargs(compile_fn)
    else:
        facts = installed_facts()
        # Without torch, or on 1.13, check against 2.0's arguments.
        accepted = facts.compile_kwargs if facts is not None else _first_kwargs()
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        import difflib

        name = unknown[0]
        close = difflib.get_close_matches(name, accepted, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(
            f"safe_compile() got an unexpected keyword argument {name!r}: torch.compile here "
            f"takes {', '.join(sorted(accepted))}{hint}"
        )


def _first_kwargs() -> frozenset[str]:
    from torchcompat._releases import facts_for

    return facts_for((2, 0)).compile_kwargs
