"""Everything a resume needs: `TrainState` (epoch, micro-batch position, optimizer step, running sums,
history, log offset, early-stopping progress) plus, beside it in each checkpoint, the trainable
weights, the AdamW moments, every rank's RNG state and the best weights of `--keep-best`.

Rank 0 alone writes; every rank restores from the same checkpoint. The log is cut back to the bytes
the checkpoint had seen, because the steps after it run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

from . import distributed
from .checkpoint import load_latest, write_checkpoint
from .pipeline import Prepared
from .rundir import RunDir


@dataclass
class TrainState:
    epoch: int = 0               # epochs completed
    batch: int = 0               # micro-batches done in the current epoch
    step: int = 0                # optimizer steps done
    epoch_loss_sum: float = 0.0  # target-token loss summed over the current epoch
    epoch_tokens: int = 0
    epoch_task_sums: dict = field(default_factory=dict)  # task -> [loss_sum, tokens]
    epoch_time_s: float = 0.0    # training time spent in the current epoch so far
    seen_tokens: int = 0         # non-pad input tokens processed, for tokens/s
    train_time_s: float = 0.0
    history: list = field(default_factory=list)
    log_offset: int = 0          # bytes of log.jsonl that belong to this state
    stopping: dict = field(default_factory=dict)  # EarlyStopping progress: best val loss, patience count
    grad_norm: float = 0.0       # of the last optimizer step, for the step log
    rank_tokens: list = field(default_factory=list)  # seen_tokens of each rank (data-parallel runs)
    best_weights: dict | None = field(default=None, repr=False)  # --keep-best: a tensor group, not JSON

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "best_weights"}


def save_checkpoint(run: RunDir, p: Prepared, optimizer: torch.optim.Optimizer, state: TrainState) -> None:
    state.log_offset = run.log_size()
    names = list(p.adapted.named_trainable())
    moments: dict[str, torch.Tensor] = {}
    for name, param in zip(names, optimizer.param_groups[0]["params"]):
        for key, value in optimizer.state.get(param, {}).items():
            moments[f"{name}::{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    rng = distributed.gathered_rng_states()  # every rank takes part; rank 0 alone writes
    if not distributed.is_main():
        return
    tensors = {"trainable": p.adapted.named_trainable(), "optimizer": moments, "rng": rng}
    if state.best_weights is not None:
        tensors["best"] = state.best_weights
    write_checkpoint(run.checkpoints, state.step, tensors, state.to_json(), p.cfg.train.keep_checkpoints,
                     epoch=state.epoch)


def restore_checkpoint(run: RunDir, p: Prepared, optimizer: torch.optim.Optimizer) -> TrainState | None:
    """Weights, AdamW moments, RNG and TrainState of the newest good checkpoint (None: there is none);
    the log is cut back to what that checkpoint had seen, since the steps after it run again."""
    found = load_latest(run.checkpoints)
    if found is None:
        return None
    tensors, raw_state = found
    params = p.adapted.named_trainable()
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(tensors["trainable"][name])
    for name, param in params.items():
        keys = [k for k in tensors["optimizer"] if k.startswith(name + "::")]
        if keys:
            moments = {k.split("::", 1)[1]: tensors["optimizer"][k] for k in keys}
            optimizer.state[param] = {k: v if k == "step" else v.to(param.device) for k, v in moments.items()}
    distributed.restore_rng_state(tensors["rng"])
    state = TrainState(**raw_state)
    state.best_weights = tensors.get("best")
    run.truncate_log(state.log_offset)
    return state
