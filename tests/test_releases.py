"""The release facts table agrees with the real torch installed in this environment."""

from __future__ import annotations

import inspect
import json
import sys
from importlib.metadata import entry_points
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torchcompat._arguments import check_values
from torchcompat._releases import ReleaseFacts, facts_for

from .conftest import FACTS, TORCH, needs_compile, needs_dynamo, needs_torch, run_python


@needs_torch
def test_has_compile_matches_torch() -> None:
    """The table says torch.compile exists exactly where torch has it."""
    import torch

    assert FACTS is not None
    assert FACTS.has_compile is hasattr(torch, "compile")


@needs_dynamo
def test_compile_kwargs_match_the_real_signature() -> None:
    """The keyword table for this release is torch.compile's real keyword list."""
    import torch

    assert FACTS is not None
    real = set(inspect.signature(torch.compile).parameters) - {"model"}
    assert FACTS.compile_kwargs == real


@needs_dynamo
def test_set_stance_matches_torch() -> None:
    """The table says set_stance exists exactly where torch.compiler has it."""
    import torch

    assert FACTS is not None
    # torch 2.0 has no torch.compiler package at all (it came in 2.1).
    assert FACTS.has_set_stance is hasattr(getattr(torch, "compiler", None), "set_stance")


@needs_dynamo
def test_python_refusal_matches_torch() -> None:
    """Where the table says this Python is refused, torch.compile raises even when disabled."""
    import torch

    assert FACTS is not None

    def f(x: object) -> object:
        return x

    if FACTS.refuses_python:
        with pytest.raises(RuntimeError) as refused:
            torch.compile(f, disable=True)
        assert str(refused.value).startswith(FACTS.python_refusal_texts), refused.value
    else:
        assert torch.compile(f, disable=True) is not None


@needs_dynamo
@pytest.mark.parametrize("value", ["0", "false", "1"])
def test_env_parse_matches_torch(value: str) -> None:
    """Loose releases (2.0-2.7) turn dynamo off for any non-empty value; later ones for "1"."""
    assert FACTS is not None
    code = "import torch._dynamo.config as c; print(bool(c.disable))"
    out = run_python(code, TORCH_COMPILE_DISABLE=value).stdout.strip()
    expected = value == "1" or FACTS.loose_env_parse
    assert out == str(expected), f"{TORCH}: TORCH_COMPILE_DISABLE={value!r} -> {out}"


@pytest.mark.parametrize(
    ("release", "python", "usable"),
    [
        ((1, 13, 1), (3, 10), False),
        ((2, 0, 1), (3, 10), True),
        ((2, 0, 1), (3, 11), False),
        ((2, 1, 2), (3, 11), True),
        ((2, 3, 0), (3, 12), False),
        ((2, 4, 0), (3, 12), True),
        ((2, 5, 1), (3, 13), False),
        ((2, 9, 1), (3, 14), False),
        ((2, 10, 0), (3, 14), True),
        ((2, 14, 1), (3, 15), False),
        ((2, 15, 0), (3, 15), True),
        ((2, 15, 0), (3, 16), False),
        ((3, 0, 0), (3, 16), False),
    ],
)
def test_python_refusal_table(
    release: tuple[int, ...], python: tuple[int, int], usable: bool
) -> None:
    """torch.compile's Python limits per release, as read from each wheel."""
    assert facts_for(release, python).compile_usable is usable


@pytest.mark.parametrize(
    ("release", "check", "loose", "stance"),
    [
        ((1, 13, 1), None, False, False),
        ((2, 0, 1), None, True, False),
        ((2, 6, 0), None, True, True),
        ((2, 7, 1), None, True, True),
        ((2, 8, 0), None, False, True),
        ((2, 11, 0), None, False, True),
        ((2, 12, 1), "warn", False, True),
        ((2, 13, 0), "raise", False, True),
        ((2, 99, 0), "raise", False, True),
    ],
)
def test_behaviour_table(
    release: tuple[int, ...], check: str | None, loose: bool, stance: bool
) -> None:
    """Fullgraph check, loose env parsing and stances begin where the wheels say."""
    facts = facts_for(release, (3, 11))
    assert (facts.fullgraph_check, facts.loose_env_parse, facts.has_set_stance) == (
        check,
        loose,
        stance,
    )


