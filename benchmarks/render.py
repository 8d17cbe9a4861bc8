"""Write docs/performance.md from the JSON results under benchmarks/results/.

    python benchmarks/render.py [--results benchmarks/results] [--out docs/performance.md]

Every figure in the page comes from those files; nothing in it is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["GOALS", "Goal", "main", "portable", "render"]

ROOT = Path(__file__).resolve().parent.parent

# The goals of issues 2, 5, 9 and 18 (import: 15 ms until issue 18 set 5 ms).
IMPORT_GOAL_MS = 5.0
PLUGIN_GOAL_MS = 3.0
STARTUP_GOAL = 0.6
ON_GOAL = 1.05
GUARD_GOAL_NS = 250.0
OFF_GOAL = 0.6
OFF_EAGER_TOL = 0.02
GPU_GOAL = 1.01


_ABSOLUTE = re.compile(r"(?<![\w.])/[\w.+-]+(?:/[\w.+-]+)*")


def portable(text: str) -> str:
    """``text`` with the paths of the machine it ran on made neutral.

    An interpreter (``/x/venv/bin/python3``) becomes ``python``, any other absolute path its
    last part (``/tmp/out/cpu.json`` -> ``cpu.json``): the page names no machine's folders.
    """

    def neutral(match: re.Match[str]) -> str:
        path = match.group(0)
        last = path.rstrip("/").rsplit("/", 1)[-1]
        return "python" if re.fullmatch(r"python[\d.]*", last) else last

    return _ABSOLUTE.sub(neutral, text)


def _release(result: dict[str, Any]) -> tuple[int, ...]:
    base = result["torch"]["version"].split("+")[0]
    return tuple(int(p) for p in base.split(".")[:3] if p.isdigit())


def _f(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def _spread(s: dict[str, Any], digits: int = 3, scale: float = 1.0) -> str:
    return (
        f"{_f(s['median'] * scale, digits)} "
        f"[{_f(s['p25'] * scale, digits)}, {_f(s['p75'] * scale, digits)}] "
        f"({_f(s['min'] * scale, digits)}-{_f(s['max'] * scale, digits)}, n={s['n']})"
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


class Goal(NamedTuple):
    """One row of the goals table: a figure read out of one CPU run, and its bound."""

    label: str
    goal: str
    #: The figure in one run (``None``: the run did not measure it).
    value: Callable[[dict[str, Any]], float | None]
    #: Whether a figure meets the goal.
    met: Callable[[float], bool]
    #: The cell's text for one run (default: the figure, 3 digits).
    cell: Callable[[dict[str, Any]], str] | None = None


def _get(*keys: str) -> Callable[[dict[str, Any]], float | None]:
    def read(run: dict[str, Any]) -> float | None:
        value: Any = run
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value)

    return read


def _at_most(bound: float) -> Callable[[float], bool]:
    return lambda value: value <= bound


def _imp(key: str) -> Callable[[dict[str, Any]], float | None]:
    return _get("sections", "import", key, "median")


def _import_cell(run: dict[str, Any]) -> str:
    s = run["sections"]["import"]
    return (
        f"{_f(s['delta_ms']['median'], 1)} (bare interpreter "
        f"{_f(s['bare_process_ms']['median'], 1)}); torch imported: {s['torch_imported']}"
    )


def _plugin(key: str) -> Callable[[dict[str, Any]], float | None]:
    read = _get("sections", "plugin", key, "median")

    def value(run: dict[str, Any]) -> float | None:
        section = run.get("sections", {}).get("plugin")
        if section is not None and not section["plugin_loaded"]:
            return float("inf")  # not measured at all: a miss, whatever the time
        return read(run)

    return value


def _plugin_cell(kind: str) -> Callable[[dict[str, Any]], str]:
    def cell(run: dict[str, Any]) -> str:
        s = run["sections"]["plugin"]
        if not s["plugin_loaded"]:
            return "plugin not loaded (torchcompat not importable where measured)"
        wall, cpu = s[f"{kind}_delta_ms"], s[f"{kind}_delta_cpu_ms"]
        return (
            f"{_f(wall['median'], 1)} [{_f(wall['p25'], 1)}, {_f(wall['p75'], 1)}]; CPU "
            f"{_f(cpu['median'], 1)} (pytest alone {_f(s['pytest_alone_ms']['median'], 0)})"
        )

    return cell


def _plugin_counted(kind: str) -> Callable[[dict[str, Any]], float | None]:
    read = _get("sections", "plugin", f"{kind}_counted_ms")

    def value(run: dict[str, Any]) -> float | None:
        section = run.get("sections", {}).get("plugin")
        if section is not None and not section["plugin_loaded"]:
            return float("inf")
        return read(run)

    return value


def _counted_cell(kind: str) -> Callable[[dict[str, Any]], str]:
    def cell(run: dict[str, Any]) -> str:
        s = run["sections"]["plugin"]
        counts = s.get("instructions")
        if counts is None:
            return "not measured (no valgrind where run)"
        c = counts[kind]
        text = (
            f"{_f(s[f'{kind}_counted_ms'], 2)}: {(c['torchcompat'] - c['alone']) / 1e6:.1f} M "
            f"instructions over pytest alone's {c['alone'] / 1e6:.0f} M; pytest's own for any "
            f"installed plugin (an empty one): {(c['empty'] - c['alone']) / 1e6:.1f} M "
            f"({_f(s[f'{kind}_empty_counted_ms'], 2)} ms)"
        )
        if "blocked" in c:
            text += (
                f"; for torchcompat's distribution with its plugin blocked: "
                f"{(c['blocked'] - c['alone']) / 1e6:.1f} M "
                f"({_f(s[f'{kind}_blocked_counted_ms'], 2)} ms)"
            )
        return text

    return cell


def _off_cell(work: str) -> Callable[[dict[str, Any]], str]:
    def cell(run: dict[str, Any]) -> str:
        w = run["sections"]["percall_off"]["workloads"][work]
        return f"{_f(w['safe_over_torch']['median'])} [{_f(1 / w['torch_over_eager']['median'])}]"

    return cell


def _guard_cell(label: str) -> Callable[[dict[str, Any]], str]:
    def cell(run: dict[str, Any]) -> str:
        g = run["sections"]["percall_on"]["guard_ns"]["alone_ns"]["added_ns"][label]
        return f"{_f(g['median'], 0)} [{_f(g['p25'], 0)}, {_f(g['p75'], 0)}]"

    return cell


_ON_WORK = ("tiny", "tiny, fullgraph=False", "mlp", "mlp, fullgraph=False")

#: Every goal, in the page's order: adding a goal is adding a row.
GOALS: list[Goal] = [
    Goal(
        "1. `import torchcompat` over a bare interpreter, ms (process wall-time delta)",
        f"<= {IMPORT_GOAL_MS:g} ms, torch not imported",
        # torch imported is a miss whatever the time.
        lambda r: (
            float("inf") if r["sections"]["import"]["torch_imported"] else _imp("delta_ms")(r)
        ),
        _at_most(IMPORT_GOAL_MS),
        _import_cell,
    ),
    Goal(
        "1b. the same, timed inside the process (`perf_counter` around the import), ms",
        f"<= {IMPORT_GOAL_MS:g} ms",
        _imp("in_process_import_ms"),
        _at_most(IMPORT_GOAL_MS),
    ),
    Goal(
        "1c. the same delta in the child's CPU time (user + system), ms",
        f"<= {IMPORT_GOAL_MS:g} ms",
        _imp("delta_cpu_ms"),
        _at_most(IMPORT_GOAL_MS),
    ),
    Goal(
        "1d. `python -X importtime -c 'import torchcompat'`: torchcompat's cumulative time, ms",
        f"<= {IMPORT_GOAL_MS:g} ms",
        _imp("importtime_ms"),
        _at_most(IMPORT_GOAL_MS),
    ),
    Goal(
        "1e. a one-test pytest run with torchcompat installed (its `pytest11` entry point and "
        "`RECORD`) over pytest alone (no torchcompat distribution; other plugins blocked), "
        "wall ms, pytest's header on (the plugin adds its line)",
        f"<= {PLUGIN_GOAL_MS:g} ms, plugin loaded",
        _plugin("header_delta_ms"),
        _at_most(PLUGIN_GOAL_MS),
        _plugin_cell("header"),
    ),
    Goal(
        "1f. the same with `-q` (no header), ms",
        f"<= {PLUGIN_GOAL_MS:g} ms",
        _plugin("quiet_delta_ms"),
        _at_most(PLUGIN_GOAL_MS),
        _plugin_cell("quiet"),
    ),
    Goal(
        "1g. the delta of 1e counted in instructions (valgrind; repeatable whatever the box's "
        "load), turned into ms at pytest alone's instructions per CPU ms in the same run",
        f"<= {PLUGIN_GOAL_MS:g} ms",
        _plugin_counted("header"),
        _at_most(PLUGIN_GOAL_MS),
        _counted_cell("header"),
    ),
    Goal(
        "1h. the same with `-q` (no header), ms",
        f"<= {PLUGIN_GOAL_MS:g} ms",
        _plugin_counted("quiet"),
        _at_most(PLUGIN_GOAL_MS),
        _counted_cell("quiet"),
    ),
    Goal(
        "1i. the plugin's own time inside that run (loading it, and each of its hook calls, "
        "timed with `perf_counter` in the child), ms, header on",
        f"<= {PLUGIN_GOAL_MS:g} ms",
        _plugin("header_in_process_ms"),
        _at_most(PLUGIN_GOAL_MS),
    ),
    Goal(
        "1j. the same with `-q` (no header), ms",
        f"<= {PLUGIN_GOAL_MS:g} ms",
        _plugin("quiet_in_process_ms"),
        _at_most(PLUGIN_GOAL_MS),
    ),
    Goal(
        "2. start-up, Linear + `fullgraph=True` under `TORCH_COMPILE_DISABLE=1`: "
        "safe_compile / torch.compile",
        f"<= {STARTUP_GOAL}",
        _get("sections", "startup", "safe_over_torch", "median"),
        _at_most(STARTUP_GOAL),
    ),
    Goal(
        "2b. the same ratio in the processes' CPU time",
        f"<= {STARTUP_GOAL}",
        _get("sections", "startup", "safe_over_torch_cpu", "median"),
        _at_most(STARTUP_GOAL),
    ),
    *[
        Goal(
            f"3. per call, on (`fullgraph={'False' if 'False' in work else 'True'}, "
            f'backend="eager"`), {work.split(",")[0]}: safe_compile / torch.compile',
            f"<= {ON_GOAL}",
            _get("sections", "percall_on", "workloads", work, "safe_over_torch", "median"),
            _at_most(ON_GOAL),
        )
        for work in _ON_WORK
    ],
    *[
        Goal(
            f"3b. the guard's own cost, ns per call ({label}; the guard safe_compile installs, "
            "around a trivial callable, minus that callable; CPU time)",
            f"<= {GUARD_GOAL_NS:g} ns",
            _get("sections", "percall_on", "guard_ns", "alone_ns", "added_ns", label, "median"),
            _at_most(GUARD_GOAL_NS),
            _guard_cell(label),
        )
        for label in ("guard, fullgraph=True", "guard, fullgraph=False")
    ],
    *[
        row
        for work in ("tiny", "mlp")
        for row in (
            Goal(
                f"4. per call, off, {work}: safe_compile / torch.compile "
                "[the floor: eager / torch.compile]",
                f"<= {OFF_GOAL}",
                _get("sections", "percall_off", "workloads", work, "safe_over_torch", "median"),
                _at_most(OFF_GOAL),
                _off_cell(work),
            ),
            Goal(
                f"4. per call, off, {work}: safe_compile / eager",
                f"within {OFF_EAGER_TOL:.0%} of 1",
                _get("sections", "percall_off", "workloads", work, "safe_over_eager", "median"),
                lambda value: abs(value - 1) <= OFF_EAGER_TOL,
            ),
        )
    ],
]


def _goal_rows(cpu: list[dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    """The goals table's rows (a goal no run measured is left out), and each miss, stated."""
    rows: list[list[str]] = []
    misses: list[str] = []
    for goal in GOALS:
        values = [goal.value(r) for r in cpu]
        if all(v is None for v in values):
            continue
        cells = []
        for run, value in zip(cpu, values):
            if value is None:
                cells.append("not measured")
                continue
            text = goal.cell(run) if goal.cell else _f(value)
            ok = goal.met(value)
            cells.append(f"{text} ({_verdict(ok)})")
            if not ok:
                m = run["machine"]
                misses.append(
                    f"- Missed: {goal.label.split(' ', 1)[0].rstrip('.')} on torch "
                    f"{run['torch']['version']}: {text} against {goal.goal} (commit "
                    f"{run['torchcompat'].get('commit', '?')}; load average "
                    f"{m['loadavg_start'][0]:.1f} at start on {m['cpus']} CPUs)."
                )
        rows.append([goal.label, goal.goal, *cells])
    return rows, misses


