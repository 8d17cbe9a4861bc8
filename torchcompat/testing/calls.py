"""Counting calls of ``torch.compile`` and ``safe_compile``: wrappers installed while counting.

``safe_compile`` is observed through its ``wrap_observers`` hook; ``torch.compile`` is wrapped
(with wrapt, imported only here) while any counter is active, and put back afterwards.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Protocol

from torchcompat.testing.records import call_site, describe_target

__all__ = ["CALLS", "Calls", "Recorder"]


class Recorder(Protocol):
    """What a counter offers to the wrappers: a place to record one call."""

    def _record(self, field: str, entry: str) -> None: ...


class Calls:
    """The process-wide wrappers that count calls, installed while any counter is active.

    Counters nest and may overlap: each event goes to every active counter. The wrappers are
    removed when the last counter exits, unless someone patched over them meanwhile (then they
    stay, and pass calls through untouched while no counter is active).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.active: list[Recorder] = []
        self.installed: list[tuple[object, str, object, object]] = []
        self.import_hook_registered = False

    def record(self, field: str, what: str) -> None:
        """Give one call to every active counter, with the caller's ``file:line``."""
        with self.lock:
            active = list(self.active)
        if not active:
            return
        entry = f"{what}, at {call_site(sys._getframe(1))}"
        for counter in active:
            counter._record(field, entry)

    def activate(self, counter: Recorder) -> None:
        """Start giving calls to ``counter``; install the wrappers for the first one."""
        with self.lock:
            self.active.append(counter)
            if len(self.active) == 1:
                self._install()

    def deactivate(self, counter: Recorder) -> None:
        """Stop giving calls to ``counter``; remove the wrappers after the last one."""
        with self.lock:
            self.active.remove(counter)
            if not self.active:
                self._uninstall()

    def _install(self) -> None:
        import wrapt  # type: ignore[import-untyped,unused-ignore]

        from torchcompat import _observers

        _observers.wrap_observers.append(self._on_safe_compile)
        if "torch" in sys.modules:
            self._patch_torch(sys.modules["torch"])
        elif not self.import_hook_registered:
            # torch is imported later, maybe inside the counted block: patch it then. The hook
            # stays registered for the process and does nothing while no counter is active.
            self.import_hook_registered = True
            wrapt.register_post_import_hook(self._on_torch_import, "torch")

    def _on_safe_compile(self, model: object) -> None:
        self.record("safe_compile_calls", f"safe_compile({describe_target(model)})")

    def _on_torch_import(self, torch: Any) -> None:
        with self.lock:
            if self.active:
                self._patch_torch(torch)

    def _patch_torch(self, torch: Any) -> None:
        import wrapt  # type: ignore[import-untyped,unused-ignore]

        original = getattr(torch, "compile", None)
        if original is None or any(owner is torch for owner, *_ in self.installed):
            return  # torch 1.13 has no torch.compile: no call to count

        def on_compile(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            model = args[0] if args else kwargs.get("model")
            # torch.compile(**kw) returns a decorator that calls torch.compile(model, ...) again:
            # only the call that is given something to wrap counts.
            if model is not None:
                self.record("torch_compile_calls", f"torch.compile({describe_target(model)})")
            return wrapped(*args, **kwargs)

        wrapper = wrapt.FunctionWrapper(original, on_compile)
        torch.compile = wrapper
        self.installed.append((torch, "compile", original, wrapper))

    def _uninstall(self) -> None:
        from torchcompat import _observers

        if self._on_safe_compile in _observers.wrap_observers:
            _observers.wrap_observers.remove(self._on_safe_compile)
        kept = []
        for owner, name, original, wrapper in reversed(self.installed):
            if getattr(owner, name, None) is wrapper:
                setattr(owner, name, original)
            else:
                kept.append((owner, name, original, wrapper))
        self.installed = kept


#: The one set of wrappers every counter shares.
CALLS = Calls()
