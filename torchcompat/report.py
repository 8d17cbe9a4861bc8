"""The report that ``python -m torchcompat`` prints: versions, switches, and what safe_compile does.

It never imports torch: everything comes from package metadata, the environment, the text of
torch's ``version.py`` and the release facts, so the report is quick and works where importing
torch itself fails. It also names what inductor would build with (:mod:`torchcompat._toolchain`:
the C++ compiler, Triton, the build's CUDA or ROCm).
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from torchcompat import _releases, _toolchain
from torchcompat._releases import ReleaseFacts, newer_than_read
from torchcompat.gate import ENV_SWITCHES, compile_gate, unusable_reason
from torchcompat.version import installed_facts, torch_version

__all__ = ["build_report", "format_check", "format_report"]


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


def _assumed_from(facts: ReleaseFacts | None) -> str | None:
    """``"2.15"`` where the installed release is newer than every release read; else None."""
    from torchcompat._releases import assumed_from

    return None if facts is None else assumed_from(facts.release)


def build_report() -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    facts = installed_facts()
    gate = compile_gate()
    version = torch_version()
    switches: dict[str, Any] = {name: os.environ.get(name) for name in ENV_SWITCHES}
    return {
        # Only the exact string "1" disables: a switch set to anything else leaves it on.
        "env_leaves_on": {
            name: value for name, value in switches.items() if value is not None and value != "1"
        },
        "newest_read": ".".join(map(str, _releases.NEWEST_READ)),
        "facts_assumed_from": _assumed_from(facts),
        "build": None if facts is None else _toolchain.build_accelerator(),
        "cxx": _toolchain.cxx_compiler(),
        "triton": _toolchain.triton(),
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
    torch = report["torch"]
    lines = [
        f"torchcompat   {report['torchcompat'] or 'not installed as a distribution'}",
        f"torch         {torch + _format_build(report['build']) if torch else 'not installed'}",
    ]
    if report["facts_assumed_from"] is not None:
        lines.append(f"              {newer_than_read(torch, report['facts_assumed_from'])}")
    lines += [
        f"python        {report['python']} ({report['platform']})",
        "compile       "
        + (
            "usable"
            if report["compile_usable"]
            else f"not usable: {report['compile_unusable_reason']}"
        ),
        f"C++ compiler  {_format_cxx(report['cxx'])}",
        f"triton        {_format_triton(report['triton'])}",
        f"switches      {env}",
    ]
    lines.extend(
        f'              {name}={value!r} leaves compilation on: only the exact string "1" disables'
        for name, value in report["env_leaves_on"].items()
    )
    lines += [f"compilation   {decision}", "safe_compile:"]
    lines.extend(f"  - {line}" for line in report["safe_compile"])
    check = report.get("check")
    if check is not None:
        lines.append(format_check(check))
    return "\n".join(lines)


def format_check(check: dict[str, Any]) -> str:
    """The report's line for ``--check``'s result (the last line of the text report)."""
    return f"check         {_format_check(check)}"


def _format_build(build: dict[str, str | None] | None) -> str:
    if build is None:
        return ""
    if build["cuda"]:
        return f" (a CUDA {build['cuda']} build)"
    if build["hip"]:
        return f" (a ROCm {build['hip']} build)"
    return " (a CPU-only build)"


def _format_cxx(cxx: dict[str, Any]) -> str:
    if not cxx["works"]:
        return (
            f"none works ({cxx['compiler']} --version fails: inductor cannot build CPU code; "
            "install g++ or set CXX)"
        )
    return f"{cxx['compiler']}" + (f": {cxx['version']}" if cxx["version"] else "")


def _format_triton(triton: dict[str, Any]) -> str:
    if not triton["found"]:
        return "not installed (inductor needs it for GPU code, not for CPU code)"
    return f"{triton['version'] or 'installed, version unknown'} (found, not imported)"


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
