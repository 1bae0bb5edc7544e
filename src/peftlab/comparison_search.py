"""compare --lr-search: each method at its own best learning rate, chosen by validation loss.

One learning rate per method is a choice that decides comparisons (prompt tuning's quality moves
several-fold with it alone), so before the final runs each method trains briefly at a log-spaced grid
around its rate — `--lr-grid-points` rates from a tenth to ten times it — on the first
`--lr-search-fraction` of the training examples, for the study's epochs, with the first seed. The rate
with the lowest final validation loss wins (the test split is never looked at); the final runs use it.

    DIR/lr-search/<method>/lr<rate>/   an ordinary run directory per grid point (training only)

Each grid run is a fresh process, like every compare child; `--resume` keeps the finished ones. The
search's training time is reported on its own, never mixed into a method's cost.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

from .comparison_children import check_run_config, run_child
from .config import RunConfig
from .errors import UsageError
from .rundir import RunDir

SEARCH_DIR = "lr-search"


def lr_grid(center: float, points: int) -> list[float]:
    """`points` log-spaced rates from center/10 to center*10 (the center itself when points is odd)."""
    if points < 1:
        raise UsageError(f"--lr-grid-points must be a positive integer, got {points}")
    if points == 1:
        return [center]
    return [float(f"{center * 10 ** (-1 + 2 * i / (points - 1)):.6g}") for i in range(points)]


def search_config(final: RunConfig, lr: float, fraction: float, train_size: int, out: Path) -> RunConfig:
    """One grid run: the method's final config at rate `lr`, on the first share of the training data."""
    if not 0 < fraction <= 1:
        raise UsageError(f"--lr-search-fraction must be in (0, 1], got {fraction}")
    cfg = copy.deepcopy(final)
    cfg.train.lr = lr
    cfg.data.max_train_samples = max(1, math.ceil(fraction * train_size))
    cfg.train.out = str(out / SEARCH_DIR / cfg.method.method / f"lr{lr:g}")
    return cfg


def search_child(cfg: RunConfig) -> None:
    """Train one grid point (in a fresh process); its figures stay in its run directory."""
    from .training import train

    run = RunDir(cfg.train.out)
    cfg.train.resume = (run.path / "config.json").is_file()
    train(cfg)


def grid_point(cfg: RunConfig) -> dict:
    """What the report shows of a finished grid run: rate, final val loss, training seconds."""
    metrics = RunDir(cfg.train.out).metrics()
    history = metrics.get("history") or []
    return {"lr": cfg.train.lr, "val_loss": history[-1].get("val_loss") if history else None,
            "train_time_s": sum(metrics.get("epoch_times_s") or []), "train_examples": cfg.data.max_train_samples}


def search_method(final: RunConfig, *, points: int, fraction: float, train_size: int, out: Path,
                  resume: bool, announce=print) -> dict:
    """Run (or keep) every grid point of one method; returns {"grid": [...], "chosen": lr, "center": lr}."""
    method, grid = final.method.method, []
    for lr in lr_grid(final.train.lr, points):
        cfg = search_config(final, lr, fraction, train_size, out)
        if resume:
            check_run_config(Path(cfg.train.out), cfg)
        done = len(RunDir(cfg.train.out).metrics().get("history") or []) >= cfg.train.epochs
        announce(f"peftlab compare: lr search {method} lr {lr:g} — {'already trained, kept' if done else 'training'}")
        if not done:
            run_child(f"{method} lr {lr:g}", search_child, cfg)
        grid.append(grid_point(cfg))
    scored = [g for g in grid if isinstance(g["val_loss"], (int, float)) and math.isfinite(g["val_loss"])]
    if not scored:
        raise UsageError(f"the lr search of {method} gave no finite validation loss: lower the rates or give more data")
    chosen = min(scored, key=lambda g: g["val_loss"])["lr"]
    return {"center": final.train.lr, "grid": grid, "chosen": chosen}
