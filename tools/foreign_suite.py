"""Run a well-known project's own test suite with and without torchcompat's pytest plugin.

    python tools/foreign_suite.py six==1.17.0

Installing torchcompat registers its plugin in every pytest run of the environment: it must not
change the outcome of a suite that does not use it. This downloads the project's sdist from the
package index, installs it (so that its tests test the code they ship with), and runs its tests
twice with xdist (``-n 2``): as installed, and with ``-p no:torchcompat``. It fails unless both
runs end alike (exit status, tests, failures, errors, skips), the plugin was loaded in every
process of the first run, and no process of either run imported torch (torch must be installed,
or that proves nothing). The ``foreign`` tox env runs it; ``tools/matrix.py`` runs that env.

Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

__all__ = ["WATCH_PLUGIN", "main", "run_suite"]

# Loaded with -p into the main process and every xdist worker (they inherit PYTHONPATH and the
# -p options): each writes what it had imported when its session ended.
WATCH_PLUGIN = """
import json, os, sys

def pytest_sessionfinish(session):
    out = os.path.join(os.environ["FOREIGN_WATCH_OUT"], f"{os.getpid()}.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch"),
                   "plugin": "torchcompat.pytest_plugin" in sys.modules}, f)
"""


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def _fetch(spec: str, workdir: Path) -> Path:
    """Download and unpack ``spec``'s sdist into ``workdir``; install it; return its folder."""
    sdists = workdir / "sdist"
    sdists.mkdir(parents=True, exist_ok=True)
    _pip("download", "--quiet", "--no-deps", "--no-binary", ":all:", spec, "-d", str(sdists))
    (archive,) = sdists.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(workdir / "src", filter="data")
    (source,) = (workdir / "src").iterdir()
    _pip("install", "--quiet", str(source))
    return source


def run_suite(source: Path, workdir: Path, name: str, *extra: str) -> dict[str, object]:
    """Run the suite in ``source`` once; return its counts and what each process imported."""
    watch = workdir / f"watch-{name}"
    watch.mkdir(parents=True, exist_ok=True)
    for old in watch.glob("*.json"):
        old.unlink()
    (workdir / "_foreign_watch.py").write_text(WATCH_PLUGIN, encoding="utf-8")
    junit = workdir / f"{name}.xml"
    env = {
        **os.environ,
        "FOREIGN_WATCH_OUT": str(watch),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(workdir), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "_foreign_watch", "-n", "2"]
    command += ["-p", "no:cacheprovider", f"--junitxml={junit}", *extra]
    done = subprocess.run(command, cwd=source, env=env, check=False)
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else next(root.iter("testsuite"))
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    processes = [json.loads(path.read_text("utf-8")) for path in sorted(watch.glob("*.json"))]
    return {"status": done.returncode, **counts, "processes": processes}


def main(argv: list[str] | None = None) -> int:
    """Fetch, run twice, compare; print what was found; 0 only if nothing differs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", help="a project on the index, e.g. six==1.17.0")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where to unpack and run (default: a new temporary folder, deleted after); outside "
        "any project whose pytest configuration the suite could pick up instead of its own",
    )
    args = parser.parse_args(argv)
    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="foreign-suite-") as workdir:
            return _check(args.spec, Path(workdir))
    return _check(args.spec, args.workdir)


def _check(spec: str, workdir: Path) -> int:
    try:
        import torch  # noqa: F401  (only to know it is there: the check needs it installable)
    except ImportError:
        print("foreign_suite: torch is not installed, so 'never imported' would prove nothing")
        return 1
    source = _fetch(spec, workdir)
    with_plugin = run_suite(source, workdir, "with")
    without = run_suite(source, workdir, "without", "-p", "no:torchcompat")
    problems = []
    strip = ("status", "tests", "failures", "errors", "skipped")
    if {k: with_plugin[k] for k in strip} != {k: without[k] for k in strip}:
        problems.append("the outcome differs with torchcompat's plugin")
    for name, run in (("with", with_plugin), ("without", without)):
        processes = run["processes"]
        assert isinstance(processes, list)
        if len(processes) < 3:  # the main process and two workers
            problems.append(f"{name}: only {len(processes)} processes reported")
        if any(p["torch"] for p in processes):
            problems.append(f"{name}: torch was imported")
        if any(p["plugin"] != (name == "with") for p in processes):
            problems.append(f"{name}: torchcompat's plugin was {'not ' * (name == 'with')}loaded")
    for name, run in (("with torchcompat", with_plugin), ("-p no:torchcompat", without)):
        shown = {k: run[k] for k in strip}
        processes = run["processes"]
        assert isinstance(processes, list)
        print(f"foreign_suite: {spec} {name}: {shown}, {len(processes)} processes")
    for problem in problems:
        print(f"foreign_suite: FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
