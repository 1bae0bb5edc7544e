"""Reading a finished (or interrupted) run directory back: its config, its model, its adapter."""

from __future__ import annotations

import json
from pathlib import Path

from .adapters import load_into
from .config import RunConfig
from .errors import UsageError


def read_run_config(run_dir: str | Path) -> RunConfig:
    file = Path(run_dir) / "config.json"
    if not file.is_file():
        raise UsageError(f"{run_dir} is not a peftlab run (no config.json): pass the --out of a train run")
    try:
        return RunConfig.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"{file} is not a valid run config ({exc}): re-run train") from None


def adapter_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir) / "adapter"
    if not path.is_dir():
        raise UsageError(f"{run_dir} has no trained adapter yet: finish training (or --resume) first")
    return path


def load_run(run_dir: str | Path, *, device: str | None = None, precision: str | None = None):
    """(config, LoadedModel, AdaptedLM with the run's trained weights) — no data is read."""
    from .methods import apply_method
    from .models import load_model, resolve_device

    cfg = read_run_config(run_dir)
    if device:
        cfg.model.device = device
    if precision:
        cfg.model.precision = precision
    loaded = load_model(cfg.model.model, device=resolve_device(cfg.model.device), precision=cfg.model.precision,
                        trust_remote_code=cfg.model.trust_remote_code, seed=cfg.train.seed)
    adapted = apply_method(loaded, cfg.method, cfg.data.tasks, seed=cfg.train.seed)
    load_into(adapted, adapter_dir(run_dir))
    adapted.eval()
    return cfg, loaded, adapted
