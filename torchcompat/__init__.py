"""torchcompat: ``torch.compile`` that behaves the same on every torch release.

Importing this package never imports torch, and imports nothing else either: each name below is
loaded on first use (PEP 562 ``__getattr__``, as attrs does), so ``import torchcompat`` costs
well under a millisecond and ``from torchcompat import compile_gate`` loads the gate alone.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers and the API snapshot (static analysis) see
    from torchcompat._install import install, installed, uninstall
    from torchcompat._warnings import TorchCompatWarning
    from torchcompat.compile import safe_compile
    from torchcompat.gate import CompileGate, compile_gate, is_compile_disabled
    from torchcompat.introspect import fallback_reason, is_compiled, is_compiling, unwrap
    from torchcompat.version import torch_at_least, torch_version

__all__ = [
    "CompileGate",
    "TorchCompatWarning",
    "compile_gate",
    "fallback_reason",
    "install",
    "installed",
    "is_compile_disabled",
    "is_compiled",
    "is_compiling",
    "safe_compile",
    "torch_at_least",
    "torch_version",
    "uninstall",
    "unwrap",
]

__version__ = "0.2.0"

# Where each public name lives: loaded on first access, then kept in this module's namespace.
_HOMES = {
    "CompileGate": "gate",
    "TorchCompatWarning": "_warnings",
    "compile_gate": "gate",
    "fallback_reason": "introspect",
    "install": "_install",
    "installed": "_install",
    "is_compile_disabled": "gate",
    "is_compiled": "introspect",
    "is_compiling": "introspect",
    "safe_compile": "compile",
    "torch_at_least": "version",
    "torch_version": "version",
    "uninstall": "_install",
    "unwrap": "introspect",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'torchcompat' has no attribute {name!r}")
    # __import__ and sys rather than importlib: importlib is not loaded at start-up.
    import sys

    __import__(f"torchcompat.{home}")
    value = getattr(sys.modules[f"torchcompat.{home}"], name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
