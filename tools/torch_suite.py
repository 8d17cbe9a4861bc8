"""Run torch's own compile-API tests raw and with ``torchcompat.install()``; compare per test.

    python tools/torch_suite.py                  # the installed torch's release
    python tools/torch_suite.py --full --json report.json

From ``install()`` on, ``torch.compile`` and ``nn.Module.compile`` behave as ``safe_compile``.
torch's own tests of that API (``test/dynamo/test_compile.py``, ``OptimizedModuleTest`` of
``test_modules.py``, the compile-decorator and nested-compile tests of ``test_decorators.py``)
must then end as they end with torch's own ``torch.compile``, except the tests that assert the
very raise the contract removes (:data:`EXPECTED`). Each test file runs in two fresh
interpreters: raw (``-p no:torchcompat``, no switch in the environment) and with
``--torchcompat-install``; the outcomes are read per test from JUnit XML and compared.

Where the files come from: torch's wheels do not ship ``test/``, and torch has no sdist on PyPI
(``pip download --no-binary :all: torch`` finds nothing), so CI, which reaches only PyPI, cannot
get them. They are kept, per release, under the ignored folder ``.torch_tests/<release>/``
(``SOURCE.md`` there says which upstream commit and what was extracted), and not committed:
they are torch's code, not ours. Without that folder this tool says so and exits 2, and
``tests/test_torch_suite.py`` skips.

Stdlib only (it runs before anything is known about the environment).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "EXPECTED",
    "ROOT",
    "SLOW",
    "check",
    "compare",
    "main",
    "release_dir",
    "run_files",
    "torch_release",
]

ROOT = Path(__file__).resolve().parent.parent

# Tests whose outcome the contract changes on purpose: (raw outcome, installed outcome, reason).
# Ids are "module.Class.test".
_RAISE = (
    "asserts that a fullgraph=True call under torch._dynamo.config.disable raises 'found no "
    "compiled frames' after the body ran (torch 2.13+, pytorch/pytorch#177809): the raise "
    "safe_compile exists to remove; installed, the call returns the eager result"
)
EXPECTED: dict[str, tuple[str, str, str]] = {
    "test_compile.FullgraphTests.test_fullgraph_errors_on_frame_skip_dynamo_disabled": (
        "passed",
        "failed",
        _RAISE,
    ),
    "test_compile.FullgraphTests.test_fullgraph_skip_reason_message": (
        "passed",
        "failed",
        _RAISE + " (and checks the message's wording)",
    ),
}

# Tests that compile with the default backend (inductor: seconds each on a small CPU) or loop
# over every backend; left out unless --full.
SLOW = (
    "test_compile.InPlaceCompilationTests.test_overwrite_call_impl",
    "test_compile.InPlaceCompilationTests.test_save",
    "test_compile.InPlaceCompilationTests.test_state_dict_save",
    "test_compile.InPlaceCompilationTests.test_jit_save",
    "test_modules.OptimizedModuleTest.test_assign_does_not_exist",
    "test_modules.OptimizedModuleTest.test_module_setattr",
    "test_modules.OptimizedModuleTest.test_udo_instance_method_as_hook",
    "test_modules.OptimizedModuleTest.test_save_and_load_inductor",
    "test_modules.OptimizedModuleTest.test_save_and_load_all_backends",
)

# Switches that would make the raw run not raw, or install torchcompat in it.
_CLEAN_ENV = ("TORCHCOMPAT_INSTALL", "TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE")

# Loaded in both runs: records, after collection (so after --torchcompat-install's
# sessionstart), whether torch.compile is torchcompat's, so that "installed" is proved.
_WATCH = """
import json, os

def pytest_collection_finish(session):
    import torch
    from torchcompat._install import is_installed
    out = os.environ["TORCH_SUITE_WATCH"]
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"installed": is_installed(),
                   "compile": getattr(torch.compile, "__module__", "")}, f)
