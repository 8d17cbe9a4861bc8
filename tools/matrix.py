"""Run the tox matrix: every torch release, one env at a time, each deleted when done.

    python3 tools/matrix.py                      # lint, type, foreign, every torch release, plugins
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
import configparser
import functools
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
from typing import Callable

__all__ = ["EnvResult", "main", "matrix_envs"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".matrix"
QUICK = ("lint", "type", "py311-torch213")
GB = 1024**3
# A CUDA build of torch: ~3 GB of wheels, unpacked to ~4.3-5.5 GB, plus pip's temporary files.
TORCH_ENV_NEEDS_GB = 7.0
# The next env's wheels, downloaded while the current env runs its tests.
WHEELHOUSE_NEEDS_GB = 4.0
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
    fetch_s: float = 0.0
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
    stays the one place that names the releases. Besides them: ``foreign`` (a well-known
    project's own suite with and without torchcompat's plugin: tools/foreign_suite.py) and
    ``plugins`` (the suite on torch 2.13.0 with common pytest plugins installed).
    """
    envs = {"lint": "-", "type": "-", "api": "-", "dist": "-", "foreign": "-"}
    for factor, release in _TORCH_DEP.findall(tox_ini.read_text(encoding="utf-8")):
        envs[f"py311-{factor}"] = release
    envs["plugins"] = "2.13.0"
    return envs


def env_deps(name: str, tox_ini: Path = ROOT / "tox.ini") -> list[str]:
    """The requirements that tox.ini's [testenv] installs for ``name`` (its factors' lines)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(tox_ini, encoding="utf-8")
    factors = set(name.split("-"))
    deps = []
    for raw in parser.get("testenv", "deps", fallback="").splitlines():
        line = raw.split("#")[0].strip()
        if not line:
            continue
        factor, sep, requirement = line.partition(":")
        if sep and " " not in factor.strip() and not factor.strip().startswith(("http", "file")):
            if factor.strip() in factors:
                deps.append(requirement.strip())
        else:
            deps.append(line)
    return deps


class Prefetch:
    """``pip wheel`` of an env's requirements into .matrix/wheelhouse/<env>, in the background.

    The next torch env's ~3 GB of wheels download while the current env runs its tests; its
    install then takes them from there alone (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``: pip does not
    prefer a find-links file over the same file on an index). If the download or that install
    fails, the env is installed from the index as usual.
    """

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.dest = WORK / "wheelhouse" / name
        shutil.rmtree(self.dest, ignore_errors=True)
        self.dest.mkdir(parents=True)
        self.start = time.monotonic()
        self.seconds = 0.0
        self._log = log.open("w", encoding="utf-8")
        self._proc = subprocess.Popen(
            [
                # pip wheel, not pip download: a dependency that is only an sdist gets built
                # here, so that the install needs no index for build requirements.
                *(sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(self.dest)),
                *env_deps(name),
                *("packaging>=22", "wrapt>=1.14"),  # torchcompat's requirements (setup.cfg)
                "setuptools>=61",  # its build backend (pyproject.toml), should tox rebuild it
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PIP_NO_CACHE_DIR": "1"},
        )

    def wait(self) -> bool:
        """Wait for the download; whether it succeeded."""
        code = self._proc.wait()
        self._log.close()
        self.seconds = time.monotonic() - self.start
        return code == 0

    def discard(self) -> None:
        """Stop the download if it still runs, and delete the wheels."""
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait()
        if not self._log.closed:
            self._log.close()
        shutil.rmtree(self.dest, ignore_errors=True)


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


def _disk_ok(result: EnvResult, watch: DiskWatch) -> bool:
    """Whether there is room for the env; if not, say so (naming the env and the free space)."""
    needs = TORCH_ENV_NEEDS_GB if result.release != "-" else PLAIN_ENV_NEEDS_GB
    free = watch.sample()
    result.free_gb_before = free / GB
    if free >= needs * GB:
        return True
    result.status = "no disk"
    result.notes.append(
        f"not enough free disk for {result.env}: {free / GB:.1f} GB free on {watch.path}, "
        f"it needs {needs:.0f} GB"
    )
    print(f"matrix: {result.notes[-1]}", flush=True)
    return False


def _offline_env(result: EnvResult, prefetched: Prefetch, env: dict[str, str]) -> dict[str, str]:
    """Wait for the env's wheels; the environment that installs from them alone, or ``env``."""
    print(f"matrix: {result.env}: waiting for its wheels ...", flush=True)
    ok = prefetched.wait()
    result.fetch_s = prefetched.seconds
    if not ok:
        result.notes.append("prefetch failed; installed from the index")
        return env
    return {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(prefetched.dest)}


def _test(result: EnvResult, log: Path, env: dict[str, str]) -> None:
    """Run the env's commands on the installed env; fill in counts, build and status."""
    name = result.env
    junit = WORK / "junit" / f"{name}.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)
    print(f"matrix: {name}: installed in {result.install_s:.0f} s, testing ...", flush=True)
    posargs = ["--", f"--junitxml={junit}", "-p", "no:cacheprovider"]
    if result.release == "-":
        posargs = []
    code, result.test_s = _tox(["run", "-e", name, "--skip-pkg-install", *posargs], log, env)
    counts = _junit_counts(junit)
    if counts is not None:
        result.passed, result.failed, result.skipped = counts
    env_dir = ROOT / ".tox" / name
    result.torch_build = _installed_torch(env_dir)
    # Tests add caches (inductor, triton) under the env's tmp dir: keep the larger figure.
    result.env_gb = max(result.env_gb, _dir_bytes(env_dir) / GB)
    result.status = "ok" if code == 0 and result.failed == 0 else "failed"


