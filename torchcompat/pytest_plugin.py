"""The torchcompat pytest plugin: compile switches, counters and torch-version markers for tests.

Installing torchcompat registers it (entry point ``pytest11``, name ``torchcompat``); disable it
with ``-p no:torchcompat``. Loading it costs next to nothing: torch is never imported here, and
:mod:`torchcompat.testing` only inside the fixtures that need it. A thin layer over
:mod:`torchcompat.testing`.

Every name has a namespaced form that is always there, and a short form kept wherever no one
else uses it:

- markers ``torchcompat_torch_version`` (short: ``torch_version``) and
  ``torchcompat_compile_on_and_off`` (short: ``compile_on_and_off``);
- fixtures ``torchcompat_compile_disabled``, ``torchcompat_compile_counter`` and
  ``torchcompat_compile_side`` (short: ``compile_disabled``, ``compile_counter``,
  ``compile_side``).

A short name steps aside where the suite has its own: a marker of that name registered by
anyone else (ini ``markers``, or ``config.addinivalue_line`` in a conftest or plugin), or a
fixture of that name from another plugin (a conftest's fixture overrides a plugin's anyway).
Then torchcompat does not act on that mark or define that fixture, and the suite runs exactly as
it does with ``-p no:torchcompat``.

Markers:

- ``torch_version(">=2.12")``: skip unless the installed torch matches the specifiers (several
  arguments or comma-separated specifiers must all hold; optional ``reason=``). The installed
  version counts as its release, as in :mod:`torchcompat.version`: ``2.12.0rc2``,
  ``2.12.0.dev20260301`` and ``2.12.0+cu130`` all match ``==2.12.0``. The skip points at the
  test.
- ``compile_on_and_off``: run the test twice, like a parametrization with ids ``compile-on``
  and ``compile-off``. On the off side compilation is off through every switch
  (:func:`torchcompat.testing.disable_compilation`) before any of the test's own fixtures is
  set up; the on side is skipped, with the gate's reason, where compilation cannot be on (torch
  1.13, a Python the release refuses, an off-switch set for the whole session). The side
  fixture says which side a test is on.

Fixtures: ``compile_disabled`` (compilation off for the test; the value is the gate),
``compile_counter`` (a :class:`~torchcompat.testing.CompileCounter` counting the test),
``compile_side`` (``"on"`` or ``"off"``).

Option (group ``torchcompat``): ``--torchcompat-sides {both,on,off}`` picks the sides that
``compile_on_and_off`` tests run on.

The report header gets one line: the torch version, whether ``torch.compile`` is usable here,
and the gate's decision with its reason.

PYTEST_DONT_REWRITE: nothing here asserts, and ``-p torchcompat.pytest_plugin`` after an
import of it would warn that it cannot be rewritten.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

    from torchcompat.gate import CompileGate
    from torchcompat.testing import CompileCounter

__all__ = [
    "SHORT_FIXTURES",
    "SHORT_MARKS",
    "SIDES_MARK",
    "SIDE_FIXTURE",
    "VERSION_MARK",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_pycollect_makeitem",
    "pytest_report_header",
    "pytest_runtest_setup",
    "torchcompat_compile_counter",
    "torchcompat_compile_disabled",
    "torchcompat_compile_side",
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
_SIDES = ("on", "off")
_HELP = {
    VERSION_MARK: "(*specifiers, reason=None): skip unless the installed torch's release matches "
    'the version specifiers, e.g. torch_version(">=2.12") (torchcompat)',
    SIDES_MARK: ": run the test with compilation on and with it off, as a parametrization (ids "
    "compile-on, compile-off; the compile_side fixture says which) (torchcompat)",
}
# The exact lines this plugin registers, per marker name: any other line naming one is foreign.
_OURS = {name: name + _HELP[SHORT_MARKS.get(name, name)] for name in (*_HELP, *SHORT_MARKS)}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``torchcompat`` option group."""
    group = parser.getgroup("torchcompat", "torchcompat (torch.compile switches)")
    group.addoption(
        "--torchcompat-sides",
        choices=("both", *_SIDES),
        default="both",
        dest="torchcompat_sides",
        help="which sides of the compile switch @pytest.mark.compile_on_and_off tests run on "
        "(default: both)",
    )


