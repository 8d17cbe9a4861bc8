"""Helpers for test suites that use ``torch.compile``: count compilation, switch it off, fuzz gates.

Everything here works on every torch release that torchcompat supports (1.13 to 2.15) and, like
the rest of torchcompat, importing this module never imports torch. The pytest plugin
(:mod:`torchcompat.pytest_plugin`) offers the same as fixtures and markers.

- :class:`CompileCounter` counts what torch really compiled (frames and graphs) and how many
  times ``torch.compile`` and ``safe_compile`` were asked to wrap something, without replacing
  anyone's backend; :meth:`CompileCounter.expect` asserts on the counts and, when they differ,
  says what was compiled where. :func:`expect_compilation` and :func:`assert_no_compilation`
  are the context-manager forms.
- :func:`disable_compilation` turns compilation off for a block through each switch and puts
  everything back afterwards; :func:`reset_compilation` makes the next call compile afresh.
- :func:`flag_values` and :func:`non_disabling_flag_values` are Hypothesis strategies for the
  values of an environment flag, to fuzz a gate of your own the way torchcompat fuzzes its own.

Example::

    from torchcompat.testing import CompileCounter, disable_compilation

    def test_model_runs_eagerly_when_compilation_is_off():
        with disable_compilation(), CompileCounter() as counter:
            model = build_model()            # uses safe_compile or torch.compile
            model(torch.ones(2, 8))
        counter.expect(frames=0, graphs=0, torch_compile_calls=0)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, fields
from types import CodeType, FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from torchcompat.gate import CompileGate, compile_gate
from torchcompat.version import installed_facts, torch_version

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "SWITCHES",
    "CompileCounter",
    "CompileCounts",
    "assert_no_compilation",
    "disable_compilation",
    "expect_compilation",
    "flag_values",
    "non_disabling_flag_values",
    "reset_compilation",
]

#: The switches :func:`disable_compilation` can turn: the ``TORCH_COMPILE_DISABLE`` environment
#: variable, the runtime ``torch._dynamo.config.disable``, and the ``force_eager`` stance (2.6+).
SWITCHES = ("env", "config", "stance")

_TCD = "TORCH_COMPILE_DISABLE"
# torchcompat's own folder, with a trailing separator.
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


# ---------------------------------------------------------------------------------------------
# Counting


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


def _dynamo_stats() -> tuple[int, int]:
    """``(unique_graphs, calls_captured)`` from dynamo's own counters; zeros if not loaded."""
    # The counters live in torch._dynamo.utils from 2.0 to 2.15 and are never cleared by
    # torch._dynamo.reset(), so a difference of two readings is what was compiled in between.
    counters = getattr(sys.modules.get("torch._dynamo.utils"), "counters", None)
    stats = counters.get("stats") if isinstance(counters, dict) else None
    if not stats:
        return 0, 0
    return int(stats.get("unique_graphs", 0)), int(stats.get("calls_captured", 0))


def _output_code_refs() -> list[weakref.ref[CodeType]]:
    """Dynamo's record of the bytecode it produced: one weak reference per compiled frame."""
    # torch._dynamo.convert_frame.output_codes is a Tracker whose ``seen`` list gets a new weak
    # reference for each frame compiled (2.0 to 2.15; torch._dynamo.reset() reads it too). It is
    # read, never written: the user's backend and dynamo's hooks stay as they are.
    tracker = getattr(sys.modules.get("torch._dynamo.convert_frame"), "output_codes", None)
    seen = getattr(tracker, "seen", None)
    return list(seen) if isinstance(seen, list) else []


def _describe_code(ref: weakref.ref[CodeType]) -> str:
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


def _describe_target(obj: object) -> str:
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
    dirs = [os.path.dirname(_HERE)]
    for name in ("wrapt", "torch"):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            dirs.append(os.path.dirname(path))
    return tuple(d + os.sep for d in dirs)


def _call_site(frame: FrameType | None) -> str:
    """``file:line`` of the first frame outside torchcompat, wrapt and torch."""
    skipped = _skipped_dirs()
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(skipped) and not filename.startswith("<frozen"):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


