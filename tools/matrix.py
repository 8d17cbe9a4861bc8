"""Run the tox matrix: every torch release, one env at a time, each deleted when done.

    python3 tools/matrix.py                      # lint, type and every torch release
    python3 tools/matrix.py --quick              # lint, type and the local torch 2.13 only
    python3 tools/matrix.py --envs py311-torch212,py311-torch213
    python3 tools/matrix.py --compat-table docs/compatibility.md

A CUDA build of torch is ~5 GB installed, so the envs run one after another: before each one the
free disk is checked, after it the env's directory (.tox/<env>) is deleted. Each env is timed in
two phases (install: ``tox run --notest``; test: ``tox run --skip-pkg-install``), and pytest's
JUnit XML gives passed/failed/skipped. The summary (also written to .matrix/summary.json) has
per-env seconds, the env's size on disk and the disk high-water mark of the run. The exit status
is non-zero if any env failed.

Stdlib only: CI runs this right after ``pip install tox`` on a fresh machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["EnvResult", "main", "matrix_envs"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".matrix"
QUICK = ("lint", "type", "py311-torch213")
GB = 1024**3
# A CUDA build of torch: ~3 GB of wheels, unpacked to ~4.3-5.5 GB, plus pip's temporary files.
TORCH_ENV_NEEDS_GB = 7.0
# lint and type: ruff or mypy and the package.
PLAIN_ENV_NEEDS_GB = 1.0
_TORCH_DEP = re.compile(r"^\s*(torch\d+)\s*:\s*torch\s*==\s*(\S+)", re.MULTILINE)


@dataclass
class EnvResult:
    """What one env did."""

    env: str
    release: str
    status: str = "not run"
    torch_build: str | None = None
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    install_s: float = 0.0
    test_s: float = 0.0
    env_gb: float = 0.0
    free_gb_before: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the env ran and nothing in it failed."""
        return self.status == "ok"


def matrix_envs(tox_ini: Path = ROOT / "tox.ini") -> dict[str, str]:
    """Every env of the full matrix, in run order, mapped to its torch release ("-" for none).

    The torch envs come from tox.ini's ``torchNNN: torch==X.Y.Z`` dependency lines, so tox.ini
    stays the one place that names the releases.
    """
    envs = {"lint": "-", "type": "-"}
    for factor, release in _TORCH_DEP.findall(tox_ini.read_text(encoding="utf-8")):
        envs[f"py311-{factor}"] = release
    return envs


class DiskWatch:
    """Samples free disk every second in the background; keeps the lowest value seen."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start_free = shutil.disk_usage(path).free
        self.min_free = self.start_free
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def sample(self) -> int:
        """Read free disk now, record it, and return it."""
        free = shutil.disk_usage(self.path).free
        self.min_free = min(self.min_free, free)
        return free

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _dir_bytes(path: Path) -> int:
    """Bytes that ``path`` takes on disk (allocated blocks, as du counts)."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


