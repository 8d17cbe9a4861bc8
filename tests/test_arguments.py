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
