"""``python -m torchcompat run script.py [args]`` / ``run -m module [args]``: no code change.

Runs the program as ``python script.py`` / ``python -m module`` would (``sys.argv``,
``__main__``, ``sys.path[0]``, the exit status), with :func:`torchcompat.install` in effect, and
with ``TORCHCOMPAT_INSTALL=1`` in the environment so that the interpreters it starts
(``multiprocessing`` spawn workers, ``torchrun``, engine processes) install it too.
"""

from __future__ import annotations

import os
import runpy
import sys

from torchcompat._install import ENV_INSTALL, install

__all__ = ["USAGE", "run"]

USAGE = "usage: python -m torchcompat run script.py [args ...] | run -m module [args ...]"


def run(argv: list[str]) -> int:
    """Run ``argv`` (the words after ``run``) with torchcompat installed; the exit status.

    A usage error is status 2, as argparse gives. The program's own ``SystemExit`` and its
    exceptions propagate, as they do under ``python script.py``.
    """
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv or argv == ["-m"]:
        print(USAGE, file=sys.stderr)
        return 2
    os.environ[ENV_INSTALL] = "1"
    install()
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]  # runpy puts the module's file name in sys.argv[0]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        path = argv[0]
        if not os.path.exists(path):
            print(f"python -m torchcompat run: can't open file {path!r}", file=sys.stderr)
            return 2
        sys.argv = list(argv)
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
        runpy.run_path(path, run_name="__main__")
    return 0
