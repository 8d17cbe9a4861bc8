"""The pytest plugin's cost: what an installed torchcompat adds to every pytest run.

``run.py``'s plugin section (``python benchmarks/run.py --only-import``). A one-test suite runs
in four environments, each with a site folder put first on ``PYTHONPATH``:

- **pytest alone**: no torchcompat distribution anywhere (the section refuses to run where the
  interpreter has one installed: its entry point would load in every run);
- **an empty plugin**: a distribution whose ``pytest11`` entry point names an empty module. What
  pytest spends on any installed plugin, whoever wrote it: its header's ``plugins:`` line reads
  the distribution's metadata, which imports the ``email`` package;
- **torchcompat, blocked**: the next one with ``-p no:torchcompat``. What pytest spends on the
  distribution itself: it reads every plugin distribution's ``RECORD`` (~90 lines, each made a
  path object, ~35 k instructions a line) to mark its modules for assertion rewriting;
- **torchcompat**: the measured source as users install it: pip builds its wheel and installs it
  into the site folder (entry point, ``RECORD`` with hashes, pyc files, ``METADATA`` with the
  README, which the header's ``plugins:`` line parses). The measured source is a whole project
  tree (``git archive COMMIT | tar -x``), found as the parent of the imported package.

Every other installed plugin is blocked by name in all four (hypothesis alone costs ~300 ms, with
noise of its own). With pytest's header (where the plugin adds its line) and with ``-q``.

Measured three ways, each put beside the others in ``docs/performance.md``:

- **instructions**, counted by valgrind (where it is on ``PATH``) with address-space randomisation
  off and ``PYTHONHASHSEED=0``: whatever a neighbour does, the count moves by ~1 M (0.2 ms) from
  run to run only, and the median of ``COUNTS`` runs is kept. Turned
  into ms at pytest alone's own rate in this run: its instructions over its median CPU time;
- **wall and CPU time** of interleaved rounds: ~10 ms apart from noise alone on a shared box;
- **the plugin's own time inside the run** (``PLUGIN_PROBE``): loading it, and its hook calls.

Counted only: what each test past the first adds (the plugin's hooks run for every test), from a
``MANY``-test suite with ``-q`` against the one-test one. And torchcompat over its blocked install
under ``PYTHONDONTWRITEBYTECODE=1``, with
the package's pyc files written as pip writes them at install: pytest's rewriter then rewrites
the modules it loads on every run.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from run import _env, _timed, _wall, summarize

__all__ = ["section_plugin"]

PLUGIN_SUITE = "def test_one():\n    assert True\n"
#: The size of the many-test suite that gives what each further test costs (its hooks' calls).
MANY = 300
MANY_SUITE = "".join(f"def test_{i}():\n    assert True\n" for i in range(MANY))
ENTRY_POINTS = (
    "import importlib.metadata as m; "
    "print(' '.join(sorted({e.name for e in m.entry_points(group='pytest11')})))"
)
#: The environments: pytest alone, an empty plugin, torchcompat installed with its plugin
#: blocked (``-p no:torchcompat``: what pytest spends on the distribution), torchcompat installed.
ARMS = ("alone", "empty", "blocked", "torchcompat")
SITES = ("alone", "empty", "torchcompat")
#: Runs counted in instructions per environment, by default; the median is kept (a run's count
#: moves by ~0.2 ms worth from run to run: temporary names, a garbage collection more or less).
COUNTS = 5


# A pytest run that times, in its own process, what torchcompat's plugin does in it: loading and
# registering it (pytest calls its pytest_addoption then) and each of its hook calls. Precise where
# the whole-process difference is not: two pytest runs differ by ~10 ms here from noise alone.
PLUGIN_PROBE = """
import json, sys, time
import pluggy, pytest
from _pytest.config import PytestPluginManager

spent = {"load": 0.0, "hooks": 0.0}
register = PytestPluginManager.register