def run_env(
    result: EnvResult,
    watch: DiskWatch,
    *,
    keep: bool = False,
    prefetched: Prefetch | None = None,
    after_install: Callable[[], None] = lambda: None,
) -> EnvResult:
    """Install (from ``prefetched`` wheels where given), test and delete one tox env.

    ``after_install`` runs between install and tests (to start the next env's download).
    """
    name = result.env
    env_dir = ROOT / ".tox" / name
    log = WORK / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    if not _disk_ok(result, watch):
        return result

    env = dict(os.environ)
    env["PIP_NO_CACHE_DIR"] = "1"  # also set in tox.ini; here for pip runs tox makes itself
    probe = WORK / "probes" / f"{name}.json"
    probe.unlink(missing_ok=True)
    env["TORCHCOMPAT_PROBE_OUT"] = str(probe)
    install_env = env if prefetched is None else _offline_env(result, prefetched, env)
    print(f"matrix: {name} (torch {result.release}): installing ...", flush=True)
    code, result.install_s = _tox(["run", "-e", name, "--notest"], log, install_env)
    if code != 0 and install_env is not env:
        result.notes.append("install from the prefetched wheels failed; retried from the index")
        code, seconds = _tox(["run", "-e", name, "--notest"], log, env)
        result.install_s += seconds
    result.env_gb = _dir_bytes(env_dir) / GB
    if prefetched is not None:
        prefetched.discard()
    after_install()
    if code == 0:
        _test(result, log, env)
    else:
        result.status = "install failed"
    if not result.ok:
        print(f"matrix: {name}: {result.status}; the end of {log}:\n{_tail(log)}", flush=True)
    if not keep:
        shutil.rmtree(env_dir, ignore_errors=True)
    watch.sample()
    print(
        f"matrix: {name}: {result.status} ({result.passed} passed, {result.failed} failed, "
        f"{result.skipped} skipped; fetch {result.fetch_s:.0f} s, install "
        f"{result.install_s:.0f} s, test {result.test_s:.0f} s)",
        flush=True,
    )
    return result


def format_summary(results: list[EnvResult], watch: DiskWatch, wall_s: float) -> str:
    """The summary table and the disk figures, as plain text."""
    header = ["env", "release", "build", "passed", "failed", "skipped"]
    header += ["fetch s", "install s", "test s"]
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
                f"{r.fetch_s:.0f}",
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
    lines += [f"note: {r.env}: {note}" for r in results for note in r.notes]
    return "\n".join(lines)


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
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
    parser.add_argument(
        "--prefetch",
        action="store_true",
        help="download the next env's wheels while the current env runs its tests (helps where "
        "the network is the bottleneck; here unpacking is: 124 s offline vs 85-130 s online)",
    )
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
    tox_version = [sys.executable, "-m", "tox", "--version"]
    if subprocess.run(tox_version, capture_output=True, check=False).returncode:
        parser.error(f'tox is not installed for {sys.executable}: pip install "tox>=4.11"')
    return args, names


def run_matrix(
    names: list[str], watch: DiskWatch, *, keep: bool = False, prefetch: bool = False
) -> list[EnvResult]:
    """Run ``names`` one after another (with ``prefetch``, each env's wheels downloaded during
    the previous env's tests)."""
    known = matrix_envs()
    prefetches: dict[str, Prefetch] = {}

    def prefetch_after(index: int) -> None:
        """Start downloading the wheels of the first torch env after ``names[index]``."""
        upcoming = [n for n in names[index + 1 :] if known[n] != "-"]
        if not prefetch or not upcoming or upcoming[0] in prefetches:
            return
        # The wheels (~3.5 GB) sit next to the current env: only with room for the next env too.
        if watch.sample() < (WHEELHOUSE_NEEDS_GB + TORCH_ENV_NEEDS_GB) * GB:
            return
        name = upcoming[0]
        prefetches[name] = Prefetch(name, WORK / "logs" / f"{name}.fetch.log")

    results: list[EnvResult] = []
    if names and known[names[0]] == "-":
        prefetch_after(-1)  # lint and type are quick: the first torch env's wheels meanwhile
    try:
        for index, name in enumerate(names):
            result = run_env(
                EnvResult(name, known[name]),
                watch,
                keep=keep,
                prefetched=prefetches.get(name),
                after_install=functools.partial(prefetch_after, index),
            )
            results.append(result)
    finally:
        for pending in prefetches.values():
            pending.discard()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the selected envs; print the summary; return 0 only if every env passed."""
    args, names = _parse_args(argv)
    WORK.mkdir(exist_ok=True)
    (ROOT / ".tox").mkdir(exist_ok=True)
    start = time.monotonic()
    with DiskWatch(ROOT / ".tox") as watch:
        results = run_matrix(names, watch, keep=args.keep, prefetch=args.prefetch)
    wall_s = time.monotonic() - start
    print("\n" + format_summary(results, watch, wall_s), flush=True)
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

        # One column per release: the plugins env re-runs 2.13.0 and writes no column.
        probes = [WORK / "probes" / f"{r.env}.json" for r in results if r.env.startswith("py")]
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
