"""Making the next call compile afresh, as in a fresh process: dynamo's caches and skip marks."""

from __future__ import annotations

import sys

from torchcompat.version import installed_facts

__all__ = ["reset_compilation", "reset_dynamo"]


def reset_dynamo() -> None:
    """``torch._dynamo.reset()`` where dynamo is loaded and torch can compile here; else nothing."""
    facts = installed_facts()
    if facts is None or not facts.compile_usable:
        return  # nothing can have been compiled (e.g. 2.0 on Python 3.11 has dynamo, unusable)
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is None:
        return
    reset = getattr(dynamo, "reset", None)
    if reset is None:
        _missing("torch._dynamo.reset", "dynamo's caches are kept: the next call may not compile")
        return
    reset()


def _missing(name: str, consequence: str) -> None:
    """One TorchCompatWarning per process naming the missing internal and the release."""
    from torchcompat._warnings import warn
    from torchcompat.version import torch_version

    warn(
        f"torchcompat cannot reset compilation on torch {torch_version()}: {name} is missing, "
        f"so {consequence}. Please report this torch release to torchcompat.",
        once=True,
    )


def _forget_skip_marks() -> None:
    """Clear dynamo's per-code state of every Python function, skip marks included."""
    reset_code = getattr(sys.modules.get("torch._dynamo.eval_frame"), "reset_code", None)
    if reset_code is None:
        # Before 2.11 the marks outlive torch._dynamo.reset(): say so, and still reset.
        _missing(
            "torch._dynamo.eval_frame.reset_code",
            "code marked 'skip for good' while compilation was off stays uncompiled",
        )
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
    # That cleared safe_compile's own "run, never compile" marks on its guards' frames too.
    guard = sys.modules.get("torchcompat._guard")
    if guard is not None:
        guard.skip_again()


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
    reset_dynamo()
