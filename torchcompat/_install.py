"""Every ``torch.compile`` in the process as ``safe_compile``: ``install()`` and its undoing.

Most ``torch.compile`` calls in a real program are made by libraries the user does not own
(transformers' ``generate``, accelerate's ``prepare``, Lightning). ``install()`` replaces
``torch.compile`` and ``nn.Module.compile`` with functions that call ``safe_compile``, so those
calls keep the contract too.

Recursion is the trap: ``safe_compile`` calls ``torch.compile`` (whatever it is now, so that a
spy or Fabric's keyword capture sees the call), and torch itself calls ``torch.compile`` from
``nn.Module.compile`` and from its decorator form. While ``safe_compile`` is making a result (a
per-thread flag, :func:`passthrough`) the installed functions pass every call through to what
they replaced; elsewhere they call ``safe_compile``. Whichever of us and another patcher came
first, each call goes through ``safe_compile`` exactly once.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "ENV_INSTALL",
    "call_torch_own",
    "install",
    "installed",
    "is_installed",
    "passthrough",
    "reentered",
    "remember",
    "torch_compile",
    "uninstall",
]

#: Set to exactly ``"1"``, installs torchcompat in every interpreter that starts with it (read by
#: ``torchcompat-install.pth`` in site-packages, see :mod:`torchcompat._autoinstall`).
ENV_INSTALL = "TORCHCOMPAT_INSTALL"

# True while safe_compile makes a result in this thread (and in threads it starts from this
# context): the installed functions then pass calls through.
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("torchcompat_inside", default=False)
_MARK = "_torchcompat_installed"

_lock = threading.RLock()
_installed = False
_hooked = False
# (owner, name, what was there, what we put there), for uninstall().
_patches: list[tuple[Any, str, Any, Any]] = []


# Set by an installed torch.compile for the safe_compile call it makes: what it replaced, which
# that safe_compile calls as torch.compile. A wrapper installed over ours (a profiler) then sees
# each call once, not once more when safe_compile calls torch.compile again.
_NEXT: contextvars.ContextVar[Callable[..., Any] | None] = contextvars.ContextVar(
    "torchcompat_next", default=None
)

# torch's own torch.compile, remembered the first time torchcompat sees it: a program that sets
# ``torch.compile = safe_compile`` by hand leaves no other reference to it.
_torch_own: Callable[..., Any] | None = None


def remember(torch: Any) -> None:
    """Remember torch's own ``torch.compile`` if ``torch.compile`` still is it."""
    global _torch_own
    if _torch_own is None:
        own = torch.__dict__.get("compile")
        code = getattr(own, "__code__", None)
        # A wrapper (ours, Fabric's, a spy) may copy __module__ and __qualname__ with
        # functools.wraps; only torch's own has its code in torch/__init__.py.
        if code is not None and code.co_filename == getattr(torch, "__file__", None):
            _torch_own = own


def torch_compile(torch: Any) -> Callable[..., Any]:
    """What safe_compile calls as ``torch.compile``: the function an installed ``torch.compile``
    replaced, when the call came through it; otherwise ``torch.compile`` as it is now."""
    found: Callable[..., Any] = _NEXT.get() or torch.compile
    return found


def reentered() -> bool:
    """Whether this thread is inside safe_compile already: ``torch.compile`` led back to it."""
    return _INSIDE.get()


def call_torch_own(model: Any, kwargs: dict[str, Any]) -> Any:
    """``torch.compile(model, **kwargs)`` of torch's own, for a call that led back to safe_compile.

    Raises:
        RuntimeError: torch's own ``torch.compile`` was replaced before torchcompat saw it.
    """
    if _torch_own is None:
        raise RuntimeError(
            "torch.compile leads back to safe_compile, and torch's own torch.compile was "
            "replaced before torchcompat saw it: call torchcompat.install() instead of "
            "assigning torch.compile = safe_compile (or import torchcompat before assigning)"
        )
    return _torch_own(model, **kwargs)


