"""Only what setup.cfg cannot say: ship ``torchcompat-install.pth`` at the root of site-packages.

Python runs a ``.pth`` file's ``import`` lines at every interpreter start (as coverage and
pytest-cov use it): this one installs torchcompat when ``TORCHCOMPAT_INSTALL=1`` and otherwise
costs one environment lookup. Metadata and options are in setup.cfg.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "torchcompat-install.pth"


class BuildPyWithPth(build_py):
    """build_py that also puts the ``.pth`` file at the root of the build (the wheel's purelib)."""

    def run(self) -> None:
        super().run()
        self.copy_file(PTH, os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        # Listed, so that editable installs (PEP 660) carry it too.
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH)]


setup(cmdclass={"build_py": BuildPyWithPth})
