"""The backend of a ``fallback="eager"`` result: torch's own, with a fallback per graph.

Dynamo hands a backend one FX graph at a time, *before* that graph runs. Wrapping the backend
that ``torch.compile`` would have built (the same string lookup, ``mode`` and ``options``,
inductor included) lets a failing compile of one graph run that graph as the FX graph dynamo
traced, eagerly, in the same call: graphs that ran before it are not re-run, the user's code
between graphs runs once, and the call does not raise.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

from torchcompat import _internals
from torchcompat._fallback import FallbackState

__all__ = ["FallbackBackend", "resolve_backend", "with_fallback_backend"]


def _passes_through(exc: BaseException) -> bool:
    """Whether a backend's ``exc`` is dynamo's to handle, never a failure to fall back from.

    Exceptions dynamo gives a meaning of its own (restart the analysis, skip the frame, the
    fake-tensor errors it breaks the graph on, the user's errors found while tracing, an
    IndexError it passes to the user): :data:`torchcompat._internals.DYNAMO_SIGNALS` and
    ``USER_ERRORS``. Where this torch lacks one its release should have, everything passes
    through: no fallback rather than a wrong one (one warning names the class).
    """
    if isinstance(exc, IndexError):
        return True  # torch 2.13 passes these on as the user's dim errors
    signals = _internals.classes(_internals.DYNAMO_SIGNALS + _internals.USER_ERRORS)
    return signals is None or isinstance(exc, signals)


class FallbackBackend:
    """A dynamo backend: ``inner``'s compile of each graph, or the graph itself if that fails."""

    def __init__(self, inner: Callable[..., Any], state: FallbackState) -> None:
        self.inner = inner
        self.state = state
        # torch.compile wraps this in its _TorchCompileWrapper, which names the backend after
        # __name__: dynamo then treats it as the registered backend it stands for.
        name = getattr(inner, "compiler_name", None) or getattr(inner, "__name__", None)
        self.__name__ = str(name or type(inner).__name__)

    def __call__(self, gm: Any, example_inputs: Any) -> Any:
        if self.state.reason is not None:
            return gm.forward  # fallen back already: no more compile attempts
        # Backends may rewrite the graph in place before they fail (inductor's pre-grad passes):
        # keep the graph as dynamo handed it. The nodes only; weights stay shared.
        graph = copy.deepcopy(gm.graph)
        try:
            with _backward_compiled_now():
                return self.inner(gm, example_inputs)
        except Exception as exc:
            if _passes_through(exc):
                raise
            self.state.fall_back(exc)
        import torch.fx

        return torch.fx.GraphModule(gm, graph).forward

    def reset(self) -> None:
        """Forward ``torch._dynamo.reset()``'s reset of the backend (inductor's caches)."""
        reset = getattr(self.inner, "reset", None)
        if callable(reset):
            reset()


@contextlib.contextmanager
def _backward_compiled_now() -> Iterator[None]:
    """Make AOTAutograd compile the backward with the forward, inside the backend's call.

    Left alone, it compiles the backward lazily at the first ``backward()``, where a failure
    cannot fall back any more (the forward already ran compiled). Where the switch exists
    (``torch._functorch.config.force_non_lazy_backward_lowering``), it is set for this one
    compile only; dynamo compiles under one lock, and from 2.12 config patches are per thread.
    """
    config = sys.modules.get("torch._functorch.config")
    if config is None or not hasattr(config, "force_non_lazy_backward_lowering"):
        yield
        return
    with config.patch(force_non_lazy_backward_lowering=True):
        yield


