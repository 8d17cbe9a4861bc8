"""``TorchCompatWarning``, and warnings that point at the user's line, not at torchcompat's."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from types import FrameType

__all__ = ["TorchCompatWarning", "said", "warn"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class TorchCompatWarning(UserWarning):
    """torchcompat returned an object uncompiled (or changed course) and says why."""


#: The messages :func:`warn` has given with ``once=True`` (tests clear it).
said: set[str] = set()


def _torch_dir() -> str | None:
    torch = sys.modules.get("torch")
    path = getattr(torch, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) + os.sep if path else None


def _user_stacklevel(skip_torch: bool) -> int:
    """The ``stacklevel`` of the first frame outside torchcompat (and torch, if asked).

    Every call form reaches the warning through a different number of torchcompat frames (the
    decorator form has one more), so a fixed ``stacklevel`` points at the wrong line for some;
    Python 3.12's ``skip_file_prefixes`` does this walk, but 3.9-3.11 lack it.
    """
    skipped = [_PACKAGE_DIR]
    torch_dir = _torch_dir() if skip_torch else None
    if torch_dir is not None:
        skipped.append(torch_dir)
        # [fallback, issue 10] torch's own context managers used as decorators (2.1) put a
        # frame of the standard library's contextlib between torch's frames.
        skipped.append(contextlib.__file__)
    prefixes = tuple(skipped)
    # Frame k above this one is what ``warnings.warn(..., stacklevel=k)`` in warn() names:
    # k = 2 is warn's caller.
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(prefixes):
        frame, level = frame.f_back, level + 1
    return level


def warn(message: str, *, once: bool = False, skip_torch: bool = False) -> None:
    """Warn with a :class:`TorchCompatWarning` at the user's line; with ``once``, once per message.

    ``skip_torch`` also walks past torch's own frames: for a warning raised while torch calls
    back into torchcompat (a backend dynamo calls), where the user's line is further out.
    """
    if once:
        if message in said:
            return
        said.add(message)
    warnings.warn(message, TorchCompatWarning, stacklevel=_user_stacklevel(skip_torch))
