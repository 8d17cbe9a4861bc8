"""safe_compile's argument handling: what the installed ``torch.compile`` accepts.

Keywords are checked whether compilation is on or off, so a typo fails on every machine, not only
on the one where compilation happens to be on. The values torch itself checks when
``torch.compile`` is called (a ``backend`` name, inductor's ``mode``)
are checked here while compilation is off, from the release table and without importing torch,
with torch's own message and exception class (``RuntimeError``; torch raises its subclass
``InvalidBackend`` for a backend). While compilation is on, torch checks them itself.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from torchcompat._releases import ReleaseFacts
from torchcompat.gate import compile_gate
from torchcompat.version import installed_facts

__all__ = ["accepted_kwargs", "check_kwargs", "check_values"]


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
    """Raise for an argument that ``torch.compile`` here would refuse.

    Raises:
        TypeError: naming the first keyword that ``torch.compile`` here does not take.
        RuntimeError: while compilation is off, a ``backend`` or ``mode`` value that torch
            would refuse when it is on, with torch's message (:func:`check_values`).
    """
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
    # While compilation is on, torch.compile checks them itself, with its own classes.
    if ("backend" in kwargs or "mode" in kwargs) and compile_gate().disabled:
        facts = installed_facts()
        if facts is not None and facts.has_compile:
            check_values(kwargs, facts)


def check_values(kwargs: dict[str, Any], facts: ReleaseFacts) -> None:
    """Raise ``RuntimeError`` with torch's message for a value ``torch.compile`` would refuse.

    ``backend``: a name that is neither built into the release nor a ``torch_dynamo_backends``
    entry point nor registered at run time; ``mode``: with inductor, a mode the release lacks.
    Values this release's torch does not check pass. (``mode`` together with ``options``, which
    torch also refuses, is left to torch.)
    """
    backend = kwargs.get("backend", "inductor")
    mode = kwargs.get("mode")
    if isinstance(backend, str) and backend != "inductor":
        _check_backend(backend, facts)
    modes = facts.inductor_modes
    # 2.13+: backend=None means the default backend, inductor.
    inductor = backend in (None, "inductor")
    if inductor and mode and mode != "default" and modes is not None and mode not in modes:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(modes)}")


def _check_backend(name: str, facts: ReleaseFacts) -> None:
    builtin = facts.builtin_backends
    if builtin is None or name in builtin:
        return
    registered = _registered_backends()
    if name in registered:
        return
    from importlib.metadata import entry_points

    plugins = set(entry_points(group="torch_dynamo_backends").names)
    if name in plugins:
        return
    listed = facts.listed_backends
    if listed is None:
        raise RuntimeError(
            f"Invalid backend: {name!r}, see `torch._dynamo.list_backends()` for available "
            "backends."
        )
    import difflib

    # torch 2.14+: InvalidBackend(name, difflib.get_close_matches(name, list_backends(), n=2)).
    # Names registered at run time carry no tags, as a rule: listed too.
    listed = listed | plugins | (registered - builtin)
    suggestions = difflib.get_close_matches(name, sorted(listed), n=2)
    hint = f", did you mean: {', '.join(map(repr, suggestions))}?" if suggestions else "."
    raise RuntimeError(
        f"Invalid backend: {name!r}{hint} See `torch._dynamo.list_backends()` for available "
        "backends."
    )


def _registered_backends() -> set[str]:
    """Names registered at run time (``register_backend``), where dynamo is loaded at all."""
    registry = sys.modules.get("torch._dynamo.backends.registry")
    names = getattr(registry, "_BACKENDS", None)
    return set(names) if isinstance(names, dict) else set()