"""


def torch_release() -> str | None:
    """The installed torch's release (``2.13.0`` for ``2.13.0+cpu``), read from its metadata."""
    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    return version.split("+")[0]


def release_dir(release: str, source: Path | None = None) -> Path:
    """Where the test files for ``release`` are kept (may not exist)."""
    return (source or ROOT / ".torch_tests") / release


def _plugin_registered() -> bool:
    """Whether pytest loads torchcompat's plugin by itself (installed, not only on a path)."""
    if sys.version_info >= (3, 10):
        found = metadata.entry_points(group="pytest11")
    else:  # Python 3.9: entry_points() takes no selection yet
        found = metadata.entry_points().get("pytest11", ())
    return any(ep.name == "torchcompat" for ep in found)


def _outcomes(junit: Path, run_dir: Path) -> dict[str, str]:
    """Each test's outcome, and for a failure or error the first line of its message.

    The message loses what differs between two runs of one test: the run's folder, addresses.
    """
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}.{case.get('name')}"
        outcome = "passed"
        for tag, word in (("error", "error"), ("failure", "failed"), ("skipped", "skipped")):
            found = case.find(tag)
            if found is not None:
                message = (found.get("message") or "").strip().splitlines()
                line = message[0].replace(str(run_dir), "<dir>") if message else ""
                line = re.sub(r"0x[0-9a-fA-F]+", "0x?", line)
                outcome = f"{word}: {line}" if line and word != "skipped" else word
                break
        # A test that fails in the call and errors in teardown has two entries; keep the worse.
        if outcome != "passed" or test_id not in outcomes:
            outcomes[test_id] = outcome
    return outcomes


_KINDS = ("passed", "failed", "error", "skipped")


def _kind(outcome: str) -> str:
    return outcome.split(":", maxsplit=1)[0]


def run_files(files: list[Path], workdir: Path, installed: bool, full: bool) -> dict[str, Any]:
    """Run test files in one fresh interpreter; return their outcomes and what the watch saw."""
    mode = "installed" if installed else "raw"
    # A plain folder name: torch's munge_exc, which some tests use, shortens only such paths.
    run_dir = workdir / f"{mode}_{files[0].stem if len(files) == 1 else 'all'}"
    run_dir.mkdir(parents=True)
    for test_file in files:
        shutil.copy(test_file, run_dir / test_file.name)
    # An empty ini makes run_dir the rootdir: no outer project's pytest configuration applies.
    (run_dir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (run_dir / "_torch_suite_watch.py").write_text(_WATCH, encoding="utf-8")
    junit, watch = run_dir / "junit.xml", run_dir / "watch.json"
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN_ENV}
    env["TORCH_SUITE_WATCH"] = str(watch)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(run_dir), env.get("PYTHONPATH")]))
    env["PYTORCH_PRINT_REPRO_ON_FAILURE"] = "0"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging"]
    command += ["-p", "_torch_suite_watch", f"--junitxml={junit}", *(f.name for f in files)]
    if installed:
        if not _plugin_registered():
            command += ["-p", "torchcompat.pytest_plugin"]
        command.append("--torchcompat-install")
    else:
        command += ["-p", "no:torchcompat"]
    stems = {f.stem for f in files}
    for test_id in () if full else SLOW:
        module, cls, name = test_id.split(".")
        if module in stems:
            command += ["--deselect", f"{module}.py::{cls}::{name}"]
    done = subprocess.run(
        command, check=False, cwd=run_dir, env=env, capture_output=True, text=True
    )
    seen = json.loads(watch.read_text("utf-8")) if watch.exists() else {}
    outcomes = _outcomes(junit, run_dir) if junit.exists() else {}
    return {"status": done.returncode, "watch": seen, "outcomes": outcomes, "log": done.stdout}