def _is_installed(label: str) -> bool:
    """The read safe_compile picks (``fast`` in runs before the guard covered every release)."""
    return "installed" in label or "fast" in label


def _gpu_goal_rows(gpu: list[dict[str, Any]], columns: int) -> list[str]:
    """One row per model and mode: the latest run's fast-read ratio, the earlier runs beside it."""
    if not gpu:
        return []
    cells: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for run in gpu:
        for name, model in run["models"].items():
            for mode, e in model.get("modes", {}).items():
                for label, ratio in e.get("ratios_over_torch", {}).items():
                    if _is_installed(label):
                        cells.setdefault((name, mode), []).append((run["date_utc"], ratio))
    last = gpu[-1]
    rows = []
    for (name, mode), runs in cells.items():
        date, ratio = runs[-1]
        g = ratio["median"]
        earlier = ", ".join(f"{d[11:16]}: {_f(r['median'], 4)}" for d, r in runs[:-1])
        rows.append(
            f"| GPU ({last['machine']['gpu']}, torch {last['torch']['version']}): safe_compile's "
            f"guard (installed read) / torch.compile, per call, {name}, mode {mode} "
            f"| <= {GPU_GOAL} "
            f"| {_f(g, 4)} [{_f(ratio['p25'], 3)}, {_f(ratio['p75'], 3)}] "
            f"({_verdict(g <= GPU_GOAL)}; run at {date[11:16]} UTC"
            f"{'; earlier runs ' + earlier if earlier else ''}) |" + " |" * (columns - 1)
        )
    return rows


