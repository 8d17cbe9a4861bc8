"""The Python API check: griffe's breaking-change finder against the recorded API snapshot.

    python3 tools/api_check.py            # fail on a breaking change CHANGELOG does not record
    python3 tools/api_check.py --update   # record the current API as the baseline (a release)

The baseline is api/torchcompat.json, griffe's own dump of the package (``griffe dump``
format), recorded for 0.1.0; ``--update`` is part of publishing a release, so the baseline is
the last published API. The snapshot carries its own ``__version__``.

A breaking change passes only when CHANGELOG records it: in a section newer than the snapshot's
release (``## [Unreleased]``, and any release cut in CHANGELOG since the snapshot was taken, such
as 0.2.0 against the 0.1.0 snapshot), a bullet that contains ``BREAKING`` and names, in backticks,
the changed object's path or a parent of it
(``- BREAKING: `torchcompat.testing.CompileCounter.expect` takes ...``). Stdlib and griffe only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import griffe

__all__ = ["breaking_changes", "main", "recorded_breaks", "snapshot_release", "unrecorded"]

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "api" / "torchcompat.json"
CHANGELOG = ROOT / "CHANGELOG.md"


def _load_current(root: Path = ROOT) -> griffe.Object:
    # Static analysis of the source tree: nothing is imported (no torch, no pytest).
    loaded = griffe.load(
        "torchcompat", search_paths=[root], try_relative_path=False, allow_inspection=False
    )
    assert isinstance(loaded, griffe.Object)
    return loaded


def _load_snapshot(path: Path) -> griffe.Object:
    loaded = json.loads(path.read_text(encoding="utf-8"), object_hook=griffe.json_decoder)
    assert isinstance(loaded, griffe.Module)
    # A decoded dump has no modules collection, which griffe needs to resolve the snapshot's
    # aliases (torchcompat.safe_compile -> torchcompat.compile.safe_compile); griffe's git
    # loader attaches one the same way.
    collection = griffe.ModulesCollection()
    collection.set_member(loaded.path, loaded)
    loaded._modules_collection = collection
    return loaded


def breaking_changes(snapshot: Path = SNAPSHOT, root: Path = ROOT) -> list[tuple[str, str]]:
    """Each breaking change of ``root``'s torchcompat since the snapshot: (path, explanation)."""
    old, new = _load_snapshot(snapshot), _load_current(root)
    style = griffe.ExplanationStyle.ONE_LINE
    return [(b.obj.path, b.explain(style=style)) for b in griffe.find_breaking_changes(old, new)]


def snapshot_release(snapshot: Path = SNAPSHOT) -> str | None:
    """The ``__version__`` the snapshot recorded (the release it is the API of), or None."""
    data = json.loads(snapshot.read_text(encoding="utf-8"))
    value = data.get("members", {}).get("__version__", {}).get("value")
    return value.strip("'\"") if isinstance(value, str) else None


def unrecorded(
    changes: list[tuple[str, str]], changelog: str, baseline: str | None = None
) -> list[tuple[str, str]]:
    """The ``changes`` that CHANGELOG does not record as BREAKING since ``baseline``."""
    recorded = recorded_breaks(changelog, baseline)
    return [(path, why) for path, why in changes if not _covered(path, recorded)]


def _sections_since(changelog: str, baseline: str | None) -> str:
    """Unreleased and every release above ``## [baseline]`` (the snapshot's when None); only
    Unreleased where CHANGELOG has no such release (fail closed)."""
    baseline = snapshot_release() if baseline is None else baseline
    start = re.search(r"^## \[Unreleased\][^\n]*\n", changelog, re.M)
    if start is None:
        return ""
    rest = changelog[start.end() :]
    end = re.search(rf"^## \[{re.escape(baseline)}\]", rest, re.M) if baseline else None
    if end is None:
        end = re.search(r"^## ", rest, re.M)
    return rest if end is None else rest[: end.start()]


def recorded_breaks(changelog: str, baseline: str | None = None) -> set[str]:
    """The backticked paths on BREAKING bullets of CHANGELOG's sections since ``baseline``."""
    names: set[str] = set()
    bullet = ""
    for line in [*_sections_since(changelog, baseline).splitlines(), "- "]:
        if line.startswith(("- ", "#")) or not line.strip():
            if "BREAKING" in bullet:
                names.update(re.findall(r"`([A-Za-z_][\w.]*)`", bullet))
            bullet = line if line.startswith("- ") else ""
        else:
            bullet += " " + line.strip()
    return names


def _covered(path: str, recorded: set[str]) -> bool:
    return any(path == name or path.startswith(name + ".") for name in recorded)


def main(argv: list[str] | None = None) -> int:
    """Check (or with ``--update`` record) the API; 0 when nothing unrecorded breaks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="record the current API")
    args = parser.parse_args(argv)
    if args.update:
        SNAPSHOT.parent.mkdir(exist_ok=True)
        data = json.loads(_load_current().as_json(full=False))
        SNAPSHOT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"api: recorded {SNAPSHOT.relative_to(ROOT)}")
        return 0
    found = breaking_changes()
    missing = unrecorded(found, CHANGELOG.read_text(encoding="utf-8"), snapshot_release())
    for path, why in found:
        status = "NOT RECORDED" if (path, why) in missing else "recorded"
        print(f"api: {status}: {path}: {why}")
    if missing:
        print(
            "api: breaking changes not recorded in CHANGELOG.md: add, under ## [Unreleased], "
            "a bullet with BREAKING and the object's path in backticks (e.g. "
            f"`{missing[0][0]}`), or restore the API",
            file=sys.stderr,
        )
        return 1
    print(f"api: no unrecorded breaking change against {SNAPSHOT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
