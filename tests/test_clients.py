"""Libraries that call torch.compile for you, raw next to safe_compile and installed (issue 16).

transformers ``generate()`` with a static cache compiles ``self.__call__`` itself; accelerate's
dynamo plugin compiles in ``prepare()``; Lightning's ``Trainer.fit`` re-wraps with the module's
``dynamo_ctx`` and Fabric's ``setup()`` re-compiles with ``torch.compile``; DDP and FSDP2 wrap a
compiled module; ``torchrun`` starts workers that compile. tests/client_probe.py runs every case
(three phases: compilation on, the switch on with a new batch size, the switch off again) for
each side: ``raw`` torch, the user's own ``safe_compile`` (``by-hand``: ``torch.compile =
safe_compile`` where the library makes the call), ``installed`` (``torchcompat.installed()``),
and ``ambient``: started by ``python -m torchcompat run`` or with ``TORCHCOMPAT_INSTALL=1``.

One interpreter per library and switch kind (``TORCH_COMPILE_DISABLE=1`` is read at torch's
start), two at a time. A library that is not installed skips its tests. With
``TORCHCOMPAT_PROBE_OUT`` set (tools/matrix.py), the records go to ``<stem>.clients.json`` for
tools/frameworks_table.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import site
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from torchcompat.gate import ENV_SWITCHES

from .conftest import FACTS, TORCH, needs_compile

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "client_probe.py"
# Generous: a probe imports transformers and trains a few steps; torchrun starts 3 interpreters.
CLIENT_TIMEOUT_S = 1200
TORCHRUN_TIMEOUT_S = 300
TABLE = ROOT / "tools" / "frameworks_table.py"
NO_FRAMES = "found no compiled frames"
HOOK = "torchcompat-install.pth"
TCD = "TORCH_COMPILE_DISABLE=1"
# No "none": each case's first phase is already a step with compilation on and no switch.
RUNTIME = ("config.disable", "force_eager")

# Group -> the modules of which one must import for it (Lightning's Trainer: either package).
LIBRARIES = {
    "transformers": ("transformers",),
    "accelerate": ("accelerate",),
    "lightning": ("pytorch_lightning", "lightning"),
    "torch": ("torch",),
}
PRESENT = [
    group
    for group, modules in LIBRARIES.items()
    if any(importlib.util.find_spec(m) is not None for m in modules)
]
# Lightning's import replaces torch.compile (Fabric): its cases get interpreters of their own.
HF = [g for g in PRESENT if g != "lightning"]
SIDES = "raw,safe,installed,by-hand"

pytestmark = needs_compile


def _wheel_hook() -> bool:
    """Whether torchcompat's start hook (a .pth, shipped in its wheel) is in site-packages."""
    return any((Path(d) / HOOK).is_file() for d in site.getsitepackages())


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_SWITCHES}
    env.pop("TORCHCOMPAT_INSTALL", None)
    env.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), **extra)
    return env


def _run(how: str, groups: list[str], sides: str, switches: str) -> list[dict[str, Any]]:
    """One fresh interpreter; its records, each tagged with how it was started."""
    if not groups:
        return []
    args = [",".join(groups), sides, switches]
    env = _env(**({"TORCH_COMPILE_DISABLE": "1"} if switches == TCD else {}))
    if how == "runner":
        command = [sys.executable, "-m", "torchcompat", "run", str(PROBE), *args]
    elif how == "runner-m":
        command = [sys.executable, "-m", "torchcompat", "run", "-m", "tests.client_probe", *args]
    elif how == "env":
        command = [sys.executable, str(PROBE), *args]
        env["TORCHCOMPAT_INSTALL"] = "1"
    else:
        command = [sys.executable, str(PROBE), *args]
    returncode, stdout, stderr = _finish(command, env, CLIENT_TIMEOUT_S)
    lines = [ln for ln in stdout.splitlines() if ln.startswith("CLIENT-JSON ")]
    if returncode != 0 or not lines:
        return [{"how": how, "groups": groups, "switches": switches, "crash": stderr}]
    return [{"how": how, **r} for r in json.loads(lines[-1].removeprefix("CLIENT-JSON "))]