def _profile_section(p: dict[str, Any]) -> list[str]:
    mc = p["module_call"]
    fc = p["forward_call"]
    lines = [
        f"### Profile: the guard on the 4x512 MLP, `{p['kwargs']}`, {p['gpu']}, torch {p['torch']}",
        "",
        f"- command: `{portable(p['command'])}`; "
        f"torchcompat commit {p['torchcompat'].get('commit', '?')}",
        "- one compiled object; its `forward` alternated per sample between torch.compile's "
        "own and safe_compile's guard around it (installed by safe_compile, its own read)",
        "",
    ]
    lines += _table(
        ["measurement", "torch.compile, us", "guarded, us", "guarded - torch.compile, us", "ratio"],
        [
            [
                "through `nn.Module.__call__` (as users call it)",
                _spread(mc["per_call_us"]["torch.compile"], 2),
                _spread(mc["per_call_us"]["guarded"], 2),
                _spread(mc["guarded_minus_torch_us"], 2),
                _spread(mc["guarded_over_torch"], 4),
            ],
            [
                "`forward` called directly",
                _spread(fc["per_call_us"]["torch.compile"], 2),
                _spread(fc["per_call_us"]["guarded"], 2),
                _spread(fc["guarded_minus_torch.compile_us"], 2),
                _spread(fc["guarded_over_torch.compile"], 4),
            ],
        ],
    )
    lines += [
        "",
        "cProfile, own time per call (us; cProfile inflates every Python call, so only the "
        "difference between the two columns is meaningful; '-': not among the top 40), the "
        "rows that differ most:",
        "",
    ]
    guarded = {r["function"]: r for r in p["profile_guarded"]["top_own_time"]}
    plain = {r["function"]: r for r in p["profile_torch_compile"]["top_own_time"]}
    diffs = []
    for fn in set(guarded) | set(plain):
        g = guarded.get(fn, {}).get("own_us_per_call", 0.0)
        t = plain.get(fn, {}).get("own_us_per_call", 0.0)
        diffs.append((abs(g - t), fn, t, g))
    diffs.sort(reverse=True)
    lines += _table(
        ["function", "torch.compile", "guarded"],
        [
            [f"`{fn}`", _f(t, 2) if fn in plain else "-", _f(g, 2) if fn in guarded else "-"]
            for _d, fn, t, g in diffs[:6]
        ],
    )
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _cpu_section(r: dict[str, Any]) -> list[str]:
    s = r["sections"]
    m = r["machine"]
    t = r["torch"]
    lines = [
        f"### CPU, torch {t['version']}",
        "",
        f"- command: `{portable(r['command'])}`",
        f"- date: {r['date_utc']}; wall time of the run: {r['elapsed_s']:.0f} s",
        f"- machine: {m['cpu']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; "
        f"load average at start {m['loadavg_start'][0]:.2f}, at end {m['loadavg_end'][0]:.2f} "
        "(shared with other work)",
        f"- torch build: {t['version']} (git {t['git'][:12]}, CUDA {t['cuda']}); "
        f"per-call workers ran with {s['percall_on']['torch']['threads']} intra-op thread",
        f"- torchcompat measured: commit {r['torchcompat'].get('commit', '?')} (source sha256 "
        f"{r['torchcompat']['sha256']})",
        "",
        "Cells: median [p25, p75] (min-max, n rounds). Sections 1-2 time whole processes "
        "(wall clock; CPU time of the child beside it); sections 3-5 time calls inside one "
        f"process with {r.get('in_process_timer', 'the wall clock')}.",
        "",
    ]
    imp = s["import"]
    lines += _table(
        ["1. import", "ms"],
        [
            [
                "bare interpreter (`python -c pass`), whole process",
                _spread(imp["bare_process_ms"], 1),
            ],
            [
                "`python -c 'import torchcompat'`, whole process",
                _spread(imp["import_process_ms"], 1),
            ],
            ["delta per round (import - bare)", _spread(imp["delta_ms"], 1)],
            *(
                [["delta per round, CPU time of the child", _spread(imp["delta_cpu_ms"], 1)]]
                if "delta_cpu_ms" in imp
                else []
            ),
            [
                "in-process `import torchcompat`, bytecode cached",
                _spread(imp["in_process_import_ms"], 1),
            ],
            [
                "in-process, `PYTHONDONTWRITEBYTECODE=1` (source compiled each start)",
                _spread(imp["in_process_import_no_bytecode_ms"], 1),
            ],
            ["torch imported by `import torchcompat`", str(imp["torch_imported"])],
            ["packaging imported by `import torchcompat`", str(imp["packaging_imported"])],
        ],
    )
    st = s["startup"]
    lines += [""]
    lines += _table(
        ["2. start-up under `TORCH_COMPILE_DISABLE=1`", "value"],
        [
            ["safe_compile script, s", _spread(st["process_s"]["safe_compile"], 3)],
            ["torch.compile script, s", _spread(st["process_s"]["torch.compile"], 3)],
            ["ratio safe_compile / torch.compile (per round)", _spread(st["safe_over_torch"])],
            *(
                [
                    ["safe_compile script, CPU s", _spread(st["process_cpu_s"]["safe_compile"])],
                    ["torch.compile script, CPU s", _spread(st["process_cpu_s"]["torch.compile"])],
                    ["ratio in CPU time (per round)", _spread(st["safe_over_torch_cpu"])],
                ]
                if "process_cpu_s" in st
                else []
            ),
            [
                "torch._dynamo imported (safe_compile / torch.compile)",
                f"{st['dynamo_imported']['safe_compile']} / "
                f"{st['dynamo_imported']['torch.compile']}",
            ],
        ],
    )
    for key, title in (
        ("percall_on", "3. per call, compilation on"),
        ("percall_off", "4. per call, compilation off (`TORCH_COMPILE_DISABLE=1`)"),
    ):
        sec = s[key]
        lines += ["", f"{title}.", ""]
        rows = []
        for work, w in sec["workloads"].items():
            pc = w["per_call_s"]
            kw = w.get("kwargs", {"fullgraph": True, "backend": "eager"})
            torch_kw = w.get("torch_kwargs", sec.get("torch_kwargs"))
            called = f"`{kw}`" + (f"; torch.compile: `{torch_kw}`" if torch_kw != kw else "")
            rows.append(
                [
                    work,
                    called,
                    _spread(pc["eager"], 2, 1e6),
                    _spread(pc["torch.compile"], 2, 1e6),
                    _spread(pc["safe_compile"], 2, 1e6),
                    _spread(w["safe_over_torch"]),
                    _spread(w["safe_over_eager"]),
                    f"{w['safe_type']}; is input: {w['safe_is_input']}; "
                    f"guarded: {w['safe_guarded']}",
                ]
            )
        lines += _table(
            [
                "workload",
                "called with",
                "eager, us",
                "torch.compile, us",
                "safe_compile, us",
                "safe / torch",
                "safe / eager",
                "safe_compile returned",
            ],
            rows,
        )
    guard = s["percall_on"].get("guard_ns")
    if guard:
        lines += [
            "",
            '3b. safe_compile\'s guard alone: one compiled `return x` (`backend="eager"`) per '
            "fullgraph value, called bare and through the guard that safe_compile installs "
            "around it (the real guard of this release), with each `config.disable` read "
            "(`installed` = the one safe_compile picks on this torch, `public` = its fallback), "
            "and a bare pass-through `def f(*args, **kwargs)` around the same object: the floor "
            "of any Python wrapper.",
            "",
        ]
        lines += _guard_table(guard)
    lines += ["", "5. the gate, ns per call", ""]
    rows = []
    for state, v in s["gate"]["states_ns"].items():
        if v is None:
            rows.append([state, "n/a (import torch loaded dynamo)", ""])
            continue
        rows.append([state, _spread(v["is_compile_disabled"], 0), _spread(v["compile_gate"], 0)])
    lines += _table(["state", "is_compile_disabled()", "compile_gate()"], rows)
    return lines


