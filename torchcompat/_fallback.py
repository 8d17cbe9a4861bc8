"""``fallback="eager"``: what counts as a failure of compilation, and each result's state.

A failure of compilation is told from the user's own errors by where it comes from (the
exception's class and cause chain), never by its text.
"""

from __future__ import annotations

import threading

from torchcompat import _internals, _warnings

__all__ = [
    "FALLBACK_ATTR",
    "FallbackState",
    "is_compile_failure",
    "on_call_failure",
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


def is_compile_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of compilation, not an error of the user's code.

    Decided by where the exception comes from (its class, defined by dynamo or inductor, and its
    cause chain), never by message text; the classes are
    :data:`torchcompat._internals.COMPILE_FAILURES` and ``USER_ERRORS``. Where this torch lacks
    one of the user-error classes its release should have, nothing counts as a failure of
    compilation (errors propagate, with one warning naming the class): a user's error is never
    swallowed for want of telling it apart.
    """
    failures = _internals.classes(_internals.COMPILE_FAILURES)
    if not failures or not isinstance(exc, failures):
        return False
    user = _internals.classes(_internals.USER_ERRORS)
    if user is None:
        return False
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 16:
        if user and isinstance(cause, user):
            return False
        cause, seen = cause.__cause__, seen + 1
    return True


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