def _marker_name(line: str) -> str:
    return line.split(":", 1)[0].split("(", 1)[0].strip()


def _short_is_ours(config: pytest.Config, short: str) -> bool:
    """Whether nobody but torchcompat registered the marker ``short`` (checked at each use:
    a conftest further down registers its markers after this plugin's configure)."""
    return all(
        line == _OURS[short] or _marker_name(line) != short for line in config.getini("markers")
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, so that ``--strict-markers`` knows them; short ones if free."""
    for long in (VERSION_MARK, SIDES_MARK):
        config.addinivalue_line("markers", _OURS[long])
    for short in SHORT_MARKS:
        if _short_is_ours(config, short):
            config.addinivalue_line("markers", _OURS[short])
    _register_short_fixtures(config)


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
        if plugin is sys.modules[__name__]:
            continue
        for attr in dir(plugin):
            # Static: a plugin's properties (the terminal reporter's) must not run here.
            name = _fixture_name(inspect.getattr_static(plugin, attr, None))
            if name in SHORT_FIXTURES:
                taken.add(name)
    return taken


def _register_short_fixtures(config: pytest.Config) -> None:
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


def _names(config: pytest.Config, long: str) -> list[str]:
    """The marker names that mean ``long`` here: itself, and its short name if not taken."""
    short = [s for s, target in SHORT_MARKS.items() if target == long]
    return [long, *(s for s in short if _short_is_ours(config, s))]


def _marks(node: pytest.Item | pytest.Collector, long: str) -> list[pytest.Mark]:
    return [mark for name in _names(node.config, long) for mark in node.iter_markers(name=name)]


def pytest_report_header(config: pytest.Config) -> str:
    """One line: torch version, whether torch.compile is usable, and the gate's decision."""
    from torchcompat.gate import compile_gate
    from torchcompat.version import installed_facts, torch_version

    version = torch_version()
    facts = installed_facts()
    gate = compile_gate()
    torch = f"torch {version}" if version is not None else "torch not installed"
    usable = "usable" if facts is not None and facts.compile_usable else "not usable here"
    decision = f"off ({gate.reason})" if gate.disabled else "on"
    return f"torchcompat: {torch}, torch.compile {usable}, compilation {decision}"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Make a ``compile_on_and_off`` test use the side fixture, touching nothing else.

    Done here, before pytest works out the test's fixtures, so that the side is a fixture the
    test uses (parametrizable in :func:`pytest_generate_tests`) and is set up after the autouse
    fixtures but before the test's own ones. A mark on the module or class puts ``usefixtures``
    on that collector node; a mark on the function, on that function. Other functions (imported
    helpers, third-party functions) are never touched.
    """
    if not inspect.isfunction(obj):
        return
    istest = getattr(collector, "istestfunction", None)
    if istest is None or not istest(obj, name):
        return
    names = _names(collector.config, SIDES_MARK)
    own = [m for m in getattr(obj, "pytestmark", []) if getattr(m, "name", None) in names]
    if own:
        if not any(
            SIDE_FIXTURE in getattr(m, "args", ())
            for m in getattr(obj, "pytestmark", [])
            if getattr(m, "name", None) == "usefixtures"
        ):
            pytest.mark.usefixtures(SIDE_FIXTURE)(obj)
    elif _marks(collector, SIDES_MARK) and not collector.stash.get(_SIDES_USED, False):
        collector.stash[_SIDES_USED] = True
        collector.add_marker(pytest.mark.usefixtures(SIDE_FIXTURE))


_SIDES_USED = pytest.StashKey[bool]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``compile_on_and_off`` tests over the sides chosen by the option."""
    marks = _marks(metafunc.definition, SIDES_MARK)
    if not marks:
        return
    if any(mark.args or mark.kwargs for mark in marks):
        raise TypeError(f"@pytest.mark.{marks[0].name} takes no arguments")
    if SIDE_FIXTURE not in metafunc.fixturenames:
        # The mark arrived after collection (e.g. added in pytest_collection_modifyitems).
        raise ValueError(
            f"@pytest.mark.{marks[0].name} was added too late for {metafunc.definition.nodeid}: "
            f"put it on the test, class or module, or request the {SIDE_FIXTURE} fixture"
        )
    chosen = metafunc.config.getoption("torchcompat_sides")
    sides = list(_SIDES) if chosen == "both" else [chosen]
    metafunc.parametrize(
        SIDE_FIXTURE, sides, indirect=True, ids=[f"compile-{side}" for side in sides]
    )


def _specifiers(mark: pytest.Mark) -> SpecifierSet:
    """The mark's specifiers; raises ValueError naming what is wrong with them."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not mark.args:
        raise ValueError(f'@pytest.mark.{mark.name} needs a version specifier, e.g. ">=2.12"')
    for arg in mark.args:
        if not isinstance(arg, str):
            raise ValueError(
                f"@pytest.mark.{mark.name} takes version specifier strings, "
                f"got {type(arg).__name__} {arg!r}"
            )
    text = ",".join(mark.args)
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(
            f"@pytest.mark.{mark.name}({text!r}): not a valid version specifier "
            '(e.g. ">=2.12", "<2.13", "==2.12.*")'
        ) from None


def _version_skip(item: pytest.Item) -> str | None:
    """Why ``item`` must be skipped for its torch_version marks, or None; raises ValueError."""
    marks = _marks(item, VERSION_MARK)
    if not marks:
        return None
    from packaging.version import Version

    from torchcompat.version import torch_version

    installed = torch_version()
    for mark in marks:
        specifiers = _specifiers(mark)
        reason = mark.kwargs.get("reason")
        why = f": {reason}" if reason else ""
        if installed is None:
            return f"needs torch {specifiers}, and torch is not installed{why}"
        release = Version(installed.base_version)
        if not specifiers.contains(release, prereleases=True):
            return (
                f"needs torch {specifiers}; torch {installed} is installed "
                f"(compared as its release, {release}){why}"
            )
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each test its torch_version skip as a skip mark, so that the skip points at it."""
    for item in items:
        try:
            why = _version_skip(item)
        except ValueError:
            continue  # reported as the test's error in pytest_runtest_setup
        if why is not None:
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Error a test whose ``torch_version`` marks cannot be read, naming the problem."""
    try:
        _version_skip(item)
    except ValueError as bad:
        pytest.fail(str(bad), pytrace=False)


@pytest.fixture
def torchcompat_compile_side(request: pytest.FixtureRequest) -> Iterator[str]:
    """``"on"`` or ``"off"``: the side of the compile switch this test runs on.

    Parametrized by ``@pytest.mark.compile_on_and_off``: the off side turns compilation off
    through every switch for the test; the on side is skipped where compilation cannot be on,
    and starts and ends with :func:`~torchcompat.testing.reset_compilation`.
    Without the mark, it only says what the gate says now.
    """
    from torchcompat.gate import compile_gate

    side: Any = getattr(request, "param", None)
    if side is None:
        yield "off" if compile_gate().disabled else "on"
    elif side == "on":
        gate = compile_gate()
        if gate.disabled:
            pytest.skip(f"compilation cannot be on here: {gate.reason}")
        from torchcompat.testing.reset import reset_compilation, reset_dynamo

        # Start as a fresh process would, so that what the test counts does not depend on what
        # ran before it; leave with empty caches (compilation was on: nothing to un-mark).
        reset_compilation()
        try:
            yield "on"
        finally:
            reset_dynamo()
    else:
        from torchcompat.testing import disable_compilation

        with disable_compilation():
            yield "off"


@pytest.fixture
def torchcompat_compile_disabled() -> Iterator[CompileGate]:
    """Compilation off for the test through every switch; restored and dynamo reset after.

    The value is the gate in the test (``disabled`` is True, ``reason`` names the switch).
    """
    from torchcompat.testing import disable_compilation

    with disable_compilation() as gate:
        yield gate


@pytest.fixture
def torchcompat_compile_counter() -> Iterator[CompileCounter]:
    """A :class:`~torchcompat.testing.CompileCounter` counting the whole test.

    Call ``compile_counter.expect(graphs=0, ...)`` in the test.
    """
    from torchcompat.testing import CompileCounter

    with CompileCounter() as counter:
        yield counter
