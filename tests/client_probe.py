"""Libraries that call torch.compile themselves, raw next to torchcompat, in one interpreter.

    python tests/client_probe.py GROUPS SIDES SWITCHES

GROUPS, SIDES and SWITCHES are comma-separated. Groups: ``transformers``, ``accelerate``,
``lightning``, ``torch`` (DDP and FSDP2). Sides: ``raw`` (torch as it is), ``safe`` (the user's
own call is ``safe_compile``), ``installed`` (inside ``torchcompat.installed()``), ``by-hand``
(``torch.compile = safe_compile`` set by hand, then put back), ``ambient`` (whatever the
interpreter started with: the runner or ``TORCHCOMPAT_INSTALL=1``). Switches: ``none``,
``TORCH_COMPILE_DISABLE=1`` (the caller sets it in the environment), ``config.disable``,
``force_eager``.

Every case runs three phases, each a step, a ``fit`` or a ``generate`` with a new batch size:
compilation on, the switch on, the switch off again (``TORCH_COMPILE_DISABLE=1``: on all three).
Per phase: the error (type and first line), whether a "no compiled frames" warning was shown,
how many graphs dynamo compiled, and whether the result was right. The last stdout line is
``CLIENT-JSON <list of records>``. ``worker OUT_DIR`` is the torchrun worker.

Models are tiny and built from configs with random weights: nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

import torchcompat
from torchcompat import safe_compile
from torchcompat.testing import reset_compilation

NO_FRAMES = "found no compiled frames"
TCD = os.environ.get("TORCH_COMPILE_DISABLE") == "1"
ORIGINAL_COMPILE = torch.compile
BATCHES = (1, 2, 3)


def describe(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:300]


def graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@contextlib.contextmanager
def switched(switch: str, on: bool) -> Iterator[None]:
    if not on or switch in ("none", "TORCH_COMPILE_DISABLE=1"):
        yield
        return
    if switch == "config.disable":
        torch._dynamo.config.disable = True
        try:
            yield
        finally:
            torch._dynamo.config.disable = False
    else:
        torch.compiler.set_stance("force_eager")
        try:
            yield
        finally:
            torch.compiler.set_stance("default")


@contextlib.contextmanager
def side_context(side: str) -> Iterator[None]:
    if side == "installed":
        with torchcompat.installed():
            yield
    elif side == "by-hand":
        saved = torch.compile
        torch.compile = safe_compile  # type: ignore[assignment]
        try:
            yield
        finally:
            torch.compile = saved
    else:
        yield


def user_compile(side: str) -> Callable[..., Any]:
    """The user's own compile call: safe_compile for "safe", else whatever torch.compile is."""
    if side == "safe":
        return safe_compile

    def current(*args: Any, **kwargs: Any) -> Any:
        # Looked up at the call: whatever torch.compile is then (installed, Fabric's, torch's).
        return torch.compile(*args, **kwargs)

    return current


def run_case(
    build: Callable[[str], Any], phase: Callable[[Any, int], bool], side: str, switch: str
) -> dict[str, Any]:
    """Build (inside the side's context) then the three phases; errors end the case."""
    reset_compilation()
    record: dict[str, Any] = {"side": side, "switch": switch, "phases": []}
    ons = (True, True, True) if switch == "TORCH_COMPILE_DISABLE=1" else (False, True, False)
    if switch == "none":
        ons = (False, False, False)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(side_context(side))
        except Exception as exc:  # a torchcompat without install() (before issue 16)
            record["build_error"] = describe(exc)
            return record
        record["compile"] = f"{torch.compile.__module__}.{torch.compile.__qualname__}"
        try:
            state = build(side)
        except Exception as exc:
            record["build_error"] = describe(exc)
            return record
        for batch, on in zip(BATCHES, ons):
            before = graphs()
            entry: dict[str, Any] = {"switch_on": on and switch != "none", "error": None}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    with switched(switch, on):
                        entry["ok"] = bool(phase(state, batch))
                except Exception as exc:
                    entry["error"] = describe(exc)
            entry["warned"] = any(NO_FRAMES in str(w.message) for w in caught)
            entry["graphs"] = graphs() - before
            record["phases"].append(entry)
            if entry["error"] is not None:
                break
    reset_compilation()
    return record


# --- transformers ------------------------------------------------------------------------------


def tiny_causal_lms() -> dict[str, Callable[[], Any]]:
    import transformers as tf

    def llama() -> Any:
        config = tf.LlamaConfig(
            vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
            bos_token_id=1, eos_token_id=2, pad_token_id=0,
        )  # fmt: skip
        return tf.LlamaForCausalLM(config).eval()

    def gpt2() -> Any:
        config = tf.GPT2Config(
            vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=64,
            bos_token_id=1, eos_token_id=2, pad_token_id=0,
        )  # fmt: skip
        return tf.GPT2LMHeadModel(config).eval()

    return {"llama": llama, "gpt2": gpt2}


