"""Imported at interpreter start by ``torchcompat-install.pth`` when ``TORCHCOMPAT_INSTALL=1``.

The ``.pth`` line itself costs one environment lookup when the variable is unset; this module
(and torchcompat) is imported only when it is exactly ``"1"``. torch is not imported here:
:func:`torchcompat.install` patches it when the program imports it.
"""

from __future__ import annotations

from torchcompat._install import install

__all__: list[str] = []

install()
