"""The loss of a model on a list of examples: what training reports per epoch and eval per split.

Mean cross-entropy per target token, with training's masking, in eval mode (no dropout); the model's
train/eval mode is restored afterwards. Under torchrun the batches are shared out between the ranks and
the sums and counts added up, so every rank gets the figures one process would (same batches, same
per-token losses; only the order of the float64 sum differs).
"""

from __future__ import annotations

import torch

from . import distributed
from .adapted import AdaptedLM
from .data.collate import Example, length_sorted_batches, make_batch


@torch.no_grad()
def split_loss(adapted: AdaptedLM, examples: list[Example], *, batch_size: int, pad_id: int) -> dict:
    """{"loss": mean over all target tokens, "per_task": {task: mean}, "tokens": count}."""
    was_training = adapted.training
    adapted.eval()
    n_tasks = len(adapted.tasks)
    sums = torch.zeros(n_tasks, dtype=torch.float64)
    counts = torch.zeros(n_tasks, dtype=torch.float64)
    batches = length_sorted_batches(examples, batch_size)
    for turn in distributed.my_turns(len(batches)):  # under torchrun each rank scores its own batches
        indices = batches[turn]
        batch = make_batch(examples, indices, pad_id, adapted.device)
        with adapted.autocast():
            losses, rows, _ = adapted.loss_terms(batch)
        tasks = batch.task_ids[rows].cpu()
        sums.index_add_(0, tasks, losses.double().cpu())
        counts.index_add_(0, tasks, torch.ones_like(tasks, dtype=torch.float64))
    adapted.train(was_training)
    sums, counts = distributed.sum_over_ranks(torch.stack([sums, counts])).unbind(0)  # equal to one process's sums
    total = counts.sum().item()
    per_task = {t: (sums[i] / counts[i]).item() for i, t in enumerate(adapted.tasks) if counts[i] > 0}
    return {"loss": (sums.sum() / total).item() if total else None, "per_task": per_task, "tokens": int(total)}
