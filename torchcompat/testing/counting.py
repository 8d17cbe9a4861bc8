"""Counting compilation in a block: :class:`CompileCounter` and its :class:`CompileCounts`."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, fields
from types import CodeType, TracebackType
from typing import Any

from torchcompat.testing.calls import CALLS
from torchcompat.testing.records import (
    RecordsMissing,
    describe_code,
    dynamo_stats,
    output_code_refs,
)

__all__ = ["CompileCounter", "CompileCounts", "check_counts"]


@dataclass(frozen=True)
class CompileCounts:
    """How much was compiled, and how often compilation was asked for, in one counted block.

    Attributes:
        frames: Python frames that dynamo compiled into new bytecode (each recompilation and each
            graph-break resume function counts once).
        graphs: FX graphs that dynamo captured and handed to a backend
            (``torch._dynamo.utils.counters["stats"]["unique_graphs"]``).
        ops: calls captured into those graphs (``counters["stats"]["calls_captured"]``).
        torch_compile_calls: calls of ``torch.compile`` that were given something to wrap
            (``nn.Module.compile`` and ``safe_compile`` with compilation on call it too).
        safe_compile_calls: calls of :func:`torchcompat.safe_compile` that were given something
            to wrap, whether compilation was on or off.
    """

    frames: int = 0
    graphs: int = 0
    ops: int = 0
    torch_compile_calls: int = 0
    safe_compile_calls: int = 0


_FIELDS = tuple(field.name for field in fields(CompileCounts))


class CompileCounter:
    """Counts compilation in a ``with`` block: what torch compiled, and who asked for it.

    It reads dynamo's own records (the bytecode it produced, its graph counters), so your
    backend stays yours: ``backend="inductor"``, ``"eager"`` or a function all count the same.
    Calls of ``torch.compile`` and :func:`torchcompat.safe_compile` are counted by wrapping them
    for the duration of the block (``torch.compile`` is put back afterwards); a reference taken
    before the block (``from torch import compile``) is not seen.

    Counts are process-wide: compilation in other threads during the block counts too. Counters
    nest; an inner block counts toward the outer one as well. Importing torch is never the
    counter's doing: if torch is imported inside the block, ``torch.compile`` is wrapped then.

    Where dynamo is loaded but its records cannot be read (a torch release that moved them), the
    counter refuses to count: entering, leaving or reading it raises
    :class:`~torchcompat.testing.records.RecordsMissing` (a ``RuntimeError`` naming the
    release), never a count of 0 that checked nothing.

    Example::

        with CompileCounter() as counter:
            safe_compile(f, backend="eager")(x)
        counter.expect(frames=1, graphs=1, safe_compile_calls=1)
    """

    def __init__(self) -> None:
        self._active = False
        self._done = False
        self._base_stats = (0, 0)
        self._base_refs: list[weakref.ref[CodeType]] = []
        self._base_ids: set[int] = set()
        self._final: CompileCounts | None = None
        self._final_frames: tuple[str, ...] = ()
        self._refusal: RecordsMissing | None = None
        self._calls: dict[str, list[str]] = {"torch_compile_calls": [], "safe_compile_calls": []}
        self._lock = threading.Lock()

    def __enter__(self) -> CompileCounter:
        if self._active or self._done:
            raise RuntimeError("a CompileCounter counts one block: make a new one for each")
        self._base_stats = dynamo_stats()
        # Keep the references themselves alive, so that their ids cannot be reused by new ones.
        self._base_refs = output_code_refs()
        self._base_ids = {id(ref) for ref in self._base_refs}
        self._active = True
        CALLS.activate(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._final_frames = self._new_frames()
            self._final = self._current()
        except RecordsMissing as refusal:
            self._refusal = refusal
            if exc_type is None:  # the block's own exception, if any, matters more
                raise
        finally:
            self._active = False
            self._done = True
            CALLS.deactivate(self)

    def __repr__(self) -> str:
        state = "counting" if self._active else "done" if self._done else "not started"
        try:
            counts = self.counts
        except RecordsMissing:
            return f"<CompileCounter {state}: cannot count, dynamo's records are missing>"
        shown = ", ".join(f"{name}={getattr(counts, name)}" for name in _FIELDS)
        return f"<CompileCounter {state}: {shown}>"

    def _record(self, field: str, entry: str) -> None:
        with self._lock:
            self._calls[field].append(entry)

    def _new_frames(self) -> tuple[str, ...]:
        return tuple(
            describe_code(ref) for ref in output_code_refs() if id(ref) not in self._base_ids
        )

    def _current(self) -> CompileCounts:
        graphs, ops = dynamo_stats()
        base_graphs, base_ops = self._base_stats
        with self._lock:
            torch_calls = len(self._calls["torch_compile_calls"])
            safe_calls = len(self._calls["safe_compile_calls"])
        return CompileCounts(
            frames=len(self._new_frames()),
            graphs=graphs - base_graphs,
            ops=ops - base_ops,
            torch_compile_calls=torch_calls,
            safe_compile_calls=safe_calls,
        )

    @property
    def counts(self) -> CompileCounts:
        """The counts so far (while in the block) or of the whole block (after it)."""
        if self._refusal is not None:
            raise RecordsMissing(str(self._refusal))
        if self._final is not None:
            return self._final
        if not self._active:
            return CompileCounts()
        return self._current()

    @property
    def frames(self) -> int:
        """Frames compiled in the block (see :class:`CompileCounts`)."""
        return self.counts.frames

    @property
    def graphs(self) -> int:
        """Graphs captured in the block."""
        return self.counts.graphs

    @property
    def ops(self) -> int:
        """Calls captured into graphs in the block."""
        return self.counts.ops

    @property
    def torch_compile_calls(self) -> int:
        """Calls of ``torch.compile`` that were given something to wrap."""
        return self.counts.torch_compile_calls

    @property
    def safe_compile_calls(self) -> int:
        """Calls of ``safe_compile`` that were given something to wrap."""
        return self.counts.safe_compile_calls

    @property
    def compiled_frames(self) -> tuple[str, ...]:
        """Each compiled frame as ``"name (file:line)"``, in the order dynamo compiled them."""
        if self._refusal is not None:
            raise RecordsMissing(str(self._refusal))
        if self._done:
            return self._final_frames
        return self._new_frames() if self._active else ()

    @property
    def torch_compile_sites(self) -> tuple[str, ...]:
        """Each ``torch.compile`` call as ``"torch.compile(function f), at file:line"``."""
        with self._lock:
            return tuple(self._calls["torch_compile_calls"])

    @property
    def safe_compile_sites(self) -> tuple[str, ...]:
        """Each ``safe_compile`` call as ``"safe_compile, at file:line"``."""
        with self._lock:
            return tuple(self._calls["safe_compile_calls"])

    def report(self) -> str:
        """What was compiled where, for people: the counts, the frames, the call sites."""
        counts = self.counts
        lines = ["counts: " + ", ".join(f"{name}={getattr(counts, name)}" for name in _FIELDS)]
        sections = (
            ("frames dynamo compiled", self.compiled_frames),
            ("torch.compile was asked to wrap", self.torch_compile_sites),
            ("safe_compile was asked to wrap", self.safe_compile_sites),
        )
        for title, entries in sections:
            if entries:
                lines.append(f"{title} ({len(entries)}):")
                lines.extend(f"  - {entry}" for entry in entries)
            else:
                lines.append(f"{title}: none")
        return "\n".join(lines)

    def expect(
        self,
        *,
        frames: int | None = None,
        graphs: int | None = None,
        ops: int | None = None,
        torch_compile_calls: int | None = None,
        safe_compile_calls: int | None = None,
    ) -> None:
        """Assert the counts given (the others are not checked).

        Raises:
            AssertionError: a count differs; the message lists each difference, then what was
                compiled where (:meth:`report`).
            TypeError: a count that is not an int.
            ValueError: no count given, or a negative one.
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        wanted = {
            "frames": frames,
            "graphs": graphs,
            "ops": ops,
            "torch_compile_calls": torch_compile_calls,
            "safe_compile_calls": safe_compile_calls,
        }
        wanted = {name: value for name, value in wanted.items() if value is not None}
        check_counts(wanted)
        counts = self.counts
        wrong = [
            f"  {name}: expected {value}, got {getattr(counts, name)}"
            for name, value in wanted.items()
            if getattr(counts, name) != value
        ]
        if wrong:
            raise AssertionError(
                "compilation differs from what was expected:\n"
                + "\n".join(wrong)
                + "\n"
                + self.report()
            )


def check_counts(wanted: dict[str, Any]) -> None:
    """Raise if ``wanted`` (count name to value) cannot be expected: empty, not ints, negative."""
    if not wanted:
        raise ValueError(f"expect() needs at least one count, out of: {', '.join(_FIELDS)}")
    for name, value in wanted.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expect(): {name} must be an int, got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"expect(): {name} must be 0 or more, got {value}")
