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

Every run where torchcompat is installed loads this module, and pytest marks a plugin's whole
distribution for assertion rewriting, whose loader costs ~10x Python's own (it reads each cached
module with ``marshal.load`` on the open file). So this module is small, and loads the plugin's
body (:mod:`torchcompat._plugin_hooks`, :mod:`torchcompat._plugin_names`) and, for the header
only, the modules the header reads with Python's own loader (:func:`_import_unrewritten`); none
of them asserts (benchmarks/run.py, section plugin). PYTEST_DONT_REWRITE: nor does this one, and
``-p torchcompat.pytest_plugin`` after an import of it would warn that it cannot be rewritten.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys

import pytest

__all__ = ["pytest_report_header"]  # and the hooks and fixtures of the body, below


def _import_unrewritten(*modules: str) -> None:
    """Import torchcompat's ``modules``, in order, with Python's own loader.

    One already imported is left as it is; one found other than as a plain source file (a zip, a
    sourceless install) takes the ordinary import, rewriter and all.
    """
    for name in modules:
        if name in sys.modules:
            continue
        parent, _, child = name.rpartition(".")
        package = sys.modules[parent]
        spec = importlib.machinery.PathFinder.find_spec(name, package.__path__)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            importlib.import_module(name)
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        setattr(package, child, module)


#: The plugin's body, in import order (each imports only those before it).
_BODY_MODULES = ("torchcompat._plugin_names", "torchcompat._plugin_hooks")
#: What the header line reads, in import order: loaded only where a header is written.
_HEADER_MODULES = ("torchcompat._releases", "torchcompat.version", "torchcompat.gate")

_import_unrewritten(*_BODY_MODULES)

from torchcompat import _plugin_hooks  # noqa: E402  (loaded just above, past the rewriter)
from torchcompat._plugin_hooks import *  # noqa: E402, F403  (the hooks and fixtures pytest reads)
from torchcompat._plugin_names import taken_lines  # noqa: E402

__all__ += _plugin_hooks.__all__


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Torch version, whether torch.compile is usable, the gate's decision; short names taken."""
    _import_unrewritten(*_HEADER_MODULES)
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