class _Patches:
    """The process-wide wrappers that count calls, installed while any counter is active.

    Counters nest and may overlap: each event goes to every active counter. The wrappers are
    removed when the last counter exits, unless someone patched over them meanwhile (then they
    stay, and pass calls through untouched while no counter is active).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.active: list[CompileCounter] = []
        self.installed: list[tuple[object, str, object, object]] = []
        self.import_hook_registered = False

    def record(self, field: str, what: str, frame: FrameType | None) -> None:
        with self.lock:
            active = list(self.active)
        if not active:
            return
        entry = f"{what}, at {_call_site(frame)}"
        for counter in active:
            counter._record(field, entry)

    def activate(self, counter: CompileCounter) -> None:
        with self.lock:
            self.active.append(counter)
            if len(self.active) == 1:
                self._install()

    def deactivate(self, counter: CompileCounter) -> None:
        with self.lock:
            self.active.remove(counter)
            if not self.active:
                self._uninstall()

    def _install(self) -> None:
        import wrapt  # type: ignore[import-untyped,unused-ignore]

        import torchcompat.compile as compile_module

        compile_module.wrap_observers.append(self._on_safe_compile)
        if "torch" in sys.modules:
            self._patch_torch(sys.modules["torch"])
        elif not self.import_hook_registered:
            # torch is imported later, maybe inside the counted block: patch it then. The hook
            # stays registered for the process and does nothing while no counter is active.
            self.import_hook_registered = True
            wrapt.register_post_import_hook(self._on_torch_import, "torch")

    def _on_safe_compile(self, model: object) -> None:
        what = f"safe_compile({_describe_target(model)})"
        self.record("safe_compile_calls", what, sys._getframe())

    def _on_torch_import(self, torch: Any) -> None:
        with self.lock:
            if self.active:
                self._patch_torch(torch)

    def _patch_torch(self, torch: Any) -> None:
        import wrapt  # type: ignore[import-untyped,unused-ignore]

        if getattr(torch, "compile", None) is None:  # torch 1.13 has no torch.compile
            return
        if any(owner is torch for owner, *_ in self.installed):
            return

        def on_compile(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            model = args[0] if args else kwargs.get("model")
            # torch.compile(**kw) returns a decorator that calls torch.compile(model, ...) again:
            # only the call that is given something to wrap counts.
            if model is not None:
                what = f"torch.compile({_describe_target(model)})"
                self.record("torch_compile_calls", what, sys._getframe())
            return wrapped(*args, **kwargs)

        self._patch(torch, "compile", wrapt.FunctionWrapper, on_compile)

    def _patch(self, owner: object, name: str, factory: Any, hook: Any) -> None:
        original = getattr(owner, name, None)
        if original is None:
            return  # nothing to count through (tests/test_testing.py notices a lost count)
        wrapper = factory(original, hook)
        setattr(owner, name, wrapper)
        self.installed.append((owner, name, original, wrapper))

    def _uninstall(self) -> None:
        import torchcompat.compile as compile_module

        if self._on_safe_compile in compile_module.wrap_observers:
            compile_module.wrap_observers.remove(self._on_safe_compile)
        kept = []
        for owner, name, original, wrapper in reversed(self.installed):
            if getattr(owner, name, None) is wrapper:
                setattr(owner, name, original)
            else:
                kept.append((owner, name, original, wrapper))
        self.installed = kept


_PATCHES = _Patches()


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
        self._calls: dict[str, list[str]] = {"torch_compile_calls": [], "safe_compile_calls": []}
        self._lock = threading.Lock()

    def __enter__(self) -> CompileCounter:
        if self._active or self._done:
            raise RuntimeError("a CompileCounter counts one block: make a new one for each")
        self._base_stats = _dynamo_stats()
        # Keep the references themselves alive, so that their ids cannot be reused by new ones.
        self._base_refs = _output_code_refs()
        self._base_ids = {id(ref) for ref in self._base_refs}
        self._active = True
        _PATCHES.activate(self)
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
        finally:
            self._active = False
            self._done = True
            _PATCHES.deactivate(self)

    def _record(self, field: str, entry: str) -> None:
        with self._lock:
            self._calls[field].append(entry)

    def _new_frames(self) -> tuple[str, ...]:
        return tuple(
            _describe_code(ref) for ref in _output_code_refs() if id(ref) not in self._base_ids
        )

    def _current(self) -> CompileCounts:
        graphs, ops = _dynamo_stats()
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
        _check_counts(wanted)
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


def _check_counts(wanted: dict[str, Any]) -> None:
    if not wanted:
        raise ValueError(f"expect() needs at least one count, out of: {', '.join(_FIELDS)}")
    for name, value in wanted.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expect(): {name} must be an int, got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"expect(): {name} must be 0 or more, got {value}")


@contextlib.contextmanager
def expect_compilation(
    *,
    frames: int | None = None,
    graphs: int | None = None,
    ops: int | None = None,
    torch_compile_calls: int | None = None,
    safe_compile_calls: int | None = None,
) -> Iterator[CompileCounter]:
    """Count the block, then assert the counts given (see :meth:`CompileCounter.expect`).

    The counts are checked only when the block finishes without an exception. Bad counts are
    reported before the block runs.

    Example::

        with expect_compilation(graphs=1, torch_compile_calls=1):
            torch.compile(f, backend="eager")(x)
    """
    __tracebackhide__ = True
    wanted = {
        "frames": frames,
        "graphs": graphs,
        "ops": ops,
        "torch_compile_calls": torch_compile_calls,
        "safe_compile_calls": safe_compile_calls,
    }
    _check_counts({name: value for name, value in wanted.items() if value is not None})
    with CompileCounter() as counter:
        yield counter
    counter.expect(**wanted)


@contextlib.contextmanager
def assert_no_compilation(*, allow_wrapping: bool = False) -> Iterator[CompileCounter]:
    """Assert that nothing was compiled in the block.

    Nothing compiled means no frame and no graph, and (unless ``allow_wrapping``) no call of
    ``torch.compile`` either: code that respects an off-switch does not even ask torch to wrap
    (``safe_compile`` calls are allowed; with compilation off they return the object itself).
    """
    __tracebackhide__ = True
    with CompileCounter() as counter:
        yield counter
    if allow_wrapping:
        counter.expect(frames=0, graphs=0)
    else:
        counter.expect(frames=0, graphs=0, torch_compile_calls=0)


# ---------------------------------------------------------------------------------------------
# Switching compilation off


def _reset_dynamo() -> None:
    facts = installed_facts()
    if facts is None or not facts.compile_usable:
        return  # nothing can have been compiled (e.g. 2.0 on Python 3.11 has dynamo, unusable)
    dynamo = sys.modules.get("torch._dynamo")
    reset = getattr(dynamo, "reset", None)
    if reset is not None:
        reset()


def _forget_skip_marks() -> None:
    """Clear dynamo's per-code state of every Python function, skip marks included."""
    reset_code = getattr(sys.modules.get("torch._dynamo.eval_frame"), "reset_code", None)
    if reset_code is None:
        return
    import gc
    import types

    # The code of nested functions too, whether or not one is alive now: e.g. the ``inner`` of
    # torch's wrap_inline, whose code every compiled torch.nn module runs, lives on only in
    # wrap_inline's constants once the wrapper that ran under config.disable is gone.
    todo = [obj.__code__ for obj in gc.get_objects() if type(obj) is types.FunctionType]
    seen: set[int] = set()
    while todo:
        code = todo.pop()
        if id(code) in seen:
            continue
        seen.add(id(code))
        reset_code(code)
        todo.extend(const for const in code.co_consts if isinstance(const, types.CodeType))


