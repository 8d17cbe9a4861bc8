"""Values torch.compile refuses are refused while compilation is off too, with torch's message."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from torchcompat import safe_compile

from .conftest import FACTS, TORCH, needs_compile, needs_dynamo, run_python

needs_value_table = pytest.mark.skipif(
    FACTS is None or FACTS.builtin_backends is None,
    reason=f"{TORCH} checks no backend names (a bare KeyError before 2.1): nothing to mirror",
)


def f(x: Any) -> Any:
    return x


# Run with TORCH_COMPILE_DISABLE=1 in a fresh interpreter: what safe_compile says, and that
# torch was never imported to say it.
TYPOS_WHILE_OFF = """
import sys
from torchcompat import safe_compile

def f(x):
    return x

for kwargs in ({"mode": "max-autotun"}, {"backend": "inductr"}, {"backend": "eager", "mode": "x"}):
    try:
        safe_compile(f, **kwargs)
        print("accepted")
    except RuntimeError as e:
        print(str(e).split(",")[0].split(":")[0])
assert "torch" not in sys.modules, "torch was imported"
"""


@needs_value_table
def test_typos_are_refused_while_off_without_importing_torch() -> None:
    """A mistyped mode or backend fails under TORCH_COMPILE_DISABLE=1, as it does when on."""
    lines = run_python(TYPOS_WHILE_OFF, TORCH_COMPILE_DISABLE="1").stdout.splitlines()
    # eager ignores mode (torch passes it to the backend, which logs and drops it).
    assert lines == [
        "Unrecognized mode=max-autotun",
        "Invalid backend",
        "accepted",
    ]


@needs_value_table
@pytest.mark.parametrize("switch", ["TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE"])
def test_every_known_value_passes_while_off(switch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each built-in backend and each inductor mode of this release is accepted while off."""
    assert FACTS is not None
    assert FACTS.builtin_backends is not None
    monkeypatch.setenv(switch, "1")
    for backend in sorted(FACTS.builtin_backends):
        assert safe_compile(f, backend=backend) is f
    for mode in FACTS.inductor_modes or ():
        assert safe_compile(f, mode=mode) is f


ENTRY_POINT_BACKEND = """
import sys
from torchcompat import safe_compile

def f(x):
    return x

assert safe_compile(f, backend="torchcompat_test_backend") is f
try:
    safe_compile(f, backend="torchcompat_test_backend2")
except RuntimeError as e:
    print(e)
"""


@needs_value_table
def test_entry_point_backends_pass_while_off(tmp_path: Path) -> None:
    """A backend installed as a torch_dynamo_backends entry point is a valid name while off."""
    dist = tmp_path / "torchcompat_test_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: torchcompat-test-backend\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[torch_dynamo_backends]\ntorchcompat_test_backend = torchcompat_test_backend:compile\n"
    )
    path = str(tmp_path) + ":" + ":".join(p for p in sys.path if p)
    out = run_python(ENTRY_POINT_BACKEND, TORCH_COMPILE_DISABLE="1", PYTHONPATH=path).stdout
    assert "Invalid backend: 'torchcompat_test_backend2'" in out


@needs_dynamo
@needs_value_table
def test_backends_registered_at_run_time_pass_while_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name given to torch's register_backend is valid while off; an unregistered one is not."""
    from torch._dynamo import register_backend

    @register_backend(name="torchcompat_runtime_backend")  # type: ignore[misc]
    def backend(gm: Any, inputs: Any) -> Any:  # pragma: no cover - never compiles
        return gm

    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    assert safe_compile(f, backend="torchcompat_runtime_backend") is f
    with pytest.raises(RuntimeError, match="Invalid backend: 'torchcompat_runtime_backen'"):
        safe_compile(f, backend="torchcompat_runtime_backen")


@needs_compile
@needs_value_table
def test_while_on_torch_checks_with_its_own_class() -> None:
    """With compilation on, torch refuses the name itself (InvalidBackend, a RuntimeError)."""
    from torch._dynamo.exc import InvalidBackend

    with pytest.raises(InvalidBackend):
        safe_compile(f, backend="inductr")


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("fallbak", "fallback"), ("in_plac", "in_place"), ("fulgraph", "fullgraph")],
)
def test_typos_of_own_keywords_get_did_you_mean(typo: str, meant: str) -> None:
    """A mistyped keyword, safe_compile's own included, names the one meant and lists both own."""
    with pytest.raises(TypeError) as raised:
        safe_compile(f, **{typo: True})
    message = str(raised.value)
    assert f"did you mean {meant!r}" in message
    accepted = message.split(" takes ", 1)[1]
    assert "fallback" in accepted
    assert "in_place" in accepted


