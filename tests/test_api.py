"""The public surface downstream pins: plugin names, the report's JSON fields, the API check.

The plugin's fixtures, markers and options and the report's fields are pinned by
api/plugin.json. After an intended change, regenerate it and record the change in CHANGELOG:

    TORCHCOMPAT_UPDATE_API=1 python -m pytest tests/test_api.py -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from torchcompat.report import build_report

from .conftest import needs_compile

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SNAPSHOT = ROOT / "api" / "plugin.json"
CHANGELOG = ROOT / "CHANGELOG.md"
UPDATE = os.environ.get("TORCHCOMPAT_UPDATE_API") == "1"


def _marker_names(config: pytest.Config) -> set[str]:
    lines: list[str] = config.getini("markers")
    return {line.split(":")[0].split("(")[0].strip() for line in lines}


def _option_names(config: pytest.Config) -> set[str]:
    # pytest has no public list of options: its parser's groups hold them.
    groups = config._parser._groups
    return {name for group in groups for option in group.options for name in option.names()}


def _fixture_names(config: pytest.Config) -> set[str]:
    from _pytest.fixtures import getfixturemarker

    plugin = config.pluginmanager.get_plugin("torchcompat.pytest_plugin")
    assert plugin is not None, "the torchcompat plugin is not registered"
    names = set()
    # The short names live in a second plugin module, registered where no suite has its own.
    short = config.pluginmanager.get_plugin("torchcompat-short-fixtures")
    holders = [vars(plugin)] + ([vars(short)] if short is not None else [])
    for holder in holders:
        for attr, value in holder.items():
            marker = getfixturemarker(value)
            if marker is not None:
                names.add(marker.name or attr)
    return names


def _surface(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the plugin adds to pytest (compared with a run without it) and the report's fields."""
    # Only torchcompat's plugin, loaded by name: other installed plugins (and an outer xdist
    # worker's variables, which make some of them warn) stay out of the comparison.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name in list(os.environ):
        if name.startswith("PYTEST_XDIST"):
            monkeypatch.delenv(name)
    with_plugin = pytester.parseconfigure("-p", "torchcompat.pytest_plugin")
    without = pytester.parseconfigure()
    report = build_report()
    from torchcompat._check import run_check

    # A switch set: the check returns at once, with every field, and compiles nothing.
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    report["check"] = run_check()
    return {
        "fixtures": sorted(_fixture_names(with_plugin)),
        "markers": sorted(_marker_names(with_plugin) - _marker_names(without)),
        "options": sorted(_option_names(with_plugin) - _option_names(without)),
        "report_fields": sorted(report),
        "report_env_fields": sorted(report["env"]),
        "check_fields": sorted(report["check"]),
    }


