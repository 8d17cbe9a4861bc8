"""The pytest plugin's names: namespaced ones that are always there, short ones that step aside.

A short marker name is torchcompat's only while nobody else registers a marker of that name (ini
``markers``, or ``config.addinivalue_line`` in a conftest or plugin; checked at each use, since
conftests further down register theirs later). A short fixture name is defined only where no
plugin or conftest loaded before the session defines one (a conftest's fixture further down
overrides a plugin's by pytest's own rules anyway).
"""

from __future__ import annotations

import inspect
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from torchcompat.gate import CompileGate
    from torchcompat.testing import CompileCounter

__all__ = [
    "MARKER_LINES",
    "SHORT_FIXTURES",
    "SHORT_MARKS",
    "SIDES",
    "SIDES_MARK",
    "SIDE_FIXTURE",
    "VERSION_MARK",
    "marks",
    "names",
    "register_short_fixtures",
    "short_is_ours",
]

VERSION_MARK = "torchcompat_torch_version"
SIDES_MARK = "torchcompat_compile_on_and_off"
SIDE_FIXTURE = "torchcompat_compile_side"
#: Short marker name -> the namespaced one it stands for.
SHORT_MARKS = {"torch_version": VERSION_MARK, "compile_on_and_off": SIDES_MARK}
#: Short fixture name -> the namespaced one it stands for.
SHORT_FIXTURES = {
    "compile_counter": "torchcompat_compile_counter",
    "compile_disabled": "torchcompat_compile_disabled",
    "compile_side": SIDE_FIXTURE,
}
SIDES = ("on", "off")
_HELP = {
    VERSION_MARK: "(*specifiers, reason=None): skip unless the installed torch's release matches "
    'the version specifiers, e.g. torch_version(">=2.12") (torchcompat)',
    SIDES_MARK: ": run the test with compilation on and with it off, as a parametrization (ids "
    "compile-on, compile-off; the compile_side fixture says which) (torchcompat)",
}
# The exact lines this plugin registers, per marker name: any other line naming one is foreign.
MARKER_LINES = {name: name + _HELP[SHORT_MARKS.get(name, name)] for name in (*_HELP, *SHORT_MARKS)}


def _marker_name(line: str) -> str:
    return line.split(":", 1)[0].split("(", 1)[0].strip()


def short_is_ours(config: pytest.Config, short: str) -> bool:
    """Whether nobody but torchcompat registered the marker ``short`` (checked at each use:
    a conftest further down registers its markers after this plugin's configure)."""
    return all(
        line == MARKER_LINES[short] or _marker_name(line) != short
        for line in config.getini("markers")
    )


class _ShortFixtures:
    """The short fixture names, registered at session start for those nobody else defines."""

    @pytest.fixture(name="compile_counter")
    def compile_counter(self, torchcompat_compile_counter: CompileCounter) -> CompileCounter:
        """``torchcompat_compile_counter``: a CompileCounter counting the whole test."""
        return torchcompat_compile_counter

    @pytest.fixture(name="compile_disabled")
    def compile_disabled(self, torchcompat_compile_disabled: CompileGate) -> CompileGate:
        """``torchcompat_compile_disabled``: compilation off for the test; the gate."""
        return torchcompat_compile_disabled

    @pytest.fixture(name="compile_side")
    def compile_side(self, torchcompat_compile_side: str) -> str:
        """``torchcompat_compile_side``: ``"on"`` or ``"off"``."""
        return torchcompat_compile_side


def _fixture_name(obj: object) -> str | None:
    """The fixture name ``obj`` defines, or None if it is no fixture."""
    try:
        from _pytest.fixtures import getfixturemarker
    except ImportError:  # a pytest without it: then nothing is recognised as taken
        return None
    marker = getfixturemarker(obj)
    return None if marker is None else marker.name or getattr(obj, "__name__", None)


def _taken_fixtures(config: pytest.Config) -> set[str]:
    """Short fixture names that another plugin or conftest loaded so far defines."""
    taken = set()
    for plugin in config.pluginmanager.get_plugins():
        if plugin is sys.modules.get("torchcompat.pytest_plugin"):
            continue
        for attr in dir(plugin):
            # Static: a plugin's properties (the terminal reporter's) must not run here.
            name = _fixture_name(inspect.getattr_static(plugin, attr, None))
            if name in SHORT_FIXTURES:
                taken.add(name)
    return taken


def register_short_fixtures(config: pytest.Config) -> None:
    """Define the short fixture names that no plugin or conftest loaded so far defines.

    Fixtures of conftests loaded later (further down) override these by pytest's own rules;
    a plugin's fixture of the same name, whatever the order plugins load in, is kept.
    """
    taken = _taken_fixtures(config)
    chosen = {
        name: value
        for name, value in vars(_ShortFixtures).items()
        if name in SHORT_FIXTURES and name not in taken
    }
    if chosen:
        holder = type("TorchcompatShortFixtures", (), chosen)()
        config.pluginmanager.register(holder, "torchcompat-short-fixtures")


def names(config: pytest.Config, long: str) -> list[str]:
    """The marker names that mean ``long`` here: itself, and its short name if not taken."""
    short = [s for s, target in SHORT_MARKS.items() if target == long]
    return [long, *(s for s in short if short_is_ours(config, s))]


def marks(node: pytest.Item | pytest.Collector, long: str) -> list[pytest.Mark]:
    return [mark for name in names(node.config, long) for mark in node.iter_markers(name=name)]
