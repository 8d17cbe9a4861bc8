"""The torchcompat pytest plugin: compile switches, counters and torch-version markers for tests.

Installing torchcompat registers it (entry point ``pytest11``, name ``torchcompat``); disable it
with ``-p no:torchcompat``. A thin layer over :mod:`torchcompat.testing`, which it imports only
inside the fixtures that need it; torch is never imported here. docs/testing-kit.md is the
user's guide; in short:

- markers ``torchcompat_torch_version(">=2.12")`` (skip unless the installed release matches;
  ``2.12.0rc2`` and ``2.12.0+cu130`` count as ``2.12.0``) and ``torchcompat_compile_on_and_off``
  (the test runs twice, ids ``compile-on`` and ``compile-off``; the off side has compilation
  off through every switch before any of the test's own fixtures is set up, the on side is
  skipped with the gate's reason where compilation cannot be on);
- fixtures ``torchcompat_compile_disabled`` (the value is the gate), ``torchcompat_compile_counter``
  (a :class:`~torchcompat.testing.CompileCounter`) and ``torchcompat_compile_side``;
- options ``--torchcompat-sides {both,on,off}`` and ``--torchcompat-install`` (ini
  ``torchcompat_install``): the session runs under :func:`torchcompat.install`, so that every
  ``torch.compile`` of the tested code, libraries' too, behaves as ``safe_compile``.

Each marker and fixture also has a short name (``torch_version``, ``compile_on_and_off``,
``compile_disabled``, ``compile_counter``, ``compile_side``), kept wherever the suite has no
name of its own (:mod:`torchcompat._plugin_names`); the header says which it left. The switch
fixtures are set up before every other function-scoped fixture of the test but the autouse ones.

Every run where torchcompat is installed loads this module, through ``_torchcompat_pytestplugin``
(past pytest's assert rewriter: that module says why), and calls its hooks for every test: for
one that uses none of this, two walks up its collection tree. PYTEST_DONT_REWRITE: no asserts.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from _torchcompat_pytestplugin import import_unrewritten

import_unrewritten("torchcompat._plugin_names")  # before the names' import below: past the rewriter

from torchcompat import _plugin_names  # noqa: E402
from torchcompat._plugin_names import (  # noqa: E402
    MARKER_LINES,
    SHORT_FIXTURES,
    SHORT_MARKS,
    SIDE_FIXTURE,
    SIDES,
    SIDES_MARK,
    VERSION_MARK,
    register_short_fixtures,
    short_is_ours,
    switch_first,
)

if TYPE_CHECKING:
    from torchcompat.gate import CompileGate
    from torchcompat.testing import CompileCounter

__all__ = [
    "INSTALL_INI",
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
    "pytest_sessionstart",
    "pytest_unconfigure",
    "torchcompat_compile_counter",
    "torchcompat_compile_disabled",
    "torchcompat_compile_side",
]

INSTALL_INI = "torchcompat_install"
_INSTALLED_HERE: pytest.StashKey[bool] = pytest.StashKey()
#: Per collector: whether the sides mark is on it or a parent (read at its first test function).
_SIDES_CHECKED: pytest.StashKey[bool] = pytest.StashKey()
#: Per test: what is wrong with its torch_version marks (None: nothing), read at collection;
#: absent (read as "") for an item collection did not hand the plugin.
_MARKS_WRONG: pytest.StashKey[str | None] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``torchcompat`` option group."""
    group = parser.getgroup("torchcompat", "torchcompat (torch.compile switches)")
    group.addoption(
        "--torchcompat-sides",
        choices=("both", *SIDES),
        default="both",
        dest="torchcompat_sides",
        help="which sides of the compile switch @pytest.mark.compile_on_and_off tests run on "
        "(default: both)",
    )
    group.addoption(
        "--torchcompat-install",
        action="store_true",
        default=None,
        dest="torchcompat_install",
        help="run the session with torchcompat.install(): every torch.compile in the tested "
        "code (libraries' too) behaves as safe_compile (ini: torchcompat_install = true)",
    )
    parser.addini(
        INSTALL_INI,
        type="bool",
        default=False,
        help="run the session with torchcompat.install() (as --torchcompat-install)",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, so that ``--strict-markers`` knows them; short ones if free."""
    for long in (VERSION_MARK, SIDES_MARK):
        config.addinivalue_line("markers", MARKER_LINES[long])
    for short in SHORT_MARKS:
        if short_is_ours(config, short):
            config.addinivalue_line("markers", MARKER_LINES[short])
    register_short_fixtures(config)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``--torchcompat-install`` (or the ini key), install torchcompat for the session.

    At session start, before collection: test modules that compile at import are covered.
    """
    config = session.config
    wanted = config.getoption("torchcompat_install")
    if wanted is None:
        wanted = bool(config.getini(INSTALL_INI))
    if wanted:
        from torchcompat._install import install, is_installed

        config.stash[_INSTALLED_HERE] = not is_installed()  # else it is not ours to undo
        install()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Undo the session's ``install()``."""
    if config.stash.get(_INSTALLED_HERE, False):
        from torchcompat._install import uninstall

        uninstall()


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
    # Called for every function of every test module: most cost two lookups.
    checked = collector.stash.get(_SIDES_CHECKED, None)
    own = getattr(obj, "pytestmark", None)
    if checked is not None and not own:
        return
    istest = getattr(collector, "istestfunction", None)
    if istest is None or not istest(obj, name):
        return
    if own:
        wanted = _plugin_names.names(collector.config, SIDES_MARK)
        if any(getattr(m, "name", None) in wanted for m in own):
            used = (m for m in own if getattr(m, "name", None) == "usefixtures")
            if not any(SIDE_FIXTURE in getattr(m, "args", ()) for m in used):
                pytest.mark.usefixtures(SIDE_FIXTURE)(obj)
            return
    if checked is None:  # once per collector: a mark on it or a parent puts usefixtures on it
        collector.stash[_SIDES_CHECKED] = checked = bool(_plugin_names.marks(collector, SIDES_MARK))
        if checked:
            collector.add_marker(pytest.mark.usefixtures(SIDE_FIXTURE))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``compile_on_and_off`` tests over the sides chosen by the option."""
    marks = _plugin_names.marks(metafunc.definition, SIDES_MARK)
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
    sides = list(SIDES) if chosen == "both" else [chosen]
    metafunc.parametrize(
        SIDE_FIXTURE, sides, indirect=True, ids=[f"compile-{side}" for side in sides]
    )


def _version_skip(item: pytest.Item) -> str | None:
    """Why ``item`` must be skipped for its torch_version marks, or None; raises ValueError.
    A test without the mark loads nothing more (no packaging, no version read)."""
    if not _plugin_names.marks(item, VERSION_MARK):
        return None
    from torchcompat._version_mark import version_skip

    return version_skip(item)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each test its torch_version skip as a skip mark, so that the skip points at it;
    put the switch fixtures before the test's other ones (:func:`_plugin_names.switch_first`)."""
    for item in items:
        switch_first(item)
        try:
            why = _version_skip(item)
        except ValueError as bad:
            item.stash[_MARKS_WRONG] = str(bad)  # reported as the test's error at its setup
            continue
        item.stash[_MARKS_WRONG] = None
        if why is not None:
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Error a test whose ``torch_version`` marks cannot be read, naming the problem."""
    wrong = item.stash.get(_MARKS_WRONG, "")
    if wrong == "":  # an item collection did not hand this plugin: read its marks now
        try:
            _version_skip(item)
            wrong = None
        except ValueError as bad:
            wrong = str(bad)
    if wrong is not None:
        pytest.fail(wrong, pytrace=False)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Torch version, whether torch.compile is usable, the gate's decision; short names taken."""
    return _plugin_names.header_lines(config)


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
    The value is the gate in the test (``disabled`` is True, ``reason`` names the switch)."""
    from torchcompat.testing import disable_compilation

    with disable_compilation() as gate:
        yield gate


@pytest.fixture
def torchcompat_compile_counter() -> Iterator[CompileCounter]:
    """A :class:`~torchcompat.testing.CompileCounter` counting the whole test
    (``compile_counter.expect(graphs=0, ...)`` in the test)."""
    from torchcompat.testing import CompileCounter

    with CompileCounter() as counter:
        yield counter