@pytest.mark.parametrize(
    ("release", "python", "texts"),
    [
        ((2, 0, 1), (3, 11), ("Python 3.11+ not yet supported for torch.compile",)),
        ((2, 0, 1), (3, 10), ()),
        (
            (2, 1, 2),
            (3, 12),
            (
                "Python 3.12+ not yet supported for torch.compile",
                "Dynamo is not supported on Python 3.12+",
            ),
        ),
        ((2, 3, 1), (3, 12), ("Dynamo is not supported on Python 3.12+",)),
        ((2, 5, 1), (3, 13), ("Dynamo is not supported on Python 3.13+",)),
        ((2, 9, 1), (3, 14), ("torch.compile is not supported on Python 3.14+",)),
        ((2, 9, 1), (3, 15), ("torch.compile is not supported on Python 3.14+",)),
        ((2, 14, 1), (3, 15), ("torch.compile is not supported on Python 3.15+",)),
        ((1, 13, 1), (3, 13), ()),
    ],
)
def test_refusal_text_table(
    release: tuple[int, ...], python: tuple[int, int], texts: tuple[str, ...]
) -> None:
    """torch's refusal texts per release (either neighbour's where a release was not read)."""
    assert facts_for(release, python).python_refusal_texts == texts


# Each row of the keyword deltas, as the whole set it yields (read from each wheel).
KWARGS_2_0 = {"fullgraph", "dynamic", "backend", "mode", "options", "disable"}


@pytest.mark.parametrize(
    ("release", "kwargs"),
    [
        ((1, 13, 1), KWARGS_2_0),
        ((2, 0, 1), KWARGS_2_0),
        ((2, 11, 0), KWARGS_2_0),
        ((2, 12, 1), KWARGS_2_0 | {"name", "recompile_limit"}),
        ((2, 13, 0), KWARGS_2_0 | {"name", "recompile_limit", "isolate_recompiles", "shapes_spec"}),
        (
            (2, 14, 1),
            KWARGS_2_0 | {"name", "recompile_limit", "isolate_recompiles", "dynamic_shapes"},
        ),
        (
            (2, 15, 0),
            KWARGS_2_0 | {"name", "recompile_limit", "isolate_recompiles", "dynamic_shapes"},
        ),
    ],
)
def test_compile_kwargs_table(release: tuple[int, ...], kwargs: set[str]) -> None:
    """The keyword deltas add up to each release's whole keyword set."""
    assert facts_for(release, (3, 11)).compile_kwargs == kwargs


@pytest.mark.parametrize("bad", [(), (2, -1), ("2", "1"), (2.0,)])
def test_bad_release_is_named(bad: tuple[object, ...]) -> None:
    """A release that is not a tuple of non-negative ints is a ValueError that shows it."""
    with pytest.raises(ValueError, match="non-negative ints"):
        facts_for(bad)  # type: ignore[arg-type]


def test_this_python_is_the_default() -> None:
    """Without a Python, the facts are for the running interpreter."""
    assert facts_for((2, 13, 0)).python == sys.version_info[:2]


def _entry_point_backends() -> set[str]:
    return set(entry_points(group="torch_dynamo_backends").names)


LIST_BACKENDS = """
import json, torch._dynamo
print(json.dumps([torch._dynamo.list_backends(exclude_tags=()), torch._dynamo.list_backends()]))
"""


@needs_dynamo
def test_builtin_backends_match_torch() -> None:
    """The backend table is list_backends(exclude_tags=()) of this release, entry points aside."""
    assert FACTS is not None
    # A fresh interpreter: other tests register backends of their own in this one.
    every, listed = json.loads(run_python(LIST_BACKENDS).stdout)
    real = set(every) - _entry_point_backends()
    if FACTS.builtin_backends is None:  # 2.0: an unknown name is a bare KeyError, not checked
        assert FACTS.release < (2, 1), f"{TORCH} has no backend row"
        return
    table = set(FACTS.builtin_backends)
    assert table == real, f"{TORCH}: only in the table {table - real}, only in torch {real - table}"
    if FACTS.listed_backends is not None:
        assert FACTS.listed_backends == set(listed) - _entry_point_backends()


@needs_compile
def test_inductor_modes_match_torch() -> None:
    """The mode table is torch._inductor.list_mode_options()'s modes for this release."""
    import torch._inductor

    assert FACTS is not None
    real = set(torch._inductor.list_mode_options())
    if FACTS.inductor_modes is None:  # 2.0 ignores an unknown mode
        assert FACTS.release < (2, 1)
        return
    assert set(FACTS.inductor_modes) == real


def _outcome(call: Any) -> str | None:
    """None when ``call()`` passes, else its exception's message (a RuntimeError's)."""
    try:
        call()
    except RuntimeError as e:
        return str(e)
    return None


VALUES = [
    {"mode": "max-autotun"},
    {"mode": "lite"},
    {"mode": "max-autotune-no-cudagraphs"},
    {"mode": "default"},
    {"backend": "inductr"},
    {"backend": "zzzz"},
    {"backend": "eager", "mode": "max-autotun"},
    {"backend": "aot_eager_decomp_partition_with_mode"},
    {"backend": "onnxrt"},
    {"backend": "inductor", "mode": "reduce-overhead"},
]


