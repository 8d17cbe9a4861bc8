"""Context managers that count a block and assert on it: expect or rule out compilation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torchcompat.testing.counting import CompileCounter, check_counts

__all__ = ["assert_no_compilation", "expect_compilation"]


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
    check_counts({name: value for name, value in wanted.items() if value is not None})
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
