"""bench/work.py counts what each side of bench/train_speed.py computes: its matmul FLOPs for a batch
equal what `torch.utils.flop_counter` measures while that side's forward and backward run (prompt
tuning on a tiny random Llama: the reference padded per batch and to --max-length, peftlab on padded
rows and packed), and over an epoch the packed side does the least work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from peftlab.data.collate import make_batch
from peftlab.pipeline import prepare

pytest.importorskip("peft")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import train_speed  # noqa: E402
import work  # noqa: E402

ARGS = ["--model", "random:tiny-llama", "--steps", "2", "--max-length", "160"]


def prompt_tuning():
    """The benchmark's flags and its prompt-tuning side prepared (training mode: dropout decides sharing)."""
    args = train_speed.parse_args(ARGS)
    p = prepare(train_speed.run_config(args, "prompt", out=""))
    p.adapted.train()
    return args, p


def measured_mm_flops(run) -> int:
    """Matmul FLOPs `run()` dispatches (forward and backward), as torch's flop counter counts them."""
    with FlopCounterMode(display=False) as counter:
        run()
    return sum(n for op, n in counter.get_flop_counts()["Global"].items() if str(op) in ("aten.mm", "aten.addmm"))


def test_each_sides_count_is_what_its_forward_and_backward_compute():
    args, p = prompt_tuning()
    idx = train_speed.random_batches(p, p.examples["train"], args, 0)[0]
    batch = make_batch(p.examples["train"], idx, p.pad_id, p.device)
    counted = work.batch_work(p, batch, args.max_length)

    def peftlab(packed: bool):
        losses, _, _ = p.adapted.loss_terms(batch, packed=packed)
        losses.sum().backward()

    assert measured_mm_flops(lambda: peftlab(False)) == counted["peftlab"]
    assert measured_mm_flops(lambda: peftlab(True)) == counted["peftlab-packed"]

    loop = train_speed.reference_loop(args, "prompt")
    for side, width in (("ref-dynamic", None), ("ref-fixed", args.max_length - loop.num_virtual)):
        ids, mask, labels = train_speed.pad(loop.examples, idx, width, loop.p.pad_id, loop.p.device)
        assert measured_mm_flops(lambda: loop.model(input_ids=ids, attention_mask=mask, labels=labels)
                                 .loss.backward()) == counted[side], side


def test_over_an_epoch_packing_does_the_least_work(capsys):
    args, p = prompt_tuning()
    total = work.epoch_work(p, args)
    assert total["ref-fixed"] > total["ref-dynamic"] > total["peftlab"] > total["peftlab-packed"] > 0
    with torch.no_grad():
        assert work.main(ARGS + ["--methods", "prompt"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| summarize | prompt |"))
    assert row.split(" | ")[-1] == f"{total['ref-dynamic'] / total['peftlab-packed']:.2f} |"
