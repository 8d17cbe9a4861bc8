"""Module results: guarded, copyable, and with checkpoints that load whatever the switch.

A module result is torch's own ``OptimizedModule`` (``_orig_mod``, parameters as usual), moved
to a subclass that adds three things torch's lacks:

- ``forward`` is guarded (see :mod:`torchcompat._guard`);
- copies (``copy.deepcopy``, ``pickle``, ``torch.save``) are rebuilt through ``safe_compile``
  with the same arguments, so they keep the guard and the fallback and get their own weights
  (torch's ``__reduce__`` rebuilds through ``__init__`` and drops anything set on the instance);
- ``state_dict()`` keys are those of the module itself (no ``_orig_mod.``), as they are when
  compilation is off and safe_compile returns the module itself; ``load_state_dict`` takes
  both forms, so a checkpoint loads strictly whatever the switch was when it was saved.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from torchcompat import _guard, _runtime

__all__ = [
    "Recipe",
    "accept_compiled_keys",
    "compile_in_place",
    "guard_module",
    "rebuild",
]

_PREFIX = "_orig_mod."


class Recipe(NamedTuple):
    """The arguments a result was made with: what a copy is rebuilt from."""

    kwargs: dict[str, Any]
    fallback: str | None
    in_place: bool

    def __deepcopy__(self, memo: dict[int, Any]) -> Recipe:
        # A copy compiles with the same backend object, as a deepcopy of torch's own result
        # does (its compiled callback is a function, which deepcopy shares): a copied backend
        # would be a second backend in the process (2.0-2.1 warn "changing options").
        return self


def rebuild(module: Any, recipe: Recipe) -> Any:
    """A copy's result: ``safe_compile(module, ...)`` with the arguments of the original.

    Importable by name, so pickles made in one process load in another; the switches of the
    loading process decide, as they would for a fresh safe_compile call.
    """
    from torchcompat.compile import safe_compile

    return safe_compile(module, fallback=recipe.fallback, in_place=recipe.in_place, **recipe.kwargs)


def _rename(state_dict: Any, old: str, new: str) -> None:
    """Rename keys (and their ``_metadata`` entries) that start with ``old`` to start with ``new``.

    In place, keeping the order of the keys.
    """
    keys = [key for key in state_dict if key.startswith(old)]
    if not keys:
        return
    items = list(state_dict.items())
    state_dict.clear()
    for key, value in items:
        state_dict[new + key[len(old) :] if key.startswith(old) else key] = value
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        for key in [k for k in metadata if (k + ".").startswith(old)]:
            renamed = (new + (key + ".")[len(old) :])[:-1]
            metadata[renamed] = metadata.pop(key)


def _save_unprefixed(module: Any, state_dict: Any, prefix: str, local_metadata: Any) -> None:
    # state_dict hook: this module's entries are the last ones written, under prefix + _orig_mod.
    del module, local_metadata
    _rename(state_dict, prefix + _PREFIX, prefix)


def _load_prefixed(module: Any, state_dict: Any, prefix: str, *args: Any) -> None:
    # load_state_dict pre-hook of a compiled result: its module's entries live under _orig_mod.
    del module, args
    plain = [k for k in state_dict if k.startswith(prefix) and not k.startswith(prefix + _PREFIX)]
    for key in plain:
        state_dict[prefix + _PREFIX + key[len(prefix) :]] = state_dict.pop(key)


def _load_unprefixed(module: Any, state_dict: Any, prefix: str, *args: Any) -> None:
    # load_state_dict pre-hook of the module itself: a checkpoint of torch.compile's result.
    del module, args
    _rename(state_dict, prefix + _PREFIX, prefix)


def accept_compiled_keys(module: Any) -> None:
    """Let ``module`` load checkpoints saved from ``torch.compile(module)`` (``_orig_mod.`` keys).

    For results that are the module itself (compilation off, or compiled in place). Once per
    module; the hook is a module-level function, so the module still pickles.
    """
    hooks = getattr(module, "_load_state_dict_pre_hooks", {})
    if any(getattr(h, "hook", h) is _load_unprefixed for h in hooks.values()):
        return
    module._register_load_state_dict_pre_hook(_load_unprefixed, with_module=True)


_classes: dict[type, type] = {}


def _safe_class(optimized: type) -> type:
    """The subclass of torch's ``OptimizedModule`` class that module results are moved to."""
    found = _classes.get(optimized)
    if found is None:

        def __reduce__(self: Any) -> tuple[Callable[..., Any], tuple[Any, Recipe]]:
            return (rebuild, (self._orig_mod, self._torchcompat_recipe))

        found = type(
            "SafeCompiledModule",
            (optimized,),
            {
                "__reduce__": __reduce__,
                "__module__": __name__,
                "__doc__": "torch's OptimizedModule, guarded by safe_compile.",
            },
        )
        _classes[optimized] = found
    return found


