"""torch's own compile-API tests end alike raw and with torchcompat installed.

``tools/torch_suite.py`` runs torch's ``test/dynamo/test_compile.py``, ``OptimizedModuleTest``
and the compile-decorator tests of the installed release twice (raw, and with
``--torchcompat-install``) and compares the outcome of every test. The files are torch's, kept
under the ignored ``.torch_tests/<release>/`` (torch's wheels lack ``test/`` and PyPI has no torch
sdist): where they are absent, as in CI, the run skips and says so.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("torch_suite", ROOT / "tools" / "torch_suite.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("torch_suite", module)
    spec.loader.exec_module(module)
    return module


suite = _load_tool()

EXPECTED_ID = next(iter(suite.EXPECTED))
RAW, INSTALLED = suite.EXPECTED[EXPECTED_ID][:2]

# (raw outcomes, installed outcomes, which list of compare() gets the one line, or None)
COMPARE_CASES = [
    ({"m.C.t": "passed"}, {"m.C.t": "passed"}, None),
    ({"m.C.t": "failed: E: x"}, {"m.C.t": "failed: E: x"}, None),
    ({"m.C.t": "passed"}, {"m.C.t": "failed: AssertionError"}, "unexpected"),
    ({"m.C.t": "failed: E: 4"}, {"m.C.t": "failed: E: 2"}, "unexpected"),
    ({"m.C.t": "passed"}, {}, "unexpected"),
    ({EXPECTED_ID: RAW}, {EXPECTED_ID: f"{INSTALLED}: AssertionError: not raised"}, "expected"),
    ({EXPECTED_ID: RAW}, {EXPECTED_ID: RAW}, "stale"),
    ({}, {}, "stale"),
]


@pytest.mark.parametrize(("raw", "installed", "kind"), COMPARE_CASES)
def test_compare_sorts_each_difference(
    raw: dict[str, str], installed: dict[str, str], kind: str | None
) -> None:
    """A difference is expected only where EXPECTED names it; an expectation not met is stale."""
    found = suite.compare(raw, installed)
    # Every EXPECTED entry not in the case is stale by construction; look at the case's ids only.
    ids = set(raw) | set(installed) or {EXPECTED_ID}
    lines = {k: [line for line in v if line.split(":")[0] in ids] for k, v in found.items()}
    assert {k: len(v) for k, v in lines.items() if v} == ({kind: 1} if kind else {})


def _why_not() -> str | None:
    release = suite.torch_release()
    if release is None:
        return "torch is not installed"
    if not any(suite.release_dir(release).glob("test_*.py")):
        return (
            f"no copy of torch {release}'s own tests in {suite.release_dir(release)} "
            "(ignored folder; see tools/torch_suite.py for why and what goes there)"
        )
    missing = [m for m in ("expecttest", "numpy") if importlib.util.find_spec(m) is None]
    if missing:
        return f"torch.testing._internal needs {', '.join(missing)}"
    return None


@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_torch_own_tests_end_alike_installed(tmp_path: Path) -> None:
    """Every kept torch test ends as with raw torch.compile, but for those asserting the raise."""
    release = suite.torch_release()
    report = suite.check(release, None, tmp_path, full=False, together=True)
    assert report["problems"] == []
    assert report["unexpected"] == []
    assert report["stale"] == []
    assert len(report["expected"]) == len(suite.EXPECTED)
    assert report["counts"]["raw"]["passed"] > 50
