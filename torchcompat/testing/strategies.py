"""Hypothesis strategies for the values of an environment flag, to fuzz a gate of your own.

Hypothesis is not a dependency of torchcompat: it is imported when a strategy is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = ["flag_values", "non_disabling_flag_values"]


# Values people really type, and look-alikes of "1": padding, other digits, other ones.
_TRICKY = (
    "",
    "0",
    " ",
    "true",
    "True",
    "TRUE",
    "yes",
    "on",
    "false",
    "01",
    "1.0",
    "+1",
    "-1",
    " 1",
    "1 ",
    "\t1",
    "1\n",
    "\n",
    "\u00a01",  # no-break space
    "1\u200b",  # zero-width space
    "\uff11",  # full-width one
    "\u0661",  # Arabic-Indic one
    "\u0967",  # Devanagari one
    "\u00b9",  # superscript one
    "\u2460",  # circled one
    "I",
    "l",
    "one",
)


def _hypothesis_strategies() -> Any:
    try:
        from hypothesis import strategies
    except ImportError:
        raise ImportError(
            "torchcompat.testing's strategies need Hypothesis, which torchcompat does not "
            "install: pip install hypothesis"
        ) from None
    return strategies


def flag_values() -> SearchStrategy[str]:
    """Values an environment flag can hold, weighted toward the tricky ones; ``"1"`` included.

    Every value can really be put in ``os.environ`` (no NUL, no lone surrogate). Most draws are
    whitespace, ``"0"``, ``"true"``, padded ones and digits of other scripts; the rest is any
    text. Needs Hypothesis 6.84 or later (not a dependency of torchcompat; imported when
    called).

    Raises:
        ImportError: Hypothesis is not installed.

    Example::

        @given(value=flag_values())
        def test_my_gate(value):
            os.environ["MY_COMPILE_DISABLE"] = value
            assert my_gate_is_off() == (value == "1")
    """
    st = _hypothesis_strategies()
    # What an environment can hold: any text but NUL and lone surrogates.
    env_char = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
    space = st.sampled_from([" ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u200b", ""])
    digit_or_space = st.characters(categories=("Nd", "No", "Zs"))
    result: SearchStrategy[str] = st.one_of(
        st.sampled_from(_TRICKY),
        st.tuples(space, st.sampled_from(["1", "0", "\uff11"]), space).map("".join),
        st.text(alphabet=digit_or_space, max_size=4),
        st.text(alphabet=env_char),
        st.just("1"),
    )
    return result


def non_disabling_flag_values() -> SearchStrategy[str]:
    """Values of an environment flag that must not disable: everything but ``"1"``.

    The same weighting as :func:`flag_values`. For a gate that, like torch 2.8+ and
    torchcompat, treats only the exact string ``"1"`` as "off".

    Raises:
        ImportError: Hypothesis is not installed.

    Example::

        @given(value=non_disabling_flag_values())
        def test_only_1_disables(monkeypatch, value):
            monkeypatch.setenv("TORCH_COMPILE_DISABLE", value)
            assert not VllmConfig().compilation_disabled
    """
    result: SearchStrategy[str] = flag_values().filter(lambda value: value != "1")
    return result
