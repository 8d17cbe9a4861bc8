"""Run the tox matrix: every torch release, one env at a time, each deleted when done.

    python3 tools/matrix.py                      # CI's run: every env but those in EXTENDED
    python3 tools/matrix.py --extended           # every env
    python3 tools/matrix.py --quick              # lint, type and the local torch 2.13 only
    python3 tools/matrix.py --envs py311-torch212,py313-torch215
    python3 tools/matrix.py --compat-table docs/compatibility.md

A CUDA build of torch is ~5 GB installed, so the envs run one after another: before each one the
free disk is checked, after it the env's directory (.tox/<env>) is deleted. Each env is timed in
phases (root: making the Debian root of its Python, for the first env of that root; install:
``tox run --notest``; test: ``tox run --skip-pkg-install``), and pytest's JUnit XML gives
passed/failed/skipped. The envs of other CPythons (tox.ini's [matrix] debian_roots) run inside a
Debian root that tools/debian_root.py makes, mounts, unmounts and deletes. The summary (also
written to .matrix/summary.json) has per-env seconds, the env's size on disk and the disk
high-water mark of the run; with --compat-table the run's figures and probe results are kept in
docs/probes/ and the page shows them. The exit status is non-zero if any env failed.

Stdlib only: CI runs this right after ``pip install tox`` on a fresh machine.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from debian_root import SUITE_OF_PYTHON, DebianRoot, root_python
from heartbeat import Heartbeat

__all__ = ["EnvResult", "main", "matrix_envs"]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".matrix"
QUICK = ("lint", "type", "py311-torch213")
GB = 1024**3
# A CUDA build of torch: ~3 GB of wheels, unpacked to ~4.3-5.5 GB, plus pip's temporary files.
TORCH_ENV_NEEDS_GB = 7.0
# The next env's wheels, downloaded while the current env runs its tests.
WHEELHOUSE_NEEDS_GB = 4.0
# A Debian root with Python, g++ and tox: ~0.6-0.9 GB.
ROOT_NEEDS_GB = 1.5
# lint and type: ruff or mypy and the package.
PLAIN_ENV_NEEDS_GB = 1.0
_TORCH_DEP = re.compile(r"^\s*(torch\d+)\s*:\s*torch\s*==\s*(\S+)", re.MULTILINE)
# tox.ini's [matrix] debian_roots entries (other CPythons), as ``py313-torch{25,26,215}``.
_ROOT_ENVS = re.compile(r"^\s*(py3\d+)-torch(?:\{([\d,]+)\}|(\d+))\s*$", re.MULTILINE)
# Left out of the default run (CI's, budget 45 minutes on 2 cores); run them with --extended or
# --envs (docs/compatibility.md says which run recorded each row). Each guards no boundary that a
# default env does not guard too: 2.2 and 2.3 have 2.1's facts (but a refusal text that only 3.12
# shows); 2.4 moved the backend table that 2.5 checks; 2.10's one new fact (mode "lite") lies
# between 2.9.1 (none) and 2.11.0 (there), both default envs; 2.5.1 refuses 3.13 as 2.0.1
# refuses 3.11 (and 2.9.1 3.14, with a stance); 2.6.0 and 2.15.0 on 3.13 and 2.15.0 on 3.14
# compile as 2.15.0 on 3.15 does (and leaving all of 3.13 out spares CI a second Debian root).
EXTENDED = (
    "py311-torch22",
    "py311-torch23",
    "py311-torch24",
    "py311-torch210",
    "py313-torch25",
    "py313-torch26",
    "py313-torch215",
    "py314-torch215",
)


# Failures printed per env at the end of a run (all of them are in .matrix/junit).
FAILURES_SHOWN = 8


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
    python: str = "3.11"
    fetch_s: float = 0.0
    root_s: float = 0.0
    install_s: float = 0.0
    test_s: float = 0.0
    env_gb: float = 0.0
    free_gb_before: float = 0.0
    notes: list[str] = field(default_factory=list)
    # "tests.x::test_y: the failure's first lines", from the JUnit XML: CI shows the end of
    # the output only, where pytest's own report of a failure has long scrolled away.
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the env ran and nothing in it failed."""
        return self.status == "ok"


