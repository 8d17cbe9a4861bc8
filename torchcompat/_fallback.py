"""``fallback="eager"``: what counts as a failure of compilation, and each result's state.

A failure of compilation is told from the user's own errors by where it comes from (the
exception's class and cause chain), never by its text.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from torchcompat import _warnings

__all__ = [
    "FALLBACK_ATTR",
    "FallbackState",
    "is_compile_failure",
    "on_call_failure",
    "with_fallback_backend",
]

# The attribute that holds a fallback result's FallbackState.
FALLBACK_ATTR = "_torchcompat_fallback"


class FallbackState:
    """Whether one ``fallback="eager"`` result has fallen back, and why (thread-safe)."""

    __slots__ = ("_lock", "reason")

    def __init__(self) -> None:
        self.reason: str | None = None
        self._lock = threading.Lock()

    def fall_back(self, exc: BaseException) -> None:
        """Switch to eager for good; the first failure's reason wins and warns once."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = f"{type(exc).__name__}: {_first_line(exc)}"
        _warnings.warn(
            f"safe_compile(fallback='eager'): compilation failed, running eagerly from now on "
            f"({self.reason})",
            skip_torch=True,
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


# Names of the exceptions that torch raises for a failure of compilation itself. Looked up by
# name because they moved between releases; a name a release lacks is simply absent there.
_COMPILE_FAILURES = (
    ("torch._dynamo.exc", "BackendCompilerFailed"),  # any backend, inductor included
    ("torch._dynamo.exc", "Unsupported"),  # cannot capture (fullgraph graph breaks, ...)
    ("torch._dynamo.exc", "InternalTorchDynamoError"),
    ("torch._dynamo.exc", "RecompileError"),
    ("torch._dynamo.exc", "FailOnRecompileLimitHit"),  # fullgraph + recompile limit
    ("torch._dynamo.exc", "CacheLimitExceeded"),  # its older name
    ("torch._inductor.exc", "InductorError"),
    ("torch._inductor.exc", "InvalidCxxCompiler"),
    ("torch._inductor.exc", "CppCompileError"),
)
# ... and those among them that report an error of the user's own code, found while tracing:
# a failing op on fake tensors, misuse of a dynamo API, or an exception the body raised.
_USER_ERRORS = (
    ("torch._dynamo.exc", "TorchRuntimeError"),
    ("torch._dynamo.exc", "UserError"),
    ("torch._dynamo.exc", "ObservedException"),
)


def _classes(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    found = []
    for module, name in names:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def is_compile_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of compilation, not an error of the user's code.

    Decided by where the exception comes from (its class, defined by dynamo or inductor, and its
    cause chain), never by message text.
    """
    failures = _classes(_COMPILE_FAILURES)
    if not failures or not isinstance(exc, failures):
        return False
    user = _classes(_USER_ERRORS)
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 16:
        if user and isinstance(cause, user):
            return False
        cause, seen = cause.__cause__, seen + 1
    return True


def with_fallback_backend(kwargs: dict[str, Any], state: FallbackState) -> dict[str, Any]:
    """``torch.compile``'s keywords for a ``fallback="eager"`` result, before it is compiled.

    The backend becomes the one ``torch.compile`` would build (``mode`` and ``options`` in it),
    wrapped so that a graph whose compile fails runs as the FX graph dynamo traced, in the same
    call, and ``state`` falls back (see :mod:`torchcompat._fallback_backend`). Keywords it cannot
    resolve as torch would (``mode`` with ``options``, which torch rejects) pass unchanged.
    """
    from torchcompat._fallback_backend import resolve_backend

    resolved = resolve_backend(kwargs, state)
    return kwargs if resolved is None else resolved


def on_call_failure(state: FallbackState, exc: Exception, rerun_safe: bool) -> bool:
    """After the compiled call raised ``exc``: whether to run the call eagerly (True) or re-raise.

    Reached only by failures that do not go through the backend: dynamo's own (a graph break
    under fullgraph, the recompile limit, an internal error). A failure of compilation switches
    the result to eager for good. The failing call is re-run only where none of the body can
    have run yet (``rerun_safe``: fullgraph, where dynamo traces the whole body, and fails,
    before any of it runs).
    """
    if not is_compile_failure(exc):
        return False
    state.fall_back(exc)
    return rerun_safe
