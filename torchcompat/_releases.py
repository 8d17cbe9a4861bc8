"""What each torch release does with ``torch.compile`` and its off-switches.

This is the one place where torch-version facts live, with :mod:`torchcompat._release_arguments`
for what ``torch.compile``'s arguments accept (read only when an argument is checked). Every row
names the first release that
has the behaviour and where the fact came from. The rows were read from each release's wheel and
are proven by the tox matrix (``tests/test_releases.py`` checks them against the real torch).

Facts are keyed on the release tuple (``2.12.0rc2``, ``2.12.0.dev…``, ``2.12.0+cpu`` all count
as ``(2, 12, 0)``). A release newer than the newest row is taken to behave like the newest row:
that is the safe side for every fact here (it keeps the guard, keeps strict parsing).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _T = TypeVar("_T")
    _FactsTuple = tuple[tuple[int, ...], tuple[int, int]]
else:
    _FactsTuple = tuple

__all__ = ["NEWEST_READ", "ReleaseFacts", "assumed_from", "facts_for", "newer_than_read"]

Release = tuple[int, ...]

# The newest release whose wheel was read for these facts (and that the matrix runs): a newer
# torch is assumed to behave like it, and the report says so.
NEWEST_READ: Release = (2, 15)


def assumed_from(release: Release) -> str | None:
    """``"2.15"`` where ``release`` is newer than every release read (its facts are that one's);
    None for a release that was read or is older."""
    if release[:2] <= NEWEST_READ:
        return None
    return ".".join(map(str, NEWEST_READ))


def newer_than_read(version: object, newest: str) -> str:
    """The sentence for a torch ``version`` newer than every release read (``assumed_from``)."""
    return (
        f"torch {version} is newer than any release torchcompat has read (newest: {newest}); "
        f"its facts are assumed from {newest}"
    )


# torch 2.0: torch.compile and torch._dynamo appear (1.13 has neither).
COMPILE_SINCE: Release = (2, 0)

# torch 2.8: TORCH_COMPILE_DISABLE is parsed as ``== "1"``; 2.0-2.7 read
# ``os.environ.get("TORCH_COMPILE_DISABLE", False)``, so any non-empty value ("0", "false")
# turned dynamo off and ``torch._dynamo.config.disable`` held the raw string.
# Breakpoint: pytorch/pytorch#149840.
STRICT_ENV_PARSE_SINCE: Release = (2, 8)

# torch 2.6: torch.compiler.set_stance ("force_eager" runs compiled code eagerly).
SET_STANCE_SINCE: Release = (2, 6)

# torch 2.12: after a fullgraph=True call, a check that at least one frame was compiled;
# 2.12 warns once per process (also under force_eager), 2.13+ raise RuntimeError on every call,
# after the body ran, but only under the default stance.
# Breakpoints: pytorch/pytorch#177809 (the check), #181817 (warn in 2.12, stance gating).
FULLGRAPH_CHECK_WARNS_SINCE: Release = (2, 12)
FULLGRAPH_CHECK_RAISES_SINCE: Release = (2, 13)

# torch 2.11: torch._dynamo.reset() also forgets "skip this code for good" marks. Before, running
# a compiled function while torch._dynamo.config.disable is set (and no stance keeps dynamo's
# callback out) marks its code, and that of every function it calls, and reset() leaves the
# marks. Seen on 2.1.2 and 2.7.1, not on 2.11.0 or 2.13.0; 2.8-2.10 were not probed and count as
# marking (the safe side: clearing the marks only costs time, ~0.1 s a reset on 2.1.2).
RESET_CLEARS_SKIP_MARKS_SINCE: Release = (2, 11)

# First release -> first Python that its torch.compile() refuses (it raises even when dynamo is
# disabled, so safe_compile must not call it there).
_PYTHON_REFUSED_FROM: tuple[tuple[Release, tuple[int, int]], ...] = (
    ((2, 0), (3, 11)),
    ((2, 1), (3, 12)),
    ((2, 4), (3, 13)),
    ((2, 6), (3, 14)),
    ((2, 10), (3, 15)),
    ((2, 15), (3, 16)),
)

# First release -> the RuntimeError text of that refusal ({} is the first refused Python, "3.13").
# 2.0 refuses in dynamo's check_if_dynamo_supported; 2.2+ in torch.compile itself, first. Read
# from the wheels of 2.2.2-2.5.1 and 2.9.1-2.10.0 and seen raised by 2.0.1 on 3.11, 2.5.1 on 3.13
# and 2.9.1 on 3.14; 2.1 and 2.6-2.8 were not read there: the texts of both neighbours count.
_REFUSAL_TEXTS: tuple[tuple[Release, str], ...] = (
    ((2, 0), "Python {}+ not yet supported for torch.compile"),
    ((2, 2), "Dynamo is not supported on Python {}+"),
    ((2, 9), "torch.compile is not supported on Python {}+"),
)
_REFUSAL_UNREAD = frozenset({(2, 1), (2, 6), (2, 7), (2, 8)})


def _last_row(rows: tuple[tuple[Release, _T], ...], release: Release) -> _T | None:
    """The value of the last row whose first release is at or below ``release``."""
    found: _T | None = None
    for since, value in rows:
        if release >= since:
            found = value
    return found


class ReleaseFacts(_FactsTuple):
    """The behaviour of one torch release (``release``) on one Python (``python``): a tuple
    ``(release, python)``, with NamedTuple's ``_fields``, ``_replace`` and ``_asdict``. Written
    out by hand, as ``CompileGate`` is: building a NamedTuple compiles its ``__new__`` (~0.4 ms,
    most of the pytest plugin's header line), and ``typing`` costs the gate's first call ~4 ms."""

    __slots__ = ()
    _fields = ("release", "python")

    def __new__(cls, release: Release, python: tuple[int, int]) -> ReleaseFacts:
        return tuple.__new__(cls, (release, python))

    def __repr__(self) -> str:
        return f"ReleaseFacts(release={self[0]!r}, python={self[1]!r})"

    def __getnewargs__(self) -> tuple[Release, tuple[int, int]]:
        return (self[0], self[1])

    def _replace(self, **changes: Any) -> ReleaseFacts:
        unknown = set(changes) - set(self._fields)
        if unknown:
            raise ValueError(f"Got unexpected field names: {sorted(unknown)!r}")
        return ReleaseFacts(changes.get("release", self[0]), changes.get("python", self[1]))

    def _asdict(self) -> dict[str, Any]:
        return {"release": self[0], "python": self[1]}

    @property
    def release(self) -> Release:
        """The release, as a tuple of ints: ``(2, 13, 0)``."""
        return self[0]

    @property
    def python(self) -> tuple[int, int]:
        """The Python, as ``(major, minor)``."""
        return self[1]

    @property
    def has_compile(self) -> bool:
        """Whether the release ships ``torch.compile`` at all."""
        return self.release >= COMPILE_SINCE

    @property
    def python_refused_from(self) -> tuple[int, int] | None:
        """The first Python whose ``torch.compile()`` call this release refuses."""
        return _last_row(_PYTHON_REFUSED_FROM, self.release)

    @property
    def refuses_python(self) -> bool:
        """Whether ``torch.compile()`` raises on this Python, whatever the switches say."""
        refused = self.python_refused_from
        return refused is not None and self.python >= refused

    @property
    def python_refusal_texts(self) -> tuple[str, ...]:
        """What torch's refusal of this Python starts with (two texts for a release whose text
        was not read: either neighbour's); empty where it does not refuse."""
        if not self.has_compile or not self.refuses_python:
            return ()
        refused = ".".join(map(str, self.python_refused_from or ()))
        texts = [_last_row(_REFUSAL_TEXTS, self.release)]
        if self.release[:2] in _REFUSAL_UNREAD:
            texts += [text for since, text in _REFUSAL_TEXTS if since > self.release][:1]
        return tuple(text.format(refused) for text in texts if text is not None)

    @property
    def compile_usable(self) -> bool:
        """Whether ``torch.compile`` exists and accepts this Python."""
        return self.has_compile and not self.refuses_python

    @property
    def loose_env_parse(self) -> bool:
        """Whether any non-empty ``TORCH_COMPILE_DISABLE`` turns dynamo off (2.0-2.7)."""
        return self.has_compile and self.release < STRICT_ENV_PARSE_SINCE

    @property
    def has_set_stance(self) -> bool:
        """Whether ``torch.compiler.set_stance`` exists."""
        return self.release >= SET_STANCE_SINCE

    @property
    def fullgraph_check(self) -> str | None:
        """``"warn"`` (2.12), ``"raise"`` (2.13+) or ``None``: the no-compiled-frames check."""
        if self.release >= FULLGRAPH_CHECK_RAISES_SINCE:
            return "raise"
        if self.release >= FULLGRAPH_CHECK_WARNS_SINCE:
            return "warn"
        return None

    @property
    def reset_keeps_skip_marks(self) -> bool:
        """Whether ``torch._dynamo.reset()`` leaves code marked as skipped for good (< 2.11)."""
        return self.has_compile and self.release < RESET_CLEARS_SKIP_MARKS_SINCE

    @property
    def compile_kwargs(self) -> frozenset[str]:
        """The keyword arguments of ``torch.compile``; 2.0's where there is none (1.13)."""
        from torchcompat._release_arguments import COMPILE_KWARGS

        found = _last_row(COMPILE_KWARGS, self.release)
        return COMPILE_KWARGS[0][1] if found is None else found

    @property
    def inductor_modes(self) -> tuple[str, ...] | None:
        """inductor's modes in torch's error-message order; ``None`` where torch checks none."""
        from torchcompat._release_arguments import INDUCTOR_MODES

        return _last_row(INDUCTOR_MODES, self.release)

    @property
    def builtin_backends(self) -> frozenset[str] | None:
        """Every built-in backend name (debug ones too); ``None`` where torch checks none."""
        from torchcompat._release_arguments import BUILTIN_BACKENDS

        return _last_row(BUILTIN_BACKENDS, self.release)

    @property
    def listed_backends(self) -> frozenset[str] | None:
        """``torch._dynamo.list_backends()``'s built-in names, where an error suggests from them."""
        from torchcompat._release_arguments import BACKEND_SUGGESTIONS_SINCE, LISTED_BACKENDS

        if self.release < BACKEND_SUGGESTIONS_SINCE:
            return None
        return _last_row(LISTED_BACKENDS, self.release)


def facts_for(release: Release, python: tuple[int, int] | None = None) -> ReleaseFacts:
    """The facts for ``release`` (a tuple such as ``(2, 13, 0)``) on ``python`` (default: this one).

    Raises:
        ValueError: ``release`` is empty or holds anything but non-negative ints.
    """
    if not release or not all(isinstance(part, int) and part >= 0 for part in release):
        raise ValueError(f"a torch release is a tuple of non-negative ints, got {release!r}")
    if python is None:
        python = (sys.version_info[0], sys.version_info[1])
    return ReleaseFacts(tuple(release), python)