def layers_of(model: Any) -> Any:
    return model.model.layers if hasattr(model, "model") else model.transformer.h


def generate(model: Any, batch: int, **kwargs: Any) -> Any:
    ids = torch.arange(1, 4 * batch + 1).reshape(batch, 4) % 60 + 3
    return model.generate(
        ids, max_new_tokens=2, do_sample=False, cache_implementation="static", **kwargs
    )


def transformers_cases(sides: list[str], switches: list[str]) -> Iterator[dict[str, Any]]:
    from transformers.generation.configuration_utils import CompileConfig

    for arch, make in tiny_causal_lms().items():
        torch.manual_seed(0)
        model = make()
        with torch.no_grad():
            eager = {b: generate(model, b, disable_compile=True) for b in BATCHES}

        def own_call(side: str, model: Any = model) -> Any:
            # generate() compiles self.__call__ itself (modeling_utils.get_compiled_call); on the
            # CPU only with _compile_all_devices (generation/utils.py).
            for name in ("_compiled_call", "_last_compile_config"):
                model.__dict__.pop(name, None)
            config = CompileConfig(backend="eager", fullgraph=True, mode="default")
            config._compile_all_devices = True
            return config

        def own_phase(config: Any, batch: int, model: Any = model, eager: Any = eager) -> bool:
            with torch.no_grad():
                return bool(
                    torch.equal(generate(model, batch, compile_config=config), eager[batch])
                )

        def nested(side: str, model: Any = model) -> Any:
            # Issue 16 point 5: a compiled decoder layer inside a compiled forward, fullgraph.
            compile_ = user_compile(side)
            twin = copy.deepcopy(model)
            layers = layers_of(twin)
            for i, layer in enumerate(list(layers)):
                layers[i] = compile_(layer, backend="eager")
            twin.forward = compile_(twin.forward, backend="eager", fullgraph=True)
            return twin

        def nested_phase(twin: Any, batch: int, eager: Any = eager) -> bool:
            with torch.no_grad():
                out = generate(twin, batch, disable_compile=True)
            return bool(torch.equal(out, eager[batch]))

        for switch in switches:
            if arch == "gpt2" and switch == "force_eager":
                continue  # the cost of a case; Llama shows force_eager (tests/test_clients.py)
            for side in sides:
                # By hand: one architecture is enough to show the recursion (or its absence).
                by_hand = arch == "llama" and switch != "none"
                if side not in ("safe", "by-hand") or (side == "by-hand" and by_hand):
                    yield {
                        "scenario": f"generate/{arch}",
                        **run_case(own_call, own_phase, side, switch),
                    }
                if side != "by-hand":
                    yield {
                        "scenario": f"nested/{arch}",
                        **run_case(nested, nested_phase, side, switch),
                    }


# --- training steps: accelerate, Lightning, DDP, FSDP2 -----------------------------------------


def tiny_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def train_step(model: Any, optimizer: Any, batch: int, backward: Any = None) -> bool:
    loss = model(torch.randn(batch, 4)).square().mean()
    (backward or (lambda t: t.backward()))(loss)
    optimizer.step()
    optimizer.zero_grad()
    return bool(torch.isfinite(loss.detach()))


def accelerate_cases(sides: list[str], switches: list[str]) -> Iterator[dict[str, Any]]:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import TorchDynamoPlugin

    def build(side: str) -> Any:
        AcceleratorState._reset_state(True)
        plugin = TorchDynamoPlugin(backend="eager", fullgraph=True)
        accelerator = Accelerator(cpu=True, dynamo_plugin=plugin)
        net = tiny_net()
        if side == "safe":  # the user's own safe_compile: prepare() sees it compiled, keeps it
            net = safe_compile(net, backend="eager", fullgraph=True)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
        model, optimizer = accelerator.prepare(net, optimizer)
        return model, optimizer, accelerator

    def phase(state: Any, batch: int) -> bool:
        model, optimizer, accelerator = state
        return train_step(model, optimizer, batch, accelerator.backward)

    for switch in switches:
        for side in sides:
            if side != "by-hand":
                yield {"scenario": "accelerate/plugin", **run_case(build, phase, side, switch)}


