"""What the training loop sees when: the batches of each epoch and the learning rate of each step,
both pure functions (of seed and epoch, of step) — so a resumed run replays the same batches at the
same rates, and there is no sampler or scheduler object to save.

Batches are a plain shuffle by default. With `--batch-order grouped` they are length-grouped: a batch
is padded to its longest row, and on CPU every pad position costs as much as a real token, so rows of
similar length go together. That is faster, but not free: each step then sees examples of one length
band, and in a 3-seed study on the built-in summaries (64 examples, 2 epochs) the final val loss came
out ~1% higher for every method (README "Performance"), so grouping is an opt-in. The grouping is the
one transformers' `LengthGroupedSampler` uses — shuffle, cut into "mega-batches" of
`GROUP_BATCHES` batches, sort each by length, cut into batches, longest batch first (a run that
will run out of memory does so at step 1) — with the batches then shuffled, all from the epoch's own
generator.
"""

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


GROUP_BATCHES = 50  # batches per length-sorted mega-batch (transformers' LengthGroupedSampler: 50)


def epoch_batches(sizes: list[int], lengths: list[int], batch_size: int, seed: int, epoch: int, sampling: str,
                  grouped: bool = True) -> list[list[int]]:
    """The epoch's batches of example indices (`lengths[i]`: example i's tokens). `grouped=False` cuts
    `epoch_order` as it comes (every batch a random draw); `grouped=True` cuts it into batches of
    similar length, as the module docstring says. Either way a pure function of (seed, epoch), and a
    short remainder batch comes last. `batch_size` is what one optimizer step sees (the training loop
    cuts it into micro-batches and rank slices), so accumulation and data parallelism group alike."""
    order = epoch_order(sizes, seed, epoch, sampling)
    if not grouped:
        return cut(order, batch_size)
    mega = batch_size * GROUP_BATCHES
    batches = [batch for start in range(0, len(order), mega)
               for batch in cut(sorted(order[start:start + mega], key=lambda i: -lengths[i]), batch_size)]
    short = [batches.pop()] if len(batches[-1]) < batch_size else []  # a remainder stays last, as in a plain cut
    longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]), default=None)
    if longest is None:
        return short
    first, rest = batches[longest], batches[:longest] + batches[longest + 1:]
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch + 7_919)  # not epoch_order's draws
    return [first] + [rest[i] for i in torch.randperm(len(rest), generator=generator).tolist()] + short


def cut(order: list[int], batch_size: int) -> list[list[int]]:
    """`order` in consecutive pieces of `batch_size` (the last may be shorter)."""
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def lr_at(step: int, total: int, cfg) -> float:
    """Linear warmup over `warmup_steps`, then constant or linear decay to 0 at `total`."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.decay == "linear":
        remaining = max(total - cfg.warmup_steps, 1)
        return cfg.lr * max(0.0, 1 - (step - cfg.warmup_steps) / remaining)
    return cfg.lr