def matrix_envs(tox_ini: Path = ROOT / "tox.ini") -> dict[str, str]:
    """Every env of the full matrix, in run order, mapped to its torch release ("-" for none).

    The torch envs come from tox.ini's ``torchNNN: torch==X.Y.Z`` dependency lines, so tox.ini
    stays the one place that names the releases. Besides them: ``foreign`` (a well-known
    project's own suite with and without torchcompat's plugin: tools/foreign_suite.py).
    """
    text = tox_ini.read_text(encoding="utf-8")
    releases = dict(_TORCH_DEP.findall(text))
    envs = {"lint": "-", "type": "-", "api": "-", "dist": "-", "foreign": "-"}
    for factor, release in releases.items():
        envs[f"py311-{factor}"] = release
    # Then the other CPythons (each in a Debian root: tools/debian_root.py), one root at a time.
    section = text.partition("\n[matrix]")[2].partition("\n[")[0]
    for python, braced, single in _ROOT_ENVS.findall(section):
        for minor in (braced or single).split(","):
            envs[f"{python}-torch{minor}"] = releases[f"torch{minor}"]
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
        # The 1-minute load average's peak: on a shared machine the seconds mean little without it.
        self.peak_load = os.getloadavg()[0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def sample(self) -> int:
        """Read free disk now, record it, and return it."""
        free = shutil.disk_usage(self.path).free
        self.min_free = min(self.min_free, free)
        self.peak_load = max(self.peak_load, os.getloadavg()[0])
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


def _tox(
    args: list[str], log: Path, env: dict[str, str], root: DebianRoot | None = None
) -> tuple[int, float]:
    """Run ``python -m tox ARGS`` with output appended to ``log`` (in ``root``, its tox on its
    copy of the repo); return (status, seconds)."""
    start = time.monotonic()
    if root is not None:
        passed = {k: v for k, v in env.items() if k.startswith(("TORCHCOMPAT_", "PIP_NO_"))}
        code = root.tox(args, log, passed)
        return code, time.monotonic() - start
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


def _junit_failures(path: Path, lines: int = 6) -> list[str]:
    """Each failed or erroring test in pytest's JUnit XML, with its message's first lines."""
    if not path.exists():
        return []
    found = []
    for case in ET.parse(path).getroot().iter("testcase"):
        for problem in (*case.iter("failure"), *case.iter("error")):
            where = f"{case.get('classname')}::{case.get('name')}"  # as the XML names it
            text = (problem.get("message") or problem.text or "").strip().splitlines()
            found.append(f"{where}: " + "\n    ".join(text[:lines]))
    return found


def _installed_torch(env_dir: Path) -> str | None:
    """torch's version in the env, from its dist-info folder's name (any Python, any root)."""
    found = sorted(env_dir.glob("lib/python3*/site-packages/torch-*.dist-info"))
    return found[0].name.removeprefix("torch-").removesuffix(".dist-info") if found else None


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


def _test(
    result: EnvResult, log: Path, env: dict[str, str], root: DebianRoot | None = None
) -> None:
    """Run the env's commands on the installed env; fill in counts, build and status."""
    name = result.env
    junit = WORK / "junit" / f"{name}.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)
    print(f"matrix: {name}: testing ...", flush=True)
    seen = junit if root is None else root.inside(junit)
    posargs = ["--", f"--junitxml={seen}", "-p", "no:cacheprovider"]
    if result.release == "-":
        posargs = []
    with Heartbeat(name, log):
        code, result.test_s = _tox(
            ["run", "-e", name, "--skip-pkg-install", *posargs], log, env, root
        )
    if root is not None:
        root.copy_out(WORK)
    counts = _junit_counts(junit)
    if counts is not None:
        result.passed, result.failed, result.skipped = counts
    result.failures = _junit_failures(junit)
    env_dir = ROOT / ".tox" / name if root is None else root.env_dir(name)
    result.torch_build = _installed_torch(env_dir)
    # Tests add caches (inductor, triton) under the env's tmp dir: keep the larger figure.
    result.env_gb = max(result.env_gb, _dir_bytes(env_dir) / GB)
    result.status = "ok" if code == 0 and result.failed == 0 else "failed"


def _env_vars(result: EnvResult, root: DebianRoot | None) -> dict[str, str]:
    """The environment of the env's tox runs."""
    env = dict(os.environ)
    env["PIP_NO_CACHE_DIR"] = "1"  # also set in tox.ini; here for pip runs tox makes itself
    probe = WORK / "probes" / f"{result.env}.json"
    env["TORCHCOMPAT_PROBE_OUT"] = str(probe if root is None else root.inside(probe))
    return env


def install_env(
    result: EnvResult,
    watch: DiskWatch,
    *,
    prefetched: Prefetch | None = None,
    root: DebianRoot | None = None,
) -> int | None:
    """Install one tox env (from ``prefetched`` wheels where given; in ``root``, a Debian root,
    where given): tox's exit status, or None where there is no room for it."""
    name = result.env
    env_dir = ROOT / ".tox" / name if root is None else root.env_dir(name)
    log = WORK / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    (WORK / "probes" / f"{name}.json").unlink(missing_ok=True)
    if not _disk_ok(result, watch):
        return None
    env = _env_vars(result, root)
    install_env = env if prefetched is None else _offline_env(result, prefetched, env)
    print(f"matrix: {name} (torch {result.release}): installing ...", flush=True)
    code, result.install_s = _tox(["run", "-e", name, "--notest"], log, install_env, root)
    if code != 0 and install_env is not env:
        result.notes.append("install from the prefetched wheels failed; retried from the index")
        code, seconds = _tox(["run", "-e", name, "--notest"], log, env)
        result.install_s += seconds
    result.env_gb = _dir_bytes(env_dir) / GB
    if prefetched is not None:
        prefetched.discard()
    print(f"matrix: {name}: installed in {result.install_s:.0f} s", flush=True)
    return code


def check_env(
    result: EnvResult,
    code: int,
    watch: DiskWatch,
    *,
    keep: bool = False,
    root: DebianRoot | None = None,
) -> EnvResult:
    """Test an env that ``install_env`` installed (with status ``code``), then delete it."""
    name = result.env
    env_dir = ROOT / ".tox" / name if root is None else root.env_dir(name)
    log = WORK / "logs" / f"{name}.log"
    if code == 0:
        _test(result, log, _env_vars(result, root), root)
    else:
        result.status = "install failed"
    if not result.ok:
        print(f"matrix: {name}: {result.status}; the end of {log}:\n{_tail(log)}", flush=True)
    if not keep:
        shutil.rmtree(env_dir, ignore_errors=True)
    watch.sample()
    print(
        f"matrix: {name}: {result.status} ({result.passed} passed, {result.failed} failed, "
        f"{result.skipped} skipped; fetch {result.fetch_s:.0f} s, root {result.root_s:.0f} s, "
        f"install {result.install_s:.0f} s, test {result.test_s:.0f} s)",
        flush=True,
    )
    return result


def phase_minutes(results: list[EnvResult]) -> dict[str, float]:
    """Minutes per phase over ``results``: fetch (during other envs' tests), root, install, test."""
    return {
        phase: sum(getattr(r, f"{phase}_s") for r in results) / 60
        for phase in ("fetch", "root", "install", "test")
    }


def format_summary(results: list[EnvResult], watch: DiskWatch, wall_s: float) -> str:
    """The summary table and the disk figures, as plain text."""
    header = ["env", "release", "build", "python", "passed", "failed", "skipped"]
    header += ["fetch s", "root s", "install s", "test s"]
    header += ["env GB", "status"]
    rows = [header]
    for r in results:
        rows.append(
            [
                r.env,
                r.release,
                r.torch_build or "-",
                r.python,
                # lint and type run no pytest: no counts to show.
                *((str(r.passed), str(r.failed), str(r.skipped)) if r.release != "-" else "---"),
                f"{r.fetch_s:.0f}",
                f"{r.root_s:.0f}",
                f"{r.install_s:.0f}",
                f"{r.test_s:.0f}",
                f"{r.env_gb:.1f}",
                r.status,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    phases = phase_minutes(results)
    largest = max((r.env_gb for r in results), default=0.0)
    lines += [
        "",
        f"total: {wall_s / 60:.1f} min wall ({phases['root']:.1f} min making Debian roots, "
        f"{phases['install']:.1f} min installing, {phases['test']:.1f} min testing; "
        f"{phases['fetch']:.1f} min of prefetching overlapped with tests)",
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
    group.add_argument(
        "--extended",
        action="store_true",
        help=f"every env, also those left out of the default run ({', '.join(EXTENDED)})",
    )
    parser.add_argument(
        "--compat-table",
        metavar="PATH",
        type=Path,
        help="also write the compatibility table (e.g. docs/compatibility.md) from this run",
    )
    parser.add_argument("--keep", action="store_true", help="keep each env instead of deleting")
    parser.add_argument(
        "--no-ahead",
        action="store_true",
        help="install each env only after the previous one's tests (by default the next env is "
        "installed while the current one runs its tests)",
    )
    parser.add_argument(
        "--prefetch",
        action="store_true",
        help="instead of installing the next env ahead, only download its wheels meanwhile",
    )
    args = parser.parse_args(argv)
    known = matrix_envs()
    if args.quick:
        names = list(QUICK)
    elif args.envs:
        names = [n.strip() for n in args.envs.split(",") if n.strip()]
    else:
        names = [n for n in known if args.extended or n not in EXTENDED]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown env(s) {', '.join(unknown)}; tox.ini has {', '.join(known)}")
    tox_version = [sys.executable, "-m", "tox", "--version"]
    if subprocess.run(tox_version, capture_output=True, check=False).returncode:
        parser.error(f'tox is not installed for {sys.executable}: pip install "tox>=4.11"')
    return args, names


def run_matrix(
    names: list[str],
    results: dict[str, EnvResult],
    watch: DiskWatch,
    *,
    keep: bool = False,
    prefetch: bool = False,
    ahead: bool = True,
) -> None:
    """Run ``names`` in order: with ``ahead``, the next env is installed (its Debian root made
    first, where it needs one) while the current env runs its tests (installing is network and
    disk, testing is CPU), where the disk has room for both; with ``prefetch`` instead, only
    the next env's wheels are downloaded meanwhile. Fills in ``results`` (one per name) as it
    goes, so that an interrupted run still has what it did."""
    known = matrix_envs()
    prefetches: dict[str, Prefetch] = {}
    roots: dict[str, DebianRoot] = {}
    env_roots: dict[str, DebianRoot] = {}

    def prefetch_after(index: int) -> None:
        """Start downloading the wheels of the first torch env after ``names[index]``."""
        # Not for a Debian root's env: these wheels are for this machine's Python.
        upcoming = [n for n in names[index + 1 :] if known[n] != "-" and not root_python(n)]
        if not prefetch or not upcoming or upcoming[0] in prefetches:
            return
        # The wheels (~3.5 GB) sit next to the current env: only with room for the next env too.
        if watch.sample() < (WHEELHOUSE_NEEDS_GB + TORCH_ENV_NEEDS_GB) * GB:
            return
        name = upcoming[0]
        prefetches[name] = Prefetch(name, WORK / "logs" / f"{name}.fetch.log")

    def prepare(name: str) -> int | None:
        """Its root where it needs one, then the env installed: tox's status (None: not)."""
        result, python = results[name], root_python(name)
        if python is not None:
            result.python = f"{python[0]}.{python[1:]}"
            root = _root_for(SUITE_OF_PYTHON[python], roots, result, watch)
            if root is None:
                return None
            env_roots[name] = root
        return install_env(result, watch, prefetched=prefetches.get(name), root=env_roots.get(name))

    pool = ThreadPoolExecutor(max_workers=1)
    pending: dict[str, Future[int | None]] = {}
    started = time.monotonic()
    if names and known[names[0]] == "-":
        prefetch_after(-1)  # lint and type are quick: the first torch env's wheels meanwhile
    try:
        for index, name in enumerate(names):
            code = pending.pop(name).result() if name in pending else prepare(name)
            following = names[index + 1] if index + 1 < len(names) else None
            # Room for this env and the next one side by side (and a root, where it needs one).
            room = (2 * TORCH_ENV_NEEDS_GB + ROOT_NEEDS_GB) * GB
            if ahead and not prefetch and following and watch.sample() >= room:
                pending[following] = pool.submit(prepare, following)
            else:
                prefetch_after(index)
            if code is not None:
                check_env(results[name], code, watch, keep=keep, root=env_roots.get(name))
            print(_pace(index + 1, len(names), time.monotonic() - started), flush=True)
            later = {SUITE_OF_PYTHON.get(root_python(n) or "") for n in names[index + 1 :]}
            for suite, root in list(roots.items()):
                if suite not in later:
                    roots.pop(suite)
                    root.close()  # its last env is done: unmounted and deleted
    finally:
        for future in pending.values():
            future.cancel()
        pool.shutdown(wait=True)
        for fetching in prefetches.values():
            fetching.discard()
        for leftover in roots.values():
            leftover.close()


def _pace(done: int, total: int, seconds: float) -> str:
    """``matrix: 5/22 envs done in 9.3 min; about 31.6 min left at this run's pace``."""
    left = (total - done) * seconds / done / 60 if done else 0.0
    return (
        f"matrix: {done}/{total} envs done in {seconds / 60:.1f} min; "
        f"about {left:.1f} min left at this run's pace"
    )


def _root_for(
    suite: str, roots: dict[str, DebianRoot], result: EnvResult, watch: DiskWatch
) -> DebianRoot | None:
    """The Debian root of ``suite``, made for ``result``'s env if need be (its seconds go to
    that env's root_s); None, with the env marked failed, where it cannot be made."""
    if suite in roots:
        if not roots[suite].ready:
            result.status = "root failed"
            result.notes.append(f"no {suite} root (see the env that made it)")
        return roots[suite] if roots[suite].ready else None
    log = WORK / "logs" / f"root-{suite}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    root = DebianRoot(suite, WORK / "roots" / suite, ROOT, log)
    roots[suite] = root
    free = watch.sample()
    if free < (TORCH_ENV_NEEDS_GB + ROOT_NEEDS_GB) * GB:
        result.status = "no disk"
        result.notes.append(f"{free / GB:.1f} GB free: no room for a {suite} root and an env")
        return None
    print(f"matrix: {result.env}: making a Debian {suite} root ...", flush=True)
    try:
        root.make()
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        result.status = "root failed"
        result.notes.append(f"the {suite} root: {exc}")
        print(f"matrix: {result.env}: {result.notes[-1]}\n{_tail(log)}", flush=True)
        return None
    finally:
        result.root_s = root.seconds or 0.0
    print(f"matrix: {suite} root made in {root.seconds:.0f} s", flush=True)
    return root


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the selected envs; print the summary; return 0 only if every env passed."""
    args, names = _parse_args(argv)
    WORK.mkdir(exist_ok=True)
    (ROOT / ".tox").mkdir(exist_ok=True)
    start = time.monotonic()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # A TERM (CI's timeout) unwinds like Ctrl-C, so that roots are unmounted and deleted.
    signal.signal(signal.SIGTERM, _terminated)
    known = matrix_envs()
    by_name = {name: EnvResult(name, known[name]) for name in names}
    with DiskWatch(ROOT / ".tox") as watch:
        try:
            run_matrix(
                names,
                by_name,
                watch,
                keep=args.keep,
                prefetch=args.prefetch,
                ahead=not args.no_ahead,
            )
        except KeyboardInterrupt as stop:
            # Still the summary and the record of the envs that finished (CI's timeout, Ctrl-C).
            print(f"matrix: interrupted ({stop or 'Ctrl-C'})", flush=True)
            for result in by_name.values():
                if result.status in ("not run", "testing"):
                    result.status = "interrupted"
    results = list(by_name.values())
    wall_s = time.monotonic() - start
    print("\n" + format_summary(results, watch, wall_s), flush=True)
    report = {
        "started": started,
        "command": " ".join(["tools/matrix.py", *(sys.argv[1:] if argv is None else argv)]),
        "wall_s": wall_s,
        "peak_load": watch.peak_load,
        "start_free_gb": watch.start_free / GB,
        "min_free_gb": watch.min_free / GB,
        "envs": [asdict(r) for r in results],
    }
    (WORK / "summary.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    status = 0 if all(r.ok for r in results) else 1
    if args.compat_table is not None:
        from compat_table import record_run, write_table, write_total

        # One row per torch env (and Python).
        probes = [WORK / "probes" / f"{r.env}.json" for r in results if r.env.startswith("py")]
        kind = "extended" if args.extended else "envs" if args.envs or args.quick else "default"
        kept = args.compat_table.parent / "probes"
        record_run(kept, kind, report, [p for p in probes if p.exists()])
        if kind == "default":
            record = json.loads((kept / "runs.json").read_text(encoding="utf-8"))
            write_total(ROOT / "README.md", record)
        rows = [p for p in sorted(kept.glob("py*-torch*.json")) if p.stem in matrix_envs()]
        missing = write_table(rows, args.compat_table)
        print(f"matrix: wrote {args.compat_table} (this run's rows kept in {kept})", flush=True)
        absent = [p.stem for p in probes if not p.exists()] + missing
        if absent:
            print(f"matrix: no probe results from {', '.join(absent)}", flush=True)
            status = 1
    if status:
        failed = [r.env for r in results if not r.ok]
        for result in results:
            for failure in result.failures[:FAILURES_SHOWN]:
                print(f"matrix: {result.env}: {failure}", flush=True)
        print(f"matrix: FAILED: {', '.join(failed) or 'compatibility table'}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
