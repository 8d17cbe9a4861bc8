"""tools/matrix.py's account of a failed env: each failure named with its message's first lines
(CI shows only the end of the run's output, where pytest's own report has scrolled away)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from matrix import _junit_counts, _junit_failures

SUITE = """
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 == 2, "one is not two"

@pytest.fixture
def broken():
    raise RuntimeError("the fixture broke")

def test_errors(broken):
    pass

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass
"""


def test_a_failed_runs_failures_are_named_with_their_messages(tmp_path: Path) -> None:
    """A real pytest's JUnit XML: the failure and the error, each with where and why."""
    (tmp_path / "test_sample.py").write_text(SUITE, encoding="utf-8")
    junit = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert _junit_counts(junit) == (1, 2, 1)
    failures = _junit_failures(junit)
    assert len(failures) == 2
    failed, errored = failures
    assert failed.startswith("test_sample::test_fails: ")
    assert "one is not two" in failed
    assert errored.startswith("test_sample::test_errors: ")
    assert "the fixture broke" in errored


def test_no_junit_is_no_failures(tmp_path: Path) -> None:
    """An env that never reached pytest has no failures to list (its status says it failed)."""
    assert _junit_failures(tmp_path / "missing.xml") == []
