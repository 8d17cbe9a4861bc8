"""Helpers for test suites that use ``torch.compile``: count compilation, switch it off, fuzz gates.

Everything here works on every torch release that torchcompat supports (1.13 to 2.15) and, like
the rest of torchcompat, importing this package never imports torch, wrapt or Hypothesis. The
pytest plugin (:mod:`torchcompat.pytest_plugin`) offers the same as fixtures and markers.

- :class:`CompileCounter` (:mod:`~torchcompat.testing.counting`) counts what torch really
  compiled (frames and graphs, read from dynamo's records: :mod:`~torchcompat.testing.records`)
  and how many times ``torch.compile`` and ``safe_compile`` were asked to wrap something
  (:mod:`~torchcompat.testing.calls`), without replacing anyone's backend;
  :meth:`CompileCounter.expect` asserts on the counts and, when they differ, says what was
  compiled where. :func:`expect_compilation` and :func:`assert_no_compilation`
  (:mod:`~torchcompat.testing.assertions`) are the context-manager forms.
- :func:`disable_compilation` (:mod:`~torchcompat.testing.switches`) turns compilation off for a
  block through each switch and puts everything back afterwards, for every thread;
  :func:`reset_compilation` (:mod:`~torchcompat.testing.reset`) makes the next call compile
  afresh.
- :func:`flag_values` and :func:`non_disabling_flag_values`
  (:mod:`~torchcompat.testing.strategies`) are Hypothesis strategies for the values of an
  environment flag, to fuzz a gate of your own the way torchcompat fuzzes its own.

Example::

    from torchcompat.testing import CompileCounter, disable_compilation

    def test_model_runs_eagerly_when_compilation_is_off():
        with disable_compilation(), CompileCounter() as counter:
            model = build_model()            # uses safe_compile or torch.compile
            model(torch.ones(2, 8))
        counter.expect(frames=0, graphs=0, torch_compile_calls=0)
"""

from __future__ import annotations

from torchcompat.testing.assertions import assert_no_compilation, expect_compilation
from torchcompat.testing.counting import CompileCounter, CompileCounts
from torchcompat.testing.records import RecordsMissing
from torchcompat.testing.reset import reset_compilation
from torchcompat.testing.strategies import flag_values, non_disabling_flag_values
from torchcompat.testing.switches import SWITCHES, disable_compilation

__all__ = [
    "SWITCHES",
    "CompileCounter",
    "CompileCounts",
    "RecordsMissing",
    "assert_no_compilation",
    "disable_compilation",
    "expect_compilation",
    "flag_values",
    "non_disabling_flag_values",
    "reset_compilation",
]
