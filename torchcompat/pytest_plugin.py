"""The torchcompat pytest plugin: compile switches, counters and torch-version markers for tests.

Installing torchcompat registers it (entry point ``pytest11``, name ``torchcompat``); disable it
with ``-p no:torchcompat``. Loading it costs next to nothing: torch is never imported here, and
:mod:`torchcompat.testing` only inside the fixtures that need it.

Markers:

- ``@pytest.mark.torch_version(">=2.12")``: skip unless the installed torch matches the
  specifiers (several arguments or comma-separated specifiers must all hold; optional
  ``reason=``). The installed version counts as its release, as in :mod:`torchcompat.version`:
  ``2.12.0rc2``, ``2.12.0.dev20260301`` and ``2.12.0+cu130`` all match ``==2.12.0``.
- ``@pytest.mark.compile_on_and_off``: run the test twice, like a parametrization with ids
  ``compile-on`` and ``compile-off``. On the off side compilation is off through every switch
  (:func:`torchcompat.testing.disable_compilation`) before any of the test's own fixtures is
  set up; the on side is skipped, with the gate's reason, where compilation cannot be on (torch
  1.13, a Python the release refuses, an off-switch set for the whole session). The
  ``compile_side`` fixture says which side a test is on.

Fixtures: ``compile_disabled`` (compilation off for the test; the value is the gate),
``compile_counter`` (a :class:`~torchcompat.testing.CompileCounter` counting the test),
``compile_side`` (``"on"`` or ``"off"``).

Option (group ``torchcompat``): ``--torchcompat-sides {both,on,off}`` picks the sides that
``compile_on_and_off`` tests run on.

The report header gets one line: the torch version, whether ``torch.compile`` is usable here,
and the gate's decision with its reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

    from torchcompat.gate import CompileGate
    from torchcompat.testing import CompileCounter

__all__ = [
    "compile_counter",
    "compile_disabled",
    "compile_side",
    "pytest_addoption",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_pycollect_makeitem",
    "pytest_report_header",
    "pytest_runtest_setup",
]

VERSION_MARK = "torch_version"
SIDES_MARK = "compile_on_and_off"
SIDE_FIXTURE = "compile_side"
_SIDES = ("on", "off")


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


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, so that ``--strict-markers`` knows them."""
    config.addinivalue_line(
        "markers",
        f"{VERSION_MARK}(*specifiers, reason=None): skip unless the installed torch's release "
        'matches the version specifiers, e.g. torch_version(">=2.12") (torchcompat)',
    )
    config.addinivalue_line(
        "markers",
        f"{SIDES_MARK}: run the test with compilation on and with it off, as a parametrization "
        f"(ids compile-on, compile-off; the {SIDE_FIXTURE} fixture says which) (torchcompat)",
    )


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


def _has_sides_mark(collector: pytest.Collector, obj: object) -> bool:
    own = getattr(obj, "pytestmark", [])
    if any(getattr(mark, "name", None) == SIDES_MARK for mark in own):
        return True
    return collector.get_closest_marker(SIDES_MARK) is not None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Make a ``compile_on_and_off`` test use the ``compile_side`` fixture.

    Done here, before pytest works out the test's fixtures, so that the side is a fixture the
    test uses (parametrizable in :func:`pytest_generate_tests`) and is set up after the autouse
    fixtures but before the test's own ones.
    """
    if not inspect.isfunction(obj) or not _has_sides_mark(collector, obj):
        return
    used = [
        arg
        for mark in getattr(obj, "pytestmark", [])
        if getattr(mark, "name", None) == "usefixtures"
        for arg in mark.args
    ]
    if SIDE_FIXTURE not in used:
        pytest.mark.usefixtures(SIDE_FIXTURE)(obj)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``compile_on_and_off`` tests over the sides chosen by the option."""
    mark = metafunc.definition.get_closest_marker(SIDES_MARK)
    if mark is None:
        return
    if mark.args or mark.kwargs:
        raise TypeError(f"@pytest.mark.{SIDES_MARK} takes no arguments")
    if SIDE_FIXTURE not in metafunc.fixturenames:
        # The mark arrived after collection (e.g. added in pytest_collection_modifyitems).
        raise ValueError(
            f"@pytest.mark.{SIDES_MARK} was added too late for {metafunc.definition.nodeid}: "
            f"put it on the test, class or module, or request the {SIDE_FIXTURE} fixture"
        )
    chosen = metafunc.config.getoption("torchcompat_sides")
    sides = list(_SIDES) if chosen == "both" else [chosen]
    metafunc.parametrize(
        SIDE_FIXTURE, sides, indirect=True, ids=[f"compile-{side}" for side in sides]
    )


def _specifiers(mark: pytest.Mark) -> SpecifierSet:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not mark.args:
        pytest.fail(
            f'@pytest.mark.{VERSION_MARK} needs a version specifier, e.g. ">=2.12"', pytrace=False
        )
    for arg in mark.args:
        if not isinstance(arg, str):
            pytest.fail(
                f"@pytest.mark.{VERSION_MARK} takes version specifier strings, "
                f"got {type(arg).__name__} {arg!r}",
                pytrace=False,
            )
    text = ",".join(mark.args)
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        pytest.fail(
            f"@pytest.mark.{VERSION_MARK}({text!r}): not a valid version specifier "
            '(e.g. ">=2.12", "<2.13", "==2.12.*")',
            pytrace=False,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test whose ``torch_version`` marks the installed torch does not match."""
    marks = list(item.iter_markers(name=VERSION_MARK))
    if not marks:
        return
    from packaging.version import Version

    from torchcompat.version import torch_version

    installed = torch_version()
    for mark in marks:
        specifiers = _specifiers(mark)
        reason = mark.kwargs.get("reason")
        why = f": {reason}" if reason else ""
        if installed is None:
            pytest.skip(f"needs torch {specifiers}, and torch is not installed{why}")
        release = Version(installed.base_version)
        if not specifiers.contains(release, prereleases=True):
            pytest.skip(
                f"needs torch {specifiers}; torch {installed} is installed "
                f"(compared as its release, {release}){why}"
            )


@pytest.fixture
def compile_side(request: pytest.FixtureRequest) -> Iterator[str]:
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
        from torchcompat.testing import _reset_dynamo, reset_compilation

        # Start as a fresh process would, so that what the test counts does not depend on what
        # ran before it; leave with empty caches (compilation was on: nothing to un-mark).
        reset_compilation()
        try:
            yield "on"
        finally:
            _reset_dynamo()
    else:
        from torchcompat.testing import disable_compilation

        with disable_compilation():
            yield "off"


@pytest.fixture
def compile_disabled() -> Iterator[CompileGate]:
    """Compilation off for the test through every switch; restored and dynamo reset after.

    The value is the gate in the test (``disabled`` is True, ``reason`` names the switch).
    """
    from torchcompat.testing import disable_compilation

    with disable_compilation() as gate:
        yield gate


@pytest.fixture
def compile_counter() -> Iterator[CompileCounter]:
    """A :class:`~torchcompat.testing.CompileCounter` counting the whole test.

    Call ``compile_counter.expect(graphs=0, ...)`` in the test.
    """
    from torchcompat.testing import CompileCounter

    with CompileCounter() as counter:
        yield counter
