"""tools/heartbeat.py: the matrix's line while an env's tests run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from heartbeat import Heartbeat, progress


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", None),
        (b"collecting ...", None),
        (b"....... [ 17%]\n..s.... [ 26%]\n...", "26%"),
        (b"x" * 20000 + b".... [100%]\n", "100%"),
    ],
)
def test_progress_is_pytests_last_percentage(tmp_path: Path, text: bytes, expected: str) -> None:
    """The last ``[ NN%]`` of the log, however long the log; None before pytest prints one."""
    log = tmp_path / "env.log"
    log.write_bytes(text)
    assert progress(log) == expected


def test_progress_of_a_missing_log_is_none(tmp_path: Path) -> None:
    """A log not written yet is no progress, not an error."""
    assert progress(tmp_path / "missing.log") is None


def test_heartbeat_prints_while_running_and_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lines come every period while the block runs, and none after it."""
    log = tmp_path / "env.log"
    log.write_bytes(b"... [ 40%]")
    with Heartbeat("py311-torch213", log, every=0.05):
        time.sleep(0.3)
    lines = capsys.readouterr().out.splitlines()
    assert lines
    assert all(line.startswith("matrix: py311-torch213: testing, 40% after") for line in lines)
    time.sleep(0.15)
    assert capsys.readouterr().out == ""