def _tox(args: list[str], log: Path, env: dict[str, str]) -> tuple[int, float]:
    """Run ``python -m tox ARGS`` with output appended to ``log``; return (status, seconds)."""
    start = time.monotonic()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ tox {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [sys.executable, "-m", "tox", *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    return done.returncode, time.monotonic() - start


def _junit_counts(path: Path) -> tuple[int, int, int] | None:
    """(passed, failed, skipped) from pytest's JUnit XML; failed counts errors too."""
    if not path.exists():
        return None
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failures = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failures += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failures - skipped, failures, skipped


def _installed_torch(env_dir: Path) -> str | None:
    python = env_dir / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('torch'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def run_env(name: str, release: str, watch: DiskWatch, keep: bool) -> EnvResult:
    """Install, test and delete one tox env."""
    result = EnvResult(name, release)
    env_dir = ROOT / ".tox" / name
    log = WORK / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    needs = TORCH_ENV_NEEDS_GB if release != "-" else PLAIN_ENV_NEEDS_GB
    free = watch.sample()
    result.free_gb_before = free / GB
    if free < needs * GB:
        result.status = "no disk"
        result.notes.append(
            f"not enough free disk for {name}: {free / GB:.1f} GB free on "
            f"{watch.path}, it needs {needs:.0f} GB"
        )
        print(f"matrix: {result.notes[-1]}", flush=True)
        return result

    env = dict(os.environ)
    env["PIP_NO_CACHE_DIR"] = "1"  # also set in tox.ini; here for pip runs tox makes itself
    probe = WORK / "probes" / f"{name}.json"
    probe.unlink(missing_ok=True)
    env["TORCHCOMPAT_PROBE_OUT"] = str(probe)
    junit = WORK / "junit" / f"{name}.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)

    print(f"matrix: {name} (torch {release}): installing ...", flush=True)
    code, result.install_s = _tox(["run", "-e", name, "--notest"], log, env)
    result.env_gb = _dir_bytes(env_dir) / GB
    if code != 0:
        result.status = "install failed"
    else:
        print(f"matrix: {name}: installed in {result.install_s:.0f} s, testing ...", flush=True)
        posargs = [] if release == "-" else ["--", f"--junitxml={junit}", "-p", "no:cacheprovider"]
        code, result.test_s = _tox(["run", "-e", name, "--skip-pkg-install", *posargs], log, env)
        counts = _junit_counts(junit)
        if counts is not None:
            result.passed, result.failed, result.skipped = counts
        result.torch_build = _installed_torch(env_dir)
        # Tests add caches (inductor, triton) under the env's tmp dir: keep the larger figure.
        result.env_gb = max(result.env_gb, _dir_bytes(env_dir) / GB)
        result.status = "ok" if code == 0 and result.failed == 0 else "failed"
    if not result.ok:
        print(f"matrix: {name}: {result.status}; the end of {log}:\n{_tail(log)}", flush=True)
    if not keep:
        shutil.rmtree(env_dir, ignore_errors=True)
    watch.sample()
    print(
        f"matrix: {name}: {result.status} ({result.passed} passed, {result.failed} failed, "
        f"{result.skipped} skipped; install {result.install_s:.0f} s, test {result.test_s:.0f} s)",
        flush=True,
    )
    return result


def format_summary(results: list[EnvResult], watch: DiskWatch, wall_s: float) -> str:
    """The summary table and the disk figures, as plain text."""
    header = ["env", "release", "build", "passed", "failed", "skipped", "install s", "test s"]
    header += ["env GB", "status"]
    rows = [header]
    for r in results:
        rows.append(
            [
                r.env,
                r.release,
                r.torch_build or "-",
                # lint and type run no pytest: no counts to show.
                *((str(r.passed), str(r.failed), str(r.skipped)) if r.release != "-" else "---"),
                f"{r.install_s:.0f}",
                f"{r.test_s:.0f}",
                f"{r.env_gb:.1f}",
                r.status,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    install = sum(r.install_s for r in results)
    test = sum(r.test_s for r in results)
    largest = max((r.env_gb for r in results), default=0.0)
    lines += [
        "",
        f"total: {wall_s / 60:.1f} min wall ({install / 60:.1f} min installing, "
        f"{test / 60:.1f} min testing)",
        f"disk high-water mark: largest env {largest:.1f} GB; free disk went from "
        f"{watch.start_free / GB:.1f} GB down to {watch.min_free / GB:.1f} GB "
        f"(at most {(watch.start_free - watch.min_free) / GB:.1f} GB in use by this run and "
        f"anything else writing to the disk meanwhile)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the selected envs; print the summary; return 0 only if every env passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    group.add_argument("--envs", help="comma-separated env names (see tox.ini)")
    parser.add_argument(
        "--compat-table",
        metavar="PATH",
        type=Path,
        help="also write the compatibility table (e.g. docs/compatibility.md) from this run",
    )
    parser.add_argument("--keep", action="store_true", help="keep each env instead of deleting")
    args = parser.parse_args(argv)

    known = matrix_envs()
    if args.quick:
        names = list(QUICK)
    elif args.envs:
        names = [n.strip() for n in args.envs.split(",") if n.strip()]
    else:
        names = list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown env(s) {', '.join(unknown)}; tox.ini has {', '.join(known)}")
    tox = subprocess.run(
        [sys.executable, "-m", "tox", "--version"], capture_output=True, check=False
    )
    if tox.returncode:
        parser.error(f'tox is not installed for {sys.executable}: pip install "tox>=4.11"')

    WORK.mkdir(exist_ok=True)
    (ROOT / ".tox").mkdir(exist_ok=True)
    start = time.monotonic()
    results: list[EnvResult] = []
    with DiskWatch(ROOT / ".tox") as watch:
        for name in names:
            results.append(run_env(name, known[name], watch, args.keep))
    wall_s = time.monotonic() - start
    summary = format_summary(results, watch, wall_s)
    print("\n" + summary, flush=True)
    report = {
        "wall_s": wall_s,
        "start_free_gb": watch.start_free / GB,
        "min_free_gb": watch.min_free / GB,
        "envs": [asdict(r) for r in results],
    }
    (WORK / "summary.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    status = 0 if all(r.ok for r in results) else 1
    if args.compat_table is not None:
        from compat_table import write_table

        probes = [WORK / "probes" / f"{r.env}.json" for r in results if r.release != "-"]
        missing = write_table([p for p in probes if p.exists()], args.compat_table)
        print(f"matrix: wrote {args.compat_table}", flush=True)
        absent = [p.stem for p in probes if not p.exists()] + missing
        if absent:
            print(f"matrix: no probe results from {', '.join(absent)}", flush=True)
            status = 1
    if status:
        failed = [r.env for r in results if not r.ok]
        print(f"matrix: FAILED: {', '.join(failed) or 'compatibility table'}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
