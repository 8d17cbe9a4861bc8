"""The runtime guard: a safe_compile result runs its original eagerly while dynamo is switched off.

torch reads ``torch._dynamo.config.disable`` per frame, at call time, and then either raises
after the body ran (2.13+, fullgraph), warns (2.12), or silently marks the code "skip for good"
(every release) so that it never compiles again. Every result of safe_compile on a release that
can compile therefore reads the switch on each call and, while it is on, runs the original with
dynamo's frame callback removed (:func:`torchcompat._runtime.without_dynamo`): exactly once, no
warning, no mark. With the switch off it calls torch's compiled object, which compiles or reuses
what it compiled, as torch would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import CodeType
from typing import Any, NamedTuple

from torchcompat import _fallback, _internals, _runtime
from torchcompat._fallback import FALLBACK_ATTR, FallbackState

__all__ = ["GUARDED_ATTR", "Guard", "guard", "guard_class", "guard_function"]

# The attribute that marks a guard of safe_compile's and holds torch.compile's own result.
GUARDED_ATTR = "_torchcompat_compiled"

# What a guard keeps of torch's compiled function, so that dynamo and torch.compile treat it as
# they treat torch's own: ``_torchdynamo_inline`` is what dynamo traces instead when the guard
# is called from another compiled region; ``_torchdynamo_orig_callable`` with a matching
# ``_torchdynamo_wrapper_id`` lets ``torch.compile(guard)`` unwrap to the original, as
# ``torch.compile(torch.compile(f))`` does; ``_is_torch_compile`` (2.6+,
# ``OptimizeContext.__call__``) is how dynamo tells a nested ``torch.compile`` result from other
# wrappers, so that a nested ``fullgraph=True`` is enforced under ``config.nested_graph_breaks``
# (``variables/functions.py``). The rest of torch's ``__dict__`` is not copied: a copied
# ``get_compiler_config`` makes wrapping again fail ("already has a get_compiler_config").
_KEPT = ("_torchdynamo_inline", "get_compiler_config", "_is_torch_compile")


class Guard(NamedTuple):
    """How one result's guard behaves; decided once, when the result is made."""

    #: Whether the ``force_eager`` stance must be read too (torch 2.12, fullgraph only).
    stance: bool
    #: The result's fallback state, or ``None`` without ``fallback="eager"``.
    state: FallbackState | None
    #: Whether a call that failed to compile may run again eagerly (fullgraph: no part of the
    #: body ran before compiling finished).
    rerun_safe: bool


def guard(compiled: Callable[..., Any], original: Callable[..., Any], how: Guard) -> Any:
    """A function that calls ``compiled``, or ``original`` eagerly while dynamo is off.

    Every line of the returned function is on the hot path of each compiled call: each variant
    is its own closure that decides per call only what it must.
    """
    off = _runtime.switch_reader(how.stance)
    eager = _runtime.without_dynamo(original)
    state = how.state
    if state is None:

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if off():
                return eager(*args, **kwargs)
            return compiled(*args, **kwargs)

        _run_not_compiled(guarded)
        return guarded

    rerun_safe = how.rerun_safe

    def guarded_fallback(*args: Any, **kwargs: Any) -> Any:
        if state.reason is not None or off():
            return eager(*args, **kwargs)
        try:
            return compiled(*args, **kwargs)
        except Exception as exc:
            if not _fallback.on_call_failure(state, exc, rerun_safe):
                raise
        return eager(*args, **kwargs)

    setattr(guarded_fallback, FALLBACK_ATTR, state)
    _run_not_compiled(guarded_fallback)
    return guarded_fallback


# The guards' code objects that dynamo was told to run, never to compile (one per closure body).
_skipped: set[CodeType] = set()


def _run_not_compiled(guarded: Callable[..., Any]) -> None:
    """Have dynamo run a guard's own frame as it runs torch's compiled wrapper: never compiled.

    torch's wrapper lives in a file dynamo skips, so where a compiled region's callback is
    active and a skipped frame calls the result (``nn.Module._wrapped_call_impl`` calling a
    module's ``_compiled_call_impl``, compiled in place), the wrapper runs and sets its own
    callback. A guard's frame would be compiled under the outer callback instead: more frames,
    and ``Unsupported`` (``ContextVar.get``) under an outer ``fullgraph=True``. Tracing *into* a
    guard from compiled code is unaffected: dynamo follows ``_torchdynamo_inline`` there.
    ``skip_code`` is what ``convert_frame`` itself uses for code it must not compile (2.0+).
    """
    code = guarded.__code__
    if code in _skipped:
        return
    skip = _internals.resolve("torch._dynamo.convert_frame.skip_code")  # a missing one warns
    if not skip:
        return
    skip(code)
    _skipped.add(code)


def skip_again() -> None:
    """Tell dynamo again to run the guards' frames uncompiled, after something cleared the
    per-code state of every function (the testing kit's ``reset_compilation`` before 2.11):
    in a fresh process a guard's frame is never compiled either."""
    codes = list(_skipped)
    _skipped.clear()
    for code in codes:
        skip = _internals.resolve("torch._dynamo.convert_frame.skip_code")
        if not skip:
            return
        skip(code)
        _skipped.add(code)


def guard_function(compiled: Callable[..., Any], original: Any, how: Guard) -> Any:
    """``guard`` for a function, bound method or callable object, dressed as torch's wrapper.

    The eager path runs the innermost original, the function torch's wrapper compiles
    (``_torchdynamo_orig_callable``), not ``original`` itself: where ``original`` is already a
    compiled wrapper (``safe_compile(torch.compile(f))``), calling it would put dynamo's frame
    callback back under the guard, and ``config.disable`` would mark ``f`` skip-for-good.
    """
    innermost = (
        original
        if _internals.absent(compiled, "compiled._torchdynamo_orig_callable")
        else getattr(compiled, "_torchdynamo_orig_callable")  # noqa: B009
    )
    guarded = guard(compiled, innermost, how)
    try:
        functools.update_wrapper(guarded, original, updated=())
    except AttributeError:  # a callable object without __name__ and the like
        guarded.__wrapped__ = original
    for name in _KEPT:
        if not _internals.absent(compiled, f"compiled.{name}"):  # a missing one warns
            setattr(guarded, name, getattr(compiled, name))
    guarded._torchdynamo_orig_callable = innermost
    guarded._torchdynamo_wrapper_id = id(guarded)
    setattr(guarded, GUARDED_ATTR, compiled)
    return guarded


def guard_class(cls: type, kwargs: dict[str, Any], how: Guard) -> type:
    """Compile ``cls`` in place, as ``torch.compile(cls)`` does on 2.5+, its ``__call__`` guarded.

    torch replaces the class's ``__call__`` with a compiled wrapper (and, for modules, also
    ``_call_impl``, which dynamo may inline directly). Here only ``__call__`` is replaced, by a
    guard around torch's wrapper: a guarded ``_call_impl`` would be traced by dynamo from inside
    the compiled ``__call__`` (it does not unwrap it there), and a raw compiled one would put
    dynamo's callback back under the guard's eager path. Modules still compile their forward
    (the compiled ``__call__`` runs ``_call_impl`` under dynamo), and dynamo inlines the
    original ``__call__`` where an instance is called from another compiled region. Done the
    same way on every release: before 2.5 ``torch.compile(cls)`` raises.
    """
    import torch

    from torchcompat._install import torch_compile

    original = cls.__call__
    compiled = torch_compile(torch)(original, **kwargs)
    setattr(cls, "__call__", guard_function(compiled, original, how))  # noqa: B010
    return cls