def _gpu_section(r: dict[str, Any]) -> list[str]:  # noqa: PLR0912
    m = r["machine"]
    t = r["torch"]
    src = r["torchcompat"]
    lines = [
        f"### GPU, {m['gpu']}, torch {t['version']}",
        "",
        f"- command (on the device machine, repository root): `{portable(r['command'])}`",
        f"- date: {r['date_utc']}; wall time of the run: {r.get('elapsed_s', 0):.0f} s",
        f"- machine: {m['gpu']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']}",
        f"- torch build: {t['version']} (git {t['git'][:12]}, CUDA {t['cuda']}); "
        + ", ".join(f"{k} {t[k]}" for k in ("triton", "transformers", "timm") if k in t),
        f"- torchcompat measured: commit {src.get('commit', '?')} (source sha256 {src['sha256']})",
        f"- settings: {r['args']}",
        "",
        'Columns: `torch.compile` = `torch.compile(model, backend="inductor", fullgraph=True, '
        "mode=...)` called as usual. The two `guarded` columns are the *same* compiled object "
        "with safe_compile's guard installed on its `forward` by safe_compile itself (its "
        "`torch.compile` call handed that object back). So each `guarded / torch.compile` "
        "ratio is the guard's cost and nothing else: same dynamo cache entries, same CUDA "
        "graphs. Where a column says `fast read` or the guard was installed by a stand-in "
        "(runs of torchcompat 0.1.0, before every release was guarded), the run is kept for "
        "history. `installed read` is the `config.disable` read safe_compile picks on this "
        "torch (see `reader` below); `public read` is its fallback, "
        "`torch._dynamo.config.disable` through torch's config module. "
        "Per call = a sample of many calls, "
        "CUDA-synchronised, per round; rounds interleaved in shuffled order. "
        "Cells: median [p25, p75] (min-max, n rounds).",
        "",
    ]
    labels: list[str] = []
    for model in r["models"].values():
        for e in model.get("modes", {}).values():
            for label in e.get("ratios_over_torch", {}):
                if label not in labels:
                    labels.append(label)
    rows = []
    for name, model in r["models"].items():
        if "modes" not in model:
            rows.append([name, "", model.get("error", model.get("skipped", "")), *[""] * 6])
            continue
        for mode, e in model["modes"].items():
            if "per_call_us" not in e:
                err = e.get("error", "?")[:300].replace("|", "/").replace("\n", " ")
                rows.append([name, mode, "error: " + err, *[""] * 6])
                continue
            pc = e["per_call_us"]
            row = [name, mode, _spread(pc["eager"], 1), _spread(pc["torch.compile"], 1)]
            row += [_spread(pc[label], 1) for label in labels]
            row += [
                f"{_spread(e['ratios_over_torch'][label], 4)}"
                + (
                    f" ({_verdict(e['ratios_over_torch'][label]['median'] <= GPU_GOAL)})"
                    if _is_installed(label)
                    else ""
                )
                for label in labels
            ]
            row.append(
                f"{e['outputs_match']} ("
                + ", ".join(f"{k} {v:.1e}" for k, v in e["rel_err_vs_eager"].items())
                + ")"
            )
            rows.append(row)
    lines += _table(
        [
            "model",
            "mode",
            "eager, us",
            "torch.compile, us",
            *[f"{label}, us" for label in labels],
            *[
                f"{label} / torch.compile"
                + (f" (goal <= {GPU_GOAL})" if _is_installed(label) else "")
                for label in labels
            ],
            "outputs = eager (rel. error)",
        ],
        rows,
    )
    lines += ["", "Facts checked in the same run:", ""]
    for name, model in r["models"].items():
        for mode, e in model.get("modes", {}).items():
            if "safe_type" in e:
                lines.append(
                    f"- {name}, mode {mode}: `safe_compile(model, ...)` on this torch returned "
                    f"`{e['safe_type']}` (torch.compile's type: "
                    f"{e['safe_is_torch_compile_type']}; guarded: "
                    f"{e['safe_guarded_by_torchcompat']}); first call incl. compile "
                    f"{e['compile_s_torch']:.1f} s"
                )
            if "ratios_over_torch_thread_cpu" in e:
                lines.append(
                    f"- {name}, mode {mode}, the same ratios in the timing thread's CPU time: "
                    + "; ".join(
                        f"{label} / torch.compile {_spread(v, 4)}"
                        for label, v in e["ratios_over_torch_thread_cpu"].items()
                    )
                )
        for case, ok in model.get("disabled_returns_module", {}).items():
            lines.append(f"- {name}: with {case}, `safe_compile(model, ...) is model`: {ok}")
    fresh = r.get("fresh_process_disabled", {})
    lines.append(
        "- a fresh process with `TORCH_COMPILE_DISABLE=1`: `safe_compile(module, "
        'fullgraph=True, mode="reduce-overhead")` returned the module: '
        f"{fresh.get('is_module')}; torch._dynamo imported: {fresh.get('dynamo_imported')}"
    )
    if "reader" in r.get("guard_ns", {}):
        lines.append(f"- `config.disable` read safe_compile picked: {r['guard_ns']['reader']}")
    if "guard_ns" in r:
        lines += ["", "The guard alone on that machine's CPU, ns per call:", ""]
        lines += _guard_table(r["guard_ns"])
    return lines


