"""Where a training step's time goes: `torch.profiler` over peftlab's step and the reference's, side by side.

The same setup as `bench/train_speed.py` (its flags, its reference: PEFT + `model(..., labels=...)` +
AdamW on batches padded to their longest row) in one process: each side runs --warmup steps untimed
(kernel choice, caches, allocator), then --profile-steps under the profiler. Prints each side's wall
time per step and its top operators by self CPU time (what the host spends launching and computing)
and, on CUDA, by self device time, so a host-bound GPU step shows itself as CPU time far above device
time.

    python bench/profile_step.py --method prompt                              # CPU, fp32
    python bench/profile_step.py --method prompt --packing                    # peftlab's side packed
    python bench/profile_step.py --method lora --device cuda --precision bf16 --rows 25
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed  # noqa: E402  (this folder's benchmark: its config, reference model and padding)

from peftlab.pipeline import prepare  # noqa: E402
from peftlab.train_state import TrainState  # noqa: E402
from peftlab.training import train_step  # noqa: E402


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.Namespace]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="The other flags are bench/train_speed.py's: --model, --task, --batch-size, "
                                        "--max-length, --precision, --device, --seed, --rank.")
    ap.add_argument("--method", default="prompt", choices=train_speed.METHODS)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps per side first")
    ap.add_argument("--profile-steps", type=int, default=5, help="profiled steps per side")
    ap.add_argument("--rows", type=int, default=20, help="operators listed per table")
    ap.add_argument("--packing", action="store_true", help="peftlab's side with --packing")
    own, rest = ap.parse_known_args(argv)
    bench = train_speed.parse_args([*rest, "--steps", str(own.warmup + own.profile_steps)])
    return own, bench


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peftlab_steps(args: argparse.Namespace, method: str, tmp: str, packing: bool):
    """peftlab's `train_step` over the reference's batches: a callable running step i."""
    cfg = train_speed.run_config(args, method, tmp, packing=packing).with_default_lr()
    p = prepare(cfg)
    p.adapted.train()
    optimizer = torch.optim.AdamW(list(p.adapted.named_trainable().values()), lr=cfg.train.lr)
    batches = train_speed.random_batches(p, p.examples["train"], args, 0)
    state = TrainState()
    return p.device, lambda i: train_step(p, optimizer, [batches[i]], cfg.train.lr, state)


def reference_steps(args: argparse.Namespace, method: str):
    """The reference's step (train_speed.reference_step) over dynamically padded batches."""
    loop = train_speed.reference_loop(args, method)
    batches = train_speed.random_batches(loop.p, loop.examples, args, 0)

    def step(i: int) -> float:
        ids, mask, labels = train_speed.pad(loop.examples, batches[i], None, loop.p.pad_id, loop.p.device)
        return train_speed.reference_step(loop.model, loop.optimizer, ids, mask, labels, loop.autocast)
    return loop.p.device, step


def profiled(name: str, device: torch.device, step, warmup: int, steps: int, rows: int) -> None:
    for i in range(warmup):
        step(i)
    synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    began = time.perf_counter()
    with profile(activities=activities) as prof:
        for i in range(warmup, warmup + steps):
            step(i)
        synchronize(device)
    wall = (time.perf_counter() - began) / steps
    averages = prof.key_averages()
    print(f"\n## {name}: {1000 * wall:.1f} ms per step (wall, under the profiler)\n")
    print(averages.table(sort_by="self_cpu_time_total", row_limit=rows))
    if device.type == "cuda":
        print(averages.table(sort_by="self_device_time_total", row_limit=rows))


def main(argv: list[str] | None = None) -> int:
    own, args = parse_args(argv)
    print(f"{own.method} | {args.device} | {args.precision} | batch {args.batch_size} | max length {args.max_length} | "
          f"{own.warmup} warm-up + {own.profile_steps} profiled steps per side | torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        device, step = peftlab_steps(args, own.method, str(Path(tmp) / "run"), own.packing)
        profiled("peftlab", device, step, own.warmup, own.profile_steps, own.rows)
    device, step = reference_steps(args, own.method)
    profiled("reference (dynamic pad)", device, step, own.warmup, own.profile_steps, own.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