def compare(raw: dict[str, str], installed: dict[str, str]) -> dict[str, list[str]]:
    """Sort every test into expected/unexpected differences and stale expectations."""
    found: dict[str, list[str]] = {"expected": [], "unexpected": [], "stale": []}
    for test_id in sorted(set(raw) | set(installed) | set(EXPECTED)):
        pair = (raw.get(test_id, "absent"), installed.get(test_id, "absent"))
        want = EXPECTED.get(test_id)
        if want is not None and (_kind(pair[0]), _kind(pair[1])) == want[:2]:
            found["expected"].append(f"{test_id}: {pair[0]} -> {pair[1]}: {want[2]}")
        elif want is not None:
            found["stale"].append(f"{test_id}: {pair[0]} -> {pair[1]}, expected {want[:2]}")
        elif pair[0] != pair[1]:
            # A test that fails both ways must fail the same way (its message's first line).
            found["unexpected"].append(f"{test_id}: {pair[0]} -> {pair[1]}")
    return found


def check(
    release: str, source: Path | None, workdir: Path, full: bool, together: bool = False
) -> dict[str, Any]:
    """Run every test file kept for ``release`` raw and installed; return the whole report.

    Each file runs in its own interpreter per mode, or with ``together`` all files in one (two
    interpreters in all: quicker, but a test can then see what another file's tests left).
    """
    files = sorted(release_dir(release, source).glob("test_*.py"))
    report: dict[str, Any] = {"release": release, "runs": {}, "problems": []}
    raw_all: dict[str, str] = {}
    installed_all: dict[str, str] = {}
    for group in [files] if together else [[f] for f in files]:
        name = "+".join(f.name for f in group)
        raw = run_files(group, workdir, installed=False, full=full)
        installed = run_files(group, workdir, installed=True, full=full)
        for mode, run, want in (("raw", raw, False), ("installed", installed, True)):
            if run["watch"].get("installed") is not want:
                report["problems"].append(f"{name} {mode}: watch saw {run['watch']}")
            if not run["outcomes"]:
                report["problems"].append(f"{name} {mode}: no tests ran\n{run['log'][-4000:]}")
        raw_all.update(raw["outcomes"])
        installed_all.update(installed["outcomes"])
        report["runs"][name] = {
            mode: {"status": run["status"], "outcomes": run["outcomes"]}
            for mode, run in (("raw", raw), ("installed", installed))
        }
        # The installed run's log, for whoever reads an unexpected difference.
        report["runs"][name]["installed_log"] = installed["log"][-20000:]
    report.update(compare(raw_all, installed_all))
    report["counts"] = {
        mode: {k: [_kind(o) for o in runs.values()].count(k) for k in _KINDS}
        for mode, runs in (("raw", raw_all), ("installed", installed_all))
    }
    return report


def main(argv: list[str] | None = None) -> int:
    """Run, compare, print; 0 if only expected differences, 1 otherwise, 2 if no files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", help="default: the installed torch's release")
    parser.add_argument("--source", type=Path, help="default: .torch_tests in the repository")
    parser.add_argument("--full", action="store_true", help="also the slow (inductor) tests")
    parser.add_argument(
        "--together", action="store_true", help="all files in one interpreter per mode"
    )
    parser.add_argument("--json", type=Path, help="write the whole report there")
    args = parser.parse_args(argv)
    release = args.release or torch_release()
    if release is None:
        print("torch_suite: torch is not installed")
        return 2
    if not any(release_dir(release, args.source).glob("test_*.py")):
        print(
            f"torch_suite: no test files for torch {release} in {release_dir(release, args.source)}"
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="torch-suite-") as workdir:
        report = check(release, args.source, Path(workdir), args.full, args.together)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"torch_suite: torch {release}: {report['counts']}")
    for kind in ("expected", "unexpected", "stale", "problems"):
        for line in report[kind]:
            print(f"torch_suite: {kind}: {line}")
    return 1 if report["unexpected"] or report["stale"] or report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