def _guard_table(g: dict[str, Any]) -> list[str]:
    bare = [k for k in g if k.startswith("compiled")]
    rows = [[f"{k} (torch.compile, eager backend, `return x`)", _spread(g[k], 0), ""] for k in bare]
    for label, added in g["added_ns"].items():
        rows.append([label, _spread(g[label], 0), _spread(added, 0)])
    lines = _table(["callable", "ns per call", "added over the compiled call, ns"], rows)
    alone = g.get("alone_ns")
    if alone:
        lines += [
            "",
            "The guard closure alone: `torchcompat._guard.guard` with the `Guard` this "
            "release's results get, around a trivial `def target(x): return x` (a compiled "
            "call's own jitter hides a few hundred ns), next to that target bare and through a "
            "bare pass-through `def f(*args, **kwargs)`:",
            "",
        ]
        rows = [["target, bare", _spread(alone["target"], 0), "", ""]]
        for label, added in alone["added_ns"].items():
            over = alone["over_pass_through_ns"].get(label)
            rows.append(
                [
                    label,
                    _spread(alone[label], 0),
                    _spread(added, 0),
                    _spread(over, 0) if over else "",
                ]
            )
        lines += _table(
            ["callable", "ns per call", "added over the target, ns", "added over pass-through, ns"],
            rows,
        )
    if "read_ns" in g:
        lines += [
            "",
            f"The `config.disable` read alone, ns per call (safe_compile picked "
            f"`{g['reader']['reader']}`; fast read for this torch's storage shape: "
            f"{g['reader']['fast']}): "
            + "; ".join(f"{k} {_spread(v, 0)}" for k, v in g["read_ns"].items()),
        ]
    return lines


