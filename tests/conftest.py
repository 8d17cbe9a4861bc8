"""Shared fixtures: a clean environment for every test, and the installed release's facts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from torchcompat.gate import ENV_SWITCHES, unusable_reason
from torchcompat.testing import reset_compilation
from torchcompat.version import installed_facts, torch_version

# One profile for every property test. The gate fuzzers add up to well over 10,000 examples.
settings.register_profile("torchcompat", deadline=None, derandomize=False)
settings.load_profile("torchcompat")

FACTS = installed_facts()
TORCH = f"torch {torch_version()}"

needs_torch = pytest.mark.skipif(FACTS is None, reason="torch is not installed")
needs_dynamo = pytest.mark.skipif(
    FACTS is None or not FACTS.has_compile,
    reason=f"{TORCH} has no torch.compile or torch._dynamo (they came in 2.0)",
)
needs_compile = pytest.mark.skipif(
    FACTS is None or not FACTS.compile_usable,
    # The gate's own sentence: "torch 1.13.1 has no torch.compile (it came in 2.0)", ...
    reason="torch is not installed" if FACTS is None else unusable_reason(FACTS),
)


@pytest.fixture(autouse=True)
def _clean_switches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with no env switch set, and leaves torch's runtime switches as found."""
    for name in ENV_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    yield
    config = sys.modules.get("torch._dynamo.config")
    if config is not None and getattr(config, "disable", False) is not False:
        config.disable = False


@pytest.fixture
def dynamo() -> Iterator[object]:
    """torch._dynamo, reset before and after the test so compile caches do not leak.

    Through reset_compilation(): before torch 2.11, torch's own reset leaves the skip marks that
    a test running compiled code under config.disable sets, and later tests would compile nothing.
    """
    import torch._dynamo

    reset_compilation()
    yield torch._dynamo
    reset_compilation()


class Counted:
    """A body that counts its runs, so "exactly once" can be asserted."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, x: Any) -> Any:
        self.runs += 1
        return x * 2 + 1


def run_python(code: str, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``argv`` in a fresh interpreter, no switch set but ``env``'s.

    Fails the test if the child exits non-zero. The time limit only catches a hung child: the
    scenario probes run ~90 compositions in one interpreter, which took over 300 s on torch
    2.1.2 on this 2-core machine under load (the matrix installs the next env meanwhile).
    """
    full_env = {k: v for k, v in os.environ.items() if k not in ENV_SWITCHES}
    full_env.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        check=False,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=1200,
    )
    assert done.returncode == 0, f"child failed:\n{done.stdout}\n{done.stderr}"
    return done


# The files that take longest (a junit run on torch 2.13, which the other releases follow
# closely), longest first. `pytest -n 2 --dist loadfile --no-loadscope-reorder` (tox.ini) hands
# each worker whole files in collection order: a long file handed out last kept one worker busy
# while the other sat idle (xdist's own reorder, by the number of tests, put the few long files
# last); longest first, the short files even out the end.
LONGEST_FIRST = (
    "test_clients.py",
    "test_model_based.py",
    "test_install.py",
    "test_report.py",
    "test_releases.py",
    "test_scenarios.py",
    "test_fallback.py",
    "test_runner.py",
    "test_readme.py",
    "test_plugin.py",
    "test_characterization.py",
    "test_testing.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    # A stable sort: each file keeps its own order, and the files not listed theirs.
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
