"""The "Frameworks that compile for you" part of docs/compatibility.md.

Each torch build's ``<probe>.clients.json``, written by tests/test_clients.py: per scenario (a
library that calls ``torch.compile`` itself, or wraps a compiled module) and switch, what raw
``torch.compile``, the user's own ``safe_compile`` and torchcompat installed did over three
phases (compilation on, the switch on with a new batch size, the switch off again).

    python3 tools/frameworks_table.py .matrix/probes/*.clients.json

Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["SCENARIO_TITLES", "SWITCH_TITLES", "record_phrase", "render"]

NO_FRAMES = "found no compiled frames"

# tests/client_probe.py's scenarios, in page order, with what each one is.
SCENARIO_TITLES: dict[str, str] = {
    "generate/llama": "transformers `generate()` (static cache, its own `torch.compile`), Llama",
    "generate/gpt2": "transformers `generate()` (static cache, its own `torch.compile`), GPT-2",
    "nested/llama": "compiled decoder layers inside a compiled `forward` (fullgraph), Llama",
    "nested/gpt2": "compiled decoder layers inside a compiled `forward` (fullgraph), GPT-2",
    "accelerate/plugin": "accelerate `prepare()` with `TorchDynamoPlugin(fullgraph=True)`",
    "lightning/fit": "Lightning `Trainer.fit` of a compiled LightningModule",
    "fabric/setup": "Lightning Fabric's default `setup()` of a compiled module",
    "ddp": "`DistributedDataParallel` around a compiled module (gloo, 1 process)",
    "fsdp2": "FSDP2 `fully_shard` around a compiled module (gloo, 1 process)",
    "torchrun": "`torchrun --nproc_per_node 2` workers calling raw `torch.compile(fullgraph=True)`",
}
SWITCH_TITLES: dict[str, str] = {
    "none": "no switch",
    "TORCH_COMPILE_DISABLE=1": "`TORCH_COMPILE_DISABLE=1`",
    "config.disable": "`config.disable` (new batch size)",
    "force_eager": '`set_stance("force_eager")`',
}
# How an "installed" interpreter was started, for cells where they differ.
HOW_TITLES = {"runner": "runner", "runner-m": "runner -m", "env": "TORCHCOMPAT_INSTALL=1"}


def record_phrase(record: dict[str, Any]) -> str:
    """One case in a few words: raised (when), warned, wrong result, or works; bad news in bold."""
    if "unavailable" in record:
        return f"n/a: {record['unavailable']}"
    if "build_error" in record:
        return f"**fails when built**: `{record['build_error'][:80]}`"
    phases = record["phases"]
    words: list[str] = []
    for index, phase in enumerate(phases):
        if phase["error"]:
            when = "under the switch" if phase["switch_on"] else f"in step {index + 1}"
            if NO_FRAMES in phase["error"]:
                return f"**raises** {when} (no compiled frames)"
            return f"**raises** {when}: `{phase['error'][:80]}`"
    if any(not phase.get("ok") for phase in phases):
        words.append("**wrong result**")
    if any(phase["warned"] for phase in phases):
        words.append("**warns** (no compiled frames)")
    if not words:
        words.append("works")
    switch = record["switch"]
    if switch in ("config.disable", "force_eager") and len(phases) == 3:
        words.append("compiles again after" if phases[2]["graphs"] else "**never compiles again**")
    elif switch == "none" and not phases[0]["graphs"]:
        words.append("**nothing compiled**")
    return ", ".join(words)


def _torchrun_phrase(run: dict[str, Any] | None) -> str:
    if not run:
        return "not probed"
    if run.get("returncode") != 0 or len(run.get("ranks", [])) != 2:
        return f"**workers failed** (exit {run.get('returncode')})"
    errors = [c for rank in run["ranks"] for c in rank["calls"] if c]
    if not errors:
        return "works (2 workers)"
    return "**raises** in the workers" + (" (no compiled frames)" if NO_FRAMES in errors[0] else "")


def _release_key(payload: dict[str, Any]) -> tuple[int, ...]:
    public = str(payload["torch"]).removeprefix("torch ").split("+")[0]
    return tuple(int(p) if p.isdigit() else 0 for p in public.split("."))


def _cells(payload: dict[str, Any], scenario: str, switch: str) -> tuple[str, str, str]:
    """raw, safe_compile and installed for one scenario and switch on one release."""
    if scenario == "torchrun":
        if switch != "TORCH_COMPILE_DISABLE=1":
            return "", "", ""
        runs = payload.get("torchrun") or {}
        return _torchrun_phrase(runs.get("raw")), "n/a", _torchrun_phrase(runs.get("installed"))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for record in payload["records"]:
        if record.get("scenario") == scenario and record.get("switch") == switch:
            found[(record["how"], record["side"])] = record

    def phrase(key: tuple[str, str]) -> str:
        return record_phrase(found[key]) if key in found else "not probed"

    safe = ("direct", "safe") if ("direct", "safe") in found else ("direct", "by-hand")
    safe_cell = phrase(safe) + (" (by hand)" if safe[1] == "by-hand" and safe in found else "")
    installed = phrase(("direct", "installed"))
    others = [
        f"{title}: {phrase((how, 'ambient'))}"
        for how, title in HOW_TITLES.items()
        if (how, "ambient") in found and phrase((how, "ambient")) != installed
    ]
    return phrase(("direct", "raw")), safe_cell, "; ".join([installed, *others])


def render(records: list[dict[str, Any]]) -> str:
    """The Markdown section for ``records`` (one ``.clients.json`` payload per torch build)."""
    payloads = sorted(records, key=_release_key)
    lines = [
        "## Frameworks that compile for you",
        "",
        "Libraries that call `torch.compile` themselves or wrap a compiled module "
        "(tests/test_clients.py). Each case runs three steps: compilation on, the switch on with "
        "a new batch size, the switch off again (`TORCH_COMPILE_DISABLE=1`: set for all three). "
        "**raw**: torch as it is; **safe_compile**: the user's own call is `safe_compile` (by "
        "hand: `torch.compile = safe_compile`, where the library makes the call); **installed**: "
        "inside `torchcompat.installed()`, and started by `python -m torchcompat run` or with "
        "`TORCHCOMPAT_INSTALL=1` where those differ.",
        "",
    ]
    if not payloads:
        return "\n".join([*lines, "No release was probed (no library installed).", ""])
    header = ["Scenario", "Switch"]
    for payload in payloads:
        release = str(payload["torch"]).removeprefix("torch ").split("+")[0]
        header += [f"{release} raw", f"{release} safe_compile", f"{release} installed"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, title in SCENARIO_TITLES.items():
        for switch, switch_title in SWITCH_TITLES.items():
            row = [title, switch_title]
            for payload in payloads:
                row += list(_cells(payload, scenario, switch))
            if all(cell in ("", "not probed") for cell in row[2:]):
                continue
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    """Print the section for the given ``.clients.json`` files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="<probe>.clients.json files")
    args = parser.parse_args(argv)
    payloads = [json.loads(path.read_text(encoding="utf-8")) for path in args.files]
    sys.stdout.write(render(payloads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