def _plugin_cell_of(section: dict[str, Any] | None, kind: str, inside: bool | None) -> str:
    """One run's cell for the plugin's cost: the process delta (``inside`` False), its time
    inside the run (True), or the delta counted in instructions (None)."""
    if section is None:
        return "not measured"
    if not section["plugin_loaded"]:
        return "plugin not loaded (**missed**)"
    if inside is not False:
        key = f"{kind}_in_process_ms" if inside else f"{kind}_counted_ms"
        value = section.get(key)
        if value is None:
            return "not measured"
        if inside:
            return f"{_spread(value, 1)} ({_verdict(value['median'] <= PLUGIN_GOAL_MS)})"
        return f"{_f(value, 2)} ({_verdict(value <= PLUGIN_GOAL_MS)})"
    wall = section[f"{kind}_delta_ms"]
    loaded_as = section.get("loaded_as") or ""
    how = (
        ""
        if "RECORD" in loaded_as
        else "; against `-p no:torchcompat`, as before"
        if loaded_as
        else "; `-p` against nothing, as before"
    )
    met = _verdict(wall["median"] <= PLUGIN_GOAL_MS)
    cpu = section[f"{kind}_delta_cpu_ms"]["median"]
    return f"{_spread(wall, 1)}; CPU {_f(cpu, 1)} ({met}{how})"


