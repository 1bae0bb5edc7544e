"""How much matmul work each side of `train_speed.py` does: what a speed ratio can come from.

A side can be faster by doing less work (padding, logits nobody reads, a prefix every example shares)
or by doing the same work faster. This counts the first, over the very batches `train_speed.py` runs
(same flags), so its speed ratios can be read against it: a ratio above the work ratio means faster
work, one below it means slower work.

Counted, for prompt tuning and LoRA (a frozen trunk): every `nn.Linear` of the decoder blocks and the
LM head, 2 FLOPs per multiply-add, forward plus the input-gradient backward (4 x weights x rows); not
counted: attention scores, norms, the adapter's own small matmuls, the optimizer. Rows per side:

- reference, fixed / dynamic pad: every block and the LM head at every position of the batch padded to
  --max-length / to its longest row (soft prompt positions included);
- peftlab (padded rows): the attention projections at every position, the MLPs at the real tokens
  (`adapted.mlps_at`), the last block's MLP and the LM head at the target positions only;
- peftlab --packing: every block at the packed row's positions (the shared prefix once,
  `AdaptedLM.shared_columns`, which shares nothing under LoRA's active dropout), the last block's MLP
  and the LM head at the targets.

    python bench/work.py --methods prompt,lora                # summaries, batch 4, max length 256
    python bench/work.py --methods lora --task translate
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed  # noqa: E402  (this folder's benchmark: its flags, its batches)

from peftlab.data.collate import make_batch  # noqa: E402
from peftlab.models import decoder_blocks  # noqa: E402
from peftlab.pipeline import prepare  # noqa: E402

SIDES = ("ref-fixed", "ref-dynamic", "peftlab", "peftlab-packed")


def weights(module: nn.Module) -> int:
    """Multiply-adds per row through `module`'s linear layers."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))


def batch_work(p, batch, max_length: int) -> dict[str, float]:
    """Matmul FLOPs of one batch, per side (see the module docstring)."""
    model = p.adapted.model
    blocks = decoder_blocks(model)[1]
    head = model.get_output_embeddings().weight.numel()
    block = sum(weights(b) for b in blocks)
    mlps = sum(weights(b.mlp) for b in blocks)
    last_mlp = weights(blocks[-1].mlp)  # it runs at the targets only
    nv = p.adapted.num_virtual
    b, width = batch.input_ids.shape
    at = p.adapted.targets_at(batch)  # (B, nv + T)
    targets = int(at.sum())
    real = int(batch.attention_mask.sum()) + b * nv
    packed = real - (b - 1) * p.adapted.shared_columns(batch, at)  # the shared prefix once
    rows = {  # multiply-adds
        "ref-fixed": (block + head) * b * max_length,  # the soft prompt fills part of --max-length
        "ref-dynamic": (block + head) * b * (width + nv),
        "peftlab": (block - mlps) * b * (width + nv) + (mlps - last_mlp) * real + (last_mlp + head) * targets,
        "peftlab-packed": (block - last_mlp) * packed + (last_mlp + head) * targets,
    }
    return {side: 4.0 * n for side, n in rows.items()}  # 2 FLOPs a multiply-add, forward + input gradient


def epoch_work(p, args) -> dict[str, float]:
    """Matmul FLOPs of one epoch of `train_speed.py`'s batches, per side."""
    total = dict.fromkeys(SIDES, 0.0)
    for idx in train_speed.random_batches(p, p.examples["train"], args, 0):
        for side, flops in batch_work(p, make_batch(p.examples["train"], idx, p.pad_id, p.device), args.max_length).items():
            total[side] += flops
    return total


def main(argv: list[str] | None = None) -> int:
    args = train_speed.parse_args(argv)
    print(f"| task | method | {' | '.join(f'{s} TFLOP' for s in SIDES)} | ref-fixed ÷ packed | ref-dynamic ÷ packed |")
    print("|---|---|" + "---:|" * (len(SIDES) + 2))
    for method in args.methods.split(","):
        if method == "last-layer":
            print(f"| {args.task} | {method} | (not counted: its backward stops at the trained block) |")
            continue
        p = prepare(train_speed.run_config(args, method, out=""))
        p.adapted.train()  # LoRA's dropout is active while training: it decides what is shared
        work = epoch_work(p, args)
        cells = " | ".join(f"{work[s] / 1e12:.2f}" for s in SIDES)
        print(f"| {args.task} | {method} | {cells} | {work['ref-fixed'] / work['peftlab-packed']:.2f} | "
              f"{work['ref-dynamic'] / work['peftlab-packed']:.2f} |")
    return 0


if __name__ == "__main__":
    with torch.no_grad():
        sys.exit(main())
