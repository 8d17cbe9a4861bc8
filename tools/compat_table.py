"""Build docs/compatibility.md from the probe results of a real matrix run.

    python3 tools/compat_table.py .matrix/probes/*.json -o docs/compatibility.md

Each JSON file is what tests/test_characterization.py wrote in one tox env (tools/matrix.py sets
``TORCHCOMPAT_PROBE_OUT``): the exact torch build, and per switch the raw ``torch.compile`` and
``safe_compile`` cases, each called twice. Nothing in the table is typed by hand.

Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from frameworks_table import render as render_frameworks
from scenario_table import NO_FRAMES, call_phrase, python_of, render_scenarios, run_key

__all__ = ["SWITCH_TITLES", "call_phrase", "case_phrase", "record_run", "render", "write_table"]


# The probe's switches, in table order, with what each one is.
SWITCH_TITLES: dict[str, str] = {
    "none": "No switch set",
    "TORCH_COMPILE_DISABLE=1": "`TORCH_COMPILE_DISABLE=1` (set before torch starts)",
    "TORCH_COMPILE_DISABLE=0": "`TORCH_COMPILE_DISABLE=0` (set before torch starts)",
    "TORCH_COMPILE_DISABLE=true": "`TORCH_COMPILE_DISABLE=true` (set before torch starts)",
    "TORCHDYNAMO_DISABLE=1": "`TORCHDYNAMO_DISABLE=1` (torch reads it at every torch.compile call)",
    "config.disable": "`torch._dynamo.config.disable = True` after wrapping, then back to False",
    "force_eager": '`torch.compiler.set_stance("force_eager")` after wrapping, then "default"',
}


def case_phrase(case: dict[str, Any]) -> str:
    """One table cell: what wrapping gave, then what the calls did."""
    if "wrap_error" in case:
        return f"**raises when wrapping**: `{case['wrap_error']}`"
    if "unavailable" in case and "calls" not in case:
        return f"n/a: {case['unavailable']}"
    parts: list[str] = []
    if case.get("identity"):
        parts.append("returns f itself")
    if any(w.startswith("TorchCompatWarning") for w in case.get("wrap_warnings", [])):
        parts.append("TorchCompatWarning")
    calls = [call_phrase(c) for c in case["calls"]]
    if len(set(calls)) == 1:
        parts.append(calls[0])
    else:
        parts.append("; ".join(f"call {i}: {c}" for i, c in enumerate(calls, 1)))
    if "after" in case:
        parts.append(f"after undoing it: {call_phrase(case['after'])}")
    return "; ".join(parts)


def _cell(probes: dict[str, Any], switch: str, api: str, fullgraph: bool) -> str:
    for case in probes.get(switch, []):
        if case["api"] == api and case["fullgraph"] is fullgraph:
            return case_phrase(case).replace("|", "\\|")
    return "not probed"


RUN_KINDS = {
    "default": "the default run, CI's (`tools/matrix.py --compat-table docs/compatibility.md`)",
    "extended": "a run with `--extended`",
    "envs": "a run with `--envs` (one or more envs, on a clean clone)",
}


def record_run(kept: Path, kind: str, report: dict[str, Any], probes: list[Path]) -> None:
    """Keep this run's probe files in ``kept`` (one per env, replacing that env's last ones) and
    its figures in ``kept/runs.json``: the page is built from every env's last recorded run."""
    kept.mkdir(parents=True, exist_ok=True)
    record_file = kept / "runs.json"
    record: dict[str, Any] = {"runs": {}, "envs": {}}
    if record_file.exists():
        record = json.loads(record_file.read_text(encoding="utf-8"))
    fields = ("python", "status", "passed", "failed", "skipped", "root_s", "install_s", "test_s")
    # Only envs that ran (an interrupted run leaves the others' last records as they were).
    ran = [e for e in report["envs"] if e["status"] not in ("not run", "interrupted")]
    envs = {e["env"]: e for e in ran}
    for env in ran:
        record["envs"][env["env"]] = {
            "kind": kind,
            "started": report["started"],
            "release": env["release"],
            **{k: env[k] for k in fields},
        }
    phases = {p: sum(e[f"{p}_s"] for e in envs.values()) for p in ("root", "install", "test")}
    record["runs"][kind] = {
        "started": report["started"],
        "command": report["command"],
        "wall_s": report["wall_s"],
        "peak_load": report.get("peak_load"),
        "envs": len(envs),
        "failed_envs": sorted(name for name, env in envs.items() if env["status"] != "ok"),
        **{f"{k}_s": v for k, v in phases.items()},
    }
    for path in probes:
        run = json.loads(path.read_text(encoding="utf-8"))
        run["run"] = {"kind": kind, "started": report["started"], "env": path.stem}
        (kept / path.name).write_text(json.dumps(run) + "\n", encoding="utf-8")
        # tests/test_scenarios.py and tests/test_clients.py write theirs next to the probe.
        for suffix in (".scenarios.json", ".clients.json"):
            beside = path.with_suffix(suffix)
            if beside.exists():
                shutil.copy(beside, kept / beside.name)
    record_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


