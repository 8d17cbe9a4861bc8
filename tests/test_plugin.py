"""The pytest plugin, run through pytest's own pytester: markers, fixtures, option and header."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points

import pytest
from packaging.version import Version

from torchcompat import compile_gate, torch_version
from torchcompat.pytest_plugin import SIDES_MARK, VERSION_MARK
from torchcompat.version import installed_facts

from .conftest import FACTS, needs_torch
from .docs_pages import python_blocks

pytest_plugins = ["pytester"]

USABLE = FACTS is not None and FACTS.compile_usable


@pytest.fixture(scope="module", autouse=True)
def _torch_loaded_before_inner_runs() -> None:
    """Load what the inner sessions use of torch here, once.

    An in-process pytester run removes the modules it imported when it ends, and torch cannot be
    imported twice in one process: so torch, and what compiling a small model loads, must be
    loaded by the outer session before any inner one starts.
    """
    if FACTS is None:
        return
    import torch

    from torchcompat import safe_compile
    from torchcompat.testing import CompileCounter, disable_compilation

    with CompileCounter(), disable_compilation():
        safe_compile(torch.nn.Linear(4, 4), fullgraph=True)(torch.ones(2, 4))
    if USABLE:
        with CompileCounter():
            model = safe_compile(torch.nn.Linear(4, 4), fullgraph=True, backend="eager")
            model(torch.ones(2, 4))
        torch._dynamo.reset()


@pytest.fixture(autouse=True)
def _inner_runs_keep_loaded_modules(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Inner runs drop only their own test modules from sys.modules, never torch's.

    pytester forgets every module an in-process run imported; a torch module imported for the
    first time in an inner run would be imported a second time later, and torch crashes on that.
    The warm-up above loads what the inner runs use; this keeps anything else they load.
    """
    from _pytest import pytester as pytester_module

    original = getattr(pytester_module, "SysModulesSnapshot", None)
    if original is None:  # a pytest that snapshots differently: the warm-up must do
        return
    base = str(tmp_path_factory.getbasetemp())

    def keep(name: str) -> bool:
        path = getattr(sys.modules.get(name), "__file__", None) or ""
        return not path.startswith(base)

    class KeepLoaded(original):  # type: ignore[misc,valid-type]
        def __init__(self, preserve: object = None) -> None:
            super().__init__(preserve=keep)

    monkeypatch.setattr(pytester_module, "SysModulesSnapshot", KeepLoaded)


# Inner runs load torchcompat's plugin by name and nothing else that happens to be installed
# (pytest-benchmark, pytest-cov, ...): they test this plugin, not the machine's.
ONLY_TORCHCOMPAT = "-p torchcompat.pytest_plugin"


