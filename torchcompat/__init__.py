"""torchcompat: ``torch.compile`` that behaves the same on every torch release.

Importing this package never imports torch.
"""

from torchcompat.compile import TorchCompatWarning, safe_compile
from torchcompat.gate import CompileGate, compile_gate, is_compile_disabled
from torchcompat.introspect import fallback_reason, is_compiled, is_compiling, unwrap
from torchcompat.version import torch_at_least, torch_version

__all__ = [
    "CompileGate",
    "TorchCompatWarning",
    "compile_gate",
    "fallback_reason",
    "is_compile_disabled",
    "is_compiled",
    "is_compiling",
    "safe_compile",
    "torch_at_least",
    "torch_version",
    "unwrap",
]

__version__ = "0.1.0"
