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
    # The short names live on a second plugin object, registered where no suite has its own.
    short = config.pluginmanager.get_plugin("torchcompat-short-fixtures")
    holders = [vars(plugin)] + ([vars(type(short))] if short is not None else [])
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
        ("# Changelog\n", set()),
    ],
)
def test_changelog_convention(changelog: str, recorded: set[str]) -> None:
    """Only BREAKING bullets under Unreleased record names, in backticks, across lines."""
    api_check = _api_check()
    assert api_check.recorded_breaks(changelog) == recorded


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
