"""safe_compile's argument handling: what the installed ``torch.compile`` accepts.

Checked whether compilation is on or off, so a typo fails on every machine, not only on the one
where compilation happens to be on.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from torchcompat.version import installed_facts

__all__ = ["accepted_kwargs", "check_kwargs"]


@functools.lru_cache(maxsize=4)
def _signature_kwargs(compile_fn: object) -> frozenset[str] | None:
    """The keywords of ``compile_fn``'s signature; ``None`` if it takes ``**kwargs``."""
    import inspect

    assert callable(compile_fn)
    try:
        params = inspect.signature(compile_fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable with no signature
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        # A replaced torch.compile (mock.patch, a spy, a profiler) that forwards **kwargs:
        # defer to it, it accepts what it accepts.
        return None
    return frozenset(name for name in params if name != "model")


def accepted_kwargs() -> frozenset[str] | None:
    """The keywords ``torch.compile`` takes here; ``None`` where it takes any (``**kwargs``).

    The real signature where torch is loaded (the table agrees, tested), else the release
    table's; 2.0's without torch or on 1.13.
    """
    torch = sys.modules.get("torch")
    compile_fn = getattr(torch, "compile", None)
    if compile_fn is not None:
        return _signature_kwargs(compile_fn)
    facts = installed_facts()
    if facts is not None:
        return facts.compile_kwargs
    from torchcompat._releases import facts_for

    return facts_for((2, 0)).compile_kwargs


def check_kwargs(kwargs: dict[str, Any]) -> None:
    """Raise ``TypeError`` naming the first keyword that ``torch.compile`` here does not take."""
    if not kwargs:
        return
    accepted = accepted_kwargs()
    if accepted is None:
        return
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
