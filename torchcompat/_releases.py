"""What each torch release does with ``torch.compile`` and its off-switches.

This is the one place where torch-version facts live. Every row names the first release that
has the behaviour and where the fact came from. The rows were read from each release's wheel and
are proven by the tox matrix (``tests/test_releases.py`` checks them against the real torch).

Facts are keyed on the release tuple (``2.12.0rc2``, ``2.12.0.dev…``, ``2.12.0+cpu`` all count
as ``(2, 12, 0)``). A release newer than the newest row is taken to behave like the newest row:
that is the safe side for every fact here (it keeps the guard, keeps strict parsing).
"""

from __future__ import annotations

import sys
from typing import NamedTuple, TypeVar

__all__ = ["ReleaseFacts", "facts_for"]

Release = tuple[int, ...]
_T = TypeVar("_T")

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

# First release -> keyword arguments of torch.compile (besides ``model``) from then on.
_COMPILE_KWARGS: tuple[tuple[Release, frozenset[str]], ...] = (
    ((2, 0), frozenset({"fullgraph", "dynamic", "backend", "mode", "options", "disable"})),
    # torch 2.12: ``name`` and ``recompile_limit``.
    (
        (2, 12),
        frozenset(
            {
                "fullgraph",
                "dynamic",
                "backend",
                "mode",
                "options",
                "disable",
                "name",
                "recompile_limit",
            }
        ),
    ),
    # torch 2.13: ``isolate_recompiles`` and ``shapes_spec``.
    (
        (2, 13),
        frozenset(
            {
                "fullgraph",
                "dynamic",
                "backend",
                "mode",
                "options",
                "disable",
                "name",
                "recompile_limit",
                "isolate_recompiles",
                "shapes_spec",
            }
        ),
    ),
    # torch 2.14: ``shapes_spec`` renamed ``dynamic_shapes``.
    (
        (2, 14),
        frozenset(
            {
                "fullgraph",
                "dynamic",
                "backend",
                "mode",
                "options",
                "disable",
                "name",
                "recompile_limit",
                "isolate_recompiles",
                "dynamic_shapes",
            }
        ),
    ),
)


