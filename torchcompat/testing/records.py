"""Reading what dynamo compiled from its own records, and describing it for people.

Only modules already in ``sys.modules`` are read: counting never imports torch. Where dynamo is
loaded but its records are not where every release from 2.0 to 2.15 keeps them, the readers
raise :class:`RecordsMissing` instead of reporting zero: a count of nothing that checked nothing
would let ``assert_no_compilation()`` pass vacuously.
"""

from __future__ import annotations

import functools
import os
import sys
import weakref
from types import CodeType, FrameType

import torchcompat

__all__ = [
    "RecordsMissing",
    "call_site",
    "describe_code",
    "describe_target",
    "dynamo_stats",
    "output_code_refs",
]

_DYNAMO = "torch._dynamo"
_UTILS = "torch._dynamo.utils"
_CONVERT_FRAME = "torch._dynamo.convert_frame"
# torchcompat's own folder, with a trailing separator: frames there are plumbing.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(torchcompat.__file__)) + os.sep


class RecordsMissing(RuntimeError):
    """Dynamo is loaded but its records of what it compiled cannot be read on this release."""


def _missing(what: str, where: str) -> RecordsMissing:
    from torchcompat.version import torch_version

    return RecordsMissing(
        f"CompileCounter cannot count on torch {torch_version()}: dynamo is loaded but its "
        f"record of {what} ({where}) is missing or has another shape, so every count would be "
        "0 whatever was compiled. Please report this torch release to torchcompat."
    )


def dynamo_stats() -> tuple[int, int]:
    """``(unique_graphs, calls_captured)`` from dynamo's own counters; zeros if not loaded.

    Raises:
        RecordsMissing: dynamo is loaded and its counters are not where they should be.
    """
    if _DYNAMO not in sys.modules:
        return 0, 0
    # The counters live in torch._dynamo.utils from 2.0 to 2.15 and are never cleared by
    # torch._dynamo.reset(), so a difference of two readings is what was compiled in between.
    counters = getattr(sys.modules.get(_UTILS), "counters", None)
    if not isinstance(counters, dict):
        raise _missing("the graphs it captured", f"{_UTILS}.counters")
    _check_counter_keys()
    # A Counter: a key is absent until dynamo first counts it (nothing compiled yet), so an
    # absent key reads 0 here only once _check_counter_keys() has seen dynamo write it.
    stats = counters.get("stats") or {}
    return int(stats.get("unique_graphs", 0)), int(stats.get("calls_captured", 0))


_OUTPUT_GRAPH = "torch._dynamo.output_graph"
_COUNTER_KEYS = ("unique_graphs", "calls_captured")


def _check_counter_keys() -> None:
    """Raise :class:`RecordsMissing` unless dynamo's source still counts under our keys.

    ``counters["stats"]`` is a ``Counter``: a key renamed upstream would read 0 for ever, with
    no error anywhere. From 2.0 to 2.15 both keys are counted in
    ``torch/_dynamo/output_graph.py`` (``counters["stats"]["unique_graphs"] += 1``); its text is
    read once per process (about a millisecond).
    """
    path = getattr(sys.modules.get(_OUTPUT_GRAPH), "__file__", None)
    if path is None:  # not imported yet: its file, found without importing it
        import importlib.util

        try:
            spec = importlib.util.find_spec(_OUTPUT_GRAPH)
        except (ImportError, ValueError):
            spec = None
        path = None if spec is None else spec.origin
    absent = _absent_keys(path)
    if absent:
        raise _missing(
            "the graphs it captured",
            f'{_UTILS}.counters["stats"][{absent[0]!r}], counted in {_OUTPUT_GRAPH}',
        )


@functools.lru_cache(maxsize=4)
def _absent_keys(path: str | None) -> tuple[str, ...]:
    """The keys of :data:`_COUNTER_KEYS` that the file at ``path`` never names; all without it."""
    if path is None:
        return _COUNTER_KEYS
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError):
        return _COUNTER_KEYS
    return tuple(key for key in _COUNTER_KEYS if f'"{key}"' not in text and f"'{key}'" not in text)


def output_code_refs() -> list[weakref.ref[CodeType]]:
    """Dynamo's record of the bytecode it produced: one weak reference per compiled frame.

    Raises:
        RecordsMissing: dynamo is loaded and the record is not where it should be.
    """
    if _DYNAMO not in sys.modules:
        return []
    # torch._dynamo.convert_frame.output_codes is a Tracker whose ``seen`` list gets a new weak
    # reference for each frame compiled (2.0 to 2.15; torch._dynamo.reset() reads it too). It is
    # read, never written: the user's backend and dynamo's hooks stay as they are.
    tracker = getattr(sys.modules.get(_CONVERT_FRAME), "output_codes", None)
    seen = getattr(tracker, "seen", None)
    if not isinstance(seen, list):
        raise _missing("the frames it compiled", f"{_CONVERT_FRAME}.output_codes.seen")
    return list(seen)


def describe_code(ref: weakref.ref[CodeType]) -> str:
    """``"name (file:line)"`` of one compiled frame's code, with a note for torch's own code."""
    code = ref()
    if code is None:
        return "<a frame whose compiled code was freed since>"
    where = f"{code.co_name} ({code.co_filename}:{code.co_firstlineno})"
    torch_dir = os.path.dirname(getattr(sys.modules.get("torch"), "__file__", None) or "")
    if torch_dir and code.co_filename.startswith(torch_dir + os.sep):
        # E.g. the wrapper that torch.compile puts around a torch.nn module's forward, which
        # dynamo compiles with the forward inlined into it.
        where += " [torch's own code: the frame around what was compiled]"
    return where


def describe_target(obj: object) -> str:
    """What was handed to ``torch.compile`` or ``safe_compile``, in a few words."""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(obj, type):
        return f"class {name}"
    owner = getattr(obj, "__self__", None)
    if owner is not None and not isinstance(owner, type(sys)):
        # A bound method, such as the _call_impl that nn.Module.compile hands to torch.compile.
        return f"method {type(owner).__name__}.{getattr(obj, '__name__', '?')}"
    if callable(obj) and name is not None:
        return f"function {name}"
    return f"{type(obj).__name__} object"


def _skipped_dirs() -> tuple[str, ...]:
    """Package folders whose frames are plumbing, not the call site a user wants to see."""
    dirs = [_PACKAGE_DIR]
    for name in ("wrapt", "torch"):
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            dirs.append(os.path.dirname(path) + os.sep)
    return tuple(dirs)


def call_site(frame: FrameType | None) -> str:
    """``file:line`` of the first frame outside torchcompat, wrapt and torch."""
    skipped = _skipped_dirs()
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(skipped) and not filename.startswith("<frozen"):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"