def _torchrun(install: bool, out: Path) -> dict[str, Any]:
    """torchrun --nproc_per_node 2 on the loopback (gloo), the probe's worker, under TCD=1."""
    out.mkdir(parents=True, exist_ok=True)
    env = _env(TORCH_COMPILE_DISABLE="1", **({"TORCHCOMPAT_INSTALL": "1"} if install else {}))
    # --standalone: torchrun binds its rendezvous store to a free port itself. A port picked
    # here and released could be taken before torchrun binds it (the matrix downloads the next
    # env meanwhile), and a worker would then wait on a stranger's socket.
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(PROBE), "worker", str(out),
    ]  # fmt: skip
    returncode, _, stderr = _finish(command, env, TORCHRUN_TIMEOUT_S)
    ranks = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("rank*.json"))]
    return {"returncode": returncode, "ranks": ranks, "stderr": stderr}


def _finish(command: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, str, str]:
    """Run ``command``: its exit status (None past ``timeout``), stdout and stderr's tail.

    A child past its time fails the tests that read it, with what it printed, rather than the
    module fixture and with it every test here."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        # What the child had written so far: bytes on POSIX even with text=True.
        err = (
            exc.stderr
            if isinstance(exc.stderr, str)
            else (exc.stderr or b"").decode("utf-8", "replace")
        )
        return None, "", f"did not finish within {timeout:g} s: {' '.join(command)}\n{err[-3000:]}"
    return done.returncode, done.stdout, done.stderr[-3000:]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every case, from a few fresh interpreters run two at a time."""
    lightning = [g for g in PRESENT if g == "lightning"]
    hf = [g for g in HF if g != "transformers"]
    transformers = [g for g in HF if g == "transformers"]
    jobs: list[tuple[str, list[str], str, str]] = [
        ("direct", transformers, SIDES, ",".join(RUNTIME)),
        ("direct", hf, SIDES, ",".join(RUNTIME)),
        ("direct", lightning, SIDES, ",".join(RUNTIME)),
        ("direct", HF, SIDES, TCD),
        ("direct", lightning, SIDES, TCD),
        # Lightning last: Fabric's import replaces torch.compile for the rest of the process.
        ("runner", HF + lightning, "ambient", TCD),
        ("runner-m", HF + lightning, "ambient", "config.disable"),
    ]
    if _wheel_hook():
        jobs.append(("env", HF + lightning, "ambient", TCD))
    base = tmp_path_factory.mktemp("torchrun")
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = [r for part in pool.map(lambda job: _run(*job), jobs) for r in part]
        # Only where test_torchrun_workers can read them: its installed side needs the hook.
        runs = (
            {
                "installed": pool.submit(_torchrun, True, base / "installed"),
                "raw": pool.submit(_torchrun, False, base / "raw"),
            }
            if _wheel_hook()
            else {}
        )
        torchrun = {k: v.result() for k, v in runs.items()}
    yield found, torchrun
    target = os.environ.get("TORCHCOMPAT_PROBE_OUT")
    if target:
        out = Path(target).with_suffix(".clients.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"torch": TORCH, "records": found, "torchrun": torchrun}
        out.write_text(json.dumps(payload) + "\n", encoding="utf-8")


def _case(records: Any, how: str, scenario: str, side: str, switch: str) -> dict[str, Any]:
    found, _ = records
    crashes = [r for r in found if "crash" in r and r["how"] == how]
    group = scenario.split("/", maxsplit=1)[0] if "/" in scenario else "torch"
    group = {"generate": "transformers", "nested": "transformers", "fabric": "lightning"}.get(
        group, group
    )
    if group not in PRESENT:
        pytest.skip(f"{' or '.join(LIBRARIES[group])} is not installed with {TORCH}")
    if switch == "force_eager" and FACTS is not None and not FACTS.has_set_stance:
        pytest.skip(f"{TORCH} has no torch.compiler.set_stance (it came in 2.6)")
    for r in found:
        if (r.get("how"), r.get("scenario"), r.get("side"), r.get("switch")) == (
            how,
            scenario,
            side,
            switch,
        ):
            if "unavailable" in r:
                pytest.skip(r["unavailable"])
            return r
    raise AssertionError(f"no record for {how} {scenario} {side} {switch}; crashes: {crashes}")


def _raw_raises(switch: str) -> bool:
    """Whether raw torch raises "no compiled frames" in the first phase the switch is on."""
    assert FACTS is not None
    # 2.13+ raise after the body ran; 2.12 warns; only with the stance "default".
    return switch in (TCD, "config.disable") and FACTS.fullgraph_check == "raise"


def _assert_raw(record: dict[str, Any]) -> None:
    """Raw torch: compiles with the switch off; raises under the switch where the release does."""
    assert "build_error" not in record, record
    phases, switch = record["phases"], record["switch"]
    first_on = next((i for i, p in enumerate(phases) if p["switch_on"]), None)
    if _raw_raises(switch):
        assert first_on is not None, phases
        assert first_on == len(phases) - 1, phases  # the case ended there
        assert NO_FRAMES in (phases[first_on]["error"] or ""), phases[first_on]
    else:
        assert len(phases) == 3, phases
        assert all(p["error"] is None and p["ok"] for p in phases), phases
    if switch != TCD:
        assert phases[0]["graphs"] >= 1, phases[0]


def _assert_contract(record: dict[str, Any]) -> None:
    """Three phases, right results, no raise, no warning; eager exactly while the switch is on."""
    assert "build_error" not in record, record
    phases, switch = record["phases"], record["switch"]
    assert len(phases) == 3, phases
    for phase in phases:
        assert (phase["error"], phase["ok"], phase["warned"]) == (None, True, False), phases
        if phase["switch_on"]:
            assert phase["graphs"] == 0, phases
    if switch != TCD:
        assert phases[0]["graphs"] >= 1, phases  # compiled
    if switch in ("config.disable", "force_eager"):
        assert phases[2]["graphs"] >= 1, phases  # compiles again: nothing was marked skipped


def _skip_where_torch_fails_it(records: Any, scenario: str, switch: str) -> None:
    """Skip a composition that raw torch cannot run here for a reason of its own, not the
    switch's: no contract to keep."""
    raw = _case(records, "direct", scenario, "raw", switch)
    first = raw["phases"][0] if raw.get("phases") else None
    # An error that is not the switch's own ("no compiled frames"): 2.1's DDPOptimizer on gloo,
    # FSDP2 needing CUDA streams before 2.6, with or without compilation.
    if first is not None and first["error"] and NO_FRAMES not in first["error"]:
        pytest.skip(f"{TORCH} itself fails {scenario} here: {first['error']}")


SWITCHES = pytest.mark.parametrize("switch", [*RUNTIME, TCD])
# GPT-2 without force_eager: the probe's time; Llama shows it (tests/client_probe.py).
ARCH_SWITCHES = pytest.mark.parametrize(
    ("arch", "switch"),
    [(arch, s) for arch in ("llama", "gpt2") for s in (*RUNTIME, TCD)
     if (arch, s) != ("gpt2", "force_eager")],
)  # fmt: skip


@ARCH_SWITCHES
def test_generate_own_compile(records: Any, arch: str, switch: str) -> None:
    """generate() compiling self.__call__: raw raises where torch does; installed: the contract."""
    _assert_raw(_case(records, "direct", f"generate/{arch}", "raw", switch))
    _assert_contract(_case(records, "direct", f"generate/{arch}", "installed", switch))


@pytest.mark.parametrize("switch", ["config.disable", "force_eager", TCD])
def test_generate_torch_compile_replaced_by_hand(records: Any, switch: str) -> None:
    """torch.compile = safe_compile by hand: generate() keeps the contract (no RecursionError)."""
    _assert_contract(_case(records, "direct", "generate/llama", "by-hand", switch))


@ARCH_SWITCHES
def test_nested_compiled_layers(records: Any, arch: str, switch: str) -> None:
    """Compiled decoder layers in a fullgraph forward: safe and installed work where raw does."""
    _assert_raw(_case(records, "direct", f"nested/{arch}", "raw", switch))
    for side in ("safe", "installed"):
        _assert_contract(_case(records, "direct", f"nested/{arch}", side, switch))


TRAINING = ["accelerate/plugin", "lightning/fit", "ddp", "fsdp2"]


@SWITCHES
@pytest.mark.parametrize("scenario", TRAINING)
def test_training_compiled_for_you(records: Any, scenario: str, switch: str) -> None:
    """accelerate, Trainer.fit, DDP, FSDP2 around a result: safe and installed keep the contract."""
    _skip_where_torch_fails_it(records, scenario, switch)
    _assert_raw(_case(records, "direct", scenario, "raw", switch))
    _assert_contract(_case(records, "direct", scenario, "installed", switch))
    safe = _case(records, "direct", scenario, "safe", switch)
    if scenario == "accelerate/plugin" and switch == TCD:
        # safe_compile returns the module itself when compilation is off; prepare() compiles
        # what is not compiled yet with torch.compile itself (accelerator.py): raw's outcome.
        _assert_raw(safe)
    else:
        _assert_contract(safe)


@SWITCHES
def test_fabric_default_setup(records: Any, switch: str) -> None:
    """Fabric's setup() re-compiles with torch.compile: a safe result acts raw; installed won't."""
    _assert_raw(_case(records, "direct", "fabric/setup", "raw", switch))
    _assert_contract(_case(records, "direct", "fabric/setup", "installed", switch))
    safe = _case(records, "direct", "fabric/setup", "safe", switch)
    # Under TORCH_COMPILE_DISABLE=1 safe_compile returns the module itself: nothing to re-compile.
    (_assert_contract if switch == TCD else _assert_raw)(safe)


AMBIENT = ["generate/llama", "generate/gpt2", "nested/llama", "nested/gpt2", *TRAINING]


@pytest.mark.parametrize("scenario", [*AMBIENT, "fabric/setup"])
@pytest.mark.parametrize(
    ("how", "switch"),
    [("runner", TCD), ("runner-m", "config.disable"), ("env", TCD)],
)
def test_installed_at_start(records: Any, how: str, switch: str, scenario: str) -> None:
    """Started by `python -m torchcompat run` or with TORCHCOMPAT_INSTALL=1: the contract."""
    if how == "env" and not _wheel_hook():
        pytest.skip("torchcompat is not installed from a wheel here: no .pth start hook")
    _skip_where_torch_fails_it(records, scenario, switch)
    _assert_contract(_case(records, how, scenario, "ambient", switch))


def test_torchrun_workers(records: Any) -> None:
    """torchrun, 2 workers, TCD=1: with TORCHCOMPAT_INSTALL=1 none raises; raw's raise on 2.13+."""
    _, torchrun = records
    if not _wheel_hook():
        pytest.skip("torchcompat is not installed from a wheel here: no .pth start hook")
    installed, raw = torchrun["installed"], torchrun["raw"]
    assert installed["returncode"] == 0, installed["stderr"]
    assert len(installed["ranks"]) == 2, installed["stderr"]
    assert all(rank["calls"] == [None, None, None] for rank in installed["ranks"]), installed
    assert raw["returncode"] == 0, raw["stderr"]
    assert len(raw["ranks"]) == 2, raw["stderr"]
    for rank in raw["ranks"]:
        if _raw_raises(TCD):
            assert all(NO_FRAMES in (call or "") for call in rank["calls"]), rank
        else:
            assert rank["calls"] == [None, None, None], rank


def test_frameworks_table(records: Any) -> None:
    """tools/frameworks_table.py renders this release's records: one row per probed scenario."""
    if "transformers" not in PRESENT:
        pytest.skip(f"transformers is not installed with {TORCH}: no generate() rows to read")
    spec = importlib.util.spec_from_file_location("frameworks_table", TABLE)
    assert spec is not None
    assert spec.loader is not None
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    found, torchrun = records
    page = table.render([{"torch": TORCH, "records": found, "torchrun": torchrun}])
    assert page.startswith("## Frameworks that compile for you\n"), page
    rows = [line for line in page.splitlines() if line.startswith("| ") and "---" not in line]
    raw_raises = [row for row in rows if "`config.disable`" in row and "generate()" in row]
    assert raw_raises, page
    assert all(("**raises**" in row) is _raw_raises("config.disable") for row in raw_raises), page