def reset_compilation() -> None:
    """Forget what dynamo compiled and decided, so that the next call compiles afresh.

    ``torch._dynamo.reset()`` (the same as ``torch.compiler.reset()``), plus, on torch before
    2.11, clearing the "skip this code for good" marks that reset leaves behind: there, running
    compiled code while ``torch._dynamo.config.disable`` is set marks it, and every function it
    calls, and it never compiles again in that process. Clearing them visits the code of every
    Python function (about 0.1 s).

    Never imports torch: does nothing where dynamo is not loaded or torch cannot compile here.
    """
    facts = installed_facts()
    if "torch._dynamo" not in sys.modules or facts is None or not facts.compile_usable:
        return
    if facts.reset_keeps_skip_marks:
        _forget_skip_marks()
    _reset_dynamo()


def _torch_own_disable() -> object:
    """What torch itself sets ``torch._dynamo.config.disable`` to, for the environment now."""
    facts = installed_facts()
    value = os.environ.get(_TCD)
    if facts is not None and facts.loose_env_parse:
        # torch 2.0-2.7: ``os.environ.get("TORCH_COMPILE_DISABLE", False)``, the raw string.
        return value if value is not None else False
    return value == "1"


def _load_dynamo(switch: str) -> Any:
    """``torch._dynamo``, imported if need be, for a switch that only exists there."""
    facts = installed_facts()
    if facts is None:
        raise RuntimeError(f"disable_compilation({switch!r}): torch is not installed")
    if not facts.compile_usable:
        raise RuntimeError(
            f"disable_compilation({switch!r}): torch {torch_version()} cannot compile here "
            f"({compile_gate().reason}), so it has no {switch} switch to turn"
        )
    import torch._dynamo

    return torch._dynamo


