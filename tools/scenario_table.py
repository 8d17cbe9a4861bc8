"""The scenario part of docs/compatibility.md (tools/compat_table.py renders the rest).

Each torch build's ``<probe>.scenarios.json``, written by tests/test_scenarios.py: per switch,
timing, composition and fullgraph, raw ``torch.compile`` and ``safe_compile`` side by side, with
releases that did the same thing grouped into one row.

Stdlib only.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COMPOSITION_TITLES",
    "SCENARIO_SECTIONS",
    "call_phrase",
    "render_scenarios",
    "scenario_phrase",
]

NO_FRAMES = "found no compiled frames"


def call_phrase(call: dict[str, Any]) -> str:
    """One call in a word or two (compiled, eager, warned, raised); the bad outcomes in bold."""
    if "wrap_error" in call:
        return f"**raises when wrapping** `{call['wrap_error']}`"
    error = call.get("error")
    if error:
        if NO_FRAMES in error:
            return "**body ran, then RuntimeError**" if call.get("runs") else "**RuntimeError**"
        return f"**raises** `{error}`"
    words = "compiled" if call["graph_runs"] else "eager"
    if any(NO_FRAMES in w for w in call["warnings"]):
        words += ", **warns**"
    elif call["warnings"]:
        words += f", warns `{call['warnings'][0]}`"
    if call["runs"] != 1:
        words += f" (body ran {call['runs']}x)"
    if call.get("ok") is False:
        words += " (**wrong result**)"
    return words


# tests/test_scenarios.py: switch and timing, in page order, with what each one is.
SCENARIO_SECTIONS: dict[tuple[str, str], str] = {
    ("TORCH_COMPILE_DISABLE=1", "before"): "`TORCH_COMPILE_DISABLE=1` set before torch starts",
    ("TORCHDYNAMO_DISABLE=1", "before"): "`TORCHDYNAMO_DISABLE=1` set while wrapping and calling",
    ("config.disable", "before"): "`config.disable = True` before wrapping",
    ("config.disable", "cold"): "`config.disable = True` after wrapping, before the first call",
    ("config.disable", "warm"): "`config.disable = True` after a first call compiled (warm)",
    ("force_eager", "before"): '`set_stance("force_eager")` before wrapping',
    ("force_eager", "cold"): '`set_stance("force_eager")` after wrapping, before the first call',
    ("force_eager", "warm"): '`set_stance("force_eager")` after a first call compiled (warm)',
}
COMPOSITION_TITLES: dict[str, str] = {
    "direct": "function",
    "method": "bound method",
    "module": "module",
    "class": "class",
    "nested": "called from a compiled function",
    "shared": "shared code (fullgraph twin)",
    "deepcopy": "deepcopy of a module result",
    "pickle": "pickle of a module result",
    "torch.save": "torch.save/load of a module result",
    "rewrap": "wrapped twice (same API)",
    "raw-outer": "torch.compile(result)",
}


def _after_phrase(call: dict[str, Any]) -> str:
    """A call with the switch off again: eager there means the code stays uncompiled."""
    phrase = call_phrase(call)
    return "**uncompiled**" + phrase[len("eager") :] if phrase.startswith("eager") else phrase


def _calls_phrase(calls: list[dict[str, Any]]) -> str:
    phrases = [call_phrase(c) for c in calls]
    return phrases[0] if len(set(phrases)) == 1 else ", then ".join(phrases)


def scenario_phrase(case: dict[str, Any]) -> str:
    """One scenario cell: the switch's calls, then what compiles once it is off."""
    if "wrap_error" in case:
        return f"**raises when wrapping**: `{case['wrap_error']}`"
    if "unavailable" in case:
        return "n/a"
    parts = []
    if case.get("identity"):
        parts.append("the object itself")
    if any(w.startswith("TorchCompatWarning") for w in case.get("wrap_warnings", [])):
        parts.append("TorchCompatWarning")
    if case.get("warmup"):
        parts.append(f"first call {_calls_phrase(case['warmup'])}")
    parts.append(f"under the switch {_calls_phrase(case['calls'])}")
    after = {name: _after_phrase(c) for name, c in case.get("after", {}).items()}
    if after:
        if len(set(after.values())) == 1:
            parts.append(f"then {next(iter(after.values()))}")
        else:
            parts.append("then " + ", ".join(f"{n}: {p}" for n, p in after.items()))
    if case.get("own_weights") is False:
        parts.append("**copy shares weights**")
    return "; ".join(parts).replace("|", "\\|")


