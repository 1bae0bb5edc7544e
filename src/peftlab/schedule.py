"""What the training loop sees when: the example order of each epoch and the learning rate of each
step, both pure functions (of seed and epoch, of step) — so a resumed run replays the same batches at
the same rates, and there is no sampler or scheduler object to save."""

from __future__ import annotations

import math

import torch


def epoch_order(sizes: list[int], seed: int, epoch: int, sampling: str) -> list[int]:
    """Example indices for one epoch. Tasks are concatenated (sizes per task, in order); 'uniform'
    repeats smaller tasks up to the largest. The permutation depends only on (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    pool: list[int] = []
    start = 0
    largest = max(sizes)
    for size in sizes:
        ids = list(range(start, start + size))
        if sampling == "uniform" and size:
            ids = (ids * math.ceil(largest / size))[:largest]
        pool += ids
        start += size
    return [pool[i] for i in torch.randperm(len(pool), generator=generator).tolist()]


def lr_at(step: int, total: int, cfg) -> float:
    """Linear warmup over `warmup_steps`, then constant or linear decay to 0 at `total`."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.decay == "linear":
        remaining = max(total - cfg.warmup_steps, 1)
        return cfg.lr * max(0.0, 1 - (step - cfg.warmup_steps) / remaining)
    return cfg.lr
