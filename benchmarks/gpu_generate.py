"""transformers' generate() on a GPU, where it compiles ``self.__call__`` itself by default.

    python benchmarks/gpu_generate.py            # on a CUDA machine with transformers installed

A tiny Llama from a config (random weights, no hub), a static cache: generate() calls
``torch.compile(self.__call__, fullgraph=True)`` (inductor) on CUDA without being asked. Each
side runs in a fresh interpreter: raw torch, and torchcompat installed. Phases: compilation on,
``torch._dynamo.config.disable`` on (new prompt length), off again (new prompt length). Printed
per phase: the error, whether "no compiled frames" was warned, graphs compiled (dynamo's
counter), and whether the tokens equal eager's.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, sys, warnings
import torch
side = sys.argv[1]
if side == "installed":
    import torchcompat
    torchcompat.install()
from transformers import LlamaConfig, LlamaForCausalLM
from torch._dynamo.utils import counters

torch.manual_seed(0)
config = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)
model = LlamaForCausalLM(config).cuda().eval()

def generate(length):
    ids = torch.arange(1, length + 1, device="cuda").unsqueeze(0)
    kwargs = dict(max_new_tokens=4, do_sample=False, pad_token_id=0, eos_token_id=None)
    with torch.no_grad():
        eager = model.generate(ids, **kwargs, disable_compile=True)
        graphs = counters["stats"]["unique_graphs"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = model.generate(ids, **kwargs, cache_implementation="static")
                error, same = None, torch.equal(out, eager)
            except Exception as exc:
                error, same = f"{type(exc).__name__}: {str(exc)[:80]}", None
    warned = any("no compiled frames" in str(w.message) for w in caught)
    return {"error": error, "warned": warned, "same_tokens": same,
            "graphs": counters["stats"]["unique_graphs"] - graphs}

phases = {"on": generate(5)}
torch._dynamo.config.disable = True
phases["config.disable"] = generate(7)
torch._dynamo.config.disable = False
phases["off again"] = generate(9)
print("GEN-JSON " + json.dumps({"side": side, "torch": torch.__version__, "phases": phases}))
"""


def main() -> int:
    """Run both sides; print one JSON line per side and a verdict."""
    results = []
    for side in ("raw", "installed"):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, side],
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
        )
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("GEN-JSON ")), None)
        if line is None:
            print(done.stdout[-2000:], done.stderr[-4000:])
            return 1
        results.append(json.loads(line.removeprefix("GEN-JSON ")))
        print(json.dumps(results[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
