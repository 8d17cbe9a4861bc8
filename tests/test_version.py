"""Version helpers: read without importing torch, compared on the release, failing closed."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from torchcompat import torch_at_least, torch_version
from torchcompat.version import release_at_least

from .conftest import needs_torch, run_python


@pytest.mark.parametrize(
    ("installed", "wanted", "expected"),
    [
        ("2.12.0rc2", "2.12", True),
        ("2.12.0.dev20260301", "2.12", True),
        ("2.12.0.dev20260301", "2.12.0", True),
        ("2.13.0+cpu", "2.13", True),
        ("2.13.0+cpu", "2.13.1", False),
        ("2.8.0a0+gitc82a174", "2.8", True),
        ("2.8.0a0+gitc82a174", "2.9", False),
        ("2.11.0", "2.12", False),
        ("1.13.1", "2.0", False),
        ("2.15.0", "2.12.0rc1", True),
        ("2.12.0", "2.12.0.dev1", True),
        ("2.10.0", "2.9", True),
    ],
)
def test_release_comparison(installed: str, wanted: str, expected: bool) -> None:
    """Pre-releases, dev builds and local labels count as their release."""
    assert release_at_least(Version(installed), wanted) is expected


def test_unknown_version_fails_closed() -> None:
    """With no readable torch version, nothing is "at least"."""
    assert release_at_least(None, "0") is False


@pytest.mark.parametrize("bad", ["banana", "2.x", "", ">=2.1"])
def test_bad_version_string_is_named(bad: str) -> None:
    """A string that is not a version gets a ValueError that quotes it."""
    with pytest.raises(ValueError, match="is not a valid version"):
        torch_at_least(bad)


@pytest.mark.parametrize("bad", [2.1, None, (2, 1)])
def test_non_string_is_a_type_error(bad: object) -> None:
    """A number or tuple is a TypeError naming its type, not a silent comparison."""
    with pytest.raises(TypeError, match=type(bad).__name__):
        torch_at_least(bad)  # type: ignore[arg-type]


@given(
    a=st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30)),
    b=st.tuples(st.integers(0, 30), st.integers(0, 30)),
    suffix=st.sampled_from(["", "rc1", ".dev20260301", "+cpu", "a0+gitabc", "+cu130"]),
)
def test_release_order_matches_tuples(
    a: tuple[int, int, int], b: tuple[int, int], suffix: str
) -> None:
    """Any suffix aside, the comparison is the comparison of release tuples."""
    installed = Version(".".join(map(str, a)) + suffix)
    assert release_at_least(installed, ".".join(map(str, b))) is (a >= (*b, 0))


def test_torch_version_agrees_with_metadata() -> None:
    """torch_version() is the installed release: the distribution's public version."""
    try:
        expected = Version(version("torch"))
    except PackageNotFoundError:
        assert torch_version() is None
        return
    # The local label may differ: PyPI's 2.0.1 and 2.15.0 wheels' metadata say 2.0.1 and 2.15.0,
    # their torch.__version__ 2.0.1+cu117 and 2.15.0+cu132; torch_version() is the latter.
    assert torch_version().public == expected.public  # type: ignore[union-attr]
    assert torch_at_least(expected.base_version)
    assert not torch_at_least(f"{expected.major + 1}")


IMPORT_ORDER = """
import sys
from torchcompat import torch_version
from torchcompat.version import _installed_text, _installed_version
before = torch_version()
assert "torch" not in sys.modules, "torch_version() imported torch"
import torch
cached = torch_version()
# As if torch_version() were first called after import torch.
_installed_text.cache_clear()
_installed_version.cache_clear()
after = torch_version()
print(before, cached, after, torch.__version__)
"""


@needs_torch
def test_torch_version_is_the_build_whatever_the_import_order() -> None:
    """Before and after import torch, torch_version() is torch.__version__, local label and all."""
    before, cached, after, imported = run_python(IMPORT_ORDER).stdout.split()
    assert before == cached == after == str(Version(imported)), (before, after, imported)


_SHAPES = st.one_of(
    st.from_regex(r"\A\d{1,3}(\.\d{1,3}){0,3}(\+[a-z0-9]{1,6}(\.[a-z0-9]{1,4})?)?\Z"),
    st.sampled_from(
        ["2.12.0rc2", "2.12.0.dev20260101+cpu", "1!2.13.0", "2.13.0+", "2.13.0+cu.", "2..1", "v2.1"]
    ),
    st.text(alphabet="0123456789.+-_!abcrdevpostCPU", max_size=16),
)


@given(text=_SHAPES)
def test_plain_release_is_packagings_release_or_left_to_it(text: str) -> None:
    """The packaging-free parse of the header agrees with packaging wherever it answers, and
    answers for every plain build (``2.13.0``, ``2.15.0+cu132``)."""
    from packaging.version import InvalidVersion

    from torchcompat.version import _plain_release

    release = _plain_release(text)
    try:
        parsed = Version(text)
    except InvalidVersion:
        assert release is None, text
        return
    if release is not None:
        assert release == parsed.release, text
    elif parsed.epoch == 0 and parsed.pre is None and parsed.dev is None and parsed.post is None:
        # Plain releases are answered, whatever packaging would normalize in the text.
        assert text != str(parsed), text