@contextlib.contextmanager
def passthrough() -> Iterator[None]:
    """While in this block, this thread's ``torch.compile`` calls reach torch's, not ours."""
    token = _INSIDE.set(True)
    try:
        yield
    finally:
        _INSIDE.reset(token)


def install() -> None:
    """From now on, ``torch.compile`` and ``nn.Module.compile`` behave as ``safe_compile``.

    ``torch.compile(m, **kw)`` is ``safe_compile(m, **kw)`` and ``module.compile(**kw)`` is
    ``safe_compile(module, in_place=True, **kw)``, whoever calls them. Idempotent and
    thread-safe. Never imports torch: if torch is not imported yet, it is patched as soon as
    it is. Names bound before (``from torch import compile``) keep what they were bound to.
    """
    global _installed, _hooked
    with _lock:
        if _installed:
            return
        _installed = True
        torch = sys.modules.get("torch")
        if torch is not None:
            _patch(torch)
        elif not _hooked:
            import wrapt

            # Stays registered for the process; it patches only while installed.
            _hooked = True
            wrapt.register_post_import_hook(_on_torch_import, "torch")


def uninstall() -> None:
    """Put back what :func:`install` replaced; results made while installed stay guarded.

    Where something else has since wrapped the installed function (a profiler, Fabric's
    keyword capture imported later), that wrapper is left in place and the installed function
    inside it passes calls through from now on.
    """
    global _installed
    with _lock:
        if not _installed:
            return
        _installed = False
        for owner, name, previous, ours in reversed(_patches):
            if _current(owner, name) is ours:
                setattr(owner, name, previous)
        _patches.clear()


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _installed


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """:func:`install` for a block: on exit, uninstalled again unless it was installed before."""
    with _lock:
        was = _installed
        install()
    try:
        yield
    finally:
        if not was:
            uninstall()


def _current(owner: Any, name: str) -> Any:
    # A class's own attribute (nn.Module.compile), not a bound method of it.
    return owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)


def _on_torch_import(torch: Any) -> None:
    with _lock:
        if _installed:
            _patch(torch)


def _patch(torch: Any) -> None:
    remember(torch)
    compile_fn = getattr(torch, "compile", None)
    if compile_fn is not None:  # torch 1.13 has none: nothing compiles, nothing to patch
        _replace(torch, "compile", compile_fn, _installed_compile(compile_fn))
    module = getattr(getattr(torch, "nn", None), "Module", None)
    module_compile = getattr(module, "__dict__", {}).get("compile")
    if module_compile is not None:  # nn.Module.compile: torch 2.1+
        _replace(module, "compile", module_compile, _installed_module_compile(module_compile))


def _replace(owner: Any, name: str, previous: Any, ours: Any) -> None:
    if getattr(previous, _MARK, False):  # already ours (an install() racing torch's import)
        return
    setattr(ours, _MARK, True)
    setattr(owner, name, ours)
    _patches.append((owner, name, previous, ours))


def _passing_through() -> bool:
    return not _installed or _INSIDE.get()


def _installed_compile(previous: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(previous)
    def compile(model: Any = None, **kwargs: Any) -> Any:
        if _passing_through():
            return previous(model, **kwargs)
        from torchcompat.compile import safe_compile

        token = _NEXT.set(previous)
        try:
            return safe_compile(model, **kwargs)
        finally:
            _NEXT.reset(token)

    return compile


def _installed_module_compile(previous: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(previous)
    def compile(self: Any, *args: Any, **kwargs: Any) -> None:
        # Positional arguments are torch.compile's own error to give: let torch give it.
        if args or _passing_through():
            return previous(self, *args, **kwargs)  # type: ignore[no-any-return]
        from torchcompat.compile import safe_compile

        safe_compile(self, in_place=True, **kwargs)
        return None

    return compile


if "torch" in sys.modules:  # torch first, then torchcompat: the usual order
    remember(sys.modules["torch"])