def guard_module(compiled: Any, how: _guard.Guard, recipe: Recipe) -> Any:
    """Guard torch's ``OptimizedModule`` in place, make it copyable, unprefix its keys."""
    compiled.__class__ = _safe_class(type(compiled))
    # Attributes of OptimizedModule itself, not of the module: nn.Module.__setattr__ would
    # register a Module value as a submodule, and torch forwards unknown attribute reads to
    # _orig_mod; neither applies to plain values set through __dict__.
    compiled.__dict__["_torchcompat_recipe"] = recipe
    compiled.forward = _guard.guard(compiled.forward, compiled._orig_mod.__call__, how)
    compiled._register_state_dict_hook(_save_unprefixed)
    compiled._register_load_state_dict_pre_hook(_load_prefixed, with_module=True)
    return compiled


def _reduce_in_place(module: Any, recipe: Recipe, protocol: int) -> tuple[Any, ...]:
    state = module.__getstate__()  # torch's: drops the compiled call
    for name in ("__reduce_ex__", "_compiled_call_impl"):
        state.pop(name, None)
    return (_rebuild_in_place, (type(module), state, recipe))


def _rebuild_in_place(cls: Any, state: dict[str, Any], recipe: Recipe) -> Any:
    module = cls.__new__(cls)
    module.__setstate__(state)
    return rebuild(module, recipe)


def compile_in_place(model: Any, kwargs: dict[str, Any], how: _guard.Guard, recipe: Recipe) -> Any:
    """Compile ``model`` itself, as ``nn.Module.compile`` does, so that it compiles something.

    ``nn.Module.compile`` compiles ``self._call_impl``, a frame dynamo skips, and relies on the
    user's ``forward`` frame being compiled inside it. For torch's own modules (``nn.Linear``,
    ``nn.Sequential``) that frame is skipped too on some releases: nothing compiles, and with
    ``fullgraph=True`` torch 2.12+ warn or raise "found no compiled frames" with compilation
    *on*. ``torch.compile(module)`` avoids this by calling such modules through an extra frame
    dynamo does trace (``OptimizedModule._initialize``); this does the same, with the same test.
    """
    import functools

    import torch

    call_impl = model._call_impl
    # Only where dynamo inlines torch's own modules (inline_inbuilt_nn_modules, 2.5+): before, it
    # calls them as graph leaves, through __call__, which in place would call this again.
    if _runtime.inlines_builtin_modules() and _forward_is_skipped(model):
        model._compiled_call_impl = torch.compile(_own_frame(call_impl), **kwargs)
    else:
        model.compile(**kwargs)
    compiled_call = model._compiled_call_impl
    # ``==``, not ``is``: with disable=True torch hands back ``self._call_impl``, a new bound
    # method object that is equal to, not identical with, the one read above.
    if compiled_call != call_impl:
        model._compiled_call_impl = _guard.guard(compiled_call, call_impl, how)
        # Read by copy and pickle before the class's own (a non-data descriptor): copies are
        # rebuilt compiled in place, with their own weights, instead of uncompiled.
        model.__dict__["__reduce_ex__"] = functools.partial(_reduce_in_place, model, recipe)
    accept_compiled_keys(model)
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
