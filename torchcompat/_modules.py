"""Module results: guarded, copyable, and with checkpoints that load whatever the switch.

A module result is torch's own ``OptimizedModule``, of torch's exact type (``_orig_mod``,
parameters as usual), given three things torch's lacks:

- its ``dynamo_ctx`` guards every function it compiles, ``forward`` first (see
  :mod:`torchcompat._guard`);
- copies (``copy.deepcopy``, ``pickle``, ``torch.save``) are rebuilt through ``safe_compile``
  with the same arguments, so they keep the guard and the fallback and get their own weights
  (torch's ``__reduce__`` rebuilds through ``__init__`` and drops anything set on the instance);
- ``state_dict()`` keys are those of the module itself (no ``_orig_mod.``), as they are when
  compilation is off and safe_compile returns the module itself; ``load_state_dict`` takes
  both forms, so a checkpoint loads strictly whatever the switch was when it was saved.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable
from typing import Any

from torchcompat import _guard, _runtime
from torchcompat._install import torch_compile

# Pickles point at torchcompat._pickle (its stable names); these names stay importable here
# for pickles made before it existed.
from torchcompat._pickle import Recipe, rebuild
from torchcompat._pickle import rebuild_in_place as _rebuild_in_place

__all__ = [
    "Recipe",
    "accept_compiled_keys",
    "compile_in_place",
    "guard_module",
    "is_module",
    "rebuild",
]

_PREFIX = "_orig_mod."


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


def _is_ours(hook: Any) -> bool:
    # torch keeps a with_module hook as a _WrappedHook around the function (2.0+).
    return getattr(hook, "hook", hook) is _load_unprefixed


def accept_compiled_keys(module: Any) -> None:
    """Let ``module`` load checkpoints saved from ``torch.compile(module)`` (``_orig_mod.`` keys).

    For results that are the module itself (compilation off, or compiled in place). Once per
    module; the hook is a module-level function, so the module still pickles.
    """
    hooks = getattr(module, "_load_state_dict_pre_hooks", {})
    if any(_is_ours(hook) for hook in hooks.values()):
        return
    module._register_load_state_dict_pre_hook(_load_unprefixed, with_module=True)


@functools.lru_cache(maxsize=1)
def _guarded_context() -> type:
    """The class of a module result's ``dynamo_ctx``: made on first use, so that wrapt is
    imported only when a module is compiled (the pytest plugin and the kit load without it)."""
    import wrapt  # type: ignore[import-untyped,unused-ignore]

    class GuardedContext(wrapt.ObjectProxy):  # type: ignore[type-arg,misc,unused-ignore]
        """torch's dynamo context of a module result, guarding every function it compiles.

        ``OptimizedModule`` compiles through its ``dynamo_ctx``: its own ``forward`` (in
        ``_initialize``, also when torch rebuilds a copy), and whatever a framework re-wraps
        with it (Lightning's ``model.dynamo_ctx(module.training_step)``). A proxy
        (``isinstance`` and every attribute as torch's context) whose call guards what
        torch's context returns keeps all of those guarded, while the module stays torch's
        exact ``OptimizedModule`` type, the only type dynamo unwraps when the module is called
        inside another compiled region.
        """

        def __init__(self, context: Any, how: _guard.Guard, recipe: Recipe) -> None:
            super().__init__(context)
            self._self_how = how
            self._self_recipe = recipe

        def __call__(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
            compiled = self.__wrapped__(fn, *args, **kwargs)
            if compiled is fn:
                return compiled
            if hasattr(compiled, "_orig_mod") and is_module(compiled):
                return guard_module(compiled, self._self_how, self._self_recipe)
            return _guard.guard_function(compiled, fn, self._self_how)

        def __copy__(self) -> Any:
            return self

        def __deepcopy__(self, memo: dict[int, Any]) -> Any:
            # Shared, as Recipe is: one backend object per result and its copies.
            return self

    return GuardedContext


def is_module(obj: object) -> bool:
    """Whether ``obj`` is an ``nn.Module``, without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _reduce_module(
    ref: weakref.ref[Any], protocol: int
) -> tuple[Callable[..., Any], tuple[Any, Recipe]]:
    # An instance attribute, read by copy and pickle before the class's own (a non-data
    # descriptor): torch's __reduce__ rebuilds through __init__, which drops the state-dict
    # hooks; this rebuilds through safe_compile with the same arguments. A weak reference: the
    # module must not hold itself, or dropping it would wait for the garbage collector (and a
    # GPU model's memory with it), where torch's own result is freed at once.
    del protocol
    module = ref()
    assert module is not None  # it is being copied: alive
    return (rebuild, (module._orig_mod, module.__dict__["_torchcompat_recipe"]))


def guard_module(compiled: Any, how: _guard.Guard, recipe: Recipe) -> Any:
    """Guard torch's ``OptimizedModule`` in place, make it copyable, unprefix its keys.

    The module keeps torch's exact type: dynamo unwraps only ``istype(value, OptimizedModule)``
    when it is called inside another compiled region (``variables/builder.py``), so a subclass
    would compile into more frames than torch's own, and fail an outer ``fullgraph=True``.
    """
    # Plain values set through __dict__: OptimizedModule forwards unknown attribute writes to
    # _orig_mod, and nn.Module.__setattr__ would register a Module value as a submodule.
    compiled.__dict__["dynamo_ctx"] = _guarded_context()(compiled.dynamo_ctx, how, recipe)
    compiled.__dict__["_torchcompat_recipe"] = recipe
    compiled.__dict__["__reduce_ex__"] = functools.partial(_reduce_module, weakref.ref(compiled))
    # torch's own way of making forward (what __init__ and __setstate__ call, 2.0+), now through
    # the guarded context: the same frame choices (wrap_inline for torch's own modules, the lazy
    # check for lazy modules) as torch.compile's result.
    compiled._initialize()
    compiled._register_state_dict_hook(_save_unprefixed)
    compiled._register_load_state_dict_pre_hook(_load_prefixed, with_module=True)
    return compiled


def _reduce_in_place(module: Any, recipe: Recipe, protocol: int) -> tuple[Any, ...]:
    state = module.__getstate__()  # torch's: drops the compiled call
    for name in ("__reduce_ex__", "_compiled_call_impl"):
        state.pop(name, None)
    # Our load hook holds a weak reference to this module: a copy of it would call the hook of
    # this module, dead once it is gone. The rebuilt copy registers its own (rebuild ->
    # accept_compiled_keys).
    hooks = state.get("_load_state_dict_pre_hooks")
    if hooks:
        state["_load_state_dict_pre_hooks"] = type(hooks)(
            (key, hook) for key, hook in hooks.items() if not _is_ours(hook)
        )
    return (_rebuild_in_place, (type(module), state, recipe))


def compile_in_place(model: Any, kwargs: dict[str, Any], how: _guard.Guard, recipe: Recipe) -> Any:
    """Compile ``model`` itself, as ``nn.Module.compile`` does, so that it compiles something.

    ``nn.Module.compile`` compiles ``self._call_impl``, a frame dynamo skips, and relies on the
    user's ``forward`` frame being compiled inside it. For torch's own modules (``nn.Linear``,
    ``nn.Sequential``) that frame is skipped too on some releases: nothing compiles, and with
    ``fullgraph=True`` torch 2.12+ warn or raise "found no compiled frames" with compilation
    *on*. ``torch.compile(module)`` avoids this by calling such modules through an extra frame
    dynamo does trace (``OptimizedModule._initialize``); this does the same, with the same test.
    """

    import torch

    call_impl = model._call_impl
    # Only where dynamo inlines torch's own modules (inline_inbuilt_nn_modules, 2.5+): before, it
    # calls them as graph leaves, through __call__, which in place would call this again.
    if _runtime.inlines_builtin_modules() and _forward_is_skipped(model):
        model._compiled_call_impl = torch_compile(torch)(_own_frame(call_impl), **kwargs)
    else:
        model.compile(**kwargs)
    compiled_call = model._compiled_call_impl
    # ``==``, not ``is``: with disable=True torch hands back ``self._call_impl``, a new bound
    # method object that is equal to, not identical with, the one read above.
    if compiled_call != call_impl:
        # The plain guard, not dressed as torch's wrapper: a compile of the module again
        # (``torch.compile(model)``) runs it as a frame of its own, never compiled
        # (``_guard._run_not_compiled``), and torch's wrapper inside compiles ``_call_impl``.
        # Dressed (``_torchdynamo_inline``), torch 2.1's dynamo inlined it and failed
        # ("'function' object has no attribute '__self__'").
        guarded = _guard.guard(compiled_call, call_impl, how)
        setattr(guarded, _guard.GUARDED_ATTR, compiled_call)
        model._compiled_call_impl = guarded
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
