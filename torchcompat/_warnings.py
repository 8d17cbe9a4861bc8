"""``TorchCompatWarning``, and warnings that point at the user's line, not at torchcompat's."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from types import FrameType

__all__ = ["TorchCompatWarning", "first_outside", "package_dirs", "said", "warn"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class TorchCompatWarning(UserWarning):
    """torchcompat returned an object uncompiled (or changed course) and says why."""


#: The messages :func:`warn` has given with ``once=True`` (tests clear it).
said: set[str] = set()


def package_dirs(*names: str) -> tuple[str, ...]:
    """torchcompat's folder, and those of the loaded packages ``names`` (``"torch"``, ...)."""
    dirs = [_PACKAGE_DIR]
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            dirs.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return tuple(dirs)


def first_outside(
    frame: FrameType | None, prefixes: tuple[str, ...]
) -> tuple[FrameType | None, int]:
    """The first frame from ``frame`` outward whose file starts with none of ``prefixes``, and
    how many frames were passed on the way (the one frame walker: warnings and the kit's call
    sites)."""
    passed = 0
    while frame is not None and frame.f_code.co_filename.startswith(prefixes):
        frame, passed = frame.f_back, passed + 1
    return frame, passed


def _user_stacklevel(skip_torch: bool) -> int:
    """The ``stacklevel`` of the first frame outside torchcompat (and torch, if asked).

    Every call form reaches the warning through a different number of torchcompat frames (the
    decorator form has one more), so a fixed ``stacklevel`` points at the wrong line for some;
    Python 3.12's ``skip_file_prefixes`` does this walk, but 3.9-3.11 lack it.
    """
    prefixes = package_dirs("torch") if skip_torch else package_dirs()
    if len(prefixes) > 1:
        # [fallback, issue 10] torch's own context managers used as decorators (2.1) put a
        # frame of the standard library's contextlib between torch's frames.
        prefixes += (contextlib.__file__,)
    # Frame k above this one is what ``warnings.warn(..., stacklevel=k)`` in warn() names:
    # k = 2 is warn's caller.
    _, passed = first_outside(sys._getframe(2), prefixes)
    return 2 + passed


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
