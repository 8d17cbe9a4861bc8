"""The report that ``python -m torchcompat`` prints: versions, switches, and what safe_compile does.

It never imports torch: everything comes from package metadata, the environment and the release
facts, so the report is quick and works where importing torch itself fails.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from torchcompat._releases import ReleaseFacts
from torchcompat.gate import ENV_SWITCHES, compile_gate, unusable_reason
from torchcompat.version import installed_facts, torch_version

__all__ = ["build_report", "format_report"]


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _what_safe_compile_does(facts: ReleaseFacts | None, disabled: bool) -> list[str]:
    if facts is None:
        return ["torch is not installed: safe_compile returns every object uncompiled."]
    if not facts.compile_usable:
        return [
            "this torch cannot compile here: safe_compile returns the object uncompiled and "
            "says why once (TorchCompatWarning)."
        ]
    lines = []
    torch = f"torch {torch_version()}"
    if facts.fullgraph_check == "raise":
        lines.append(
            f"fullgraph=True with compilation off: {torch} raises RuntimeError after running the "
            "body; safe_compile returns the eager object."
        )
        lines.append(
            "a fullgraph=True result reads torch._dynamo.config.disable on each call and runs "
            "the original eagerly while it is set."
        )
    elif facts.fullgraph_check == "warn":
        lines.append(
            f"fullgraph=True with compilation off: {torch} warns once after running the body; "
            "safe_compile returns the eager object."
        )
    else:
        lines.append(f"{torch} has no fullgraph compiled-frames check.")
    lines.append(
        "every result reads torch._dynamo.config.disable (and, where needed, the force_eager "
        "stance) on each call and runs the original eagerly, with dynamo off, while it is set."
    )
    if facts.loose_env_parse:
        lines.append(
            f'{torch} turns dynamo off for any non-empty TORCH_COMPILE_DISABLE ("0" too); '
            'safe_compile applies torch 2.8\'s rule: only "1" disables.'
        )
    if disabled:
        lines.append(
            "compilation is off now: safe_compile returns objects uncompiled (guarded, where a "
            "runtime switch that can be undone is what turned it off)."
        )
    return lines


def build_report() -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    facts = installed_facts()
    gate = compile_gate()
    version = torch_version()
    switches: dict[str, Any] = {name: os.environ.get(name) for name in ENV_SWITCHES}
    return {
        "torchcompat": _dist_version("torchcompat-shim"),
        "torch": None if version is None else str(version),
        "python": platform.python_version(),
        "platform": sys.platform,
        "compile_usable": facts is not None and facts.compile_usable,
        "compile_unusable_reason": (
            "torch is not installed"
            if facts is None
            else None
            if facts.compile_usable
            else unusable_reason(facts)
        ),
        "disabled": gate.disabled,
        "reason": gate.reason,
        "switch": gate.switch,
        "env": switches,
        "torch_imported": "torch" in sys.modules,
        "fullgraph_check": None if facts is None else facts.fullgraph_check,
        "safe_compile": _what_safe_compile_does(facts, gate.disabled),
        # Filled in by ``--check`` (torchcompat._check.run_check); None without it.
        "check": None,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as text for people and bug reports."""
    env = ", ".join(
        f"{name}={value!r}" if value is not None else f"{name} unset"
        for name, value in report["env"].items()
    )
    decision = f"off, because {report['reason']}" if report["disabled"] else "on"
    lines = [
        f"torchcompat   {report['torchcompat'] or 'not installed as a distribution'}",
        f"torch         {report['torch'] or 'not installed'}",
        f"python        {report['python']} ({report['platform']})",
        "compile       "
        + (
            "usable"
            if report["compile_usable"]
            else f"not usable: {report['compile_unusable_reason']}"
        ),
        f"switches      {env}",
        f"compilation   {decision}",
        "safe_compile:",
    ]
    lines.extend(f"  - {line}" for line in report["safe_compile"])
    check = report.get("check")
    if check is not None:
        lines.append(f"check         {_format_check(check)}")
    return "\n".join(lines)


def _format_check(check: dict[str, Any]) -> str:
    if not check["works"]:
        verdict = "FAILED" if check["expected"] else "not expected to compile here"
        return f"{verdict} (exit {check['exit_status']}): {check['reason']}"
    build = f", a CUDA {check['cuda']} build" if check["cuda"] else ""
    return (
        f"works: compiled a function and a module with the default backend on "
        f"{check['device']} (torch {check['torch_build']}{build}); first compile "
        f"{check['first_compile_s']:.1f} s, the module {check['module_compile_s']:.1f} s"
    )