def test_plugin_names_and_report_fields_are_pinned(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixtures, markers, options and report fields are those of api/plugin.json."""
    surface = _surface(pytester, monkeypatch)
    if UPDATE:
        PLUGIN_SNAPSHOT.write_text(json.dumps(surface, indent=1) + "\n", encoding="utf-8")
    pinned = json.loads(PLUGIN_SNAPSHOT.read_text(encoding="utf-8"))
    assert surface == pinned, (
        "the public surface changed: record it in CHANGELOG and regenerate api/plugin.json "
        "(TORCHCOMPAT_UPDATE_API=1 python -m pytest tests/test_api.py)"
    )


# The API check itself (tools/api_check.py), where griffe is installed (tox -e api).
CHANGELOG_HEAD = "# Changelog\n\n## [Unreleased]\n\n### Removed\n"


@pytest.mark.parametrize(
    ("changelog", "recorded"),
    [
        (CHANGELOG_HEAD + "- BREAKING: `torchcompat.unwrap` is gone.\n", {"torchcompat.unwrap"}),
        (CHANGELOG_HEAD + "- BREAKING: `a.b` and\n  `c.d` changed.\n", {"a.b", "c.d"}),
        (CHANGELOG_HEAD + "- `torchcompat.unwrap` is gone.\n", set()),  # no BREAKING
        (CHANGELOG_HEAD + "\n## [0.1.0]\n- BREAKING: `old.name`\n", set()),  # released
        # A release cut since the snapshot's (0.1.0): its breaks are still against the snapshot.
        (
            CHANGELOG_HEAD + "\n## [0.2.0] - x\n### Removed\n- BREAKING: `new.name`\n"
            "\n## [0.1.0]\n- BREAKING: `old.name`\n",
            {"new.name"},
        ),
        ("# Changelog\n", set()),
    ],
)
def test_changelog_convention(changelog: str, recorded: set[str]) -> None:
    """Only BREAKING bullets newer than the 0.1.0 snapshot record names, in backticks."""
    api_check = _api_check()
    assert api_check.recorded_breaks(changelog, "0.1.0") == recorded


def test_snapshot_release_heads_a_changelog_section() -> None:
    """The snapshot's __version__ is a release of CHANGELOG (else only Unreleased would count)."""
    release = _api_check().snapshot_release()
    assert release is not None
    assert f"\n## [{release}]" in CHANGELOG.read_text(encoding="utf-8")


def _api_check() -> Any:
    pytest.importorskip("griffe", reason="the API check needs griffe (tox -e api)")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import api_check
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return api_check


def test_a_breaking_change_fails_unless_recorded(tmp_path: Path) -> None:
    """A removed public function is a breaking change; a BREAKING bullet naming it lets it pass."""
    api_check = _api_check()
    shutil.copytree(ROOT / "torchcompat", tmp_path / "torchcompat")
    introspect = tmp_path / "torchcompat" / "introspect.py"
    source = introspect.read_text(encoding="utf-8")
    introspect.write_text(
        source.replace("def unwrap(obj: Any)", "def unwrap(obj: Any, depth: int)"),
        encoding="utf-8",
    )
    already = api_check.breaking_changes(root=ROOT)
    assert api_check.unrecorded(already, CHANGELOG.read_text(encoding="utf-8")) == []
    changes = [c for c in api_check.breaking_changes(root=tmp_path) if c not in already]
    assert [path for path, _ in changes] == ["torchcompat.introspect.unwrap"]
    assert api_check.unrecorded(changes, CHANGELOG_HEAD) == changes
    recorded = CHANGELOG_HEAD + "- BREAKING: `torchcompat.introspect.unwrap` needs `depth`.\n"
    assert api_check.unrecorded(changes, recorded) == []


# Pickled at a91197e (the layout before torchcompat._pickle), on torch 2.13.0, with
# PYTHONPATH at a worktree of that commit:
#   torch.manual_seed(0); pickle.dumps({
#       "module": safe_compile(nn.Linear(2, 2), backend="eager", fullgraph=True),
#       "in_place": safe_compile(nn.Linear(2, 2), backend="eager", in_place=True),
#       "fallback": safe_compile(nn.Linear(2, 2), backend="eager", fallback="eager")},
#       protocol=2)
# Checked in rather than made at test time: the sdist's suite has no git history to build it.
OLD_PICKLES = ROOT / "tests" / "fixtures" / "a91197e_results.pkl"


@needs_compile
def test_pickles_of_the_previous_layout_still_load() -> None:
    """Results pickled by a91197e (torchcompat._modules.rebuild) load as guarded results."""
    import pickle

    import torch

    from torchcompat import is_compiled, unwrap

    loaded = pickle.loads(OLD_PICKLES.read_bytes())
    assert sorted(loaded) == ["fallback", "in_place", "module"]
    x = torch.ones(2)
    for name, result in loaded.items():
        assert is_compiled(result), name
        assert sorted(result.state_dict()) == ["bias", "weight"], name
        plain = unwrap(result)
        torch.testing.assert_close(result(x), plain(x))


@needs_compile
def test_new_pickles_point_at_the_stable_names() -> None:
    """A module result's pickle names torchcompat._pickle's functions, not _modules'."""
    import pickle
    import pickletools

    import torch

    from torchcompat import safe_compile

    results = [
        safe_compile(torch.nn.Linear(2, 2), backend="eager"),
        safe_compile(torch.nn.Linear(2, 2), backend="eager", in_place=True),
    ]
    names = {
        arg
        for op, arg, _ in pickletools.genops(pickle.dumps(results, protocol=2))
        if op.name == "GLOBAL" and isinstance(arg, str) and arg.startswith("torchcompat")
    }
    assert {"torchcompat._pickle rebuild", "torchcompat._pickle Recipe"} <= names
    assert "torchcompat._pickle rebuild_in_place" in names
    assert not {n for n in names if n.startswith("torchcompat._modules") and "rebuild" in n}