def lightning_cases(sides: list[str], switches: list[str]) -> Iterator[dict[str, Any]]:
    try:
        import lightning.pytorch as pl
        from lightning.fabric import Fabric
    except ImportError:
        import pytorch_lightning as pl
        from lightning_fabric import Fabric

    class Tiny(pl.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_net()

        def forward(self, x: Any) -> Any:
            return self.net(x)

        def training_step(self, batch: Any, index: int) -> Any:
            return self(batch[0]).square().mean()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    def build_fit(side: str) -> Any:
        return [user_compile(side)(Tiny(), backend="eager", fullgraph=True)]

    def fit_phase(state: Any, batch: int) -> bool:
        data = torch.utils.data.TensorDataset(torch.randn(2 * batch, 4))
        trainer = pl.Trainer(
            accelerator="cpu", devices=1, max_steps=2, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
        )  # fmt: skip
        trainer.fit(state[0], torch.utils.data.DataLoader(data, batch_size=batch))
        # fit() unwraps a compiled module and re-applies dynamo_ctx to the LightningModule's
        # methods (lightning/pytorch/utilities/compile.py): later phases fit that module.
        state[0] = trainer.lightning_module
        return trainer.global_step == 2

    def build_fabric(side: str) -> Any:
        fabric = Fabric(accelerator="cpu", devices=1)
        compiled = user_compile(side)(tiny_net(), backend="eager", fullgraph=True)
        optimizer = torch.optim.SGD(compiled.parameters(), lr=0.01)
        model, optimizer = fabric.setup(compiled, optimizer)  # default: re-compiles
        return model, optimizer, fabric

    def fabric_phase(state: Any, batch: int) -> bool:
        model, optimizer, fabric = state
        return train_step(model, optimizer, batch, fabric.backward)

    for switch in switches:
        for side in sides:
            if side != "by-hand":
                yield {"scenario": "lightning/fit", **run_case(build_fit, fit_phase, side, switch)}
                yield {
                    "scenario": "fabric/setup",
                    **run_case(build_fabric, fabric_phase, side, switch),
                }


def fully_shard_function() -> Any:
    try:
        from torch.distributed.fsdp import fully_shard  # 2.6+
    except ImportError:
        try:
            from torch.distributed._composable.fsdp import fully_shard
        except ImportError:
            return None
    return fully_shard


def init_gloo(rank: int = 0, world_size: int = 1) -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        return
    # An in-process store: no port to pick (one picked and released can be taken by another
    # process before the store binds it, and a rank then waits on a stranger's socket).
    dist.init_process_group("gloo", store=dist.HashStore(), rank=rank, world_size=world_size)


def torch_cases(sides: list[str], switches: list[str]) -> Iterator[dict[str, Any]]:
    from torch.nn.parallel import DistributedDataParallel as DDP

    init_gloo()
    fully_shard = fully_shard_function()

    def build_ddp(side: str) -> Any:
        model = DDP(user_compile(side)(tiny_net(), backend="eager", fullgraph=True))
        return model, torch.optim.SGD(model.parameters(), lr=0.01)

    def build_fsdp(side: str) -> Any:
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh("cpu", (1,))
        model = fully_shard(
            user_compile(side)(tiny_net(), backend="eager", fullgraph=True), mesh=mesh
        )
        return model, torch.optim.SGD(model.parameters(), lr=0.01)

    def phase(state: Any, batch: int) -> bool:
        return train_step(state[0], state[1], batch)

    for switch in switches:
        for side in sides:
            if side == "by-hand":
                continue
            yield {"scenario": "ddp", **run_case(build_ddp, phase, side, switch)}
            if fully_shard is None:
                yield {"scenario": "fsdp2", "side": side, "switch": switch,
                       "unavailable": f"torch {torch.__version__} has no fully_shard"}  # fmt: skip
            else:
                yield {"scenario": "fsdp2", **run_case(build_fsdp, phase, side, switch)}


GROUPS = {
    "transformers": transformers_cases,
    "accelerate": accelerate_cases,
    "lightning": lightning_cases,
    "torch": torch_cases,
}


def worker(out_dir: str) -> None:
    """A torchrun worker: raw torch.compile(fullgraph=True), called, then an all_reduce."""
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo")
    found: dict[str, Any] = {
        "rank": rank,
        "compile": f"{torch.compile.__module__}.{torch.compile.__qualname__}",
        "calls": [],
    }
    net = torch.compile(tiny_net(), backend="eager", fullgraph=True)
    for batch in BATCHES:
        try:
            out = net(torch.randn(batch, 4)).sum().detach()
            dist.all_reduce(out)
            found["calls"].append(None)
        except Exception as exc:
            found["calls"].append(describe(exc))
    dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w", encoding="utf-8") as f:
        json.dump(found, f)
    # Past this point only torch's own teardown runs, and under load it can abort (SIGABRT,
    # "terminate called without an active exception") on 2.5 and 2.11, with no torchcompat
    # loaded at all (1 run in 16 here, two in CI). The record is written: skip the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str]) -> None:
    if argv[1] == "worker":
        worker(argv[2])
        return
    groups, sides, switches = (a.split(",") for a in argv[1:4])
    # torch.compiler came in 2.1, set_stance in 2.6.
    if getattr(getattr(torch, "compiler", None), "set_stance", None) is None:
        switches = [s for s in switches if s != "force_eager"]
    records = []
    for group in groups:
        for record in GROUPS[group](sides, switches):
            records.append({"group": group, **record})
    print("CLIENT-JSON " + json.dumps(records))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv)
