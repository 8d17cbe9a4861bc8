"""Hooks the testing kit watches ``safe_compile`` through (no public API)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["wrap_observers"]

# Called with each object safe_compile is given, compilation on or off: how the testing kit's
# CompileCounter counts safe_compile calls. Read once per safe_compile call, never per call of
# what it returns.
wrap_observers: list[Callable[[object], None]] = []
