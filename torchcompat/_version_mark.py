"""The ``torch_version`` mark's reading: which tests to skip on this torch, and why.

Used by :mod:`torchcompat.pytest_plugin`'s hooks. The mark takes PEP 440 specifiers and is
compared with the installed torch's release (``2.12.0rc2`` counts as ``2.12.0``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from torchcompat import _plugin_names
from torchcompat._plugin_names import VERSION_MARK

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

__all__ = ["version_skip"]


def _specifiers(mark: pytest.Mark) -> SpecifierSet:
    """The mark's specifiers; raises ValueError naming what is wrong with them."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not mark.args:
        raise ValueError(f'@pytest.mark.{mark.name} needs a version specifier, e.g. ">=2.12"')
    for arg in mark.args:
        if not isinstance(arg, str):
            raise ValueError(
                f"@pytest.mark.{mark.name} takes version specifier strings, "
                f"got {type(arg).__name__} {arg!r}"
            )
    text = ",".join(mark.args)
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(
            f"@pytest.mark.{mark.name}({text!r}): not a valid version specifier "
            '(e.g. ">=2.12", "<2.13", "==2.12.*")'
        ) from None


def version_skip(item: pytest.Item) -> str | None:
    """Why ``item`` must be skipped for its torch_version marks, or None; raises ValueError."""
    marks = _plugin_names.marks(item, VERSION_MARK)
    if not marks:
        return None
    from packaging.version import Version

    from torchcompat.version import torch_version

    installed = torch_version()
    for mark in marks:
        specifiers = _specifiers(mark)
        reason = mark.kwargs.get("reason")
        why = f": {reason}" if reason else ""
        if installed is None:
            return f"needs torch {specifiers}, and torch is not installed{why}"
        release = Version(installed.base_version)
        if not specifiers.contains(release, prereleases=True):
            return (
                f"needs torch {specifiers}; torch {installed} is installed "
                f"(compared as its release, {release}){why}"
            )
    return None
