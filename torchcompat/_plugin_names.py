"""The pytest plugin's names: namespaced ones that are always there, short ones that step aside;
and its report header, which names the short ones taken.

A short marker name is torchcompat's only while nobody else registers a marker of that name (ini
``markers``, or ``config.addinivalue_line`` in a conftest or plugin; checked at each use, since
conftests further down register theirs later). A short fixture name is defined only where no
plugin or conftest loaded before the session defines one (a conftest's fixture further down
overrides a plugin's by pytest's own rules anyway). A short name some other code took is
announced in the report header (:func:`taken_lines`), never as a warning (``-W error`` would turn
it into a failure), naming the namespaced twin to use instead.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from _torchcompat_pytestplugin import import_unrewritten

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
    "header_lines",
    "marks",
    "names",
    "register_short_fixtures",
    "short_is_ours",
    "switch_first",
    "taken_lines",
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
#: The fixtures that turn a switch: set up before the test's other fixtures (:func:`switch_first`).
SWITCH_FIXTURES = ("torchcompat_compile_disabled", SIDE_FIXTURE)
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


# Per config: (the markers list read, its length then, each long marker name -> the names that
# mean it here). Keys typed by annotation, not subscription: StashKey[...] builds a typing alias
# at import (~20 us each, in every pytest run).
_MEANINGS: pytest.StashKey[tuple[list[str], int, dict[str, frozenset[str]]]] = pytest.StashKey()


def _meanings(config: pytest.Config) -> dict[str, frozenset[str]]:
    """Each long marker name -> itself and its short name where nobody else registered that
    (checked at each use: a conftest further down registers its markers after this plugin's
    configure)."""
    lines = config.getini("markers")
    # Asked several times a test: read again only when the list grew (addinivalue_line appends
    # to the list getini returns) or was replaced.
    seen = config.stash.get(_MEANINGS, None)
    if seen is None or seen[0] is not lines or seen[1] != len(lines):
        foreign = {
            name
            for line in lines
            if (name := _marker_name(line)) in SHORT_MARKS and line != MARKER_LINES[name]
        }
        meanings = {
            long: frozenset(
                [long, *(s for s, to in SHORT_MARKS.items() if to == long and s not in foreign)]
            )
            for long in _HELP
        }
        seen = config.stash[_MEANINGS] = (lines, len(lines), meanings)
    return seen[2]


def short_is_ours(config: pytest.Config, short: str) -> bool:
    """Whether nobody but torchcompat registered the marker ``short`` (one of SHORT_MARKS)."""
    return short in _meanings(config)[SHORT_MARKS[short]]


_SHORT_HOLDER = "torchcompat-short-fixtures"
# The short fixture names others took, found at configure (the initial conftests are loaded).
_TAKEN: pytest.StashKey[set[str]] = pytest.StashKey()


# The short fixtures, as module-level functions: registered at configure, in a module object of
# their own, for the names nobody else defines (a module is a cheaper plugin than an instance,
# whose dir() pytest and pluggy walk, object's attributes and all).
@pytest.fixture(name="compile_counter")
def _compile_counter(torchcompat_compile_counter: CompileCounter) -> CompileCounter:
    """``torchcompat_compile_counter``: a CompileCounter counting the whole test."""
    return torchcompat_compile_counter


@pytest.fixture(name="compile_disabled")
def _compile_disabled(torchcompat_compile_disabled: CompileGate) -> CompileGate:
    """``torchcompat_compile_disabled``: compilation off for the test; the gate."""
    return torchcompat_compile_disabled


@pytest.fixture(name="compile_side")
def _compile_side(torchcompat_compile_side: str) -> str:
    """``torchcompat_compile_side``: ``"on"`` or ``"off"``."""
    return torchcompat_compile_side


_SHORT_DEFINITIONS = {
    "compile_counter": _compile_counter,
    "compile_disabled": _compile_disabled,
    "compile_side": _compile_side,
}


def _namespaces(plugin: object) -> list[Mapping[str, Any]]:
    """The dicts a plugin's attributes live in: a module's, or an object's and its classes'.

    Read directly, never through ``getattr``: a plugin's properties (the terminal reporter's)
    must not run here, and ``dir()`` with ``getattr_static`` on every plugin cost ~1 ms a run.
    """
    if isinstance(plugin, types.ModuleType):
        return [vars(plugin)]
    cls = plugin if isinstance(plugin, type) else type(plugin)
    spaces: list[Mapping[str, Any]] = [vars(klass) for klass in reversed(cls.__mro__)]
    try:
        own = object.__getattribute__(plugin, "__dict__")
    except AttributeError:
        own = None
    if isinstance(own, dict) and not isinstance(plugin, type):
        spaces.append(own)
    return spaces


def _taken_fixtures(config: pytest.Config) -> set[str]:
    """Short fixture names that another plugin or conftest loaded so far defines."""
    try:
        from _pytest.fixtures import getfixturemarker
    except ImportError:  # a pytest without it: then nothing is recognised as taken
        return set()
    taken = set()
    ours = sys.modules.get("torchcompat.pytest_plugin")
    manager = config.pluginmanager
    for plugin in manager.get_plugins():
        # pytest's own plugins (most of the ~40 registered) define none of these names; asked
        # first, as get_name walks every registered name.
        home = plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
        if plugin is ours or home.startswith("_pytest."):
            continue
        if manager.get_name(plugin) == _SHORT_HOLDER:
            continue
        for space in _namespaces(plugin):
            for attr, value in space.items():
                marker = getfixturemarker(value)
                if marker is None:
                    continue
                name = marker.name or attr
                if name in SHORT_FIXTURES:
                    taken.add(name)
    return taken


def register_short_fixtures(config: pytest.Config) -> None:
    """Define the short fixture names that no plugin or conftest loaded so far defines.

    Fixtures of conftests loaded later (further down) override these by pytest's own rules;
    a plugin's fixture of the same name, whatever the order plugins load in, is kept.
    """
    taken = config.stash[_TAKEN] = _taken_fixtures(config)
    chosen = {name: value for name, value in _SHORT_DEFINITIONS.items() if name not in taken}
    if chosen:
        holder = types.ModuleType("torchcompat_short_fixtures", "torchcompat's short fixtures")
        vars(holder).update(chosen)
        config.pluginmanager.register(holder, _SHORT_HOLDER)


def names(config: pytest.Config, long: str) -> frozenset[str]:
    """The marker names that mean ``long`` here: itself, and its short name if not taken."""
    return _meanings(config)[long]


def marks(node: pytest.Item | pytest.Collector, long: str) -> list[pytest.Mark]:
    """The marks meaning ``long`` on ``node`` and its parents, nearest first: one walk up the
    tree for both names (this runs several times for every test of every suite)."""
    wanted = names(node.config, long)
    return [mark for mark in node.iter_markers() if mark.name in wanted]


def taken_lines(config: pytest.Config) -> list[str]:
    """Report-header lines for the short names this suite took, each naming the twin to use.

    Markers from the ini file and every ``addinivalue_line`` so far; fixtures of the plugins and
    conftests loaded when the session starts (a conftest further down is not read yet).
    """
    taken = [
        f"marker {short} (use @pytest.mark.{long})"
        for short, long in SHORT_MARKS.items()
        if not short_is_ours(config, short)
    ]
    fixtures = config.stash.get(_TAKEN, None)
    if fixtures is None:
        fixtures = _taken_fixtures(config)
    taken += [
        f"fixture {short} (use {long})"
        for short, long in SHORT_FIXTURES.items()
        if short in fixtures
    ]
    if not taken:
        return []
    return [
        "torchcompat: this suite has its own "
        + ", ".join(taken)
        + ": torchcompat leaves those names to it"
    ]


#: What the header line reads, in import order: loaded only where a header is written, past
#: the rewriter (as the plugin is).
_HEADER_MODULES = ("torchcompat._releases", "torchcompat.version", "torchcompat.gate")


def header_lines(config: pytest.Config) -> list[str]:
    """The report header: torch's version, whether torch.compile is usable, the gate's decision;
    then :func:`taken_lines`."""
    for name in _HEADER_MODULES:
        import_unrewritten(name)
    from torchcompat.gate import compile_gate
    from torchcompat.version import _installed_text, installed_facts

    # The version as torch writes it: parsing it with packaging would cost every run ~4 ms.
    version = _installed_text()
    facts = installed_facts()
    gate = compile_gate()
    torch = f"torch {version}" if version is not None else "torch not installed"
    usable = "usable" if facts is not None and facts.compile_usable else "not usable here"
    decision = f"off ({gate.reason})" if gate.disabled else "on"
    line = f"torchcompat: {torch}, torch.compile {usable}, compilation {decision}"
    return [line, *taken_lines(config)]


def switch_first(item: pytest.Item) -> None:
    """Put the switch fixtures the test uses before its other function-scoped fixtures.

    pytest sets a test's fixtures up in the order of ``item.fixturenames``: broader scopes first,
    then the autouse fixtures, then the test's own in argument order. The switch goes right after
    the function-scoped autouse fixtures (a suite's environment set-up, such as one that clears
    the switches' variables) and before everything else of function scope, so a fixture the test
    asks for in any order sees the switch set. Broader-scoped fixtures keep their place: one test's
    switch must not leak into an object other tests share.
    """
    names = getattr(item, "fixturenames", None)
    if not isinstance(names, list):
        return
    ours = [name for name in names if name in SWITCH_FIXTURES]
    if not ours:
        return
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", None) or {}
    manager = getattr(item.session, "_fixturemanager", None)
    try:
        autouse = set(manager._getautousenames(item))  # type: ignore[union-attr]
    except Exception:  # a pytest without it: then every fixture of function scope follows
        autouse = set()

    def follows(name: str) -> bool:
        found = defs.get(name)
        if not found or name in autouse:
            return False
        return bool(found[-1].scope == "function")

    rest = [name for name in names if name not in ours]
    at = next((i for i, name in enumerate(rest) if follows(name)), len(rest))
    names[:] = [*rest[:at], *ours, *rest[at:]]
