"""safe_compile's argument handling: what the installed ``torch.compile`` accepts.

Keywords are checked whether compilation is on or off, so a typo fails on every machine, not only
on the one where compilation happens to be on; a typo of safe_compile's own ``fallback`` or
``in_place`` gets the same "did you mean". The values torch itself checks when ``torch.compile``
is called (a ``backend`` name, inductor's ``mode``, ``mode`` together with ``options``, the keys
of inductor's ``options``) are checked here while compilation is off, without importing torch,
with torch's own message and exception class (``RuntimeError``; torch raises its subclass
``InvalidBackend`` for a backend). While compilation is on, torch checks them itself.

inductor's option names are read from the text of the installed ``torch/_inductor/config.py``
(``ast``: ~30 ms once per process on a 2-core machine, against ~2-5 s for importing
``torch._inductor.config``, which imports torch and ``torch._dynamo``). The types of the values,
which torch checks too, are not.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from torchcompat._releases import ReleaseFacts
from torchcompat.gate import compile_gate
from torchcompat.version import installed_facts

__all__ = ["OWN_KWARGS", "accepted_kwargs", "check_kwargs", "check_values", "inductor_options"]

#: safe_compile's own keywords, besides torch.compile's.
OWN_KWARGS = frozenset({"fallback", "in_place"})


@functools.lru_cache(maxsize=4)
def _signature_kwargs(compile_fn: object) -> frozenset[str] | None:
    """The keywords of ``compile_fn``'s signature; ``None`` if it takes ``**kwargs``."""
    import inspect

    assert callable(compile_fn)
    try:
        params = inspect.signature(compile_fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable with no signature
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        # A replaced torch.compile (mock.patch, a spy, a profiler) that forwards **kwargs:
        # defer to it, it accepts what it accepts.
        return None
    return frozenset(name for name in params if name != "model")


def accepted_kwargs() -> frozenset[str] | None:
    """The keywords ``torch.compile`` takes here; ``None`` where it takes any (``**kwargs``).

    The real signature where torch is loaded (the table agrees, tested), else the release
    table's; 2.0's without torch or on 1.13.
    """
    torch = sys.modules.get("torch")
    compile_fn = getattr(torch, "compile", None)
    if compile_fn is not None:
        return _signature_kwargs(compile_fn)
    facts = installed_facts()
    if facts is not None:
        return facts.compile_kwargs
    from torchcompat._releases import facts_for

    return facts_for((2, 0)).compile_kwargs


def check_kwargs(kwargs: dict[str, Any]) -> None:
    """Raise for an argument that ``torch.compile`` here would refuse.

    Raises:
        TypeError: naming the first keyword that ``torch.compile`` here does not take.
        RuntimeError: while compilation is off, a ``backend`` or ``mode`` value that torch
            would refuse when it is on, with torch's message (:func:`check_values`).
    """
    if not kwargs:
        return
    accepted = accepted_kwargs()
    if accepted is None:
        return
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        import difflib

        name = unknown[0]
        close = difflib.get_close_matches(name, sorted(accepted | OWN_KWARGS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(
            f"safe_compile() got an unexpected keyword argument {name!r}: safe_compile takes "
            f"{', '.join(sorted(OWN_KWARGS))} and what torch.compile here takes, "
            f"{', '.join(sorted(accepted))}{hint}"
        )
    # While compilation is on, torch.compile checks them itself, with its own classes.
    if _CHECKED.intersection(kwargs) and compile_gate().disabled:
        facts = installed_facts()
        if facts is not None and facts.has_compile:
            check_values(kwargs, facts)


_CHECKED = frozenset({"backend", "mode", "options"})


def check_values(kwargs: dict[str, Any], facts: ReleaseFacts) -> None:
    """Raise ``RuntimeError`` with torch's message for a value ``torch.compile`` would refuse.

    ``backend``: a name that is neither built into the release nor a ``torch_dynamo_backends``
    entry point nor registered at run time; ``mode``: with inductor, a mode the release lacks;
    ``mode`` and ``options`` both given (any backend); with inductor, an ``options`` key that is
    none of its options (:func:`inductor_options`). Values this release's torch does not check
    pass.
    """
    backend = kwargs.get("backend", "inductor")
    mode = kwargs.get("mode")
    options = kwargs.get("options")
    if mode is not None and options is not None:
        # torch.compile, 2.0 to 2.15, before it looks at the backend.
        raise RuntimeError(
            "Either mode or options can be specified, but both can't be specified at the same time."
        )
    if isinstance(backend, str) and backend != "inductor":
        _check_backend(backend, facts)
    modes = facts.inductor_modes
    # 2.13+: backend=None means the default backend, inductor.
    inductor = backend in (None, "inductor")
    if inductor and mode and mode != "default" and modes is not None and mode not in modes:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(modes)}")
    if inductor and isinstance(options, dict) and options:
        _check_options(options)


def _check_options(options: dict[Any, Any]) -> None:
    known = inductor_options()
    if known is None:
        return
    for key in options:
        # torch: ``attr_name = key.replace("-", "_")``, refused unless in get_config_copy().
        if isinstance(key, str) and key.replace("-", "_") not in known:
            raise RuntimeError(
                f"Unexpected optimization option {key}, known options are {sorted(known)}"
            )


# torch.compile pops these out of ``options`` before inductor sees them (2.8+, 2.10+).
_POPPED_OPTIONS = frozenset({"guard_filter_fn", "use_aoti"})


@functools.lru_cache(maxsize=1)
def inductor_options() -> frozenset[str] | None:
    """The names inductor's ``options`` takes here, read from ``torch/_inductor/config.py``'s text.

    Names as ``get_config_copy()`` has them (``"triton.cudagraphs"`` for a class attribute),
    plus every name the module imports and those torch pops first: never fewer than torch
    takes (the matrix checks it against torch's own list), so a name is refused only where
    torch refuses it. ``None`` where the file cannot be found or read.
    """
    import ast

    from torchcompat.version import torch_file_text

    text = torch_file_text("_inductor", "config.py")
    if text is None:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    found: set[str] = set(_POPPED_OPTIONS)
    _config_names(tree.body, "", found, {})
    return frozenset(found)


def _config_names(
    body: list[Any], prefix: str, found: set[str], classes: dict[str, set[str]]
) -> None:
    """Collect what torch's ``install_config_module`` makes an entry of, and a little more.

    Assignments and imports at any depth of ``if``/``try``/``with``; a class body under its
    name (``cuda.arch``), with the names of local base classes (``@inherit_fields_from``).
    """
    import ast

    for node in body:
        names: list[str] = []
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names.extend(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ClassDef):
            own: set[str] = set()
            for base in node.bases:
                if isinstance(base, ast.Name):
                    own |= classes.get(base.id, set())
            _config_names(node.body, "", own, classes)
            classes[node.name] = own
            found.update(f"{prefix}{node.name}.{name}" for name in own)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for part in ("body", "orelse", "finalbody"):
                _config_names(getattr(node, part, []), prefix, found, classes)
            for handler in getattr(node, "handlers", []):
                _config_names(handler.body, prefix, found, classes)
        # A walrus binds in the enclosing scope, so torch 2.9's ``(env_str := os.getenv(...))``
        # makes ``env_str`` an option; one inside a lambda binds in the lambda only.
        names.extend(_walrus_targets(node))
        found.update(prefix + name for name in names if not name.startswith("__"))


def _walrus_targets(statement: Any) -> list[str]:
    """The names a walrus in ``statement``'s own expressions binds (not in nested statements)."""
    import ast

    targets: list[str] = []
    pending: list[ast.AST] = [c for c in ast.iter_child_nodes(statement) if isinstance(c, ast.expr)]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            targets.append(node.target.id)
        pending.extend(ast.iter_child_nodes(node))
    return targets


def _check_backend(name: str, facts: ReleaseFacts) -> None:
    builtin = facts.builtin_backends
    if builtin is None or name in builtin:
        return
    registered = _registered_backends()
    if name in registered:
        return
    from importlib.metadata import entry_points

    plugins = set(entry_points(group="torch_dynamo_backends").names)
    if name in plugins:
        return
    listed = facts.listed_backends
    if listed is None:
        raise RuntimeError(
            f"Invalid backend: {name!r}, see `torch._dynamo.list_backends()` for available "
            "backends."
        )
    import difflib

    # torch 2.14+: InvalidBackend(name, difflib.get_close_matches(name, list_backends(), n=2)).
    # Names registered at run time carry no tags, as a rule: listed too.
    listed = listed | plugins | (registered - builtin)
    suggestions = difflib.get_close_matches(name, sorted(listed), n=2)
    hint = f", did you mean: {', '.join(map(repr, suggestions))}?" if suggestions else "."
    raise RuntimeError(
        f"Invalid backend: {name!r}{hint} See `torch._dynamo.list_backends()` for available "
        "backends."
    )


def _registered_backends() -> set[str]:
    """Names registered at run time (``register_backend``), where dynamo is loaded at all."""
    registry = sys.modules.get("torch._dynamo.backends.registry")
    names = getattr(registry, "_BACKENDS", None)
    return set(names) if isinstance(names, dict) else set()