def timed(function):
    def call(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent["hooks"] += time.perf_counter() - start
    return call

def counting_register(self, plugin, name=None):
    start = time.perf_counter()
    try:
        return register(self, plugin, name)
    finally:
        name = self.get_name(plugin) or ""
        if name == "torchcompat":  # the short-name holder registers inside a timed hook
            spent["load"] += time.perf_counter() - start
        if "torchcompat" in name:
            for caller in self.get_hookcallers(plugin) or []:
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin:
                        impl.function = timed(impl.function)

PytestPluginManager.register = counting_register
load = pluggy.PluginManager.load_setuptools_entrypoints

def counting_load(self, group, name=None):
    # The entry point's import happens here, before register: time it with the load.
    from importlib.metadata import EntryPoint
    ep_load = EntryPoint.load
    def timed_load(ep):
        start = time.perf_counter()
        try:
            return ep_load(ep)
        finally:
            if ep.name == "torchcompat":
                spent["load"] += time.perf_counter() - start
    EntryPoint.load = timed_load
    try:
        return load(self, group, name)
    finally:
        EntryPoint.load = ep_load

pluggy.PluginManager.load_setuptools_entrypoints = counting_load
code = pytest.main(sys.argv[1:])
print("PLUGIN-JSON " + json.dumps(spent), file=sys.stderr)
"""


def _plugin_spent(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Seconds the plugin took inside one pytest run (PLUGIN_PROBE): loading, hooks."""
    done = subprocess.run(
        [sys.executable, "-c", PLUGIN_PROBE, *argv], env=env, capture_output=True, text=True,
        check=False, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("PLUGIN-JSON ")]
    if done.returncode != 0 or not line:
        raise RuntimeError(f"plugin probe failed:\n{done.stderr}")
    spent: dict[str, float] = json.loads(line[-1].removeprefix("PLUGIN-JSON "))
    return spent


def _installed_torchcompat() -> list[str]:
    """Distributions of this interpreter whose pytest11 entry point loads torchcompat."""
    found = []
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == "pytest11" and ep.value.split(".")[0].split(":")[0] == "torchcompat":
                found.append(f"{dist.metadata['Name']} {dist.version} ({dist.locate_file('')})")
    return found


def _dist_info(site: Path, name: str, entry: str, files: list[str]) -> None:
    """A distribution as pip installs one: METADATA, the pytest11 entry point, and a RECORD."""
    info = site / f"{name}-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[pytest11]\n{entry}\n", encoding="utf-8")
    record = [*files, *(f"{info.name}/{n}" for n in ("METADATA", "entry_points.txt", "RECORD"))]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in record), encoding="utf-8")


def _sites(folder: Path) -> dict[str, Path]:
    """One site folder per arm; torchcompat's holds a copy of the package measured."""
    import torchcompat

    sites = {arm: folder / f"site-{arm}" for arm in SITES}
    for site in sites.values():
        site.mkdir()
    empty = sites["empty"]
    (empty / "torchcompat_bench_empty.py").write_text('"""An empty plugin."""\n', "utf-8")
    _dist_info(
        empty, "torchcompat_bench_empty", "empty = torchcompat_bench_empty",
        ["torchcompat_bench_empty.py"],
    )  # fmt: skip
    _install(Path(torchcompat.__file__).parent.parent, sites["torchcompat"], folder)
    return sites