@needs_compile
@pytest.mark.parametrize("kwargs", VALUES, ids=repr)
def test_values_refused_as_torch_refuses_them(kwargs: dict[str, Any]) -> None:
    """For each value, the table refuses it exactly where torch.compile does, with its message."""
    import torch

    assert FACTS is not None

    def f(x: Any) -> Any:
        return x

    real = _outcome(lambda: torch.compile(f, **kwargs))
    ours = _outcome(lambda: check_values(kwargs, FACTS))
    assert ours == real, f"{TORCH}: torch says {real!r}, the table {ours!r}"


@needs_compile
@settings(max_examples=60)
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=14))
def test_any_backend_name_is_judged_as_torch_judges_it(name: str) -> None:
    """Any backend name: refused by the table exactly where torch refuses it, same message."""
    import torch

    assert FACTS is not None

    def f(x: Any) -> Any:
        return x

    real = _outcome(lambda: torch.compile(f, backend=name))
    ours = _outcome(lambda: check_values({"backend": name}, FACTS))
    assert ours == real


@pytest.mark.parametrize(
    ("release", "mode", "accepted"),
    [
        ((2, 0, 1), "anything", True),  # 2.0 ignores unknown modes
        ((2, 1, 2), "max-autotune-no-cudagraphs", True),
        ((2, 8, 0), "lite", False),
        ((2, 9, 1), "lite", False),
        ((2, 10, 0), "lite", True),
        ((2, 11, 0), "lite", True),
        ((2, 15, 0), "max-autotun", False),
    ],
)
def test_mode_table(release: tuple[int, ...], mode: str, accepted: bool) -> None:
    """inductor's modes per release, as read from each wheel ("lite" came in 2.10)."""
    facts = facts_for(release, (3, 11))
    assert (_outcome(lambda: check_values({"mode": mode}, facts)) is None) is accepted


def test_the_newest_release_read_is_the_newest_the_matrix_runs() -> None:
    """``NEWEST_READ`` is the newest torch minor that tox.ini's envs install."""
    import re
    from pathlib import Path

    from torchcompat._releases import NEWEST_READ

    tox = (Path(__file__).resolve().parent.parent / "tox.ini").read_text(encoding="utf-8")
    releases = {
        tuple(int(part) for part in found.split(".")[:2])
        for found in re.findall(r"torch\d+\s*:\s*torch\s*==\s*(\S+)", tox)
    }
    assert max(releases) == NEWEST_READ


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ((2, 15, 0), None),
        ((2, 15, 3), None),
        ((2, 1, 2), None),
        ((2, 16, 0), "2.15"),
        ((3, 0), "2.15"),
    ],
)
def test_a_release_newer_than_every_read_one_is_assumed_from_the_newest(
    release: tuple[int, ...], expected: str | None
) -> None:
    """Facts of a release nobody read come from the newest that was read, and that is said."""
    from torchcompat._releases import assumed_from, newer_than_read

    assert assumed_from(release) == expected
    if expected is not None:
        assert newer_than_read("2.16.0", expected) == (
            "torch 2.16.0 is newer than any release torchcompat has read (newest: 2.15); "
            "its facts are assumed from 2.15"
        )


def test_release_facts_are_the_tuple_they_were_as_a_namedtuple() -> None:
    """ReleaseFacts is written out by hand (a NamedTuple's class costs ~0.4 ms to build): it
    constructs, unpacks, compares, hashes, pickles, prints and replaces as the NamedTuple did."""
    import pickle

    facts = ReleaseFacts(release=(2, 13, 0), python=(3, 11))
    assert facts == ReleaseFacts((2, 13, 0), (3, 11)) == ((2, 13, 0), (3, 11))
    assert hash(facts) == hash(((2, 13, 0), (3, 11)))
    release, python = facts
    assert (release, python) == (facts.release, facts.python) == ((2, 13, 0), (3, 11))
    assert repr(facts) == "ReleaseFacts(release=(2, 13, 0), python=(3, 11))"
    assert facts._fields == ("release", "python")
    assert facts._asdict() == {"release": (2, 13, 0), "python": (3, 11)}
    assert facts._replace(python=(3, 14)) == ReleaseFacts((2, 13, 0), (3, 14))
    assert type(facts._replace(python=(3, 14))) is ReleaseFacts
    with pytest.raises(ValueError, match="unexpected field names: \\['pyton'\\]"):
        facts._replace(pyton=(3, 14))
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(facts, protocol))
        assert again == facts
        assert type(again) is ReleaseFacts
    assert facts_for((2, 13, 0), (3, 11)) == facts
    with pytest.raises(AttributeError):
        facts.extra = 1  # type: ignore[attr-defined]
