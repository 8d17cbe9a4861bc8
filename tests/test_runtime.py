"""The fast read of ``torch._dynamo.config.disable``: it agrees with torch's, or is not used."""

from __future__ import annotations

from typing import Any

import pytest

from torchcompat import TorchCompatWarning, _config_read, _runtime, _warnings, safe_compile

from .conftest import FACTS, TORCH, Counted, needs_compile, needs_dynamo

VALUES: list[Any] = [True, False]
if FACTS is not None and FACTS.loose_env_parse:
    VALUES += ["0", "1", ""]  # 2.0-2.7 may hold the raw TORCH_COMPILE_DISABLE string


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> Any:
    """torch._dynamo.config, with the reader's once-per-process decision forgotten."""
    from torch._dynamo import config

    monkeypatch.setattr(_runtime, "_checked", None)
    monkeypatch.setattr(_runtime, "_reader", None)
    return config


@needs_dynamo
@pytest.mark.parametrize("value", VALUES)
def test_every_release_gets_the_fast_read_and_it_agrees(unchecked: Any, value: Any) -> None:
    """Every released torch stores config.disable in a shape the fast read knows; it agrees."""
    read = _config_read.fast_disable_reader()
    assert read is not None, f"{TORCH}: no fast read, every call would pay the public read"
    unchecked.disable = value
    try:
        assert read() == unchecked.disable
    finally:
        unchecked.disable = False


def _layer(config: Any, forced: dict[str, bool]) -> Any:
    """A precedence layer a future torch might add: it decides config.disable first."""
    original = type(config).__getattr__

    def __getattr__(module: Any, name: str) -> Any:
        if module is config and name == "disable" and forced["on"]:
            return True
        return original(module, name)

    return __getattr__


@needs_compile
def test_a_disagreeing_fast_read_is_not_used(
    unchecked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted (stubs torch's ConfigModule.__getattr__): a layer the fast read cannot see says
    "off". The check warns and falls back to the public read, and a result runs eagerly while
    the layer says so (torch 2.13+ would raise)."""
    import torch

    forced = {"on": True}
    monkeypatch.setattr(type(unchecked), "__getattr__", _layer(unchecked, forced))
    monkeypatch.setattr(_warnings, "said", set())
    assert unchecked.disable is True
    with pytest.warns(TorchCompatWarning, match="storage shape"):
        assert _config_read.fast_disable_reader() is None
    assert _runtime.disable_reader()() is True  # decided now: the public read

    forced["on"] = False
    body, backend = Counted(), _GraphRuns()
    result = safe_compile(body, fullgraph=True, backend=backend)
    result(torch.ones(2))
    assert backend.runs == 1
    forced["on"] = True
    result(torch.ones(3))  # a new shape: torch would have to compile
    assert (body.runs, backend.runs) == (2, 1), "the planted 'off' was read as 'on'"
    forced["on"] = False
    result(torch.ones(2))
    assert backend.runs == 2


class _GraphRuns:
    """A backend counting the runs of the graphs it compiled."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, gm: Any, example_inputs: Any) -> Any:
        def run(*args: Any) -> Any:
            self.runs += 1
            return gm.forward(*args)

        return run