# First release -> torch.compile's modes for its default backend, inductor, in the order torch's
# "Unrecognized mode=..., should be one of: ..." error lists them. 2.0 ignores an unknown mode
# (None: not checked). 2.1-2.6 list the four in a fixed message; 2.7+ list
# torch._inductor.list_mode_options()'s keys. "lite": absent from 2.8.0, present in 2.11.0.
_INDUCTOR_MODES: tuple[tuple[Release, tuple[str, ...] | None], ...] = (
    ((2, 0), None),
    ((2, 1), ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")),
    ((2, 7), ("default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")),
    ((2, 11), ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")),
)

# First release -> every backend name that torch.compile(backend=...) takes built in:
# torch._dynamo.list_backends(exclude_tags=()), read from each wheel's registrations (the
# @register_backend family under torch/_dynamo). Before 2.1 an unknown name is a bare KeyError
# (None: not checked); 2.1+ raise InvalidBackend.
_DEBUG_BACKENDS_2_1 = frozenset(
    {
        "aot_eager",
        "aot_eager_decomp_partition",
        "aot_eager_default_partitioner",
        "aot_ts",
        "dynamo_accuracy_minifier_backend",
        "dynamo_minifier_backend",
        "eager",
        "eager_debug",
        "non_leaf_compile_error_TESTING_ONLY",
        "pre_dispatch_eager",
        "relu_accuracy_error_TESTING_ONLY",
        "relu_compile_error_TESTING_ONLY",
        "relu_runtime_error_TESTING_ONLY",
        "ts",
    }
)
_XLA_2_1 = frozenset(
    {"aot_torchxla_trace_once", "aot_torchxla_trivial", "torchxla_trace_once", "torchxla_trivial"}
)
_BACKENDS_2_1 = _DEBUG_BACKENDS_2_1 | _XLA_2_1 | {"cudagraphs", "inductor", "onnxrt", "openxla"}
_BACKENDS_2_1 |= {"openxla_eval", "tvm"}
_BACKENDS_2_5 = (_BACKENDS_2_1 - _XLA_2_1) | {"eager_noexcept"}
_BACKENDS_2_6 = _BACKENDS_2_5 | {"aot_eager_decomp_partition_crossref"}
_BACKENDS_2_7 = _BACKENDS_2_6 | {"aot_eager_decomp_partition_with_mode"}
_BUILTIN_BACKENDS: tuple[tuple[Release, frozenset[str] | None], ...] = (
    ((2, 0), None),
    ((2, 1), _BACKENDS_2_1),
    ((2, 5), _BACKENDS_2_5),
    ((2, 6), _BACKENDS_2_6),
    ((2, 7), _BACKENDS_2_7),
    # torch 2.11: onnxrt gone (the ONNX Runtime backend was removed), invoke_subgraph added.
    ((2, 11), (_BACKENDS_2_7 - {"onnxrt"}) | {"invoke_subgraph"}),
)

# torch 2.14: InvalidBackend suggests up to two close names from torch._dynamo.list_backends()
# (the backends without a "debug" or "experimental" tag, plus entry points): "Invalid backend:
# 'inductr', did you mean: 'inductor'? See ...". 2.1-2.13: "Invalid backend: 'inductr', see ...".
BACKEND_SUGGESTIONS_SINCE: Release = (2, 14)
_LISTED_BACKENDS: tuple[tuple[Release, frozenset[str] | None], ...] = (
    ((2, 0), None),
    ((2, 11), frozenset({"cudagraphs", "inductor", "openxla", "tvm"})),
)


# The releases whose wheels the value rows above were read from (those of the tox matrix). For
# one in between (2.2-2.4, 2.9, 2.10) the next row's names are accepted too: a name is refused
# only where both neighbours refuse it.
_READ_RELEASES = frozenset({(2, 0), (2, 1), (2, 5), (2, 6), (2, 7), (2, 8), (2, 11), (2, 12)})
_READ_RELEASES |= {(2, 13), (2, 14), (2, 15)}


def _between_rows(
    rows: tuple[tuple[Release, _T], ...], release: Release
) -> tuple[_T | None, _T | None]:
    """The row for ``release`` and, for a release none was read from, the next row."""
    here = _last_row(rows, release)
    later = [value for since, value in rows if since > release]
    return here, None if release[:2] in _READ_RELEASES or not later else later[0]


def _last_row(rows: tuple[tuple[Release, _T], ...], release: Release) -> _T | None:
    """The value of the last row whose first release is at or below ``release``."""
    found: _T | None = None
    for since, value in rows:
        if release >= since:
            found = value
    return found


class ReleaseFacts(NamedTuple):
    """The behaviour of one torch release (``release``) on one Python (``python``)."""

    release: Release
    python: tuple[int, int]

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
        found = _last_row(_COMPILE_KWARGS, self.release)
        return _COMPILE_KWARGS[0][1] if found is None else found

    @property
    def inductor_modes(self) -> tuple[str, ...] | None:
        """inductor's modes in torch's error-message order; ``None`` where torch checks none."""
        here, later = _between_rows(_INDUCTOR_MODES, self.release)
        if here is None or later is None:
            return here
        return here + tuple(mode for mode in later if mode not in here)

    @property
    def builtin_backends(self) -> frozenset[str] | None:
        """Every built-in backend name (debug ones too); ``None`` where torch checks none."""
        here, later = _between_rows(_BUILTIN_BACKENDS, self.release)
        return here if here is None or later is None else here | later

    @property
    def listed_backends(self) -> frozenset[str] | None:
        """``torch._dynamo.list_backends()``'s built-in names, where an error suggests from them."""
        if self.release < BACKEND_SUGGESTIONS_SINCE:
            return None
        return _last_row(_LISTED_BACKENDS, self.release)


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
