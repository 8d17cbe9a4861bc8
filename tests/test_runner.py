"""Installing without a code change: ``python -m torchcompat run``, ``TORCHCOMPAT_INSTALL=1``,
and pytest's ``--torchcompat-install``."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torchcompat import _install

from .conftest import FACTS, needs_compile

# What a program run by the runner reports about itself.
_SELF_REPORT = """
import json, os, sys
from torchcompat import _install
print(json.dumps({
    "name": __name__,
    "argv": sys.argv,
    "path0": sys.path[0],
    "installed": _install.is_installed(),
    "variable": os.environ.get("TORCHCOMPAT_INSTALL"),
    "torch": "torch" in sys.modules,
}))
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE", _install.ENV_INSTALL)
    }
    env.update(extra)
    return env


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.parametrize("status", [0, 3])
def test_run_script_runs_it_as_python_would_with_torchcompat_installed(
    tmp_path: Path, status: int
) -> None:
    """``run script.py a b``: __main__, sys.argv, the script's folder first, its exit status."""
    folder = tmp_path / "prog"
    folder.mkdir()
    (folder / "script.py").write_text(_SELF_REPORT)
    done = _run(
        ["-m", "torchcompat", "run", "prog/script.py", "a", "--b"], tmp_path, EXIT_WITH=str(status)
    )
    assert done.returncode == status, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {
        "name": "__main__",
        "argv": ["prog/script.py", "a", "--b"],
        "path0": str(folder),
        "installed": True,
        "variable": "1",  # so that the interpreters it starts install it too
        "torch": False,  # installing imports no torch
    }


def test_run_module_runs_it_as_python_dash_m_would(tmp_path: Path) -> None:
    """``run -m pkg.mod a``: the module as __main__, its file in sys.argv[0], cwd importable."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(_SELF_REPORT)
    done = _run(["-m", "torchcompat", "run", "-m", "pkg.mod", "a"], tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["name"] == "__main__"
    assert seen["argv"] == [str(package / "mod.py"), "a"]
    assert seen["installed"] is True


def test_run_propagates_the_programs_exception(tmp_path: Path) -> None:
    """An uncaught exception in the program is a traceback and status 1, as under python."""
    (tmp_path / "boom.py").write_text("raise ValueError('boom')\n")
    done = _run(["-m", "torchcompat", "run", "boom.py"], tmp_path)
    assert done.returncode == 1
    assert "ValueError: boom" in done.stderr


@pytest.mark.parametrize(
    ("args", "status"),
    [([], 2), (["-m"], 2), (["missing.py"], 2), (["--help"], 0)],
    ids=["nothing", "dash-m-alone", "missing-file", "help"],
)
def test_run_usage(tmp_path: Path, args: list[str], status: int) -> None:
    """Without a program, the usage line; a usage error is status 2, as argparse gives."""
    done = _run(["-m", "torchcompat", "run", *args], tmp_path)
    assert done.returncode == status
    assert "python -m torchcompat run" in done.stdout + done.stderr


@needs_compile
def test_run_makes_code_you_do_not_own_safe(tmp_path: Path) -> None:
    """A script calling raw torch.compile(fullgraph=True) under TORCH_COMPILE_DISABLE=1 runs once.

    The same script under plain python raises after the body ran on 2.13+.
    """
    (tmp_path / "step.py").write_text(
        """
import torch
runs = []
def step(x):
    runs.append(1)
    return x + 1