@contextlib.contextmanager
def _env_disabled(dynamo_was_loaded: bool) -> Iterator[None]:
    before = os.environ.get(_TCD)
    os.environ[_TCD] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_TCD, None)
        else:
            os.environ[_TCD] = before
        config = sys.modules.get("torch._dynamo.config")
        if config is not None and not dynamo_was_loaded:
            # torch read TORCH_COMPILE_DISABLE=1 when dynamo was first imported in the block, and
            # never reads it again: give it the value it would have read without the block.
            config.disable = _torch_own_disable()  # type: ignore[attr-defined]


@contextlib.contextmanager
def _config_disabled(dynamo: Any) -> Iterator[None]:
    config = dynamo.config
    before = config.disable
    config.disable = True
    try:
        yield
    finally:
        config.disable = before


@contextlib.contextmanager
def disable_compilation(*switches: str, reset: bool = True) -> Iterator[CompileGate]:
    """Turn compilation off for the block, through each switch, and put everything back after.

    ``switches`` (default: all of :data:`SWITCHES`):

    - ``"env"``: ``TORCH_COMPILE_DISABLE=1`` in ``os.environ``. torchcompat's gate and
      ``safe_compile`` see it at once; torch reads it only when ``torch._dynamo`` is first
      imported, so where that happens in the block, ``torch._dynamo.config.disable`` is given
      back the value torch would have read without the block when it ends.
    - ``"config"``: ``torch._dynamo.config.disable = True``. With ``"env"`` as well it is set
      only if ``torch._dynamo`` is loaded already (else the variable does it); alone, it imports
      ``torch._dynamo``. On torch 2.12+ this value is per thread, as torch keeps it.
    - ``"stance"``: ``torch.compiler.set_stance("force_eager")`` (torch 2.6+), process-wide.
      With ``"env"`` it is set only if ``torch._dynamo`` is loaded already, and skipped on
      releases without stances; alone, it needs them.

    Each switch is restored in a ``finally``, so blocks nest and an exception changes nothing.
    With ``reset`` (the default) ``torch._dynamo.reset()`` runs, where dynamo is loaded, when the
    block starts (code compiled before would otherwise keep running compiled) and when it ends
    (:func:`reset_compilation`, so that the next test compiles afresh: before torch 2.11,
    compiled code that ran while ``config.disable`` was set stays marked as skipped for good
    otherwise).

    Yields:
        The :class:`~torchcompat.CompileGate` in the block (``disabled`` is True).

    Raises:
        ValueError: an unknown switch name.
        RuntimeError: a switch asked for alone that this torch lacks (``"config"`` where torch
            cannot compile, ``"stance"`` before 2.6).

    Example::

        with disable_compilation() as gate:
            assert gate.disabled and safe_compile(model) is model
    """
    unknown = [name for name in switches if name not in SWITCHES]
    if unknown:
        raise ValueError(
            f"disable_compilation(): unknown switch {unknown[0]!r}; the switches are "
            f"{', '.join(map(repr, SWITCHES))}"
        )
    chosen = set(switches) if switches else set(SWITCHES)
    facts = installed_facts()
    dynamo_loaded = "torch._dynamo.config" in sys.modules
    dynamo: Any = sys.modules.get("torch._dynamo") if dynamo_loaded else None
    with contextlib.ExitStack() as stack:
        if reset:
            # Compiled code that dynamo cached keeps running whatever the switches say (a warm
            # entry whose guards pass), so empty the caches first; and running compiled code
            # while dynamo is off can mark it as skipped for good, so leave a clean state too.
            _reset_dynamo()
            # Registered first, so it runs last, after every switch is back.
            stack.callback(reset_compilation)
        if "env" in chosen:
            stack.enter_context(_env_disabled(dynamo_loaded))
        if "config" in chosen and (dynamo is not None or "env" not in chosen):
            stack.enter_context(_config_disabled(dynamo or _load_dynamo("config")))
        if "stance" in chosen:
            has_stance = facts is not None and facts.has_set_stance
            if "env" not in chosen and not has_stance:
                raise RuntimeError(
                    f"disable_compilation('stance'): torch {torch_version()} has no "
                    "torch.compiler.set_stance (it came in 2.6)"
                )
            if has_stance and (dynamo is not None or "env" not in chosen):
                if dynamo is None:
                    _load_dynamo("stance")
                import torch

                stack.enter_context(torch.compiler.set_stance("force_eager"))
        yield compile_gate()


