"""Training speed: what users write today (PEFT + a hand-written loop) against `peftlab train`.

Every side gets the same encoded examples (`pipeline.prepare` -> `examples["train"]`, labels -100 on
the prompt), the same lr, batch size and precision. The reference pads each batch to --max-length
("fixed pad") or to the batch's longest row ("dynamic pad"), calls
`model(input_ids, attention_mask, labels=labels)` and steps `torch.optim.AdamW`, on random batches
(`schedule.epoch_batches(..., grouped=False)`: what a DataLoader with shuffle=True gives). `peftlab` is
`peftlab train` as it ships (`--batch-order random`): the reference's very batches, so its step-1 loss
must agree (same math; the difference is printed). `peftlab-grouped` is `--batch-order grouped`
(length-grouped batches: the same examples per epoch, in other batches). Optional sides (`--sides`):
`peftlab-packed` (`--packing`: the reference's batches, each run as one row without padding, the prefix
every example shares once; last-layer's trunk cache keeps each example's states from the packed row),
`peftlab-packed-unshared` (the same with each example
running its shared prefix again: what sharing buys; an ablation of this benchmark's child process, not
an option of peftlab), `peftlab-ckpt` (`--gradient-checkpointing`: memory for time) and
`peftlab-compile` (`--compile`).
Each side of each method runs in its own process (this script with --side), so peak memory is that
side's alone. With --rounds N every side runs N times, the rounds interleaved (all sides of all methods,
then again): the table gives each side's median figures, and each ratio is the median of the ratios
within a round (sides of one round ran minutes apart, so host load that slows a whole round cancels;
on a shared VM one side's single run can be ~15% off). The per-round figures stay in the JSON; the
"spread" column is each side's (max - min) / median tokens/s over the rounds.

FLOPs convention (MFU = achieved FLOP/s over a large matmul's FLOP/s of the same dtype, measured in
this run): N = the base model's parameters (tied embeddings once: they stand for the LM head's matmul),
counted per real (non-pad) token. Prompt and LoRA: 4N (forward 2N + the input-gradient backward 2N; no
weight gradients of the frozen trunk; the adapter's own FLOPs and attention scores are ignored).
Last-layer: 2N + 2*N_head + 4*N_block (backward only through the LM head and the trained block).
The count is the same for every side, so a side that skips counted work (peftlab applies the LM head
only at target positions) can pass 100%.

    python bench/train_speed.py --quick          # 4 steps x batch 4, max length 256: ~3 min on 2 cores
    python bench/train_speed.py --quick --rounds 3   # medians of 3 interleaved rounds: ~9 min
    python bench/train_speed.py --model random:tiny-llama --steps 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from peftlab.config import DataConfig, MethodConfig, ModelConfig, RunConfig, TrainConfig
from peftlab.data.collate import IGNORE
from peftlab.hardware import environment, resolve_precision
from peftlab.memory import PeakMemory
from peftlab.methods import get_method
from peftlab.methods.prompt_tuning import init_text_for
from peftlab.models import decoder_blocks, resolve_device
from peftlab.pipeline import Prepared, encode_rows, prepare
from peftlab.schedule import epoch_batches

METHODS = ("prompt", "lora", "last-layer")
SIDES = ("ref-fixed", "ref-dynamic", "peftlab", "peftlab-grouped")
OPTIONAL_SIDES = ("peftlab-packed", "peftlab-packed-unshared", "peftlab-ckpt", "peftlab-compile")
PEFTLAB_SIDES = {"peftlab": {}, "peftlab-grouped": {"batch_order": "grouped"},  # TrainConfig fields per side
                 "peftlab-packed": {"packing": True}, "peftlab-packed-unshared": {"packing": True},
                 "peftlab-ckpt": {"gradient_checkpointing": True},
                 "peftlab-compile": {"compile": True}}
LR = {"prompt": 3e-2, "lora": 1e-3, "last-layer": 1e-4}
HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--task", default="summarize")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--steps", type=int, default=12, help="optimizer steps per epoch (training examples = steps x batch)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs (last-layer: at least 2 with --quick, for its "
                                                           "cached-trunk later epochs)")
    ap.add_argument("--sides", default=",".join(SIDES),
                    help=f"comma-separated, from {', '.join(SIDES + OPTIONAL_SIDES)} (ref-fixed is always run: "
                         "the ratios' denominator)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rank", type=int, default=8, help="LoRA r (alpha 16, dropout 0.05, q_proj,v_proj)")
    ap.add_argument("--matmul-size", type=int, default=2048)
    ap.add_argument("--quick", action="store_true", help="4 steps, batch 4, max length 256, last-layer 2 epochs: "
                                                         "under 5 min on 2 cores")
    ap.add_argument("--rounds", type=int, default=1, help="run every side this many times, interleaved; the table "
                                                          "gives medians")
    ap.add_argument("--out-dir", default=str(HERE / "results"))
    ap.add_argument("--side", choices=SIDES + OPTIONAL_SIDES, help=argparse.SUPPRESS)      # child: one side of one method
    ap.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.batch_size, args.max_length = 4, 4, 256
    return args


def epochs_for(args: argparse.Namespace, method: str) -> int:
    """--quick gives last-layer a second epoch: its later epochs reuse the cached frozen trunk."""
    return max(args.epochs, 2) if args.quick and method == "last-layer" else args.epochs


def run_config(args: argparse.Namespace, method: str, out: str, **train: object) -> RunConfig:
    """The one config every side reads: data, model, method and training settings (`train`: a
    peftlab side's own TrainConfig fields)."""
    return RunConfig(
        model=ModelConfig(model=args.model, precision=args.precision, device=args.device),
        data=DataConfig(task=args.task, max_length=args.max_length, max_train_samples=args.steps * args.batch_size,
                        max_eval_samples=args.batch_size),  # peftlab's end-of-epoch val loss is not timed: keep it short
        method=MethodConfig(method=method, rank=args.rank, alpha=16.0, dropout=0.05, target_modules="q_proj,v_proj"),
        train=TrainConfig(out=out, epochs=epochs_for(args, method), batch_size=args.batch_size, lr=LR[method],
                          seed=args.seed, log_every=1, report_to="none", progress="lines", **train))


# ------------------------------------------------------------------ the reference side

def reference_model(p, method: str, args: argparse.Namespace):
    """The frozen model wrapped the way a PEFT user does it."""
    import peft

    model = p.loaded.model
    if method == "last-layer":
        model.requires_grad_(False)
        decoder_blocks(model)[1][-1].requires_grad_(True)
        return model
    if method == "lora":
        cfg = peft.LoraConfig(r=args.rank, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                              task_type="CAUSAL_LM")
        return peft.get_peft_model(model, cfg)
    cfg = peft.PromptTuningConfig(num_virtual_tokens=5, task_type="CAUSAL_LM")
    wrapped = peft.get_peft_model(model, cfg)
    # PEFT's TEXT init (the init text's token embeddings, repeated to 5 vectors) done by hand: PEFT would
    # re-load the tokenizer by name, and a random test model has none.
    ids = p.loaded.tokenizer(init_text_for(args.task, None), add_special_tokens=False)["input_ids"]
    ids = (ids * math.ceil(5 / len(ids)))[:5]
    with torch.no_grad():
        embedding = model.get_input_embeddings().weight
        wrapped.prompt_encoder.default.embedding.weight.copy_(embedding[torch.tensor(ids, device=embedding.device)])
    return wrapped


def pad(examples, idx: list[int], width: int | None, pad_id: int, device) -> tuple[torch.Tensor, ...]:
    """Right-pad a batch to `width` (fixed) or to its longest row (None)."""
    rows = [examples[i] for i in idx]
    width = width or max(len(e.input_ids) for e in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, e in enumerate(rows):
        ids[r, :len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[r, :len(e.labels)] = torch.tensor(e.labels)
        mask[r, :len(e.input_ids)] = 1
    return ids.to(device), mask.to(device), labels.to(device)


@dataclass
class ReferenceLoop:
    """What the reference side trains with (also what profile_step.py profiles)."""
    p: Prepared
    examples: list                 # the encoded training rows (prompt: its soft prompt not included)
    num_virtual: int
    model: torch.nn.Module         # the PEFT-wrapped (or partly unfrozen) model
    optimizer: torch.optim.Optimizer
    autocast: torch.autocast
    flops_per_token: float


def task_sizes(p: Prepared) -> list[int]:
    """Training rows per task."""
    return [sum(1 for r in p.rows["train"] if r["task"] == t) for t in p.cfg.data.tasks]


def random_batches(p: Prepared, examples: list, args: argparse.Namespace, epoch: int) -> list[list[int]]:
    """The epoch's random batches: what a shuffling DataLoader gives, and `peftlab train` draws too."""
    lengths = [len(e.input_ids) for e in examples]
    return epoch_batches(task_sizes(p), lengths, args.batch_size, args.seed, epoch, "proportional", grouped=False)


def reference_loop(args: argparse.Namespace, method: str) -> ReferenceLoop:
    cfg = run_config(args, method, out="")
    p = prepare(cfg, base_only=True)
    num_virtual = get_method(method).num_virtual(cfg.method)
    examples, _ = encode_rows(p.rows, cfg.data.tasks, p.loaded.tokenizer, p.cfg, num_virtual)
    flops = flops_per_token(p.loaded.model, method)  # the base model's, before an adapter joins it
    model = reference_model(p, method, args)
    model.train()
    trainable = [q for q in model.parameters() if q.requires_grad]
    return ReferenceLoop(
        p, examples["train"], num_virtual, model, torch.optim.AdamW(trainable, lr=LR[method], weight_decay=0.0),
        torch.autocast(p.device.type, dtype=torch.bfloat16, enabled=p.cfg.model.precision == "bf16"), flops)


def run_reference(args: argparse.Namespace, method: str, fixed: bool) -> dict:
    loop = reference_loop(args, method)
    p, examples = loop.p, loop.examples
    torch.manual_seed(args.seed)
    memory = PeakMemory(p.device).start()
    losses, epoch_times, tokens, padded = [], [], 0, 0
    for epoch in range(epochs_for(args, method)):
        elapsed = 0.0
        for batch in random_batches(p, examples, args, epoch):
            began = time.perf_counter()
            ids, mask, labels = pad(examples, batch, args.max_length - loop.num_virtual if fixed else None, p.pad_id,
                                    p.device)
            losses.append(reference_step(loop.model, loop.optimizer, ids, mask, labels, loop.autocast))
            elapsed += time.perf_counter() - began
            tokens += int(mask.sum())
            padded += mask.numel()
        epoch_times.append(elapsed)
    lengths = [len(e.input_ids) for e in examples]
    return {"losses": losses, "epoch_times_s": epoch_times, "tokens": tokens, "padded_tokens": padded,
            "tokens_per_s": tokens / sum(epoch_times), "peak_memory_mb": memory.stop(), "memory_kind": memory.kind,
            "flops_per_token": loop.flops_per_token, "precision": p.cfg.model.precision, **cuda_reserved(p.device),
            "positions": positions(lengths, task_sizes(p), args, method, loop.num_virtual)}


def reference_step(model, optimizer, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, autocast) -> float:
    """One step as users write it: the model's own loss, backward, AdamW."""
    with autocast:
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def positions(lengths: list[int], sizes: list[int], args: argparse.Namespace, method: str, num_virtual: int) -> dict:
    """Token positions computed over all epochs (soft prompt aside) when every batch is padded to
    --max-length ("fixed"), or to its longest row in random ("random") or peftlab's length-grouped
    ("grouped") batches; `lengths[i]`: example i's tokens."""
    epochs = range(epochs_for(args, method))
    cut = {kind: [b for e in epochs for b in epoch_batches(sizes, lengths, args.batch_size, args.seed, e,
                                                          "proportional", grouped=kind == "grouped")]
           for kind in ("random", "grouped")}
    return {"fixed": len(epochs) * len(lengths) * (args.max_length - num_virtual),
            **{kind: sum(len(b) * max(lengths[i] for i in b) for b in batches) for kind, batches in cut.items()}}


# ------------------------------------------------------------------ the peftlab side

def run_peftlab(args: argparse.Namespace, method: str, side: str) -> dict:
    from peftlab.adapted import AdaptedLM
    from peftlab.training import train

    if side == "peftlab-packed-unshared":  # this child process only: every example runs its shared prefix again
        AdaptedLM.shared_columns = lambda self, batch, at: 0
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        metrics = train(run_config(args, method, str(run), **PEFTLAB_SIDES[side]), announce=lambda *a, **k: None)
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    return {"losses": [r["loss"] for r in log if r.get("event") == "step"], "epoch_times_s": metrics["epoch_times_s"],
            "tokens": metrics["train_tokens"], "tokens_per_s": metrics["train_tokens_per_s"],
            "peak_memory_mb": metrics["peak_memory_mb"], "memory_kind": metrics["memory_kind"],
            "precision": metrics["precision"],
            **cuda_reserved(resolve_device(args.device))}


# ------------------------------------------------------------------ figures

def flops_per_token(model: torch.nn.Module, method: str) -> float:
    """The module docstring's convention: 4N (prompt, LoRA) or 2N + 2 N_head + 4 N_block (last-layer)."""
    n = sum(q.numel() for q in model.parameters())
    if method != "last-layer":
        return 4.0 * n
    block = sum(q.numel() for q in decoder_blocks(model)[1][-1].parameters())
    head = model.get_output_embeddings().weight.numel()
    return 2.0 * n + 2.0 * head + 4.0 * block


def cuda_reserved(device: torch.device) -> dict:
    if device.type != "cuda":
        return {}
    return {"peak_reserved_mb": torch.cuda.max_memory_reserved(device) / 2**20}


def matmul_flops(size: int, precision: str, device: torch.device) -> float:
    """FLOP/s of a size x size matmul in the run's dtype: the best of 5, the roof MFU is measured against."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    best = math.inf
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - began)
    return 2.0 * size ** 3 / best


def child(args: argparse.Namespace) -> int:
    if args.side.startswith("peftlab"):
        result = run_peftlab(args, args.method, args.side)
    else:
        result = run_reference(args, args.method, fixed=args.side == "ref-fixed")
    result["threads"] = torch.get_num_threads()
    Path(args.result).write_text(json.dumps(result))
    return 0


def spawn(argv: list[str], method: str, side: str, tmp: Path) -> dict:
    """One side of one method in a fresh process of its own (forked from a fork server that has imported
    torch, transformers, peft and peftlab once, so a side starts in a second, not five)."""
    out = tmp / f"{method}-{side}.json"
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "transformers", "peft", "peftlab.training", "peftlab.pipeline"])
    proc = ctx.Process(target=_child_main, args=([*argv, "--side", side, "--method", method, "--result", str(out)],))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"{method} / {side} failed (exit {proc.exitcode}); its error is printed above")
    return json.loads(out.read_text())


def _child_main(argv: list[str]) -> None:
    child(parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.side:
        return child(args)
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device, warn=None)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    sides = ["ref-fixed"] + [s for s in SIDES + OPTIONAL_SIDES if s in args.sides.split(",") and s != "ref-fixed"]
    peak = matmul_flops(args.matmul_size, precision, device)
    rounds: dict = {method: {side: [] for side in sides} for method in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for method in methods:
                for side in rounds[method]:
                    rounds[method][side].append(spawn(argv, method, side, Path(tmp)))
            if args.rounds > 1:
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    results = {method: {side: median_of(runs) for side, runs in by_side.items()} for method, by_side in rounds.items()}
    for by_side in results.values():
        for r in by_side.values():
            r.setdefault("flops_per_token", by_side["ref-fixed"]["flops_per_token"])  # same base model
            r["mfu"] = r["tokens_per_s"] * r["flops_per_token"] / peak
    header = make_header(args, argv, device, precision, peak)
    table = make_table(results)
    text = "\n".join(f"- {k}: {v}" for k, v in header.items()) + "\n\n" + table
    print(text)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{socket.gethostname()}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%S}"
    stem.with_suffix(".json").write_text(json.dumps({"header": header, "methods": results}, indent=1))
    stem.with_suffix(".md").write_text(text + "\n")
    print(f"\nwritten: {stem}.json, {stem}.md")
    return 0


TIMED = ("tokens_per_s", "peak_memory_mb", "peak_reserved_mb")


def median_of(runs: list[dict]) -> dict:
    """One side's result over its rounds: the first round's (losses, tokens and positions are the same in
    every round: same data, same seed), with the median of each timing and memory figure (epoch by epoch
    for epoch times); every round's own figures under "rounds", for the paired ratios (`ratio`)."""
    if any(r["losses"] != runs[0]["losses"] for r in runs):
        print("warning: the rounds' losses differ (not the same computation every time)", file=sys.stderr)
    result = dict(runs[0])
    for key in TIMED:
        if key in result:
            result[key] = statistics.median(r[key] for r in runs)
    result["epoch_times_s"] = [statistics.median(times) for times in zip(*(r["epoch_times_s"] for r in runs))]
    result["rounds"] = [{key: r[key] for key in (*TIMED, "epoch_times_s") if key in r} for r in runs]
    return result


def ratio(mine: dict, base: dict, speed) -> float:
    """How many times faster `mine` is than `base` by `speed(round)` (higher = faster): the median over
    rounds of the ratio within each round. Both ran in the same round, minutes apart, so load on the host
    that slows a whole round cancels out; one round gives the plain ratio."""
    return statistics.median(speed(a) / speed(b) for a, b in zip(mine["rounds"], base["rounds"]))


def tokens_per_s(r: dict) -> float:
    return r["tokens_per_s"]


def epoch_1_speed(r: dict) -> float:
    return 1.0 / r["epoch_times_s"][0]


def later_speed(r: dict) -> float:
    """Epochs after the first, per second: the steady state, past a GPU's warm-up (kernel choice and
    caches per new shape) and, for last-layer, on the cached trunk."""
    later = r["epoch_times_s"][1:]
    return len(later) / sum(later)


def make_header(args, argv: list[str], device, precision: str, peak: float) -> dict:
    import peft

    env = environment(str(device), precision, args.precision)
    return {"command": "python bench/train_speed.py " + " ".join(argv),
            "model": args.model, "task": args.task, "steps per epoch": args.steps, "epochs": args.epochs,
            "batch": args.batch_size, "max length": args.max_length, "device": f"{device} ({env['device_name']})",
            "CPU capability": env["cpu_capability"], "native bf16": env["native_bf16"], "precision": precision,
            "threads": env["cpu_threads"], "torch": env["torch"], "transformers": env["transformers"],
            "peft": peft.__version__, "rounds": f"{args.rounds} (medians)" if args.rounds > 1 else 1,
            "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "matmul roof": f"{peak / 1e9:.1f} GFLOP/s ({args.matmul_size}^3, {precision})",
            "FLOPs per real token": "prompt/LoRA 4N; last-layer 2N + 2 N_head + 4 N_block (N = base params)"}


COLUMNS = ("method", "side", "real tok/s", "spread", "× ref-fixed", "× ref-dynamic", "pad %", "epoch 1 s",
           "epoch 1 × ref-fixed / ref-dynamic", "later epochs s", "later epochs × ref-fixed / ref-dynamic",
           "ref-fixed epoch ÷ later epoch", "peak MB", "MFU", "loss step 1", "Δ step 1 vs ref-fixed", "final loss")


def make_table(results: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * (len(COLUMNS) - 2)]
    for method, sides in results.items():
        fixed, dynamic = sides["ref-fixed"], sides.get("ref-dynamic")
        fixed_epoch = sum(fixed["epoch_times_s"]) / len(fixed["epoch_times_s"])
        for side, r in sides.items():
            later = r["epoch_times_s"][1:]
            later_text = f"{sum(later) / len(later):.2f}" if later else "—"
            speedup = f"{fixed_epoch / (sum(later) / len(later)):.1f}" if later else "—"
            later_ratio = against(r, fixed, dynamic, later_speed) if later and fixed["epoch_times_s"][1:] else "—"
            mem = f"{r['peak_memory_mb']:.0f}" + (f" / {r['peak_reserved_mb']:.0f}" if "peak_reserved_mb" in r else "")
            vs_dynamic = f"{ratio(r, dynamic, tokens_per_s):.2f}" if dynamic else "—"
            same_batches = not grouped(side)
            delta = f"{r['losses'][0] - fixed['losses'][0]:+.1e}" if same_batches else "other batches"
            cells = [method, side, f"{r['tokens_per_s']:.1f}", spread(r), f"{ratio(r, fixed, tokens_per_s):.2f}",
                     vs_dynamic, f"{pad_percent(side, fixed):.1f}", f"{r['epoch_times_s'][0]:.2f}",
                     against(r, fixed, dynamic, epoch_1_speed), later_text, later_ratio, speedup, mem,
                     f"{100 * r['mfu']:.1f}%", f"{r['losses'][0]:.5f}", delta, f"{r['losses'][-1]:.5f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def against(r: dict, fixed: dict, dynamic: dict | None, speed) -> str:
    """"× ref-fixed / × ref-dynamic" by `speed` (the second only when ref-dynamic ran)."""
    return f"{ratio(r, fixed, speed):.2f}" + (f" / {ratio(r, dynamic, speed):.2f}" if dynamic else "")


def spread(r: dict) -> str:
    """(max - min) / median of a side's tokens/s over its rounds; "—" for a single round."""
    per_round = [tokens_per_s(x) for x in r["rounds"]]
    if len(per_round) < 2:
        return "—"
    return f"{100 * (max(per_round) - min(per_round)) / statistics.median(per_round):.0f}%"


def grouped(side: str) -> bool:
    """Sides that train on peftlab's length-grouped batches (the rest see the reference's batches)."""
    return side.startswith("peftlab") and PEFTLAB_SIDES[side].get("batch_order", TrainConfig.batch_order) == "grouped"


def packed(side: str) -> bool:
    """Sides that run each batch as one row without padding (`--packing`)."""
    return PEFTLAB_SIDES.get(side, {}).get("packing", False)


def pad_percent(side: str, fixed: dict) -> float:
    """Computed positions beyond the real tokens, in % of the real tokens (soft-prompt positions aside)."""
    if packed(side):
        return 0.0  # one row of real tokens
    positions = fixed["positions"]["fixed" if side == "ref-fixed" else "grouped" if grouped(side) else "random"]
    return 100.0 * (positions / fixed["tokens"] - 1)


if __name__ == "__main__":
    sys.exit(main())