def _plugin_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    """The plugin's rows of the side-by-side table: per kind, over pytest alone and inside."""
    labels: list[tuple[str, str, bool | None]] = [
        ("pytest plugin over pytest alone, header on (`run.py`'s plugin section)", "header", False),
        ("the same delta counted in instructions (valgrind), as ms", "header", None),
        ("the plugin's own time inside that run (`perf_counter` in the child)", "header", True),
        ("the same with `-q` (no header)", "quiet", False),
        ("`-q`, counted in instructions, as ms", "quiet", None),
        ("its own time inside the `-q` run", "quiet", True),
    ]
    # The plugin's share apart from pytest's for its distribution, and without written pycs.
    counted = [
        (f"{what}, {shown}, counted, ms", f"{kind}_{key}_counted_ms")
        for kind, shown in (("header", "header on"), ("quiet", "`-q`"))
        for key, what in (
            ("over_blocked", "over torchcompat installed with `-p no:torchcompat`"),
            ("no_bytecode_over_blocked", "the same under `PYTHONDONTWRITEBYTECODE=1`"),
        )
    ]
    rows = [
        [label, *[_plugin_cell_of(r["sections"].get("plugin"), kind, inside) for r in runs]]
        for label, kind, inside in labels
    ]
    for label, key in counted:
        values = [(r["sections"].get("plugin") or {}).get(key) for r in runs]
        rows.append([label, *("not measured" if v is None else _f(v, 2) for v in values)])
    # What the ms above are made of: instructions, a share of pytest alone's whatever the box,
    # turned into ms at pytest alone's CPU time in the same run.
    for kind, shown in (("header", "header on"), ("quiet", "`-q`")):
        cells = []
        for r in runs:
            counts = ((r["sections"].get("plugin") or {}).get("instructions") or {}).get(kind)
            if not counts:
                cells.append("not measured")
                continue
            extra, alone = counts["torchcompat"] - counts["alone"], counts["alone"]
            share = 100 * extra / alone
            cells.append(f"{extra / 1e6:.1f} M of {alone / 1e6:.0f} M ({share:.2f} %)")
        rows.append([f"{shown}: instructions over pytest alone's (share of them)", *cells])
    cells = []
    for r in runs:
        per = (r["sections"].get("plugin") or {}).get("per_test")
        cells.append(
            "not measured" if not per
            else f"{_f(per['counted_us'], 1)} µs ({per['instructions_per_test'] / 1e3:.0f} k "
            f"instructions; a {per['tests']}-test suite)"
        )  # fmt: skip
    rows.append(["each test past the first, `-q` (counted, at the same rate), µs", *cells])
    cpu = [(r["sections"].get("plugin") or {}).get("pytest_alone_cpu_ms") for r in runs]
    rows.append(
        ["pytest alone, header on, CPU time of the child (the rate counts are turned into ms at)",
         *("not measured" if c is None else _spread(c, 1) for c in cpu)]
    )  # fmt: skip
    return rows