@pytest.fixture(autouse=True)
def _inner_runs_load_only_torchcompat(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inner runs autoload no plugin, load torchcompat's explicitly, and are no xdist workers.

    An outer xdist worker's PYTEST_XDIST_* variables would tell plugins in the inner run that it
    is one (pytest-benchmark then warns, and the outer ``filterwarnings = error`` makes that an
    INTERNALERROR).
    """
    if "pytester" not in request.fixturenames:
        return
    request.getfixturevalue("pytester")  # first: it clears PYTEST_ADDOPTS when it starts
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTEST_ADDOPTS", ONLY_TORCHCOMPAT)
    for name in list(os.environ):
        if name.startswith("PYTEST_XDIST"):
            monkeypatch.delenv(name)


def _without_torchcompat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs from here on load no plugin at all: as with ``-p no:torchcompat``."""
    monkeypatch.delenv("PYTEST_ADDOPTS")


def _installed_release() -> Version:
    installed = torch_version()
    assert installed is not None
    return Version(installed.base_version)


def test_installing_registers_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pytest11 entry point hands pytest the plugin module, and a plain pytest run has it
    loaded under the entry point's name."""
    (entry,) = [ep for ep in entry_points(group="pytest11") if ep.name == "torchcompat"]
    assert entry.value == "_torchcompat_pytestplugin:plugin"
    assert entry.load() is sys.modules["torchcompat.pytest_plugin"]
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    _without_torchcompat(monkeypatch)
    pytester.makepyfile(
        """
        def test_loaded(request):
            plugin = request.config.pluginmanager.get_plugin("torchcompat")
            assert plugin.__name__ == "torchcompat.pytest_plugin"
        """
    )
    # In a fresh process, whatever other plugins are installed: their warnings stay theirs.
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_only_the_entry_module_passes_the_assert_rewriter(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed, the package, the plugin and the header's modules load with Python's own
    loader: pytest marks a plugin's whole distribution for rewriting, and its loader costs ~10x
    as much a module. Only the module the entry point names, outside the package, goes
    through it."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    _without_torchcompat(monkeypatch)
    pytester.makepyfile(
        """
        import sys

        def test_loaders():
            loaders = {
                name: type(module.__spec__.loader).__name__
                for name, module in list(sys.modules.items())
                if name.split(".")[0] in ("torchcompat", "_torchcompat_pytestplugin")
            }
            assert loaders == {
                "_torchcompat_pytestplugin": "AssertionRewritingHook",
                "torchcompat": "SourceFileLoader",
                "torchcompat.pytest_plugin": "SourceFileLoader",
                "torchcompat._plugin_names": "SourceFileLoader",
                "torchcompat._releases": "SourceFileLoader",
                "torchcompat.version": "SourceFileLoader",
                "torchcompat.gate": "SourceFileLoader",
            }
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["torchcompat: torch *, compilation *"])


def test_loading_the_plugin_imports_no_torch(pytester: pytest.Pytester) -> None:
    """A session whose tests use nothing of torchcompat never imports torch or the kit, nor
    packaging (~4 ms): the header reads torch's version and release without it."""
    pytester.makepyfile(
        """
        import sys

        def test_nothing_loaded():
            heavy = ("torch", "torchcompat.testing", "wrapt", "packaging")
            assert [m for m in heavy if m in sys.modules] == []
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_markers_are_registered(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both markers, by both names, are listed by --markers and accepted by --strict-markers."""
    result = pytester.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines_random(
        [
            f"@pytest.mark.{VERSION_MARK}(*specifiers, reason=None):*",
            "@pytest.mark.torch_version(*specifiers, reason=None):*",
            f"@pytest.mark.{SIDES_MARK}:*",
            "@pytest.mark.compile_on_and_off:*",
        ]
    )
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{VERSION_MARK}(">=0")
        def test_versioned():
            pass
        """
    )
    # Accepted, then decided: passed where torch is installed, skipped (torch is missing) where not.
    outcome = {"passed": 1} if installed_facts() is not None else {"skipped": 1}
    pytester.runpytest_inprocess("--strict-markers").assert_outcomes(**outcome)
    # Without the plugin the same file is an error: the plugin is what registers the marker.
    # (In a fresh process: pytest remembers known marker names for the rest of a process.)
    _without_torchcompat(monkeypatch)
    result = pytester.runpytest_subprocess("--strict-markers")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*'{VERSION_MARK}' not found in `markers`*"])


def test_option_is_in_its_own_group(pytester: pytest.Pytester) -> None:
    """--help lists the torchcompat group with its option."""
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(["torchcompat (torch.compile switches):", "*--torchcompat-sides*"])


@pytest.mark.parametrize("env", [None, "1"])
def test_report_header(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    """The header names torch, whether torch.compile is usable, and the gate's decision."""
    if env is not None:
        monkeypatch.setenv("TORCH_COMPILE_DISABLE", env)
    gate = compile_gate()
    torch = f"torch {torch_version()}" if FACTS is not None else "torch not installed"
    usable = "usable" if USABLE else "not usable here"
    decision = f"off ({gate.reason})" if gate.disabled else "on"
    assert gate.disabled == (env == "1" or not USABLE)
    result = pytester.runpytest_inprocess()
    result.stdout.fnmatch_lines(
        [f"torchcompat: {torch}, torch.compile {usable}, compilation {decision}"]
    )


def _version_cases() -> list[tuple[tuple[str, ...], bool]]:
    if FACTS is None:
        return []
    release = _installed_release()
    return [
        ((">=1.13",), True),
        (("<1.0",), False),
        ((f"=={release}",), True),
        ((f"!={release}",), False),
        ((f">{release}",), False),
        ((f"<={release}",), True),
        ((">=1", f"<{release}"), False),  # several arguments must all hold
        ((f">=1,<={release}",), True),
        ((f"~={release.major}.{release.minor}",), True),
    ]


@needs_torch
@pytest.mark.parametrize(("specifiers", "runs"), _version_cases())
def test_torch_version_marker(
    pytester: pytest.Pytester, specifiers: tuple[str, ...], runs: bool
) -> None:
    """The test runs when the installed release matches every specifier, else skips saying why."""
    args = ", ".join(repr(spec) for spec in specifiers)
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{VERSION_MARK}({args})
        def test_versioned():
            pass
        """
    )
    result = pytester.runpytest_inprocess("-rs")
    if runs:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(skipped=1)
        joined = ",".join(specifiers)
        result.stdout.fnmatch_lines(
            [f"SKIPPED*needs torch *; torch {torch_version()} is installed (compared as*"]
        )
        assert all(spec.lstrip("<>=!~") in result.stdout.str() for spec in joined.split(","))


@needs_torch
def test_torch_version_marks_combine_and_take_a_reason(pytester: pytest.Pytester) -> None:
    """Module, class and function marks must all hold; reason= is added to the skip reason."""
    pytester.makepyfile(
        f"""
        import pytest

        pytestmark = pytest.mark.{VERSION_MARK}(">=1")

        class TestOld:
            @pytest.mark.{VERSION_MARK}("<1", reason="the old API")
            def test_old(self):
                pass

            def test_any(self):
                pass
        """
    )
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*needs torch <1; *: the old API"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ('">=two"', "*'>=two'): not a valid version specifier*"),
        ("2.12", "*takes version specifier strings, got float 2.12*"),
        ("", '*needs a version specifier, e.g. ">=2.12"*'),
    ],
)
def test_bad_torch_version_marker_is_an_error(
    pytester: pytest.Pytester, args: str, message: str
) -> None:
    """A marker that cannot be read errors the test with a message naming the problem."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{VERSION_MARK}({args})
        def test_versioned():
            pass
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_an_item_collection_never_handed_the_plugin_still_reads_its_marks(
    pytester: pytest.Pytester,
) -> None:
    """The plugin reads a test's torch_version marks at collection and keeps what it found for
    setup; a test another plugin hid from that hook and put back later is read at its setup:
    an unreadable mark still errors it, a readable one lets it run (no skip mark was added)."""
    pytester.makeconftest(
        """
        import pytest

        hidden = []

        @pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
        def pytest_hide_late_items(items):
            hidden.extend(item for item in items if "late" in item.name)
            items[:] = [item for item in items if "late" not in item.name]

        @pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
        def pytest_put_late_items_back(items):
            items.extend(hidden)
        """
    )
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{VERSION_MARK}(2.12)
        def test_late_bad():
            pass

        @pytest.mark.{VERSION_MARK}(">=0")
        def test_late_good():
            pass

        @pytest.mark.{VERSION_MARK}(2.12)
        def test_seen_bad():
            pass
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines_random(
        ["ERROR*test_late_bad*", "ERROR*test_seen_bad*", "*takes version specifier strings*"]
    )


def test_release_comparison_ignores_pre_dev_and_local_parts() -> None:
    """Builds count as their release, as torchcompat.version compares them."""
    from packaging.specifiers import SpecifierSet

    for raw in ("2.12.0rc2", "2.12.0.dev20260301", "2.12.0+cu130", "2.12.0a0+gitc82a174"):
        release = Version(Version(raw).base_version)
        assert SpecifierSet(">=2.12").contains(release, prereleases=True), raw
        assert not SpecifierSet("<2.12").contains(release, prereleases=True), raw


SIDES_TEST = f"""
import os
import pytest
from torchcompat import compile_gate

SEEN = []

@pytest.fixture
def gate_at_setup():
    # A fixture of the test's own: it must already see the side.
    return compile_gate()

@pytest.mark.{SIDES_MARK}
def test_both(compile_side, gate_at_setup):
    SEEN.append(compile_side)
    assert gate_at_setup.disabled == (compile_side == "off")
    assert compile_gate().disabled == (compile_side == "off")

@pytest.mark.{SIDES_MARK}
class TestClass:
    def test_method(self, compile_side):
        assert os.environ.get("TORCH_COMPILE_DISABLE") == ("1" if compile_side == "off" else None)

def test_after():
    assert "TORCH_COMPILE_DISABLE" not in os.environ
    assert not compile_gate().disabled or compile_gate().unavailable
"""


def test_compile_on_and_off_runs_both_sides(pytester: pytest.Pytester) -> None:
    """The marker parametrizes over both sides; off is set before the test's own fixtures."""
    pytester.makepyfile(SIDES_TEST)
    result = pytester.runpytest_inprocess("-v", "-rs")
    result.stdout.fnmatch_lines(
        [
            "*test_both?compile-on? *",
            "*test_both?compile-off? PASSED*",
            "*test_method?compile-on? *",
            "*test_method?compile-off? PASSED*",
            "*test_after PASSED*",
        ]
    )
    if USABLE:
        result.assert_outcomes(passed=5)
    else:
        # Where compilation cannot be on, the on side says why, naming the release fact.
        result.assert_outcomes(passed=3, skipped=2)
        reason = compile_gate().reason
        assert reason is not None
        result.stdout.fnmatch_lines([f"SKIPPED*compilation cannot be on here: {reason}"])


@pytest.mark.parametrize("side", ["on", "off"])
def test_sides_option_picks_one_side(pytester: pytest.Pytester, side: str) -> None:
    """--torchcompat-sides runs the marked tests on one side only."""
    pytester.makepyfile(SIDES_TEST)
    result = pytester.runpytest_inprocess("-v", f"--torchcompat-sides={side}")
    other = "off" if side == "on" else "on"
    assert f"compile-{other}" not in result.stdout.str()
    result.stdout.fnmatch_lines([f"*test_both?compile-{side}? *"])
    ran = {"passed": 3} if side == "off" or USABLE else {"passed": 1, "skipped": 2}
    result.assert_outcomes(**ran)


def test_on_side_is_skipped_while_a_switch_is_set(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session with TORCH_COMPILE_DISABLE=1 skips the on side and names the switch."""
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{SIDES_MARK}
        def test_both(compile_side):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*compilation cannot be on here: TORCH_COMPILE_DISABLE=1"])


def test_compile_on_and_off_takes_no_arguments(pytester: pytest.Pytester) -> None:
    """Arguments to the marker are a collection error that says so."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{SIDES_MARK}("off")
        def test_both():
            pass
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{SIDES_MARK} takes no arguments*"])


def test_compile_disabled_fixture(pytester: pytest.Pytester) -> None:
    """compile_disabled turns compilation off for one test and gives the gate; then it is back."""
    pytester.makepyfile(
        """
        import os
        from torchcompat import compile_gate, safe_compile

        def test_off(compile_disabled):
            assert compile_disabled.disabled
            assert compile_disabled.reason == "TORCH_COMPILE_DISABLE=1"
            f = lambda x: x
            assert safe_compile(f) is f

        def test_back():
            assert "TORCH_COMPILE_DISABLE" not in os.environ
        """
    )
    pytester.runpytest_inprocess().assert_outcomes(passed=2)


@needs_torch
def test_compile_counter_fixture(pytester: pytest.Pytester) -> None:
    """compile_counter counts the test; a wrong expectation fails it with what was compiled."""
    graphs = 1 if USABLE else 0
    pytester.makepyfile(
        f"""
        import warnings
        import torch
        import torchcompat
        from torchcompat import safe_compile
        from torchcompat.testing import reset_compilation

        def test_counts(compile_counter):
            reset_compilation()  # whatever earlier tests left, Linear compiles afresh
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torchcompat.TorchCompatWarning)
                model = safe_compile(torch.nn.Linear(4, 4), fullgraph=True, backend="eager")
            model(torch.ones(2, 4))
            compile_counter.expect(safe_compile_calls=1, graphs={graphs})

        def test_wrong(compile_counter):
            compile_counter.expect(graphs=5)
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*graphs: expected 5, got 0*"])


def _readme_example() -> str:
    blocks = python_blocks()  # README.md and docs/*.md
    found = [block for block in blocks if "def test_torch_compile_disable" in block]
    assert len(found) == 1, "the docs have one worked example with test_torch_compile_disable"
    return found[0]


@needs_torch
def test_readme_worked_example_passes(pytester: pytest.Pytester) -> None:
    """docs/testing-kit.md's vLLM-style example runs green, on every release, in one process."""
    pytester.makepyfile(test_config=_readme_example())
    result = pytester.runpytest_inprocess("-v", "-rs", "--strict-markers")
    # The on side needs a usable torch.compile; the torch_version(">=2.0") test, torch 2.0+.
    has_compile = FACTS is not None and FACTS.has_compile
    skipped = (not USABLE) + (not has_compile)
    result.assert_outcomes(passed=4 - skipped, skipped=skipped)
    result.stdout.fnmatch_lines(["*test_torch_compile_disable PASSED*"])
    assert "forked" not in _readme_example()
    assert "_dynamo" not in _readme_example()


# --- both names; a suite's own names win ------------------------------------------------------


SHORT_NAMES_TEST = """
import pytest

@pytest.mark.torch_version(">=0")
def test_short_version():
    pass

@pytest.mark.compile_on_and_off
def test_short_sides(compile_side, compile_counter):
    assert compile_side in ("on", "off")
    assert compile_counter.counts.frames == 0

def test_short_disabled(compile_disabled):
    assert compile_disabled.disabled

@pytest.mark.torchcompat_compile_on_and_off
def test_long_sides(torchcompat_compile_side, torchcompat_compile_counter):
    assert torchcompat_compile_side in ("on", "off")
"""


@needs_torch  # the inner tests' torch_version marks decide on the installed torch
def test_short_and_namespaced_names_both_work(pytester: pytest.Pytester) -> None:
    """Where no one else uses them, the short names do what the namespaced ones do."""
    pytester.makepyfile(SHORT_NAMES_TEST)
    result = pytester.runpytest_inprocess("--strict-markers", "-v")
    on = 2 if USABLE else 0
    result.assert_outcomes(passed=4 + on, skipped=2 - on)
    result.stdout.fnmatch_lines_random(["*test_short_sides?compile-off? PASSED*"])


# A suite with markers and fixtures of its own under torchcompat's short names: what it expects
# without torchcompat is what it must get with it.
FOREIGN_CONFTEST = """
import pytest

def pytest_configure(config):
    config.addinivalue_line("markers", "torch_version(v): ours, a version tag")
    config.addinivalue_line("markers", "compile_on_and_off: ours, a plain tag")

def pytest_collection_modifyitems(items):
    for item in items:
        mark = item.get_closest_marker("torch_version")
        if mark is not None:
            item.user_properties.append(("torch_version", mark.args or mark.kwargs))

@pytest.fixture
def compile_side():
    return "ours"
"""

FOREIGN_TESTS = """
import pytest

@pytest.mark.torch_version("2.1")
def test_string():
    pass

@pytest.mark.torch_version(2.1)
def test_float():
    pass

@pytest.mark.torch_version(min="2.0")
def test_keyword():
    pass

@pytest.mark.compile_on_and_off
def test_tagged(compile_side):
    assert compile_side == "ours"

@pytest.mark.compile_on_and_off
def test_tagged_alone():
    pass
"""

FOREIGN_FIXTURES_PLUGIN = """
import pytest

@pytest.fixture
def compile_counter():
    return "their counter"

@pytest.fixture
def compile_disabled():
    return "their switch"

@pytest.fixture
def compile_side():
    return "their side"
"""

FOREIGN_FIXTURE_TESTS = """
def test_theirs(compile_counter, compile_disabled, compile_side):
    assert (compile_counter, compile_disabled, compile_side) == (
        "their counter", "their switch", "their side"
    )
"""


def _outcomes(pytester: pytest.Pytester, *args: str) -> dict[str, int]:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", *args)
    assert "INTERNALERROR" not in result.stdout.str()
    return result.parseoutcomes()


@pytest.mark.parametrize(
    ("where", "xdist"),
    [("root", False), ("nested", False), ("ini", False), ("root", True)],
    ids=["conftest", "nested-conftest", "ini-markers", "conftest-xdist"],
)
def test_a_suites_own_markers_are_left_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, where: str, xdist: bool
) -> None:
    """Markers of a suite's own named torch_version or compile_on_and_off: torchcompat steps aside.

    Registered in the root conftest, in a conftest further down (loaded after the plugin's
    configure), or in the ini file; with --strict-markers, and with xdist.
    """
    root = pytester.path / "pkg" if where == "nested" else pytester.path
    root.mkdir(exist_ok=True)
    (root / "conftest.py").write_text(FOREIGN_CONFTEST, encoding="utf-8")
    (root / "test_own.py").write_text(FOREIGN_TESTS, encoding="utf-8")
    if where == "ini":
        conftest = FOREIGN_CONFTEST.replace("config.addinivalue_line", "pass  #")
        (root / "conftest.py").write_text(conftest, encoding="utf-8")
        pytester.makeini(
            "[pytest]\nmarkers =\n    torch_version(v): ours\n    compile_on_and_off: ours\n"
        )
    args = ("-n", "2", "-p", "xdist") if xdist else ()
    with_plugin = _outcomes(pytester, *args)
    _without_torchcompat(monkeypatch)
    without = _outcomes(pytester, *args)
    assert with_plugin == without == {"passed": 5}


def test_a_plugins_own_fixtures_are_left_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixtures named compile_counter, compile_disabled, compile_side from another plugin win."""
    pytester.makepyfile(theirs=FOREIGN_FIXTURES_PLUGIN, test_theirs=FOREIGN_FIXTURE_TESTS)
    monkeypatch.setenv("PYTHONPATH", str(pytester.path), prepend=os.pathsep)
    # Registered before torchcompat's, as an entry point plugin loaded first would be.
    monkeypatch.setenv("PYTEST_ADDOPTS", f"-p theirs {ONLY_TORCHCOMPAT}")
    with_plugin = _outcomes(pytester)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p theirs")
    assert with_plugin == _outcomes(pytester) == {"passed": 1}


def test_namespaced_names_work_beside_a_suites_own(pytester: pytest.Pytester) -> None:
    """Where the short names are taken, the torchcompat_ names still do their job."""
    pytester.makeconftest(FOREIGN_CONFTEST)
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{VERSION_MARK}("<1")
        def test_skipped():
            pass

        @pytest.mark.{SIDES_MARK}
        def test_sides(torchcompat_compile_side, compile_side):
            assert compile_side == "ours"
        """
    )
    result = pytester.runpytest_inprocess("--strict-markers", "-v")
    on = 1 if USABLE else 0
    result.assert_outcomes(passed=1 + on, skipped=2 - on)


HELPERS = """
def helper(x):
    return x

def test_shared(torchcompat_compile_side):
    assert torchcompat_compile_side in ("on", "off")
"""


@needs_torch  # the inner tests' torch_version marks decide on the installed torch
def test_marks_touch_only_the_tests_of_their_module(pytester: pytest.Pytester) -> None:
    """A module-level mark sets nothing on imported functions, torch's or a helper module's."""
    pytester.makepyfile(
        helpers=HELPERS,
        test_marked=f"""
        import pytest
        import helpers
        from helpers import helper, test_shared

        pytestmark = pytest.mark.{SIDES_MARK}

        def test_local(compile_side):
            assert helper(compile_side) in ("on", "off")

        def test_untouched():
            assert not hasattr(helpers.helper, "pytestmark")
            assert not hasattr(helpers.test_shared, "pytestmark")
            torch = pytest.importorskip("torch")
            assert not hasattr(torch.testing.assert_close, "pytestmark")
        """,
    )
    if FACTS is not None:
        import torch.testing  # noqa: F401  (loaded here: inner runs must not import torch)
    result = pytester.runpytest_inprocess("-v", "-p", "no:cacheprovider")
    runs = 2 if USABLE else 1
    result.assert_outcomes(passed=3 * runs, skipped=3 * (2 - runs))
    # The imported test runs under the module's mark too, as pytest applies it.
    result.stdout.fnmatch_lines_random(["*test_shared?compile-off? PASSED*"])


@pytest.mark.parametrize("mark_on", ["module", "class", "nothing"])
def test_a_collector_mark_reaches_every_test_whatever_its_own_marks(
    pytester: pytest.Pytester, mark_on: str
) -> None:
    """The collector's mark is read once, at its first test; tests before and after it, with the
    mark of their own, another mark or none, all run on both sides without asking for the side
    fixture. Without a collector mark, a test's own mark still counts after that read (and a
    helper is untouched)."""
    module_mark = f"pytestmark = pytest.mark.{SIDES_MARK}" if mark_on == "module" else ""
    class_mark = f"@pytest.mark.{SIDES_MARK}" if mark_on == "class" else ""
    pytester.makepyfile(
        test_kinds=f"""
        import pytest

        {module_mark}

        def helper():
            return 1

        {class_mark}
        class TestKinds:
            @pytest.mark.{SIDES_MARK}
            def test_own(self):
                pass

            @pytest.mark.filterwarnings("ignore")
            def test_other_mark(self):
                pass

            def test_plain(self):
                assert helper() == 1 and not hasattr(helper, "pytestmark")

            @pytest.mark.{SIDES_MARK}
            def test_own_last(self):
                pass
        """
    )
    result = pytester.runpytest_inprocess("-v", "-p", "no:cacheprovider")
    runs = 2 if USABLE else 1
    sided = ["test_own", "test_own_last"]
    if mark_on != "nothing":
        sided += ["test_other_mark", "test_plain"]
    result.assert_outcomes(
        passed=len(sided) * runs + 4 - len(sided), skipped=len(sided) * (2 - runs)
    )
    for test in sided:
        result.stdout.fnmatch_lines_random([f"*::{test}?compile-off? PASSED*"])


def test_version_skip_points_at_the_test(pytester: pytest.Pytester) -> None:
    """The skip line names the test's file and line, not the plugin's source."""
    pytester.makepyfile(
        test_where="""
        import pytest

        @pytest.mark.torch_version("<0")
        def test_never():
            pass
        """
    )
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] test_where.py:3: needs torch <0*"])
    assert "pytest_plugin.py" not in result.stdout.str()


ORDER_TESTS = f"""
import os
import pytest
from torchcompat import compile_gate

OFF = "TORCH_COMPILE_DISABLE"  # the switch the gate names first once compile_disabled is set

@pytest.fixture(scope="module")
def shared():
    # Broader scope: built once for the module, never under one test's switch.
    return compile_gate().switch

@pytest.fixture(autouse=True)
def clean(monkeypatch):
    # A suite's autouse set-up that clears the variable: it runs before the switch is set.
    monkeypatch.delenv("TORCH_COMPILE_DISABLE", raising=False)

@pytest.fixture
def config():
    return compile_gate().switch

@pytest.fixture
def model(config):
    return config

def test_short(config, model, shared, compile_disabled):
    assert (config, model) == (OFF, OFF)
    assert shared != OFF

def test_long(model, torchcompat_compile_disabled):
    assert model == OFF

@pytest.mark.{SIDES_MARK}
def test_sides(config, compile_side):
    assert (config == OFF) == (compile_side == "off")

@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(n, config, compile_disabled):
    assert config == OFF
"""


def test_switch_fixtures_are_set_before_the_tests_own(pytester: pytest.Pytester) -> None:
    """compile_disabled and the off side are set before the test's other fixtures, any order."""
    pytester.makepyfile(ORDER_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    on = 1 if USABLE else 0
    result.assert_outcomes(passed=5 + on, skipped=1 - on)


TAKEN_CONFTEST = """
import pytest

@pytest.fixture
def compile_disabled():
    return "ours"
"""


@pytest.mark.parametrize("taken", ["ini-marker", "conftest-fixture", "none"])
def test_header_names_the_short_names_a_suite_took(pytester: pytest.Pytester, taken: str) -> None:
    """A suite's own compile_on_and_off marker or compile_disabled fixture is named in the header,
    with its namespaced twin, as a line and not a warning (the run passes under -W error)."""
    if taken == "ini-marker":
        pytester.makeini("[pytest]\nmarkers =\n    compile_on_and_off: ours\n")
    if taken == "conftest-fixture":
        pytester.makeconftest(TAKEN_CONFTEST)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1)
    lines = [line for line in result.stdout.lines if "leaves those names to it" in line]
    if taken == "none":
        assert lines == []
        return
    (line,) = lines
    twin = {
        "ini-marker": "marker compile_on_and_off (use @pytest.mark.torchcompat_compile_on_and_off)",
        "conftest-fixture": "fixture compile_disabled (use torchcompat_compile_disabled)",
    }[taken]
    assert twin in line


def test_the_plugin_loads_three_modules_until_a_hook_needs_more(pytester: pytest.Pytester) -> None:
    """Without the header (-q) and with no test using the kit, a session loads three modules of
    torchcompat: the package (lazy), the plugin and its names; nothing of compile or the kit."""
    pytester.makepyfile(
        """
        import sys

        def test_loaded():
            loaded = sorted(m for m in sys.modules if m.startswith("torchcompat"))
            assert loaded == [
                "torchcompat",
                "torchcompat._plugin_names",
                "torchcompat.pytest_plugin",
            ]
        """
    )
    pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider").assert_outcomes(passed=1)
