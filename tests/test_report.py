"""python -m torchcompat: the report for people and for machines, without importing torch."""

from __future__ import annotations

import json
import sys

import pytest

from torchcompat.__main__ import main
from torchcompat.version import torch_version

from .conftest import FACTS, run_python

EXPECTED_KEYS = {
    "torchcompat",
    "torch",
    "python",
    "platform",
    "compile_usable",
    "compile_unusable_reason",
    "disabled",
    "reason",
    "switch",
    "env",
    "torch_imported",
    "fullgraph_check",
    "safe_compile",
}


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def test_json_report_has_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object with every field, the versions of this environment."""
    data = _json(capsys)
    assert set(data) == EXPECTED_KEYS
    version = torch_version()
    assert data["torch"] == (None if version is None else str(version))
    assert data["python"] == ".".join(map(str, sys.version_info[:3]))
    assert data["fullgraph_check"] == (None if FACTS is None else FACTS.fullgraph_check)


@pytest.mark.parametrize("name", ["TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE"])
def test_report_names_the_deciding_switch(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a switch set, both forms say compilation is off and which switch decided."""
    monkeypatch.setenv(name, "1")
    data = _json(capsys)
    assert (data["disabled"], data["switch"], data["reason"]) == (True, name, f"{name}=1")
    assert data["env"] == {
        "TORCH_COMPILE_DISABLE": "1" if name == "TORCH_COMPILE_DISABLE" else None,
        "TORCHDYNAMO_DISABLE": "1" if name == "TORCHDYNAMO_DISABLE" else None,
    }
    assert main([]) == 0
    text = capsys.readouterr().out
    assert f"off, because {name}=1" in text


@pytest.mark.parametrize("value", ["0", "true", " 1"])
def test_report_shows_values_that_do_not_disable(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A set-but-not-"1" value is shown as it is and does not decide anything."""
    monkeypatch.setenv("TORCH_COMPILE_DISABLE", value)
    data = _json(capsys)
    assert data["env"]["TORCH_COMPILE_DISABLE"] == value  # type: ignore[index]
    assert data["switch"] != "TORCH_COMPILE_DISABLE"


def test_report_says_what_safe_compile_does_here(capsys: pytest.CaptureFixture[str]) -> None:
    """The text names this release's fullgraph behaviour, or why it cannot compile here."""
    assert main([]) == 0
    text = capsys.readouterr().out
    if FACTS is None:
        assert "torch is not installed" in text
    elif not FACTS.compile_usable:
        assert "not usable:" in text
    elif FACTS.fullgraph_check == "raise":
        assert "raises RuntimeError after running the body" in text
    elif FACTS.fullgraph_check == "warn":
        assert "warns once after running the body" in text
    else:
        assert "exactly what torch.compile returns" in text
    if FACTS is not None and FACTS.loose_env_parse and FACTS.compile_usable:
        assert 'only "1" disables' in text


def test_cli_runs_without_importing_torch() -> None:
    """The command works in a fresh interpreter and never imports torch."""
    out = run_python(
        "import sys, runpy\n"
        "sys.argv = ['torchcompat', '--json']\n"
        "try:\n"
        "    runpy.run_module('torchcompat', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "assert 'torch' not in sys.modules\n"
    ).stdout
    assert json.loads(out)["torch_imported"] is False


def test_bad_option_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown option exits with argparse's usage error naming it."""
    with pytest.raises(SystemExit) as info:
        main(["--jsno"])
    assert info.value.code == 2
    assert "--jsno" in capsys.readouterr().err