# Run with TORCH_COMPILE_DISABLE=1 in a fresh interpreter: each case's outcome, and that torch
# was never imported to reach it.
OPTIONS_WHILE_OFF = """
import sys
from torchcompat import safe_compile

def f(x):
    return x

cases = [
    {"options": {"bogus_opt": 1}},
    {"options": {"max-autotune": False, "triton.cudagraphs": False}},
    {"mode": "default", "options": {}},
    {"backend": "eager", "mode": "default", "options": {"max_autotune": False}},
    {"backend": "eager", "options": {"bogus_opt": 1}},
]
for kwargs in cases:
    try:
        safe_compile(f, **kwargs)
        print("accepted")
    except RuntimeError as e:
        print(str(e).split(",")[0].split(":")[0])
assert "torch" not in sys.modules, "torch was imported"
"""


@needs_value_table
def test_options_are_checked_while_off_without_importing_torch() -> None:
    """An unknown inductor option, and mode with options, fail under TORCH_COMPILE_DISABLE=1."""
    lines = run_python(OPTIONS_WHILE_OFF, TORCH_COMPILE_DISABLE="1").stdout.splitlines()
    assert lines == [
        "Unexpected optimization option bogus_opt",
        "accepted",
        "Either mode or options can be specified",
        "Either mode or options can be specified",
        "accepted",  # other backends get options at compile time, not when torch.compile is called
    ]


OPTION_CASES = [
    {"options": {"bogus_opt": 1}},
    {"options": {"max-autotune": False}},
    {"options": {"triton.cudagraphs": False}},
    {"mode": "default", "options": {}},
    {"backend": "eager", "mode": "default", "options": {}},
    {"backend": "eager", "options": {"bogus_opt": 1}},
]


@needs_compile
@needs_value_table
@pytest.mark.parametrize("kwargs", OPTION_CASES, ids=repr)
def test_options_refused_while_off_as_torch_refuses_them_on(
    kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While off, safe_compile refuses exactly the options cases torch.compile refuses when on."""
    import torch

    def outcome(compile_fn: Any) -> type[BaseException] | None:
        try:
            compile_fn(f, **{k: dict(v) if isinstance(v, dict) else v for k, v in kwargs.items()})
        except RuntimeError:
            return RuntimeError
        return None

    on = outcome(torch.compile)
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", "1")
    assert outcome(safe_compile) is on


@needs_compile
def test_option_names_read_from_text_cover_torchs_own() -> None:
    """Every option torch's inductor takes is among the names read from its config's text."""
    from torch._inductor import config

    from torchcompat._arguments import inductor_options

    read = inductor_options()
    assert read is not None
    for name in ("get_config_copy", "shallow_copy_dict", "to_dict"):
        if hasattr(config, name):
            torchs = set(getattr(config, name)())
            break
    else:  # pragma: no cover - every release 2.0-2.15 has one of them
        pytest.fail("torch._inductor.config has no way to list its options")
    assert torchs, "torch listed no options"
    assert torchs <= read, sorted(torchs - read)


@pytest.mark.parametrize(
    ("source", "names"),
    [
        pytest.param("a = 1\nb: int = 2\n", {"a", "b"}, id="assignments"),
        pytest.param("import os\nfrom x import y as z\n", {"os", "z"}, id="imports"),
        # torch 2.9.1: ``limit = None if (env_str := os.getenv(...)) is None else int(env_str)``.
        pytest.param("a = None if (env := f()) is None else env\n", {"a", "env"}, id="walrus"),
        pytest.param("f = lambda: (inner := 1)\n", {"f"}, id="walrus-in-lambda-stays-local"),
        pytest.param("if (flag := g()):\n    a = 1\n", {"flag", "a"}, id="walrus-in-if"),
        pytest.param("class triton:\n    cudagraphs = False\n", {"triton.cudagraphs"}, id="class"),
        pytest.param("try:\n    a = 1\nexcept E:\n    b = 2\n", {"a", "b"}, id="try"),
        pytest.param("__all__ = []\n", set(), id="dunder-skipped"),
    ],
)
def test_config_text_names_every_binding_torch_makes_an_option(
    source: str, names: set[str]
) -> None:
    """The reader of inductor's config text names what ``install_config_module`` would see."""
    import ast

    from torchcompat._arguments import _config_names

    found: set[str] = set()
    _config_names(ast.parse(source).body, "", found, {})
    assert found == names
