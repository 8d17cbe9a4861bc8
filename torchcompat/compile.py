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
from collections.abc import Callable
from typing import Any, TypeVar, overload

from torchcompat import _fallback, _runtime, _warnings
from torchcompat._arguments import check_kwargs
from torchcompat._fallback import FALLBACK_ATTR, FallbackState, is_compile_failure
from torchcompat._warnings import TorchCompatWarning
from torchcompat.gate import compile_gate
from torchcompat.version import installed_facts

__all__ = [
    "FALLBACK_ATTR",
    "GUARDED_ATTR",
    "FallbackState",
    "TorchCompatWarning",
    "is_compile_failure",
    "safe_compile",
    "wrap_observers",
]

_F = TypeVar("_F", bound=Callable[..., Any])

# The attribute that marks a wrapper of safe_compile's and holds torch.compile's own result.
GUARDED_ATTR = "_torchcompat_compiled"


# Called with each object safe_compile is given, compilation on or off: how the testing kit's
# CompileCounter counts safe_compile calls. Read once per safe_compile call, never per call of
# what it returns.
wrap_observers: list[Callable[[object], None]] = []


@overload
def safe_compile(
    model: _F, *, fallback: str | None = None, in_place: bool = False, **kwargs: Any
) -> _F: ...


@overload
def safe_compile(
    model: None = None, *, fallback: str | None = None, in_place: bool = False, **kwargs: Any
) -> Callable[[_F], _F]: ...


def safe_compile(
    model: Any = None, *, fallback: str | None = None, in_place: bool = False, **kwargs: Any
) -> Any:
    """A drop-in for ``torch.compile`` that returns the eager object when compilation is off.

    Takes the same arguments as the installed torch's ``torch.compile``, and every call form:
    ``safe_compile(fn, ...)``, ``@safe_compile``, ``@safe_compile(...)``,
    ``safe_compile(**kw)(fn)``. Two arguments of its own:

    - ``fallback="eager"``: a failure *of compilation* at any call (dynamo, inductor or backend
      errors, a missing compiler, the recompile limit) makes this result run eagerly from then on,
      with one :class:`TorchCompatWarning`; see :func:`torchcompat.fallback_reason`. Errors of
      the user's own code always propagate unchanged. The failing call itself is re-run eagerly
      only with ``fullgraph=True``, where the whole body compiles before any of it runs;
      otherwise part of it may have run, so that call re-raises. Default ``None``: torch's errors
      pass through unchanged.
    - ``in_place=True`` (modules only): compile the module itself (``nn.Module.compile``) and
      return the same object in every case, so ``state_dict()`` keys stay those of the module.

    Returns:
        ``model`` itself when :func:`~torchcompat.compile_gate` says compilation is off;
        otherwise what ``torch.compile`` returns (for ``fullgraph=True`` on torch 2.12+, or with
        ``fallback``, a thin wrapper around it, or the same ``OptimizedModule`` with a wrapped
        ``forward``). Without ``model``, a decorator.

    Raises:
        TypeError: a keyword that the installed ``torch.compile`` does not take (also when
            compilation is off), a ``model`` that is not callable, or ``in_place=True`` with
            something other than an ``nn.Module``.
        ValueError: ``fallback`` other than ``None`` or ``"eager"``.

    Warns:
        TorchCompatWarning: once per reason, when this torch cannot compile here (no
            ``torch.compile``, or it refuses this Python) and ``model`` comes back uncompiled.
    """
    check_kwargs(kwargs)
    if fallback not in (None, "eager"):
        raise ValueError(f"safe_compile(): fallback must be None or 'eager', got {fallback!r}")
    if model is None:

        def decorate(obj: _F) -> _F:
            return safe_compile(obj, fallback=fallback, in_place=in_place, **kwargs)

        return decorate
    if not callable(model):
        raise TypeError(
            f"safe_compile() needs a callable (a function or an nn.Module), "
            f"got {type(model).__name__}"
        )
    if in_place and not _is_module(model):
        raise TypeError(
            f"safe_compile(in_place=True) needs an nn.Module, got {type(model).__name__}"
        )
    for observe in wrap_observers:
        observe(model)
    gate = compile_gate()
    if gate.disabled:
        if gate.unavailable:
            _warnings.warn(f"safe_compile returns the object uncompiled: {gate.reason}", once=True)
        return model
    return _compile(model, kwargs, fallback == "eager", in_place)


