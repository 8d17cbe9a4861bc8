"""torchcompat's ``pytest11`` entry point: pytest loads this module and is handed the plugin,
:mod:`torchcompat.pytest_plugin` (``torchcompat = _torchcompat_pytestplugin:plugin``).

pytest passes every module of a plugin's distribution that it imports through its assert
rewriter, in every run where the distribution is installed, and the rewriter's loader costs
~10x Python's own (``-p`` and cached-code bookkeeping in pathlib, then ``marshal.load`` on the
open file). So the entry point names this one module, outside the package as hypothesis's
``_hypothesis_pytestplugin`` is: it alone pays that, and it loads the package, the plugin and
what the plugin reads with Python's own loader (:func:`import_unrewritten`). None of them
asserts. PYTEST_DONT_REWRITE: nor does this one.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import PathFinder, SourceFileLoader
from importlib.util import module_from_spec
from types import ModuleType

__all__ = ["import_unrewritten", "plugin"]

#: What the entry point hands pytest: read through the module's ``__getattr__`` (below).
plugin: ModuleType


def import_unrewritten(name: str) -> ModuleType:
    """Import the module ``name`` (its packages first) with Python's own loader, where an import
    would find it: a package's ``__path__``, ``sys.path`` for a top-level name.

    One already imported is returned as it is; one found other than as a plain source file (a
    zip, a sourceless install, an editable install's finder) takes the ordinary import,
    rewriter and all.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    parent, _, child = name.rpartition(".")
    package = import_unrewritten(parent) if parent else None
    spec = PathFinder.find_spec(name, package.__path__ if package is not None else None)
    if spec is None or not isinstance(spec.loader, SourceFileLoader):
        return importlib.import_module(name)
    module = module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    if package is not None:
        setattr(package, child, module)
    return module


def __getattr__(name: str) -> ModuleType:
    # The plugin, loaded when the entry point asks for it (PEP 562): importing this module for
    # import_unrewritten alone, as the plugin does, loads nothing.
    if name == "plugin":
        return import_unrewritten("torchcompat.pytest_plugin")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
