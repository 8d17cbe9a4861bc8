"""``safe_compile``: ``torch.compile`` that compilation switches cannot break.

With the gate off (see :mod:`torchcompat.gate`), ``safe_compile`` returns the object itself: no
``torch.compile`` call, no ``torch._dynamo`` import, and so no fullgraph check that could fire.
With the gate on it defers to ``torch.compile`` and guards what torch returns: while a runtime
switch turns dynamo off, the result runs its original eagerly (:mod:`torchcompat._guard`);
module results also copy and checkpoint as the module itself (:mod:`torchcompat._modules`).
This module holds the entry point and its argument handling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from torchcompat import _guard, _install, _internals, _modules, _pickle, _runtime, _warnings
from torchcompat._arguments import check_kwargs
from torchcompat._fallback import FallbackState
from torchcompat._observers import wrap_observers
from torchcompat._releases import assumed_from, newer_than_read
from torchcompat._warnings import TorchCompatWarning
from torchcompat.gate import RUNTIME_SWITCHES, compile_gate
from torchcompat.version import installed_facts

__all__ = ["TorchCompatWarning", "safe_compile"]

_F = TypeVar("_F", bound=Callable[..., Any])


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
        ``model`` itself when compilation is off for the process (``TORCH_COMPILE_DISABLE=1``,
        ``TORCHDYNAMO_DISABLE=1``, or a torch that cannot compile here); otherwise what
        ``torch.compile`` returns, guarded: while ``torch._dynamo.config.disable`` or the
        ``force_eager`` stance is on (also when it was on at wrapping), a call runs ``model``
        eagerly, once the switch is off it compiles. Functions come back as a thin wrapper,
        modules as torch's ``OptimizedModule`` (a subclass) with a guarded ``forward``, classes
        patched in place. Without ``model``, a decorator.

    Raises:
        TypeError: a keyword that the installed ``torch.compile`` does not take (also when
            compilation is off), a ``model`` that is not callable, or ``in_place=True`` with
            something other than an ``nn.Module``.
        ValueError: ``fallback`` other than ``None`` or ``"eager"``.

    Warns:
        TorchCompatWarning: once per reason, when this torch cannot compile here (no
            ``torch.compile``, or it refuses this Python) and ``model`` comes back uncompiled.
    """
    if _install.reentered() and model is not None:
        # torch.compile led back here (``torch.compile = safe_compile`` by hand): this is
        # safe_compile's own call of torch.compile, so it goes to torch's.
        return _install.call_torch_own(model, kwargs)
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
    if in_place and not _modules.is_module(model):
        raise TypeError(
            f"safe_compile(in_place=True) needs an nn.Module, got {type(model).__name__}"
        )
    for observe in wrap_observers:
        observe(model)
    gate = compile_gate()
    # The gate decides an unusable release before the runtime switches: a runtime switch here
    # means this torch can compile once it is off.
    if gate.disabled and gate.switch not in RUNTIME_SWITCHES:
        if _modules.is_module(model):
            _modules.accept_compiled_keys(model)
        if gate.unavailable:
            _warnings.warn(f"safe_compile returns the object uncompiled: {gate.reason}", once=True)
        return model
    # torch.compile as it is now (a spy, Fabric's capture), but never safe_compile again where
    # torchcompat.install() replaced it: torch itself calls torch.compile from nn.Module.compile.
    with _install.passthrough():
        return _compile(model, kwargs, fallback, in_place)


def _compile(model: Any, kwargs: dict[str, Any], fallback: str | None, in_place: bool) -> Any:
    import torch
    import torch._dynamo

    facts = installed_facts()
    assert facts is not None  # the gate is off without torch
    _install.remember(torch)
    newest = assumed_from(facts.release)
    if newest is not None:
        # Every fact below is the newest read release's: the safe side, but say so.
        _warnings.warn(newer_than_read(torch.__version__, newest), once=True)
    if facts.loose_env_parse:
        _runtime.strict_loose_disable()
    options = kwargs.get("options")
    if isinstance(options, dict):
        # torch 2.8+ pops keys out of the caller's dict (guard_filter_fn, use_aoti).
        kwargs = {**kwargs, "options": dict(options)}
    recipe = _pickle.Recipe(dict(kwargs), fallback, in_place)
    fullgraph = bool(kwargs.get("fullgraph"))
    how = _guard.Guard(
        stance=_runtime.needs_stance(fullgraph),
        state=FallbackState() if fallback else None,
        rerun_safe=fullgraph,
    )
    if how.state is not None:
        from torchcompat._fallback_backend import with_fallback_backend

        kwargs = with_fallback_backend(kwargs, how.state)
    if in_place:
        if not hasattr(model, "compile"):  # torch 2.0 has no nn.Module.compile
            _warnings.warn(
                f"torch {torch.__version__} has no nn.Module.compile: safe_compile(in_place=True) "
                "returns the module uncompiled",
                once=True,
            )
            return model
        return _modules.compile_in_place(model, kwargs, how, recipe)
    if isinstance(model, type):
        return _guard.guard_class(model, kwargs, how)
    compiled = _install.torch_compile(torch)(model, **kwargs)
    if compiled is model:
        # torch handed the object back (disable=True, TORCHDYNAMO_DISABLE=1): nothing to guard.
        return compiled
    if isinstance(compiled, torch.nn.Module):
        return _guard_module(model, compiled, how, recipe)
    return _guard.guard_function(compiled, model, how)


# What guard_module reads of torch's OptimizedModule: without any of them the result cannot be
# guarded, so the module comes back uncompiled (one warning names the attribute), never
# unguarded.
_MODULE_ATTRS = (
    "OptimizedModule._orig_mod",
    "OptimizedModule.dynamo_ctx",
    "OptimizedModule._initialize",
)


def _guard_module(model: Any, compiled: Any, how: _guard.Guard, recipe: _pickle.Recipe) -> Any:
    if any([_internals.absent(compiled, name) for name in _MODULE_ATTRS]):
        _modules.accept_compiled_keys(model)
        return model
    return _modules.guard_module(compiled, how, recipe)
