"""Every private torch name torchcompat reads: one row each, resolved once, absences recorded.

A compatibility shim earns its keep on the release nobody has read yet, so each private name is
a row of :data:`INTERNALS` (the table is :mod:`torchcompat._internal_names`): where it lives,
the first release torchcompat read it on (it is expected on that release and every later one),
and what it is for. :func:`resolve` looks a row up once its module is loaded and keeps the
answer, the object or :data:`ABSENT`. An absence on a release that should have the name is
never read as "off" or "nothing compiled": callers take their safe path (see each row's
``safe``), and one :class:`TorchCompatWarning` per name says what is missing on which release.
:func:`missing` lists them, for ``python -m torchcompat``.

Kept apart from :mod:`torchcompat._releases` (the behaviour of each release, read without
importing torch): these rows are read off torch's loaded modules, at run time.
"""

from __future__ import annotations

import sys
from typing import Any

from torchcompat._internal_names import (
    COMPILE_FAILURES,
    DYNAMO_SIGNALS,
    INTERNALS,
    USER_ERRORS,
    Internal,
)

__all__ = [
    "ABSENT",
    "COMPILE_FAILURES",
    "DYNAMO_SIGNALS",
    "INTERNALS",
    "USER_ERRORS",
    "Internal",
    "absent",
    "classes",
    "expected",
    "missing",
    "report_absent",
    "resolve",
]


class _Absent:
    """A name this torch lacks (falsy, never the object)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()

# Rows already looked up, once their module was loaded: the object, or ABSENT.
_resolved: dict[str, Any] = {}
# Names reported missing (on a release that should have them), in the order found.
_missing: dict[str, None] = {}


def _release() -> tuple[int, ...] | None:
    from torchcompat.version import installed_facts

    facts = installed_facts()
    return None if facts is None else facts.release


def expected(name: str) -> bool:
    """Whether this torch should have ``name`` (its release is at or after the row's ``since``)."""
    release = _release()
    return release is not None and release >= INTERNALS[name].since


def resolve(name: str) -> Any:
    """The object ``name`` stands for, or :data:`ABSENT`; ``None`` while its module is unloaded.

    Looked up once the module is loaded (nothing is imported here); an absence the release
    should not have is reported (:func:`report_absent`).
    """
    found = _resolved.get(name)
    if found is not None:
        return found
    row = INTERNALS[name]
    module = sys.modules.get(row.module)
    if module is None:
        return None
    found = getattr(module, row.attr, ABSENT)
    if found is None:  # a name set to None reads as absent, and stays cached
        found = ABSENT
    _resolved[name] = found
    if found is ABSENT and expected(name):
        report_absent(name)
    return found


def absent(obj: object, name: str) -> bool:
    """Whether ``obj`` lacks the attribute of row ``name``; reported if it should have it."""
    if hasattr(obj, INTERNALS[name].attr):
        return False
    if expected(name):
        report_absent(name)
    return True


def report_absent(name: str, detail: str = "") -> None:
    """Record ``name`` as missing on this torch and say so, once, with what torchcompat does."""
    from torchcompat import _warnings
    from torchcompat.version import torch_version

    _missing[name] = None
    row = INTERNALS[name]
    why = f" ({detail})" if detail else ""
    _warnings.warn(
        f"torch {torch_version()} lacks {name}{why}, which torchcompat reads for {row.purpose} "
        f"on torch {'.'.join(map(str, row.since))}+; instead: {row.safe}",
        once=True,
    )


def missing(load: bool = False) -> list[str]:
    """The private torch names this torch should have and lacks, as :data:`INTERNALS` names them.

    With ``load``, imports the modules the rows live in first (``torch._dynamo`` and the
    inductor's exceptions; seconds), so that every module-level row is looked up; without,
    only what this process has loaded and used so far. For ``python -m torchcompat``:
    ``torchcompat._internals.missing(load=True)``.
    """
    if load and _release() is not None:
        import importlib

        for row in INTERNALS.values():
            if row.module and row.module not in sys.modules:
                try:
                    importlib.import_module(row.module)
                except Exception:
                    continue
    for name, row in INTERNALS.items():
        if row.module:
            resolve(name)
    return list(_missing)


def classes(names: tuple[str, ...]) -> tuple[type[BaseException], ...] | None:
    """The exception classes of rows ``names`` that this torch has loaded and has.

    ``None`` where one that this release should have is missing from its loaded module (then
    reported): the caller cannot tell these exceptions apart and takes its safe path.
    """
    found: list[type[BaseException]] = []
    for name in names:
        cls = resolve(name)
        if cls is ABSENT and expected(name):
            return None
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
        elif isinstance(cls, tuple):  # exceptions_allowed_to_be_fallback
            found.extend(c for c in cls if isinstance(c, type) and issubclass(c, BaseException))
    return tuple(found)


def clear() -> None:
    """Forget every lookup (tests that plant a change after torchcompat looked)."""
    _resolved.clear()
    _missing.clear()
