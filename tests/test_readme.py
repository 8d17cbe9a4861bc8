"""Every ```python block of README.md and docs/*.md runs as written; its claims about torch hold."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

import torchcompat

from .conftest import FACTS, TORCH, needs_compile, run_python
from .docs_pages import PAGES, ROOT, text

README = ROOT / "README.md"


def _blocks() -> list[tuple[str, str]]:
    """(the page and the heading above it, the code) for each ```python block of every page."""
    found = []
    for page in PAGES:
        found += _page_blocks(page)
    return found


def _page_blocks(page: Path) -> list[tuple[str, str]]:
    """(the heading above it, prefixed by the page if not README, the code) for each block."""
    prefix = "" if page == README else f"{page.relative_to(ROOT).as_posix()}: "
    found = []
    heading, fence, code = prefix, None, []
    for line in text(page).splitlines(keepends=True):
        if fence is None and line.startswith("```"):
            fence, code = line.strip(), []
        elif fence is not None and line.startswith("```"):
            if fence == "```python":
                found.append((heading, "".join(code)))
            fence = None
        elif fence is not None:
            code.append(line)
        elif line.startswith("#"):
            heading = prefix + line.lstrip("#").strip()
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
        exec(compile(code, "<docs>", "exec"), {"__name__": "__readme__"})
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
        assert outcomes[name] is None, f"block under {name!r}: {outcomes[name]}"
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
    """The extraction sees every page's blocks (a renamed fence would silently skip them)."""
    for page in PAGES:
        assert len(_page_blocks(page)) == text(page).count("```python\n"), page
    assert len(BLOCKS) >= 6
    assert len(set(_ids())) == len(BLOCKS)


def test_every_page_is_linked_from_readme() -> None:
    """Each docs/*.md page, generated ones included, is linked from README."""
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert len(PAGES) >= 2, "no hand-written page found under docs/"
    linked = [page for page in pages if f"](docs/{page.name})" in text(README)]
    assert linked == pages


def test_no_block_writes_a_fixed_path() -> None:
    """No block writes to a fixed /tmp path (two users, or two runs, would collide)."""
    assert not [code for _, code in BLOCKS if "/tmp/" in code]


def test_readme_commands_install_no_torch() -> None:
    """README's commands install torchcompat into the user's environment, never torch itself."""
    commands = re.findall(r"```\n(.*?)```", text(README), re.S)
    installs = [ln for block in commands for ln in block.splitlines() if "pip install" in ln]
    assert installs, "README shows no install command"
    assert not [ln for ln in installs if re.search(r"\btorch\b(?!compat)", ln.split("#")[0])]


def test_pinning_example_names_this_release() -> None:
    """README's pinning example admits the package's version, the newest release in CHANGELOG."""
    pin = re.search(r"`torchcompat-shim(>=[^`]+)`", text(README))
    assert pin is not None, "README has no pinning example"
    assert torchcompat.__version__ in SpecifierSet(pin.group(1))
    release = re.search(r"^## \[(\d[^\]]*)\]", text(ROOT / "CHANGELOG.md"), re.M)
    assert release is not None
    assert release.group(1) == torchcompat.__version__


def test_tox_commands_say_to_install_tox() -> None:
    """A page that shows a command needing tox (tools/matrix.py, tox -e) says to install tox."""
    for page in PAGES:
        commands = "".join(re.findall(r"```\n(.*?)```", text(page), re.S))
        if "tools/matrix.py" in commands or "tox -e" in commands:
            assert 'pip install "tox>=4.11"' in text(page), page


def _matrix() -> Any:
    """tools/matrix.py, imported as the tools import each other (by folder)."""
    tools = str(ROOT / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import matrix

    return matrix


def _pairs(sentence: str) -> set[tuple[str, str]]:
    """``(python, release)`` pairs of "3.11 with torch 1.13.1, 2.0.1 and ..., on 3.14 with ..."."""
    pairs = set()
    listed = r"((?:\d+\.\d+\.\d+(?:,? and |, )?)+)"
    for python, releases in re.findall(r"3\.(\d+) with (?:torch )?" + listed, sentence):
        for release in re.findall(r"\d+\.\d+\.\d+", releases):
            pairs.add((f"py3{python}", release))
    return pairs


def test_readme_names_the_pythons_and_releases_the_matrix_runs() -> None:
    """The Pythons paragraph names each env of CI's run, and of ``--extended``, as tools/matrix.py
    lists them: no more, no fewer."""
    matrix = _matrix()
    envs = {n: r for n, r in matrix.matrix_envs().items() if r != "-"}
    paragraph = " ".join(text(ROOT / "README.md").split("**Pythons.**")[1].split("\n\n")[0].split())
    ci, extended = paragraph.split("`--extended` adds")
    extended = extended.split(". ")[0]

    def named(env_names: Any) -> set[tuple[str, str]]:
        return {(n.split("-")[0], envs[n]) for n in env_names}

    assert _pairs(ci) == named(n for n in envs if n not in matrix.EXTENDED)
    assert _pairs(extended) == named(matrix.EXTENDED)


def test_readme_gives_the_last_default_runs_total_as_recorded() -> None:
    """README's line on the last default matrix run is the one tools/matrix.py writes from
    docs/probes/runs.json: the minutes, the count and the outcome are the run's, not typed."""
    import json

    _matrix()
    import compat_table

    runs = ROOT / "docs" / "probes" / "runs.json"
    if not runs.exists():
        pytest.skip("docs/probes/runs.json is not in the sdist (its suite runs from the sdist)")
    record = json.loads(runs.read_text(encoding="utf-8"))
    start, end = compat_table.TOTAL_MARKS
    readme = text(ROOT / "README.md")
    written = readme.partition(start)[2].partition(end)[0]
    assert written == compat_table.total_sentence(record)
    assert written, "README has no figure of a default run: run the matrix with --compat-table"


def test_a_default_run_writes_its_total_between_the_marks(tmp_path: Path) -> None:
    """tools/matrix.py's README writer: the sentence between the marks, the rest untouched; a
    README without the marks is left alone."""
    _matrix()
    import compat_table

    start, end = compat_table.TOTAL_MARKS
    record = {
        "runs": {
            "default": {
                "started": "2026-12-02 07:31 UTC",
                "wall_s": 3000.0,
                "envs": 20,
                "failed_envs": ["py311-torch29"],
            }
        }
    }
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{start}old{end}\nafter\n", encoding="utf-8")
    assert compat_table.write_total(readme, record)
    assert readme.read_text(encoding="utf-8") == (
        f"before\n{start}The last default run (started 2026-12-02 07:31 UTC) took 50.0 min for 20 "
        f"envs on this project's 2-core machine, failed: py311-torch29.{end}\nafter\n"
    )
    readme.write_text("no marks\n", encoding="utf-8")
    assert not compat_table.write_total(readme, record)
    assert readme.read_text(encoding="utf-8") == "no marks\n"


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