def _install(root: Path, site: Path, folder: Path) -> None:
    """The measured source installed into ``site`` as users install it: pip builds its wheel and
    installs it, with its entry point, its ``RECORD`` (every file, each pyc, with hashes), its
    ``METADATA`` (the README as the long description: pytest's ``plugins:`` line parses it)."""
    if not (root / "setup.cfg").is_file():
        raise SystemExit(
            f"benchmarks: the plugin section installs the measured source with pip, but {root} "
            "holds no project (setup.cfg): snapshot the whole tree (git archive COMMIT | tar -x)"
        )
    # Built from a copy: a build writes build/ and *.egg-info beside the sources.
    source = folder / "source"
    skip = shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "tests", "docs")
    shutil.copytree(root, source, ignore=skip)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--target", str(site), str(source)],
        env={**env, "PIP_NO_CACHE_DIR": "1"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks: pip could not install {root}:\n{done.stderr[-2000:]}")


_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _instructions(argv: list[str], env: dict[str, str]) -> int | None:
    """Instructions one run executes (valgrind's cachegrind, no cache model); ``None`` without
    valgrind. Address-space randomisation off and a fixed hash seed make it repeatable."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    setarch = shutil.which("setarch")
    fixed = [setarch, platform.machine(), "-R"] if setarch else []
    done = subprocess.run(
        [*fixed, valgrind, "--tool=cachegrind", "--cache-sim=no", "--branch-sim=no",
         "--cachegrind-out-file=/dev/null", *argv],
        env={**env, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, check=False,
        cwd=tempfile.gettempdir(),
    )  # fmt: skip
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind {argv} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def _counted(
    runs: list[tuple[str, str]],
    argv: Callable[[str, str], list[str]],
    envs: dict[str, dict[str, str]],
    site: Path,
    repeats: int,
) -> tuple[Any, dict[str, dict[str, int]] | None, dict[str, dict[str, int]] | None]:
    """Each run's instructions (``repeats`` of each), their medians, and the medians of the
    torchcompat runs under ``PYTHONDONTWRITEBYTECODE=1``; ``None`` for each without valgrind."""
    if not shutil.which("valgrind"):
        return None, None, None
    counts: dict[str, dict[str, list[int]]] = {kind: {} for kind, _ in runs}
    for _ in range(repeats):
        for kind, arm in runs:
            counts[kind].setdefault(arm, []).append(_instructions(argv(kind, arm), envs[arm]) or 0)
    counted = {k: {a: int(statistics.median(n)) for a, n in c.items()} for k, c in counts.items()}
    # PYTHONDONTWRITEBYTECODE=1 (many images set it): pip compiled the package's pyc files at
    # install, but pytest's rewriter may not write its own, so it rewrites its modules each run.
    compileall.compile_dir(str(site), quiet=1)
    dry = _env(bytecode=False, PYTHONPATH=envs["torchcompat"]["PYTHONPATH"])
    dry.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    unwritten = {
        kind: {
            arm: int(statistics.median(_instructions(argv(kind, arm), dry) or 0
                                       for _ in range(repeats)))
            for arm in ("blocked", "torchcompat")
        }
        for kind in counts
    }  # fmt: skip
    return counts, counted, unwritten


def _per_test(
    argv: list[str],
    envs: dict[str, dict[str, str]],
    quiet: dict[str, int],
    repeats: int,
    rate: float,
) -> dict[str, Any]:
    """What each test past the first adds: the ``MANY``-test suite with ``-q``, counted for pytest
    alone and with torchcompat, less the one-test suite's counts (``quiet``), over ``MANY - 1``;
    as µs at ``rate`` (the one-test ``-q`` pytest alone's instructions per CPU ms)."""
    for arm in ("alone", "torchcompat"):  # the suite's rewritten pyc written, the cache warm
        _wall(argv, envs[arm])
    many = {
        arm: int(statistics.median(_instructions(argv, envs[arm]) or 0 for _ in range(repeats)))
        for arm in ("alone", "torchcompat")
    }
    extra = (many["torchcompat"] - many["alone"]) - (quiet["torchcompat"] - quiet["alone"])
    per_test = extra / (MANY - 1)
    return {
        "tests": MANY,
        "instructions": many,
        "instructions_per_test": per_test,
        "counted_us": per_test / rate * 1e3,
    }


def section_plugin(rounds: int, counts_per_arm: int | None = None) -> dict[str, Any]:
    """pytest alone, with an empty plugin, with torchcompat installed: see the module docstring.
    ``counts_per_arm``: valgrind runs per arm (default ``COUNTS``)."""
    counts_per_arm = COUNTS if counts_per_arm is None else counts_per_arm
    installed = _installed_torchcompat()
    if installed:
        raise SystemExit(
            "benchmarks: the plugin section measures pytest alone against pytest with "
            f"torchcompat installed, but this interpreter has it installed: {'; '.join(installed)}"
            ". Its entry point would load in every run. Uninstall it (the measured source comes "
            "from PYTHONPATH or the checkout)."
        )
    py = sys.executable
    folder = Path(tempfile.mkdtemp(prefix="torchcompat-bench-plugin-"))
    (folder / "test_one.py").write_text(PLUGIN_SUITE, encoding="utf-8")
    (folder / "test_many.py").write_text(MANY_SUITE, encoding="utf-8")
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    sites = _sites(folder)
    outer = os.environ.get("PYTHONPATH", "")
    envs = {}
    for arm in ARMS:
        site = sites["torchcompat" if arm == "blocked" else arm]
        env = _env(PYTHONPATH=os.pathsep.join(p for p in (str(site), outer) if p))
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        envs[arm] = env
    ours = {"empty", "torchcompat"}
    others = [n for n in _wall([py, "-c", ENTRY_POINTS], envs["torchcompat"])[1].split()
              if n not in ours]  # fmt: skip
    blocked = [arg for name in others for arg in ("-p", f"no:{name}")]
    base = [py, "-m", "pytest", "-p", "no:cacheprovider", *blocked, str(folder / "test_one.py")]
    kinds = {"header": base, "quiet": [*base, "-q"]}

    def argv(kind: str, arm: str) -> list[str]:
        return [*kinds[kind], "-p", "no:torchcompat"] if arm == "blocked" else kinds[kind]

    runs = [(kind, arm) for kind in kinds for arm in ARMS]
    shown = _wall(kinds["header"], envs["torchcompat"])[1]
    loaded = "torchcompat:" in shown and re.search(r"plugins: .*torchcompat", shown) is not None
    for kind, arm in runs:  # warm the page cache and write every pyc (the rewritten ones too)
        _wall(argv(kind, arm), envs[arm])
    times: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    cpu_times: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
    order = list(runs)
    rng = random.Random(3)
    for _ in range(rounds):
        rng.shuffle(order)
        for kind, arm in order:
            elapsed, cpu, _ = _timed(argv(kind, arm), envs[arm])
            times[kind, arm].append(elapsed)
            cpu_times[kind, arm].append(cpu)
    counts, counted, unwritten = _counted(runs, argv, envs, sites["torchcompat"], counts_per_arm)
    # pytest alone's instructions per ms of its CPU time, in this run: what counts become ms at.
    rates = {
        kind: counted[kind]["alone"] / (summarize(cpu_times[kind, "alone"])["median"] * 1e3)
        for kind in kinds
    } if counted is not None else {}  # fmt: skip
    many_argv = [*base[:-1], str(folder / "test_many.py"), "-q"]
    per_test = None if counted is None else _per_test(
        many_argv, envs, counted["quiet"], counts_per_arm, rates["quiet"]
    )  # fmt: skip

    def delta(kind: str, samples: dict[tuple[str, str], list[float]], of: str = "torchcompat",
              over: str = "alone") -> dict[str, Any]:  # fmt: skip
        return summarize([(a - b) * 1e3 for a, b in zip(samples[kind, of], samples[kind, over])])

    def counted_ms(kind: str, of: str = "torchcompat", over: str = "alone") -> float | None:
        if counted is None:
            return None
        return (counted[kind][of] - counted[kind][over]) / rates[kind]

    def unwritten_ms(kind: str) -> float | None:
        if counted is None or unwritten is None:
            return None
        return (unwritten[kind]["torchcompat"] - unwritten[kind]["blocked"]) / rates[kind]

    # The same runs, minus the interpreter: pytest's own argv after "-m pytest".
    inside = {kind: [_plugin_spent(kinds[kind][3:], envs["torchcompat"]) for _ in range(rounds)]
              for kind in kinds}  # fmt: skip

    def spent(kind: str, part: str | None = None) -> dict[str, Any]:
        return summarize(
            [(s[part] if part else s["load"] + s["hooks"]) * 1e3 for s in inside[kind]]
        )

    result: dict[str, Any] = {
        "plugin_loaded": loaded,
        "loaded_as": "pytest11 entry point of an installed distribution, with its RECORD",
        "baseline": "pytest alone: no torchcompat distribution",
        "instructions": counted,
        "instruction_runs": counts,
        "instructions_no_bytecode": unwritten,
        "instruction_runs_per_arm": counts_per_arm,
        "per_test": per_test,
        "pytest_alone_ms": summarize([t * 1e3 for t in times["header", "alone"]]),
        "pytest_alone_cpu_ms": summarize([t * 1e3 for t in cpu_times["header", "alone"]]),
    }
    for kind in kinds:
        result |= {
            f"{kind}_in_process_ms": spent(kind),
            f"{kind}_in_process_load_ms": spent(kind, "load"),
            f"{kind}_in_process_hooks_ms": spent(kind, "hooks"),
            f"{kind}_delta_ms": delta(kind, times),
            f"{kind}_delta_cpu_ms": delta(kind, cpu_times),
            f"{kind}_empty_delta_ms": delta(kind, times, of="empty"),
            f"{kind}_counted_ms": counted_ms(kind),
            f"{kind}_empty_counted_ms": counted_ms(kind, of="empty"),
            f"{kind}_over_empty_counted_ms": counted_ms(kind, over="empty"),
            f"{kind}_blocked_counted_ms": counted_ms(kind, of="blocked"),
            f"{kind}_over_blocked_counted_ms": counted_ms(kind, over="blocked"),
            f"{kind}_no_bytecode_over_blocked_counted_ms": unwritten_ms(kind),
        }
    return result
