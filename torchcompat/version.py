"""The installed torch's version, read without importing torch.

``torch_version()`` reads the ``torch`` distribution's metadata (about a millisecond, once per
process), or ``torch.__version__`` when torch is already imported. Comparisons are on the release:
``2.12.0rc2``, ``2.12.0.dev20260301``, ``2.13.0+cpu`` and ``2.8.0a0+gitc82a174`` count as
``2.12.0``, ``2.12.0``, ``2.13.0`` and ``2.8.0``, as Lightning's ``compare_version(...,
use_base_version=True)`` does, so that nightlies and local builds get their release's behaviour.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING

from torchcompat._releases import ReleaseFacts, facts_for

if TYPE_CHECKING:
    from packaging.version import Version

__all__ = ["installed_facts", "release_at_least", "torch_at_least", "torch_version"]


@functools.lru_cache(maxsize=1)
def _installed_version() -> Version | None:
    # Imported here: packaging and importlib.metadata together cost ~10 ms, which
    # `import torchcompat` must not pay.
    from packaging.version import InvalidVersion, Version

    torch = sys.modules.get("torch")
    raw = getattr(torch, "__version__", None) if torch is not None else None
    if raw is None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            raw = version("torch")
        except PackageNotFoundError:
            return None
    try:
        return Version(str(raw))
    except InvalidVersion:
        # A build that does not say which release it is: unknown, so every "at least" is False.
        return None


def torch_version() -> Version | None:
    """The installed torch's version, or ``None`` when torch is not installed.

    Read from package metadata without importing torch (``torch.__version__`` when torch is
    already imported); cached for the process. Local labels and pre-release parts are kept here;
    :func:`torch_at_least` compares on the release alone.
    """
    return _installed_version()


def torch_at_least(version: str) -> bool:
    """Whether the installed torch's release is ``version`` or newer.

    ``version`` is a release such as ``"2.12"`` or ``"2.12.0"``; the installed version counts as
    its release (``2.12.0rc2`` is at least ``2.12``). Fails closed: ``False`` when torch is not
    installed or its version cannot be read.

    Raises:
        ValueError: ``version`` is not a valid version string.
        TypeError: ``version`` is not a string.
    """
    return release_at_least(_installed_version(), version)


def release_at_least(installed: Version | None, version: str) -> bool:
    """Whether ``installed``'s release is ``version``'s release or newer; ``False`` for ``None``.

    Raises:
        ValueError: ``version`` is not a valid version string.
        TypeError: ``version`` is not a string.
    """
    from packaging.version import InvalidVersion, Version

    if not isinstance(version, str):
        raise TypeError(f"torch_at_least() takes a version string, got {type(version).__name__}")
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise ValueError(f"torch_at_least(): {version!r} is not a valid version") from None
    if installed is None:
        return False
    return Version(installed.base_version) >= Version(wanted.base_version)


@functools.lru_cache(maxsize=1)
def installed_facts() -> ReleaseFacts | None:
    """What the installed torch release does on this Python, or ``None`` without torch."""
    installed = _installed_version()
    if installed is None:
        return None
    return facts_for(installed.release)
