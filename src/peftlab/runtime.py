"""Small shared pieces of running a model: precision context, batching, seeding."""

from __future__ import annotations

import contextlib
import random

import torch

from .data.collate import Batch, Example, collate


def autocast(device: torch.device, precision: str):
    """bf16: frozen weights are stored in bf16 and matmuls run in bf16; fp32 trainable parameters are
    cast per op, and their gradients and optimizer state stay fp32. fp32: nothing changes."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def length_sorted_batches(examples: list[Example], batch_size: int) -> list[list[int]]:
    """Index batches of similar length for evaluation (order does not change sums; padding shrinks)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def make_batch(examples: list[Example], indices: list[int], pad_id: int, device: torch.device, **kw) -> Batch:
    return collate([examples[i] for i in indices], pad_id, **kw).to(device)
