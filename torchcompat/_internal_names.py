"""The table of every private torch name torchcompat reads: where it lives, since when, why.

One row per name (:class:`Internal`), read by :mod:`torchcompat._internals`, which resolves the
rows at run time and says aloud what a release lacks. Kept apart from the resolver so that
adding a name is adding a row here, and from :mod:`torchcompat._releases` (the behaviour of
each release, read without importing torch).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["COMPILE_FAILURES", "DYNAMO_SIGNALS", "INTERNALS", "USER_ERRORS", "Internal"]


class Internal(NamedTuple):
    """One private torch name torchcompat reads."""

    #: Where it lives: a module path, or ``""`` for an attribute of an object torch returns.
    module: str
    #: The attribute name.
    attr: str
    #: The first release torchcompat read it on; expected there and on every later release.
    since: tuple[int, ...]
    #: What torchcompat reads it for.
    purpose: str
    #: What torchcompat does without it.
    safe: str


_DYNAMO_EXC = "torch._dynamo.exc"
_INDUCTOR_EXC = "torch._inductor.exc"
_GUARD_EAGER = "every guard runs eagerly, and the gate says compilation is off"


def _exc(module: str, attr: str, since: tuple[int, ...], purpose: str, safe: str) -> Internal:
    return Internal(module, attr, since, purpose, safe)


_FAILURE = "a failure of compilation that fallback='eager' falls back from"
_NO_FALLBACK = "fallback='eager' lets this failure propagate"
_USER = "an error of the user's code found while tracing: never fallen back from"
_NO_TELL = "fallback='eager' falls back from nothing (every error propagates)"
_SIGNAL = "a signal dynamo gives a backend's error: passed on, not fallen back from"

#: Every private torch name torchcompat reads, by the name warnings and the report use.
#: Releases were read in the wheels of 2.2.2, 2.3.1, 2.4.1, 2.9.1, 2.10.0 and 2.13.0; a
#: ``since`` later than a name's real first release only makes torchcompat quieter there.
INTERNALS: dict[str, Internal] = {
    "torch._dynamo.config.disable": Internal(
        "torch._dynamo.config", "disable", (2, 0), "the runtime off-switch", _GUARD_EAGER
    ),
    "torch._dynamo.config._config": Internal(
        "torch._dynamo.config",
        "_config",
        (2, 0),
        "the fast read of config.disable (its storage shape)",
        "the public read of config.disable (~2 us a call instead of ~0.1 us)",
    ),
    "torch.utils._config_module._UNSET_SENTINEL": Internal(
        "torch.utils._config_module",
        "_UNSET_SENTINEL",
        (2, 6),
        "the fast read of config.disable (no user override)",
        "the public read of config.disable",
    ),
    "torch._dynamo.eval_frame._stance": Internal(
        "torch._dynamo.eval_frame",
        "_stance",
        (2, 6),
        'the set_stance("force_eager") switch',
        _GUARD_EAGER + " (where it reads the stance)",
    ),
    "torch._dynamo.disable": Internal(
        "torch._dynamo",
        "disable",
        (2, 0),
        "running the original with dynamo's frame callback removed",
        "none: safe_compile cannot guard without it (it raises)",
    ),
    "torch._dynamo.convert_frame.skip_code": Internal(
        "torch._dynamo.convert_frame",
        "skip_code",
        (2, 0),
        "running a guard's own frame uncompiled under another compiled region's callback",
        "a module compiled in place and compiled again may compile into more frames than "
        "torch.compile's own",
    ),
    "OptimizedModule._orig_mod": Internal(
        "", "_orig_mod", (2, 0), "a module result's own module", "the module, uncompiled"
    ),
    "OptimizedModule.dynamo_ctx": Internal(
        "", "dynamo_ctx", (2, 0), "guarding what a module result compiles", "the module, uncompiled"
    ),
    "OptimizedModule._initialize": Internal(
        "", "_initialize", (2, 0), "making a module result's forward", "the module, uncompiled"
    ),
    "compiled._torchdynamo_orig_callable": Internal(
        "",
        "_torchdynamo_orig_callable",
        (2, 0),
        "the innermost original a guard runs eagerly",
        "the object safe_compile was given runs eagerly",
    ),
    "compiled._torchdynamo_inline": Internal(
        "",
        "_torchdynamo_inline",
        (2, 0),
        "what dynamo traces when a guard is called from another compiled region",
        "dynamo traces the guard itself",
    ),
    "compiled.get_compiler_config": Internal(
        "", "get_compiler_config", (2, 0), "torch's public dress of a compiled function", "none"
    ),
    "compiled._is_torch_compile": Internal(
        "",
        "_is_torch_compile",
        (2, 13),
        "dynamo's test for a nested torch.compile result (nested fullgraph)",
        "a nested guard counts as an ordinary wrapper",
    ),
    "torch._dynamo.exc.BackendCompilerFailed": _exc(
        _DYNAMO_EXC, "BackendCompilerFailed", (2, 0), _FAILURE, _NO_FALLBACK
    ),
    "torch._dynamo.exc.Unsupported": _exc(
        _DYNAMO_EXC, "Unsupported", (2, 0), _FAILURE, _NO_FALLBACK
    ),
    "torch._dynamo.exc.InternalTorchDynamoError": _exc(
        _DYNAMO_EXC, "InternalTorchDynamoError", (2, 0), _FAILURE, _NO_FALLBACK
    ),
    # Not in 2.0.1's torch/_dynamo/exc.py (read from its wheel, seen in the matrix); 2.1.2 has it.
    "torch._dynamo.exc.RecompileError": _exc(
        _DYNAMO_EXC, "RecompileError", (2, 1), _FAILURE, _NO_FALLBACK
    ),
    "torch._dynamo.exc.FailOnRecompileLimitHit": _exc(
        _DYNAMO_EXC, "FailOnRecompileLimitHit", (2, 9), _FAILURE, _NO_FALLBACK
    ),
    # Its older name; read on no release since 2.2: never expected, used where present.
    "torch._dynamo.exc.CacheLimitExceeded": _exc(
        _DYNAMO_EXC, "CacheLimitExceeded", (99,), _FAILURE, _NO_FALLBACK
    ),
    "torch._inductor.exc.InductorError": _exc(
        _INDUCTOR_EXC, "InductorError", (2, 13), _FAILURE, _NO_FALLBACK
    ),
    "torch._inductor.exc.InvalidCxxCompiler": _exc(
        _INDUCTOR_EXC, "InvalidCxxCompiler", (2, 13), _FAILURE, _NO_FALLBACK
    ),
    "torch._inductor.exc.CppCompileError": _exc(
        _INDUCTOR_EXC, "CppCompileError", (2, 13), _FAILURE, _NO_FALLBACK
    ),
    "torch._dynamo.exc.TorchRuntimeError": _exc(
        _DYNAMO_EXC, "TorchRuntimeError", (2, 0), _USER, _NO_TELL
    ),
    # Not in 2.0.1's torch/_dynamo/exc.py (read from its wheel); 2.1.2 has it.
    "torch._dynamo.exc.UserError": _exc(_DYNAMO_EXC, "UserError", (2, 1), _USER, _NO_TELL),
    "torch._dynamo.exc.ObservedException": _exc(
        _DYNAMO_EXC, "ObservedException", (2, 4), _USER, _NO_TELL
    ),
    "torch._dynamo.exc.RestartAnalysis": _exc(
        _DYNAMO_EXC, "RestartAnalysis", (2, 0), _SIGNAL, _NO_TELL
    ),
    "torch._dynamo.exc.SkipFrame": _exc(_DYNAMO_EXC, "SkipFrame", (2, 0), _SIGNAL, _NO_TELL),
    "torch._dynamo.exc.exceptions_allowed_to_be_fallback": _exc(
        _DYNAMO_EXC, "exceptions_allowed_to_be_fallback", (2, 2), _SIGNAL, _NO_TELL
    ),
}

#: The exception classes of dynamo and inductor, by what they mean to ``fallback="eager"``
#: (the one table of them: :mod:`torchcompat._fallback` and the backend read it).
COMPILE_FAILURES = tuple(name for name, row in INTERNALS.items() if row.purpose == _FAILURE)
USER_ERRORS = tuple(name for name, row in INTERNALS.items() if row.purpose == _USER)
DYNAMO_SIGNALS = tuple(name for name, row in INTERNALS.items() if row.purpose == _SIGNAL)
