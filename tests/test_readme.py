"""Every ```python block of README.md runs as written, and its claims about torch hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import FACTS, TORCH, needs_compile, run_python

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[tuple[str, str]]:
    """(the heading above it, the code) for each ```python block."""
    found = []
    heading, fence, code = "", None, []
    for line in README.read_text(encoding="utf-8").splitlines(keepends=True):
        if fence is None and line.startswith("```"):
            fence, code = line.strip(), []
        elif fence is not None and line.startswith("```"):
            if fence == "```python":
                found.append((heading, "".join(code)))
            fence = None
        elif fence is not None:
            code.append(line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    return found


BLOCKS = _blocks()
# Blocks that name things they never define (reported to the sections' owners, issue 12). Strict
# xfail: once a block runs, this entry fails and must go.
KNOWN_BROKEN: dict[str, str] = {}

# One fresh interpreter runs every plain block, each in a namespace of its own.
RUNNER = """
import json, sys, warnings
warnings.simplefilter("ignore")  # safe_compile's warning on a torch that cannot compile
results = []
for code in json.loads(sys.argv[1]):
    try:
        exec(compile(code, "<README.md>", "exec"), {"__name__": "__readme__"})
        results.append(None)
    except BaseException as e:
        results.append(f"{type(e).__name__}: {e}")
print("README-JSON " + json.dumps(results))
"""


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for heading, _ in BLOCKS:
        seen[heading] = seen.get(heading, 0) + 1
        ids.append(heading if seen[heading] == 1 else f"{heading}#{seen[heading]}")
    return ids


def _is_test_file(code: str) -> bool:
    return code.lstrip().startswith("# test_")


@pytest.fixture(scope="module")
def outcomes() -> dict[str, str | None]:
    """Each plain block's outcome: None, or the exception it raised."""
    plain = [
        (name, code)
        for name, (_, code) in zip(_ids(), BLOCKS)
        if not _is_test_file(code) and not _elsewhere(code)
    ]
    out = run_python(RUNNER, json.dumps([code for _, code in plain])).stdout
    # The last line: blocks may print (README's fallback block does).
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("README-JSON "))
    return dict(zip([name for name, _ in plain], json.loads(line.removeprefix("README-JSON "))))


# Blocks that need a framework: tests/test_frameworks.py runs each as written in an interpreter
# of its own (importing Fabric replaces torch.compile for the rest of the process), and checks it.
ELSEWHERE = ("lightning_fabric",)


def _elsewhere(code: str) -> bool:
    return any(f"import {name}" in code or f"from {name} " in code for name in ELSEWHERE)


def _params() -> list[Any]:
    params = []
    for name, (_, code) in zip(_ids(), BLOCKS):
        if _elsewhere(code):
            continue
        marks = []
        if name in KNOWN_BROKEN:
            marks.append(pytest.mark.xfail(reason=KNOWN_BROKEN[name], strict=True))
        params.append(pytest.param(name, code, id=name, marks=marks))
    return params


@pytest.mark.skipif(FACTS is None, reason="torch is not installed: the blocks import it")
@pytest.mark.parametrize(("name", "code"), _params())
def test_block_runs_as_written(
    name: str, code: str, outcomes: dict[str, str | None], tmp_path: Path
) -> None:
    """The block runs in a fresh interpreter; a test-file block passes under pytest."""
    if not _is_test_file(code):
        assert outcomes[name] is None, f"README block under {name!r}: {outcomes[name]}"
        return
    test_file = tmp_path / code.lstrip().split()[1].rstrip(":")
    test_file.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(test_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]


def test_every_block_is_found() -> None:
    """The extraction sees the README's blocks (a renamed fence would silently skip them)."""
    assert len(BLOCKS) == README.read_text(encoding="utf-8").count("```python\n")
    assert len(BLOCKS) >= 6


BARE_COMPILE = """
import torch, torch._dynamo
from torch._dynamo.utils import counters
m = torch.nn.Linear(4, 4)
m.compile(backend="eager")
m(torch.ones(2, 4))
print(counters["stats"]["unique_graphs"])
"""


@needs_compile
@pytest.mark.skipif(
    FACTS is None or FACTS.release[:2] not in ((2, 13), (2, 15)),
    reason=f"README names 2.13 and 2.15 only; {TORCH} is neither",
)
def test_bare_module_compile_claim() -> None:
    """README: a bare nn.Module.compile() compiles nothing for nn.Linear on 2.13; 2.15 does."""
    assert FACTS is not None
    graphs = int(run_python(BARE_COMPILE).stdout.split()[-1])
    assert (graphs > 0) is (FACTS.release[:2] == (2, 15)), f"{TORCH}: {graphs} graphs"