def _is_module(obj: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _compile(model: Any, kwargs: dict[str, Any], fallback: bool, in_place: bool) -> Any:
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
    fullgraph = bool(kwargs.get("fullgraph"))
    # The guard is needed only where torch checks fullgraph calls for compiled frames.
    switches = fullgraph and facts.fullgraph_check is not None
    # 2.12 also warns under force_eager; 2.13+ skip the check under any non-default stance.
    stance = facts.fullgraph_check == "warn"
    how = {"switches": switches, "stance": stance, "fallback": fallback, "rerun_safe": fullgraph}
    # [fallback, issue 10] One state per result, made before torch.compile: the backend that
    # with_fallback_backend puts in the keywords and the guard below share it.
    state = FallbackState() if fallback else None
    if state is not None:
        kwargs = _fallback.with_fallback_backend(kwargs, state)
    # [/fallback]
    if in_place:
        if not hasattr(model, "compile"):  # torch 2.0 has no nn.Module.compile
            _warnings.warn(
                f"torch {torch.__version__} has no nn.Module.compile: safe_compile(in_place=True) "
                "returns the module uncompiled",
                once=True,
            )
            return model
        return _compile_in_place(model, kwargs, how, state)
    compiled = torch.compile(model, **kwargs)
    if not (switches or fallback) or compiled is model or isinstance(model, type):
        # No check to dodge and nothing to fall back from, or torch handed the object back
        # (disable=True) or patched a class in place: torch's own result, at zero added cost.
        return compiled
    if isinstance(compiled, torch.nn.Module) and hasattr(compiled, "_orig_mod"):
        compiled.forward = _wrap(compiled.forward, compiled._orig_mod.__call__, state, **how)
        return compiled
    return _wrap(compiled, model, state, **how)


def _compile_in_place(
    model: Any, kwargs: dict[str, Any], how: dict[str, bool], state: FallbackState | None
) -> Any:
    """Compile ``model`` itself, as ``nn.Module.compile`` does, so that it compiles something.

    ``nn.Module.compile`` compiles ``self._call_impl``, a frame dynamo skips, and relies on the
    user's ``forward`` frame being compiled inside it. For torch's own modules (``nn.Linear``,
    ``nn.Sequential``) that frame is skipped too: nothing compiles, and with ``fullgraph=True``
    torch 2.12+ warn or raise "found no compiled frames" with compilation *on*.
    ``torch.compile(module)`` avoids this by calling such modules through an extra frame dynamo
    does trace (``OptimizedModule._initialize``); this does the same, with the same test.
    """
    import torch

    call_impl = model._call_impl
    # Only where dynamo inlines torch's own modules (inline_inbuilt_nn_modules, 2.5+): before, it
    # calls them as graph leaves, through __call__, which in place would call this again.
    if _runtime.inlines_builtin_modules() and _forward_is_skipped(model):
        target = _own_frame(call_impl)
        model._compiled_call_impl = torch.compile(target, **kwargs)
    else:
        target = call_impl
        model.compile(**kwargs)
    compiled_call = model._compiled_call_impl
    # ``==``, not ``is``: with disable=True torch hands back ``self._call_impl``, a new bound
    # method object that is equal to, not identical with, the one read above.
    if (how["switches"] or how["fallback"]) and compiled_call != target:
        model._compiled_call_impl = _wrap(compiled_call, call_impl, state, **how)
    return model


def _forward_is_skipped(model: Any) -> bool:
    """Whether dynamo skips ``model.forward``'s frame: torch.compile(module)'s own test."""
    import inspect
    import types

    forward = getattr(model, "forward", None)
    if not isinstance(forward, types.MethodType):
        return False
    check = getattr(sys.modules.get("torch._dynamo.trace_rules"), "check", None)
    if check is not None:  # torch 2.3+
        return bool(check(forward))
    check = getattr(sys.modules.get("torch._dynamo.skipfiles"), "check", None)
    if check is not None:  # torch 2.0-2.2 test the file name
        try:
            return bool(check(inspect.getsourcefile(forward)))
        except TypeError:
            return True
    return True  # unknown: an extra frame compiles either way


def _own_frame(call_impl: Callable[..., Any]) -> Callable[..., Any]:
    def forward_in_place(*args: Any, **kwargs: Any) -> Any:
        return call_impl(*args, **kwargs)

    # A code object of its own per module: dynamo caches compiled code per code object, so a
    # shared one would make every in-place module count against one recompile limit.
    forward_in_place.__code__ = forward_in_place.__code__.replace()
    return forward_in_place


def _wrap(
    compiled: Callable[..., Any],
    eager: Callable[..., Any],
    state: FallbackState | None,  # [fallback, issue 10] made by _compile
    *,
    switches: bool,
    stance: bool,
    fallback: bool,
    rerun_safe: bool,
) -> Callable[..., Any]:
    """Call ``compiled``, or ``eager`` while torch's runtime switches turn dynamo off.

    Every line of the returned function is on the hot path of each compiled call: each variant
    is its own closure that decides per call only what it must.
    """
    off = _switch_reader(stance) if switches else None
    if fallback:
        assert state is not None  # [fallback, issue 10]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if state.reason is not None or (off is not None and off()):
                return eager(*args, **kwargs)
            try:
                return compiled(*args, **kwargs)
            except Exception as exc:
                if not _fallback.on_call_failure(state, exc, rerun_safe):
                    raise
            return eager(*args, **kwargs)

        setattr(wrapper, FALLBACK_ATTR, state)
    else:
        assert off is not None, "_compile returns torch's own object when there is nothing to do"

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if off():
                return eager(*args, **kwargs)
            return compiled(*args, **kwargs)

    # Keep what torch's wrapper carries (__name__, __doc__, _torchdynamo_orig_callable, and
    # _torchdynamo_inline, through which dynamo inlines the original when this wrapper is called
    # from another compiled region instead of tracing the wrapper).
    functools.update_wrapper(wrapper, compiled)
    setattr(wrapper, GUARDED_ATTR, compiled)
    return wrapper


def _switch_reader(stance: bool) -> Callable[[], object]:
    """A function whose result is truthy while torch's runtime switches turn dynamo off."""
    read = _runtime.disable_reader()
    if not stance:
        return read  # 2.13+: config.disable alone, with no frame of ours in between
    eval_frame = sys.modules["torch._dynamo.eval_frame"]

    def off() -> object:
        return read() or eval_frame._stance.stance == "force_eager"

    return off