def _import_section(runs: list[dict[str, Any]]) -> list[str]:
    """The import alone, run after run (``run.py --only-import``), each against the goal."""
    if not runs:
        return []
    machines = {(r["machine"]["cpu"], r["machine"]["python"]) for r in runs}
    header = [
        "figure, ms",
        *[
            f"commit {r['torchcompat'].get('commit', '?')}"
            + (f" ({r['machine']['cpu']}, Python {r['machine']['python']})" if len(machines) > 1
               else "")
            for r in runs
        ],
    ]  # fmt: skip
    figures = [
        ("delta per round, whole process (import - bare)", "delta_ms"),
        ("the same, CPU time of the child", "delta_cpu_ms"),
        ("inside the process (`perf_counter` around the import)", "in_process_import_ms"),
        ("`-X importtime`: torchcompat's cumulative time", "importtime_ms"),
        ("bare interpreter (`python -c pass`), whole process", "bare_process_ms"),
    ]
    rows = []
    for label, key in figures:
        cells = []
        for r in runs:
            s = r["sections"]["import"].get(key)
            if s is None:
                cells.append("not measured")
                continue
            text = _spread(s, 1)
            if key != "bare_process_ms":
                text += f" ({_verdict(s['median'] <= IMPORT_GOAL_MS)})"
            cells.append(text)
        rows.append([label, *cells])
    rows += _plugin_rows(runs)
    lines = [
        "## Import, side by side",
        "",
        f"`python benchmarks/run.py --only-import`, one run per commit, one after the other on the "
        f"same box (goal <= {IMPORT_GOAL_MS:g} ms over a bare interpreter; the pytest plugin "
        f"<= {PLUGIN_GOAL_MS:g} ms over pytest alone). Cells: median [p25, p75] (min-max, "
        "n rounds).",
        "",
    ]
    lines += _table(header, rows)
    lines.append("")
    for r in runs:
        m = r["machine"]
        lines.append(
            f"- commit {r['torchcompat'].get('commit', '?')}: {r['date_utc']}, torch "
            f"{r['torch']['version']}, {m['cpu']}, {m['cpus']} CPUs, Python {m['python']}; load "
            f"average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end; "
            f"command `{portable(r['command'])}`"
        )
    return lines


def render(results: Path) -> str:
    files = sorted(results.glob("*.json"))
    loaded = [json.loads(p.read_text()) for p in files]
    cpu = sorted((r for r in loaded if r.get("kind") == "cpu"), key=_release)
    gpu = sorted((r for r in loaded if r.get("kind") == "gpu"), key=lambda r: r["date_utc"])
    profiles = [r for r in loaded if "module_call" in r]
    lines = [
        "# Performance",
        "",
        "<!-- Generated by `python benchmarks/render.py` from benchmarks/results/*.json."
        " Do not edit by hand: rerun the benchmarks and the generator. -->",
        "",
        "What torchcompat costs next to `torch.compile` and plain eager, measured as ratios "
        "inside one run (interleaved rounds; see `benchmarks/README.md` for the method and how "
        "to rerun). The raw per-round samples are in `benchmarks/results/*.json`.",
        "",
        "## Goals",
        "",
        "Each cell: the median ratio (or ms) over interleaved rounds, and whether it meets the "
        "goal.",
        "",
    ]
    rows, misses = _goal_rows(cpu)
    lines += _table(["figure", "goal", *[f"torch {r['torch']['version']}" for r in cpu]], rows)
    lines += _gpu_goal_rows(gpu, len(cpu))
    if misses:
        lines += ["", *misses]
    imports = sorted(
        (json.loads(p.read_text()) for p in sorted(results.glob("import/*.json"))),
        key=lambda r: r["date_utc"],
    )
    if imports:
        lines += ["", *_import_section(imports)]
    lines += ["", "## CPU runs", ""]
    for r in cpu:
        lines += [*_cpu_section(r), ""]
    if gpu:
        lines += ["## GPU runs", ""]
        for r in reversed(gpu):
            lines += [*_gpu_section(r), ""]
        for p in profiles:
            lines += [*_profile_section(p), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(args.results))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
