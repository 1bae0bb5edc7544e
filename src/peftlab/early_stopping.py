"""Early stopping and the best adapter, decided from the sequence of val losses alone.

`EarlyStopping` sees each evaluation's val loss (mid-epoch ones from `--eval-every-steps` and the one
at every epoch end) and says whether it is a new best (`--keep-best` then keeps those weights) and
whether to stop: after `patience` evaluations in a row that did not beat the best by more than
`min_delta`. It holds no tensors and no clock, so its whole progress is a small JSON-able dict that
the training checkpoint carries (`progress` / `EarlyStopping(..., **progress)`), and a resumed run
decides exactly as the uninterrupted one did.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

SETTINGS = ("patience", "min_delta")


@dataclass
class EarlyStopping:
    patience: int | None = None       # None: never stop early (the best is still tracked)
    min_delta: float = 0.0
    best_loss: float | None = None
    best_step: int | None = None      # optimizer steps done when the best was measured
    best_epoch: int | None = None     # the (1-based) epoch it was measured in
    since_best: int = 0               # evaluations in a row without an improvement
    evaluations: int = 0
    last_step: int | None = None      # the step of the latest evaluation: one step is counted once

    def observe(self, loss: float | None, *, step: int = 0, epoch: int = 0) -> bool:
        """Count the evaluation of `loss` after `step` steps; True when it is a new best. A second
        evaluation of the same step (an epoch end right after a mid-epoch one) is not counted again,
        and a missing or non-finite loss never improves."""
        if self.last_step is not None and step == self.last_step:
            return False
        self.last_step = step
        self.evaluations += 1
        improved = loss is not None and math.isfinite(loss) and (
            self.best_loss is None or loss < self.best_loss - self.min_delta)
        if improved:
            self.best_loss, self.best_step, self.best_epoch, self.since_best = loss, step, epoch, 0
        else:
            self.since_best += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.since_best >= self.patience

    def progress(self) -> dict:
        """What a checkpoint records: everything but the settings, which come from the run's config."""
        return {k: v for k, v in asdict(self).items() if k not in SETTINGS}

    @classmethod
    def resume(cls, patience: int | None, min_delta: float, progress: dict) -> "EarlyStopping":
        known = {f.name for f in fields(cls)} - set(SETTINGS)
        return cls(patience, min_delta, **{k: v for k, v in progress.items() if k in known})

    def summary(self) -> dict:
        """metrics.json's "best": which evaluation was the best, and whether the run stopped early."""
        return {"val_loss": self.best_loss, "step": self.best_step, "epoch": self.best_epoch,
                "evaluations": self.evaluations, "stopped_early": self.should_stop}


def stopper_for(train_cfg, progress: dict) -> EarlyStopping:
    """The run's stopper (settings from its TrainConfig) at the progress a TrainState recorded."""
    return EarlyStopping.resume(train_cfg.early_stopping_patience, train_cfg.min_delta, progress)