# README's line with the last default run's figures, between these two comments: written by
# tools/matrix.py (and checked by tests/test_readme.py) from runs.json, never typed.
TOTAL_MARKS = ("<!-- matrix-total -->", "<!-- /matrix-total -->")


def total_sentence(record: dict[str, Any]) -> str | None:
    """The last default run in one sentence (None before one was recorded)."""
    run = record.get("runs", {}).get("default")
    if run is None:
        return None
    failed = run.get("failed_envs", [])
    outcome = f"failed: {', '.join(failed)}" if failed else "all green"
    return (
        f"The last default run (started {run['started']}) took {run['wall_s'] / 60:.1f} min for "
        f"{run['envs']} envs on this project's 2-core machine, {outcome}."
    )


def write_total(readme: Path, record: dict[str, Any]) -> bool:
    """Put :func:`total_sentence` between README's marks; False where it has none."""
    sentence = total_sentence(record)
    text = readme.read_text(encoding="utf-8")
    start, end = TOTAL_MARKS
    if sentence is None or start not in text or end not in text:
        return False
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    readme.write_text(f"{before}{start}{sentence}{end}{after}", encoding="utf-8")
    return True


def _load(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_runs(record: dict[str, Any]) -> list[str]:
    """The page's last part: which run recorded which row, and how long each env took."""
    lines = [
        "## The runs that recorded this page",
        "",
        "Every row above comes from the last run that ran its env, on a 2-core machine (the "
        "one this project's CI uses): per env, the Python, the run and its date, its counts "
        "and its seconds per phase (*root*: making the Debian root of its Python, counted on "
        "the first env of that root; *install*: `tox run --notest`, the next env's during the "
        "current env's tests; *test*: the suite). *peak load*: the highest 1-minute load "
        "average seen (2 cores: above 2, other work shared the machine and the seconds are "
        "longer than on a quiet one).",
        "",
        "| run | started | command | envs | wall (min) | roots (min) | installing (min) "
        "| testing (min) | peak load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, run in sorted(record.get("runs", {}).items()):
        lines.append(
            f"| {kind} | {run['started']} | `{run['command']}` | {run['envs']} | "
            f"{run['wall_s'] / 60:.1f} | {run['root_s'] / 60:.1f} | {run['install_s'] / 60:.1f} "
            f"| {run['test_s'] / 60:.1f} | {_load(run.get('peak_load'))} |"
        )
    lines += [
        "",
        "| env | Python | torch | run | started | status | passed | failed | skipped | root s "
        "| install s | test s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for env, row in record.get("envs", {}).items():
        lines.append(
            f"| {env} | {row['python']} | {row['release']} | {row['kind']} | {row['started']} | "
            f"{row['status']} | {row['passed']} | {row['failed']} | {row['skipped']} | "
            f"{row['root_s']:.0f} | {row['install_s']:.0f} | {row['test_s']:.0f} |"
        )
    lines += ["", *(f"- *{kind}*: {text}" for kind, text in RUN_KINDS.items()), ""]
    # Runs the matrix cannot make (Python 3.12 is in no current Debian suite): recorded by hand
    # in runs.json, "elsewhere", with the command that gave the counts.
    elsewhere = record.get("elsewhere", [])
    if elsewhere:
        lines += [
            "Runs of the suite outside the matrix:",
            "",
            "| where | Python | torch | date | with | passed | failed | skipped | command |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {row['where']} | {row['python']} | {row['torch']} | {row['date']} | "
            f"{row['with']} | {row['passed']} | {row['failed']} | {row['skipped']} | "
            f"`{row['command']}` |"
            for row in elsewhere
        ]
        lines.append("")
    return lines


def render(
    runs: list[dict[str, Any]],
    when: datetime | None = None,
    record: dict[str, Any] | None = None,
) -> str:
    """The Markdown page for ``runs`` (one probe JSON per torch build)."""
    when = when or datetime.now(timezone.utc)
    runs = sorted(runs, key=run_key)
    lines = [
        "# What torch.compile does under each off-switch, release by release",
        "",
        "<!-- Generated by tools/compat_table.py from a tools/matrix.py run. Do not edit. -->",
        "",
        f"Generated {when:%Y-%m-%d %H:%M} UTC (`python3 tools/matrix.py --compat-table "
        "docs/compatibility.md`) from the probes that `tests/test_characterization.py` ran in "
        "the tox env of each release. The builds:",
        "",
        "| torch | git | CUDA | Python | recorded by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        build = run["build"]
        git = (build.get("git_version") or "-")[:12]
        by = run.get("run", {})
        recorded = f"{by.get('kind', '-')} run, {by.get('started', '-')}"
        lines.append(
            f"| {build['torch']} | {git} | {build.get('cuda') or 'none (CPU)'} | "
            f"{build['python']} | {recorded} |"
        )
    lines += [
        "",
        "Each row is a real run of the suite on that build, on this project's 2-core machine "
        "(*recorded by*: the run that last ran its env; the last section has each run's date "
        "and minutes). The release facts that the tests hold each row to "
        "(`torchcompat/_releases.py`, `torchcompat/_release_arguments.py`) were read from each "
        "release's own wheel (2.2.2, 2.3.1, 2.4.1, 2.9.1 and 2.10.0 in December 2026, the others "
        "in November 2026) and "
        "`tests/test_releases.py` checks them against the installed torch in every row's env. "
        "Python 3.11 is this machine's; 3.13 (Debian trixie), 3.14 and 3.15 (Debian forky) run "
        "in Debian roots that the matrix makes (`tools/debian_root.py`).",
        "",
        "How each cell was measured: a fresh function `f(x) = x * 2 + 1` (counting its runs) is "
        "wrapped with raw `torch.compile(f, fullgraph=..., backend=B)` or with "
        "`torchcompat.safe_compile(f, ...)` (same arguments), where `B` is a backend that counts "
        "the runs of compiled graphs, and called twice. *compiled*: a compiled graph ran; "
        "*eager*: the body ran as plain Python; *body ran, then RuntimeError*: torch raised "
        f'"{NO_FRAMES}" after the body ran, so the return value was lost; *warns*: the same as '
        "a UserWarning. `TORCH_COMPILE_DISABLE` is set before the interpreter starts (torch reads "
        "it once); `TORCHDYNAMO_DISABLE` is set around wrapping and calling; the runtime switches "
        "are flipped after wrapping, and undone before one more call, which shows whether the "
        "function still compiles.",
        "",
    ]
    for switch, title in SWITCH_TITLES.items():
        lines += [
            f"## {title}",
            "",
            "| torch | Python | raw, fullgraph=True | raw, fullgraph=False | safe_compile, "
            "fullgraph=True | safe_compile, fullgraph=False |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for run in runs:
            probes = run["probes"]
            cells = [
                _cell(probes, switch, api, fullgraph)
                for api in ("raw", "safe")
                for fullgraph in (True, False)
            ]
            label = f"| {run['build']['torch']} | {python_of(run)} | "
            lines.append(label + " | ".join(cells) + " |")
        lines.append("")
    lines += render_scenarios(runs)
    clients = [run["clients"] for run in runs if "clients" in run]
    if clients:
        lines += [render_frameworks(clients), ""]
    if record is not None:
        lines += render_runs(record)
    return "\n".join(lines)


def write_table(paths: list[Path], out: Path) -> list[str]:
    """Render ``paths`` (probe JSON files) into ``out``; return the names of unreadable ones."""
    runs: list[dict[str, Any]] = []
    bad: list[str] = []
    for path in paths:
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
            # tests/test_scenarios.py writes its results next to the switch probes.
            scenarios = path.with_suffix(".scenarios.json")
            if scenarios.exists():
                run["scenarios"] = json.loads(scenarios.read_text(encoding="utf-8"))["scenarios"]
            # tests/test_clients.py: the frameworks that compile for you (some envs only).
            clients = path.with_suffix(".clients.json")
            if clients.exists():
                run["clients"] = json.loads(clients.read_text(encoding="utf-8"))
            runs.append(run)
        except (OSError, ValueError):
            bad.append(path.stem)
    record_file = paths[0].parent / "runs.json" if paths else None
    record = None
    if record_file is not None and record_file.exists():
        record = json.loads(record_file.read_text(encoding="utf-8"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(runs, record=record), encoding="utf-8")
    return bad


def main(argv: list[str] | None = None) -> int:
    """Command line: probe files in, Markdown out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probes", nargs="+", type=Path, help="probe JSON files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the Markdown file")
    args = parser.parse_args(argv)
    bad = write_table(args.probes, args.output)
    if bad:
        print(f"compat_table: could not read {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