out = torch.compile(step, fullgraph=True, backend="eager")(torch.ones(1))
print(len(runs), out.tolist())
"""
    )
    safe = _run(["-m", "torchcompat", "run", "step.py"], tmp_path, TORCH_COMPILE_DISABLE="1")
    assert safe.returncode == 0, safe.stderr
    assert safe.stdout.split() == ["1", "[2.0]"]
    raw = _run(["step.py"], tmp_path, TORCH_COMPILE_DISABLE="1")
    assert FACTS is not None
    if FACTS.fullgraph_check == "raise":
        assert raw.returncode == 1
        assert "no compiled frames" in raw.stderr
    else:
        assert raw.returncode == 0


def _pth_file() -> Path | None:
    """The installed ``torchcompat-install.pth``, or None when torchcompat runs from a checkout."""
    try:
        files = metadata.distribution("torchcompat-shim").files or []
    except metadata.PackageNotFoundError:
        return None
    site_dirs = {Path(p).resolve() for p in (*site.getsitepackages(), site.getusersitepackages())}
    for file in files:
        path = Path(str(file.locate())).resolve()
        # Where Python runs it: a site directory (not a checkout's egg-info listing it).
        if file.name == "torchcompat-install.pth" and path.parent in site_dirs:
            return path
    return None


PTH = _pth_file()
needs_pth = pytest.mark.skipif(
    PTH is None,
    reason="torchcompat is not installed from its wheel here (an editable install or a "
    "checkout on sys.path has no torchcompat-install.pth)",
)


def _pth_line() -> str:
    assert PTH is not None
    return PTH.read_text().strip()


@needs_pth
@given(st.text(max_size=4))
def test_the_pth_line_imports_torchcompat_only_for_exactly_1(value: str) -> None:
    """The .pth line imports torchcompat's installer only when the variable is exactly "1"."""
    imported: list[str] = []
    environ = {_install.ENV_INSTALL: value}

    class Os:
        pass

    fake_os: Any = Os()
    fake_os.environ = environ
    builtins = {"__import__": lambda name, *a: fake_os if name == "os" else imported.append(name)}
    exec(_pth_line(), {"__builtins__": builtins})
    assert imported == (["torchcompat._autoinstall"] if value == "1" else [])


@needs_pth
def test_the_pth_line_without_the_variable_loads_nothing(tmp_path: Path) -> None:
    """With the variable unset, an interpreter starts without importing torchcompat or wrapt."""
    done = _run(
        ["-c", "import sys; print(sorted({'torchcompat', 'wrapt'} & set(sys.modules)))"], tmp_path
    )
    assert done.stdout.strip() == "[]"


_WORKER = """
import multiprocessing as mp, sys, torch

def work(queue):
    runs = []
    def step(x):
        runs.append(1)
        return x + 1
    try:
        torch.compile(step, fullgraph=True, backend="eager")(torch.ones(1))
        queue.put(("ok", len(runs)))
    except Exception as exc:
        queue.put((type(exc).__name__, len(runs)))

if __name__ == "__main__":
    from torchcompat import _install
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    worker = ctx.Process(target=work, args=(queue,))
    worker.start()
    print(_install.is_installed(), *queue.get(timeout=240))
    worker.join()
"""


@needs_pth
@needs_compile
def test_the_variable_installs_in_every_interpreter_spawned_workers_too(tmp_path: Path) -> None:
    """``TORCHCOMPAT_INSTALL=1``: the program and its spawned workers start installed."""
    (tmp_path / "spawner.py").write_text(_WORKER)
    done = _run(["spawner.py"], tmp_path, TORCHCOMPAT_INSTALL="1", TORCH_COMPILE_DISABLE="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "ok", "1"]


_PYTEST_FILE = """
import torch

def test_step():
    runs = []
    def step(x):
        runs.append(1)
        return x + 1
    torch.compile(step, fullgraph=True, backend="eager")(torch.ones(1))
    assert runs == [1]
"""


@needs_compile
@pytest.mark.parametrize("how", ["option", "ini", "neither"])
def test_pytest_install_option_and_ini_key(tmp_path: Path, how: str) -> None:
    """``--torchcompat-install`` (or ``torchcompat_install = true``) installs for the session."""
    (tmp_path / "test_step.py").write_text(_PYTEST_FILE)
    ini = "[pytest]\n" + ("torchcompat_install = true\n" if how == "ini" else "")
    (tmp_path / "pytest.ini").write_text(ini)
    args = ["-m", "pytest", "-p", "torchcompat.pytest_plugin", "-p", "no:cacheprovider", "-q"]
    if how == "option":
        args.append("--torchcompat-install")
    done = _run(args, tmp_path, TORCH_COMPILE_DISABLE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    assert FACTS is not None
    if how == "neither" and FACTS.fullgraph_check == "raise":
        assert done.returncode == 1, done.stdout
        assert "no compiled frames" in done.stdout
    else:
        assert done.returncode == 0, done.stdout + done.stderr