def _accepted(cls: Any, **kwargs: Any) -> dict[str, Any]:
    """``kwargs`` less the ones ``cls`` does not take (``name`` came to inductor's in 2.12)."""
    params = inspect.signature(cls).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def _keys_torch_reads(torch: Any) -> tuple[str, ...]:
    """The keys ``torch.compile`` pops out of ``options`` before the backend sees them.

    Told by what they are for: ``guard_filter_fn`` goes to ``torch._dynamo.optimize`` where that
    takes it (2.8+), ``use_aoti`` picks the AOTInductor wrapper where that exists (2.10+).
    """
    keys = []
    optimize = getattr(sys.modules.get("torch._dynamo.eval_frame"), "_optimize", None)
    if callable(optimize) and "guard_filter_fn" in inspect.signature(optimize).parameters:
        keys.append("guard_filter_fn")
    if hasattr(torch, "_TorchCompileAOTInductorWrapper"):
        keys.append("use_aoti")
    return tuple(keys)


def resolve_backend(kwargs: dict[str, Any], state: FallbackState) -> dict[str, Any] | None:
    """``kwargs`` with the backend ``torch.compile`` would build, wrapped in a FallbackBackend.

    Resolves as ``torch.compile`` does: no ``backend`` means the default one (``"inductor"``,
    or ``torch._dynamo``'s ``get_default_backend()`` where that exists, 2.13+), ``"inductor"``
    is ``torch._TorchCompileInductorWrapper(mode, options, dynamic)`` (the AOTInductor one with
    ``options["use_aoti"]``, 2.10+), anything else ``torch._TorchCompileWrapper``. ``mode`` and
    ``options`` move into that object; the keys that torch reads out of ``options`` itself
    (``guard_filter_fn``, 2.8+) stay. Returns None where it cannot build what torch would (a
    torch without these classes, or ``mode`` and ``options`` both given, which torch rejects):
    the caller then leaves the keywords as they are.
    """
    import torch

    mode, options = kwargs.get("mode"), kwargs.get("options")
    if mode is not None and options is not None:
        return None  # torch.compile's own error says why
    backend = kwargs.get("backend", "inductor")
    if backend is None:  # 2.13+: the default backend, as torch.compile looks it up
        registry = sys.modules.get("torch._dynamo.backends.registry")
        default = getattr(registry, "get_default_backend", None)
        backend = default() if callable(default) else "inductor"
    if mode is None and options is None:
        mode = "default"
    kept: dict[str, Any] = {}
    use_aoti = False
    if isinstance(options, dict):
        options = dict(options)
        for key in _keys_torch_reads(torch):
            if key in options:
                kept[key] = options.pop(key)
        use_aoti = bool(kept.pop("use_aoti", False))
    dynamic = kwargs.get("dynamic")
    args = {"mode": mode, "options": options, "dynamic": dynamic, "name": kwargs.get("name")}
    if backend == "inductor":
        cls = getattr(torch, "_TorchCompileAOTInductorWrapper" if use_aoti else "", None)
        cls = cls or getattr(torch, "_TorchCompileInductorWrapper", None)
    else:
        cls = getattr(torch, "_TorchCompileWrapper", None)
        args["backend"] = backend
    if cls is None:
        return None
    inner = cls(**_accepted(cls, **args))
    resolved = {k: v for k, v in kwargs.items() if k not in ("mode", "options")}
    resolved["backend"] = FallbackBackend(inner, state)
    if kept:
        resolved["options"] = kept  # torch pops them again and passes them on to dynamo
    return resolved


def with_fallback_backend(kwargs: dict[str, Any], state: FallbackState) -> dict[str, Any]:
    """``torch.compile``'s keywords for a ``fallback="eager"`` result, before it is compiled.

    The backend becomes the one ``torch.compile`` would build (``mode`` and ``options`` in it),
    wrapped so that a graph whose compile fails runs as the FX graph dynamo traced, in the same
    call, and ``state`` falls back (see :class:`FallbackBackend`). Keywords it cannot
    resolve as torch would (``mode`` with ``options``, which torch rejects) pass unchanged.
    """
    resolved = resolve_backend(kwargs, state)
    return kwargs if resolved is None else resolved
