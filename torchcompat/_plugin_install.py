"""The pytest plugin's ``--torchcompat-install``: a session with :func:`torchcompat.install`.

For suites whose code under test compiles through libraries (transformers, accelerate,
Lightning): every ``torch.compile`` in the session behaves as ``safe_compile``. Loaded by
:mod:`torchcompat.pytest_plugin` (its ``pytest_plugins``); installing imports no torch.
"""

from __future__ import annotations

import pytest

__all__ = ["INSTALL_INI", "pytest_addoption", "pytest_sessionstart", "pytest_unconfigure"]

INSTALL_INI = "torchcompat_install"
_INSTALLED_HERE = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--torchcompat-install`` in the ``torchcompat`` group, and its ini key."""
    group = parser.getgroup("torchcompat", "torchcompat (torch.compile switches)")
    group.addoption(
        "--torchcompat-install",
        action="store_true",
        default=None,
        dest="torchcompat_install",
        help="run the session with torchcompat.install(): every torch.compile in the tested "
        "code (libraries' too) behaves as safe_compile (ini: torchcompat_install = true)",
    )
    parser.addini(
        INSTALL_INI,
        type="bool",
        default=False,
        help="run the session with torchcompat.install() (as --torchcompat-install)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``--torchcompat-install`` (or the ini key), install torchcompat for the session.

    At session start, before collection: test modules that compile at import are covered.
    """
    config = session.config
    wanted = config.getoption("torchcompat_install")
    if wanted is None:
        wanted = bool(config.getini(INSTALL_INI))
    if wanted:
        from torchcompat._install import install, is_installed

        # Uninstalled at the end only if this session is what installed it.
        config.stash[_INSTALLED_HERE] = not is_installed()
        install()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Undo the session's ``install()``."""
    if config.stash.get(_INSTALLED_HERE, False):
        from torchcompat._install import uninstall

        uninstall()
