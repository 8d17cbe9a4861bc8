"""A heartbeat while an env's tests run: how far pytest is, and for how long.

tools/matrix.py sends tox's output to a log file, so the terminal shows nothing for the minutes a
suite takes. Every ``every`` seconds this prints one line: the env, pytest's last progress
percentage in that log (``[ 43%]``), and the minutes so far. Stdlib only.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from types import TracebackType

__all__ = ["Heartbeat", "progress"]

_PERCENT = re.compile(rb"\[\s*(\d{1,3})%\]")


def progress(log: Path, tail_bytes: int = 8192) -> str | None:
    """pytest's last ``[ NN%]`` in ``log`` as ``"NN%"``, or None before the first one."""
    try:
        with log.open("rb") as file:
            file.seek(0, 2)
            size = file.tell()
            file.seek(max(0, size - tail_bytes))
            found = _PERCENT.findall(file.read())
    except OSError:
        return None
    return f"{int(found[-1])}%" if found else None


class Heartbeat:
    """Print ``matrix: ENV: testing, NN% after M.m min`` every ``every`` seconds, until exit."""

    def __init__(self, name: str, log: Path, every: float = 60.0) -> None:
        self.name, self.log, self.every = name, log, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            done = progress(self.log) or "starting"
            minutes = (time.monotonic() - self._start) / 60
            print(f"matrix: {self.name}: testing, {done} after {minutes:.1f} min", flush=True)

    def __enter__(self) -> Heartbeat:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
