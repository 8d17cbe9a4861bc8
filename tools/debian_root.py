"""Other CPythons for the matrix: a Debian root made with debootstrap, tox run inside it (chroot).

trixie gives CPython 3.13, forky 3.14 and (with the ``python3.15`` packages) 3.15. One root per
suite serves every env of its Pythons; the matrix deletes it after its last env. A root is
entered with /proc, /sys and /dev mounted; :meth:`DebianRoot.close` unmounts everything under it
and deletes it only once nothing is mounted there any more (``rm --one-file-system`` on top), so
that a failed run never deletes through a mount nor leaves one behind.

Stdlib only, like tools/matrix.py. Needs root (debootstrap, chroot, mount); installs debootstrap
with apt-get where it is missing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["SUITE_OF_PYTHON", "DebianRoot", "root_python"]

# Python (the env name's pyXY factor) -> the Debian suite that has it.
SUITE_OF_PYTHON = {"313": "trixie", "314": "forky", "315": "forky"}
_PACKAGES = ("python3", "python3-venv", "python3-dev", "ca-certificates", "g++")
# forky's Release file is expired: apt inside the root would refuse it, so everything comes in
# through debootstrap's --include.
_EXTRA = {"forky": ("python3.15", "python3.15-venv", "python3.15-dev")}
# bookworm's debootstrap has no trixie-or-later script of its own for forky: sid's serves both.
_SCRIPT = Path("/usr/share/debootstrap/scripts/sid")
_DEFAULT_MIRROR = "http://deb.debian.org/debian"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What a root needs from this machine: name resolution, pip's configuration, the proxy's CA.
_COPIED = ("/etc/resolv.conf", "/etc/hosts", "/etc/pip.conf")
_CA_DIR = Path("/usr/local/share/ca-certificates")
_PY_FACTOR = re.compile(r"^py(3\d+)-")


def root_python(env: str) -> str | None:
    """The pyXY factor of an env that runs in a Debian root (``"313"``), else None."""
    found = _PY_FACTOR.match(env)
    return found.group(1) if found and found.group(1) in SUITE_OF_PYTHON else None


def _mirror() -> str:
    """The Debian archive apt already uses here (deb.debian.org where none is named)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text(encoding="utf-8").splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return _DEFAULT_MIRROR


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first (from /proc/self/mounts)."""
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


class DebianRoot:
    """A Debian ``suite`` root at ``path``: made, mounted, used with :meth:`run`, then closed."""

    def __init__(self, suite: str, path: Path, repo: Path, log: Path) -> None:
        self.suite = suite
        self.path = path
        self.repo = repo
        self.log = log
        self.seconds = 0.0
        self.ready = False

    def inside(self, host_path: Path) -> str:
        """Where ``host_path`` (under the repo) is in the root's copy of the repo."""
        return f"/src/{host_path.relative_to(self.repo)}"

    def env_dir(self, name: str) -> Path:
        """The tox env ``name``, as this machine sees it."""
        return self.path / "toxwork" / name

    def tox(self, args: list[str], log: Path, env: dict[str, str]) -> int:
        """``tox ARGS`` on the root's copy of the repo, its envs under /toxwork in the root."""
        line = shlex.join([args[0], "--workdir", "/toxwork", *args[1:]])
        return self.run(
            ["sh", "-c", f"cd /src && exec /opt/tox/bin/python -m tox {line}"], log, env
        )

    def copy_out(self, work: Path) -> None:
        """What the tests wrote under the copy's .matrix (probes, JUnit XML), into ``work``."""
        written = self.path / "src" / work.relative_to(self.repo)
        if written.is_dir():
            shutil.copytree(written, work, dirs_exist_ok=True)

    def _sh(self, args: list[str], *, check: bool = True) -> int:
        """Run ``args`` on this machine, output appended to the log."""
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"\n$ {' '.join(args)}\n")
            out.flush()
            code = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, check=False)
        if check and code.returncode:
            raise RuntimeError(
                f"{' '.join(args[:3])} ... failed ({code.returncode}); see {self.log}"
            )
        return code.returncode

    def make(self) -> None:
        """debootstrap the root, give it this machine's network and pip settings, mount it."""
        start = time.monotonic()
        self.close()  # a root left by a killed run
        if shutil.which("debootstrap") is None or not _SCRIPT.exists():
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq"]):
                args = cmd + (["debootstrap"] if "install" in cmd else [])
                with self.log.open("a", encoding="utf-8") as out:
                    subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, check=True)
        packages = ",".join(_PACKAGES + _EXTRA.get(self.suite, ()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._sh(
            [
                *("debootstrap", "--variant=minbase", f"--include={packages}"),
                *(self.suite, str(self.path), _mirror(), str(_SCRIPT)),
            ]
        )
        for name in _COPIED:
            if Path(name).exists():
                shutil.copy(name, self.path / name.lstrip("/"), follow_symlinks=True)
        ca_dir = self.path / str(_CA_DIR).lstrip("/")
        ca_dir.mkdir(parents=True, exist_ok=True)
        for crt in _CA_DIR.glob("*.crt") if _CA_DIR.is_dir() else ():
            shutil.copy(crt, ca_dir / crt.name)
        self._sh(["mount", "-t", "proc", "proc", str(self.path / "proc")])
        for name in ("sys", "dev"):
            self._sh(["mount", "--rbind", f"/{name}", str(self.path / name)])
            self._sh(["mount", "--make-rslave", str(self.path / name)])
        # The repo (its files, not its git), and tox in a venv of the root's python3.
        ignored = shutil.ignore_patterns(
            ".git", ".tox", ".matrix", ".hypothesis", "__pycache__", ".*_cache"
        )
        shutil.copytree(self.repo, self.path / "src", ignore=ignored, symlinks=True)
        for args in (
            ["update-ca-certificates"],
            ["python3", "-m", "venv", "/opt/tox"],
            ["/opt/tox/bin/python", "-m", "pip", "install", "-q", "tox>=4.11"],
        ):
            if self.run(args, self.log):
                raise RuntimeError(f"{args[0]} failed in the {self.suite} root; see {self.log}")
        self.seconds = time.monotonic() - start
        self.ready = True

    def run(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> int:
        """Run ``args`` inside the root (a clean environment plus ``env``); its exit status."""
        base = {
            "PATH": _PATH,
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
            "PIP_NO_CACHE_DIR": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_DEFAULT_TIMEOUT": os.environ.get("PIP_DEFAULT_TIMEOUT", "180"),
            **(env or {}),
        }
        pairs = [f"{k}={v}" for k, v in base.items()]
        with log.open("a", encoding="utf-8") as out:
            out.write(f"\n$ (in {self.suite} root) {' '.join(args)}\n")
            out.flush()
            cmd = ["chroot", str(self.path), "/usr/bin/env", "-i", *pairs, *args]
            return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode

    def close(self) -> None:
        """Unmount everything under the root, then delete it; never deletes through a mount."""
        self.ready = False
        if not self.path.exists():
            return
        for point in _mounts_under(self.path):
            if self._sh(["umount", "-R", point], check=False):
                self._sh(["umount", "-R", "-l", point], check=False)
        left = _mounts_under(self.path)
        if left:
            raise RuntimeError(f"still mounted, {self.path} kept: {', '.join(left)}")
        self._sh(["rm", "-rf", "--one-file-system", str(self.path)], check=False)
