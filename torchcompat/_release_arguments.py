"""What ``torch.compile``'s arguments accept, per release: its keyword names, inductor's modes,
the built-in backend names. Rows keyed on the first release that has them, as in
:mod:`torchcompat._releases`, whose :class:`~torchcompat._releases.ReleaseFacts` reads them (only
when ``safe_compile`` checks an argument: the gate and the pytest header never load this).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from torchcompat._releases import Release

__all__ = [
    "BACKEND_SUGGESTIONS_SINCE",
    "BUILTIN_BACKENDS",
    "COMPILE_KWARGS",
    "COMPILE_KWARGS_DELTAS",
    "INDUCTOR_MODES",
    "LISTED_BACKENDS",
]

# torch.compile's keyword arguments (besides ``model``) as deltas: first release -> names added,
# names removed. Read from each wheel's torch/__init__.py; tests/test_releases.py checks the
# result against inspect.signature(torch.compile) on every release of the matrix.
COMPILE_KWARGS_DELTAS: tuple[tuple[Release, frozenset[str], frozenset[str]], ...] = (
    (
        (2, 0),
        frozenset({"fullgraph", "dynamic", "backend", "mode", "options", "disable"}),
        frozenset(),
    ),
    ((2, 12), frozenset({"name", "recompile_limit"}), frozenset()),
    ((2, 13), frozenset({"isolate_recompiles", "shapes_spec"}), frozenset()),
    # torch 2.14: ``shapes_spec`` renamed ``dynamic_shapes``.
    ((2, 14), frozenset({"dynamic_shapes"}), frozenset({"shapes_spec"})),
)


def _applied(
    deltas: tuple[tuple[Release, frozenset[str], frozenset[str]], ...],
) -> tuple[tuple[Release, frozenset[str]], ...]:
    """Rows of whole sets, from rows of (first release, added, removed)."""
    rows: list[tuple[Release, frozenset[str]]] = []
    current: frozenset[str] = frozenset()
    for since, added, removed in deltas:
        current = (current - removed) | added
        rows.append((since, current))
    return tuple(rows)


# First release -> keyword arguments of torch.compile from then on.
COMPILE_KWARGS = _applied(COMPILE_KWARGS_DELTAS)


# First release -> torch.compile's modes for its default backend, inductor, in the order torch's
# "Unrecognized mode=..., should be one of: ..." error lists them. 2.0 ignores an unknown mode
# (None: not checked). 2.1-2.6 list the four in a fixed message; 2.7+ list
# torch._inductor.list_mode_options()'s keys. "lite" came in 2.10, second (read: 2.9.1 has none).
INDUCTOR_MODES: tuple[tuple[Release, tuple[str, ...] | None], ...] = (
    ((2, 0), None),
    ((2, 1), ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")),
    ((2, 7), ("default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")),
    ((2, 10), ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")),
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
_BACKENDS_2_4 = (_BACKENDS_2_1 - _XLA_2_1) | {"eager_noexcept"}
_BACKENDS_2_6 = _BACKENDS_2_4 | {"aot_eager_decomp_partition_crossref"}
_BACKENDS_2_7 = _BACKENDS_2_6 | {"aot_eager_decomp_partition_with_mode"}
BUILTIN_BACKENDS: tuple[tuple[Release, frozenset[str] | None], ...] = (
    ((2, 0), None),
    ((2, 1), _BACKENDS_2_1),
    # torch 2.4: the torchxla_* backends gone, eager_noexcept added (2.2.2 and 2.3.1 as 2.1.2).
    ((2, 4), _BACKENDS_2_4),
    ((2, 6), _BACKENDS_2_6),
    ((2, 7), _BACKENDS_2_7),
    # torch 2.9: onnxrt gone (its register_backend lines are commented out in 2.9.1 and 2.10.0).
    ((2, 9), _BACKENDS_2_7 - {"onnxrt"}),
    # torch 2.11: invoke_subgraph added.
    ((2, 11), (_BACKENDS_2_7 - {"onnxrt"}) | {"invoke_subgraph"}),
)

# torch 2.14: InvalidBackend suggests up to two close names from torch._dynamo.list_backends()
# (the backends without a "debug" or "experimental" tag, plus entry points): "Invalid backend:
# 'inductr', did you mean: 'inductor'? See ...". 2.1-2.13: "Invalid backend: 'inductr', see ...".
BACKEND_SUGGESTIONS_SINCE: Release = (2, 14)
LISTED_BACKENDS: tuple[tuple[Release, frozenset[str] | None], ...] = (
    ((2, 0), None),
    ((2, 11), frozenset({"cudagraphs", "inductor", "openxla", "tvm"})),
)