def _broken(case: dict[str, Any]) -> bool:
    """Whether a scenario raised or warned, or left code uncompiled once the switch was off: a
    fresh wrap of the same code, or the result itself where it is not the plain object."""
    if "unavailable" in case:
        return False
    if "wrap_error" in case:
        return True
    calls = case.get("warmup", []) + case["calls"] + list(case.get("after", {}).values())
    if any(c.get("error") or c.get("warnings") or "wrap_error" in c for c in calls):
        return True
    after = case.get("after", {})
    must_compile = ["fresh"] if case.get("identity") else list(after)
    return any(not after[name].get("graph_runs") for name in must_compile if name in after)


def python_of(run: dict[str, Any]) -> str:
    """The run's Python as major.minor ("3.13")."""
    return ".".join(str(run["build"]["python"]).split(".")[:2])


def run_key(run: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Table order: by Python, then by torch release."""
    public = str(run["build"]["torch"]).split("+")[0]
    release = tuple(int(p) if p.isdigit() else 0 for p in public.split("."))
    return tuple(int(p) for p in python_of(run).split(".")), release


def _summary_row(run: dict[str, Any], table: dict[tuple[Any, ...], dict[str, str]]) -> str:
    """One release's row of the summary; fills ``table`` with its cells on the way."""
    release = f"{run['build']['torch']} {python_of(run)}"
    counts = {"raw": 0, "safe": 0}
    total = 0
    for case in run["scenarios"]:
        key = (case["switch"], case["timing"], case["composition"], case["fullgraph"])
        table.setdefault(key, {})[f"{release} {case['api']}"] = scenario_phrase(case)
        if "unavailable" in case:
            continue
        total += case["api"] == "raw"
        # safe_compile's one TorchCompatWarning on a torch that cannot compile is its promise.
        said = "TorchCompatWarning" in str(case["wrap_warnings"])
        # torch.compile(result) is torch's own outer wrapper: counted for raw only.
        outer = case["api"] == "safe" and case["composition"] == "raw-outer"
        counts[case["api"]] += _broken(case) and not outer and not (case["api"] == "safe" and said)
    label = f"{run['build']['torch']} | {python_of(run)}"
    return f"| {label} | {total} | {counts['raw']} | {counts['safe']} |"


def render_scenarios(runs: list[dict[str, Any]]) -> list[str]:
    """The scenario part of the page: a summary per release, then one table per switch."""
    runs = [r for r in runs if r.get("scenarios")]
    if not runs:
        return []
    table: dict[tuple[Any, ...], dict[str, str]] = {}
    lines = [
        "## Scenarios: results composed the way real code composes them",
        "",
        "From `tests/test_scenarios.py`: each switch at each time (before wrapping; after "
        "wrapping, before the first call; after a first call compiled), each composition, "
        "fullgraph True and False, with raw `torch.compile` and with `safe_compile`. *under the "
        "switch*: the two calls made while it is on; *then*: with the switch off, the result "
        "again, a fresh wrap of the same code and what the composition adds (the twin, the inner "
        "result, the original of a copy); *uncompiled* there means torch left the code "
        "uncompiled for good. A scenario counts as broken when a call raised or warned, or code "
        "stayed uncompiled once the switch was off (a fresh wrap of the same code, or the result "
        "itself where it is not the plain object). Not counted for safe_compile: its one "
        "TorchCompatWarning where torch cannot compile here, and `torch.compile(result)`, which "
        "is torch's own wrapper.",
        "",
        "| torch | Python | scenarios | broken with raw torch.compile | broken with safe_compile |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        lines.append(_summary_row(run, table))
    lines.append("")
    for (switch, timing), title in SCENARIO_SECTIONS.items():
        lines += [
            f"### {title}",
            "",
            "| composition | fullgraph | torch | Python | raw torch.compile | safe_compile |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for comp, comp_title in COMPOSITION_TITLES.items():
            for fullgraph in (True, False):
                cells = table.get((switch, timing, comp, fullgraph), {})
                groups: list[tuple[list[str], tuple[str, str, str]]] = []
                for run in runs:
                    release, python = run["build"]["torch"], python_of(run)
                    key = f"{release} {python}"
                    cell = (python, cells.get(f"{key} raw", "-"), cells.get(f"{key} safe", "-"))
                    if groups and groups[-1][1] == cell:
                        groups[-1][0].append(release)
                    else:
                        groups.append(([release], cell))
                for releases, (python, raw_cell, safe_cell) in groups:
                    span = releases[0] if len(releases) == 1 else f"{releases[0]} - {releases[-1]}"
                    lines.append(
                        f"| {comp_title} | {fullgraph} | {span} | {python} | {raw_cell} | "
                        f"{safe_cell} |"
                    )
        lines.append("")
    return lines
