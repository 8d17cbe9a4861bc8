"""Check the built sdist and wheel: contents, and the sdist's own test suite from an install.

    python tools/check_dist.py DIST_DIR [PYTEST_ARGS...]   # after python -m build

The sdist must hold what its tests need (tests/ with conftest.py and __init__.py, setup.cfg's
pytest settings, tox.ini, the API snapshots) and the project's documents; the wheel holds the
package, py.typed and the pytest11 entry point, and no tests. Then the sdist is pip-installed
and its suite runs in the unpacked tree. Stdlib only.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

__all__ = ["SDIST_NEEDS", "WHEEL_NEEDS", "main"]

SDIST_NEEDS = (
    "LICENSE",
    "README.md",
    "CHANGELOG.md",
    "tox.ini",
    "setup.cfg",
    "pyproject.toml",
    "setup.py",
    "torchcompat-install.pth",
    "MANIFEST.in",
    "tests/__init__.py",
    "tests/conftest.py",
    "api/torchcompat.json",
    "api/plugin.json",
    "docs/compatibility.md",
    "torchcompat/py.typed",
)
WHEEL_NEEDS = (
    "torchcompat/__init__.py",
    "torchcompat/py.typed",
    "torchcompat-install.pth",
    "_torchcompat_pytestplugin.py",
)


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"check_dist: expected one {pattern} in {dist}, found {found}")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    """Check DIST_DIR's sdist and wheel; 0 when both are complete and the sdist's tests pass."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        raise SystemExit("usage: python tools/check_dist.py DIST_DIR [PYTEST_ARGS...]")
    dist, pytest_args = Path(args[0]), args[1:]
    sdist, wheel = _one(dist, "*.tar.gz"), _one(dist, "*.whl")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    missing = [name for name in SDIST_NEEDS if name not in names]
    with zipfile.ZipFile(wheel) as zipped:
        wheel_names = set(zipped.namelist())
        entry_points = next((n for n in wheel_names if n.endswith("entry_points.txt")), None)
        plugin = entry_points is not None and "pytest11" in zipped.read(entry_points).decode()
    missing += [f"wheel: {name}" for name in WHEEL_NEEDS if name not in wheel_names]
    missing += [] if plugin else ["wheel: the pytest11 entry point"]
    missing += [f"wheel should not hold {n}" for n in wheel_names if n.startswith("tests/")]
    if missing:
        print(f"check_dist: missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"check_dist: {sdist.name} and {wheel.name} hold what they should")
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        tree = next(Path(tmp).iterdir())
        pip = [sys.executable, "-m", "pip", "install", "--force-reinstall"]
        subprocess.run([*pip, str(sdist)], check=True)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", *pytest_args],
            cwd=tree,
            check=False,
        )
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