# ---------------------------------------------------------------------------------------------
# Hypothesis strategies

# Values people really type, and look-alikes of "1": padding, other digits, other ones.
_TRICKY = (
    "",
    "0",
    " ",
    "true",
    "True",
    "TRUE",
    "yes",
    "on",
    "false",
    "01",
    "1.0",
    "+1",
    "-1",
    " 1",
    "1 ",
    "\t1",
    "1\n",
    "\n",
    "\u00a01",  # no-break space
    "1\u200b",  # zero-width space
    "\uff11",  # full-width one
    "\u0661",  # Arabic-Indic one
    "\u0967",  # Devanagari one
    "\u00b9",  # superscript one
    "\u2460",  # circled one
    "I",
    "l",
    "one",
)


def _hypothesis_strategies() -> Any:
    try:
        from hypothesis import strategies
    except ImportError:
        raise ImportError(
            "torchcompat.testing's strategies need Hypothesis, which torchcompat does not "
            "install: pip install hypothesis"
        ) from None
    return strategies


def flag_values() -> SearchStrategy[str]:
    """Values an environment flag can hold, weighted toward the tricky ones; ``"1"`` included.

    Every value can really be put in ``os.environ`` (no NUL, no lone surrogate). Most draws are
    whitespace, ``"0"``, ``"true"``, padded ones and digits of other scripts; the rest is any
    text. Needs Hypothesis 6.84 or later (not a dependency of torchcompat; imported when
    called).

    Raises:
        ImportError: Hypothesis is not installed.

    Example::

        @given(value=flag_values())
        def test_my_gate(value):
            os.environ["MY_COMPILE_DISABLE"] = value
            assert my_gate_is_off() == (value == "1")
    """
    st = _hypothesis_strategies()
    # What an environment can hold: any text but NUL and lone surrogates.
    env_char = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
    space = st.sampled_from([" ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u200b", ""])
    digit_or_space = st.characters(categories=("Nd", "No", "Zs"))
    result: SearchStrategy[str] = st.one_of(
        st.sampled_from(_TRICKY),
        st.tuples(space, st.sampled_from(["1", "0", "\uff11"]), space).map("".join),
        st.text(alphabet=digit_or_space, max_size=4),
        st.text(alphabet=env_char),
        st.just("1"),
    )
    return result


def non_disabling_flag_values() -> SearchStrategy[str]:
    """Values of an environment flag that must not disable: everything but ``"1"``.

    The same weighting as :func:`flag_values`. For a gate that, like torch 2.8+ and
    torchcompat, treats only the exact string ``"1"`` as "off".

    Raises:
        ImportError: Hypothesis is not installed.

    Example::

        @given(value=non_disabling_flag_values())
        def test_only_1_disables(monkeypatch, value):
            monkeypatch.setenv("TORCH_COMPILE_DISABLE", value)
            assert not VllmConfig().compilation_disabled
    """
    result: SearchStrategy[str] = flag_values().filter(lambda value: value != "1")
    return result
