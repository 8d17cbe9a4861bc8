"""What pickles and ``torch.save`` checkpoints of safe_compile's module results point at.

The stable names, kept importable under these names from release to release (a checkpoint
written today must load after any refactoring):

- ``torchcompat._pickle.rebuild(module, recipe)``: a module result, ``safe_compile(module, ...)``
  with the arguments of the original;
- ``torchcompat._pickle.rebuild_in_place(cls, state, recipe)``: an ``in_place=True`` result;
- ``torchcompat._pickle.Recipe``: those arguments.

Pickles made before this module existed point at ``torchcompat._modules.rebuild``,
``_rebuild_in_place`` and ``Recipe``; those names stay, as these objects.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Recipe", "rebuild", "rebuild_in_place"]


class Recipe(NamedTuple):
    """The arguments a result was made with: what a copy is rebuilt from."""

    kwargs: dict[str, Any]
    fallback: str | None
    in_place: bool

    def __deepcopy__(self, memo: dict[int, Any]) -> Recipe:
        # A copy compiles with the same backend object, as a deepcopy of torch's own result
        # does (its compiled callback is a function, which deepcopy shares): a copied backend
        # would be a second backend in the process (2.0-2.1 warn "changing options").
        return self


def rebuild(module: Any, recipe: Recipe) -> Any:
    """A copy's result: ``safe_compile(module, ...)`` with the arguments of the original.

    The switches of the loading process decide, as they would for a fresh safe_compile call.
    """
    # Imported here, when a pickle loads: safe_compile's own modules never import this one's
    # caller back at import time.
    from torchcompat.compile import safe_compile

    return safe_compile(module, fallback=recipe.fallback, in_place=recipe.in_place, **recipe.kwargs)


def rebuild_in_place(cls: Any, state: dict[str, Any], recipe: Recipe) -> Any:
    """An ``in_place=True`` copy: the module rebuilt from its state, compiled in place again."""
    module = cls.__new__(cls)
    module.__setstate__(state)
    return rebuild(module, recipe)
