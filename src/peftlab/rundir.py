"""The run directory, in one place: its layout, its files, and when it may be written.

    RUN/config.json    the RunConfig the run was made with (the learning rate resolved)
    RUN/log.jsonl      one JSON record per logged step and per epoch
    RUN/metrics.json   every figure: train writes its own, eval merges its own in
    RUN/adapter/       the trained adapter (PEFT format)
    RUN/checkpoints/   what a resume needs (see `checkpoint.py`)
    RUN/samples.jsonl  eval's inputs, references and generations
    RUN/trunk_cache/   last-layer's frozen-trunk states beyond --trunk-cache-mb, while training runs

An existing run is never replaced without `overwrite`, continued only with `resume`, and continued
only with the settings it was made with, by one rule (`check_resumable`) that `train --resume` and
`compare --resume` share: the directory may have moved, `epochs` may grow, the device may change.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .checkpoint import atomic_write_bytes, atomic_write_json
from .config import RunConfig
from .errors import UsageError

CONFIG, LOG, METRICS, ADAPTER, CHECKPOINTS, SAMPLES, TRUNK_CACHE = (
    "config.json", "log.jsonl", "metrics.json", "adapter", "checkpoints", "samples.jsonl", "trunk_cache")

# Settings that may differ when a run is continued without changing what its figures mean: where the
# directory lives, where it runs, the resume/overwrite switches themselves, and what changes speed or
# memory without changing the math (--compile, --gradient-checkpointing, the trunk cache). `epochs` may grow.
FREE_KEYS = {("train", "out"), ("train", "resume"), ("train", "overwrite"), ("model", "device"),
             ("train", "report_to"), ("train", "progress"), ("train", "dist_timeout"), ("train", "compile"),
             ("train", "gradient_checkpointing"), ("train", "trunk_cache_mb"), ("train", "packing")}


def differing_keys(saved: RunConfig, wanted: RunConfig) -> list[str]:
    """`section.key` of every setting in which `wanted` may not continue a run made with `saved`."""
    old, new = saved.to_dict(), wanted.to_dict()
    keys = []
    for section, values in new.items():
        for key, value in values.items():
            before = old.get(section, {}).get(key)
            if (section, key) in FREE_KEYS or before == value:
                continue
            if (section, key) == ("train", "epochs") and isinstance(before, int) and value > before:
                continue
            keys.append(f"{section}.{key}")
    return keys


def read_run_config(run_dir: str | Path) -> RunConfig:
    file = Path(run_dir) / CONFIG
    if not file.is_file():
        raise UsageError(f"{run_dir} is not a peftlab run (no config.json): pass the --out of a train run")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        raw.get("train", {}).setdefault("batch_order", "random")  # runs from before --batch-order: a plain shuffle
        return RunConfig.from_dict(raw)
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"{file} is not a valid run config ({exc}): re-run train") from None


def adapter_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir) / ADAPTER
    if not path.is_dir():
        raise UsageError(f"{run_dir} has no trained adapter yet: finish training (or --resume) first")
    return path


def read_metrics(run_dir: str | Path) -> dict:
    """metrics.json, or {} before anything was written."""
    file = Path(run_dir) / METRICS
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def merge_metrics(run_dir: str | Path, update: dict) -> dict:
    """metrics.json is shared by train and eval: each adds its figures, atomically."""
    file = Path(run_dir) / METRICS
    current = json.loads(file.read_text()) if file.exists() else {}
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            current[key] = current[key] | value
        else:
            current[key] = value
    atomic_write_json(file, current)
    return current


def write_samples(run_dir: str | Path, samples: list[dict]) -> None:
    """Replace samples.jsonl atomically: one record per generated row."""
    lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    atomic_write_bytes(Path(run_dir) / SAMPLES, lines.encode("utf-8"))


class RunDir:
    """One run directory: never overwritten without --overwrite, continued only with --resume and the
    run's own settings (`check_resumable`)."""

    def __init__(self, path: str | Path | None):
        if not path:
            raise UsageError("no run directory: pass --out RUN")
        self.path = Path(path)

    def check(self, cfg: RunConfig) -> None:
        """Fail before anything is written when `cfg` may not start (or continue) a run here."""
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"--out {self.path} is a file: choose a directory path")
        has_run = self.path.is_dir() and any(self.path.iterdir())
        if cfg.train.resume:
            if not (self.path / CONFIG).is_file():
                raise UsageError(f"--resume but {self.path} holds no run: drop --resume to start one")
            differing = differing_keys(self.read_config(), cfg)
            if differing:
                raise UsageError(f"--resume with a config that differs from the run's in {', '.join(differing)}: "
                                 "use the original flags or start a new --out")
        elif has_run and not cfg.train.overwrite:
            raise UsageError(f"{self.path} already holds a run: pass --resume to continue it or --overwrite to replace it")

    def start(self, cfg: RunConfig, resolved: dict | None = None) -> None:
        """Clear the directory for --overwrite, create it, and record `cfg` (a resume records where and
        for how many epochs it now runs) with, under "resolved", what its "auto" settings became here."""
        if cfg.train.overwrite and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        if cfg.train.resume:  # recorded as an uninterrupted run records it
            cfg = RunConfig.from_dict(cfg.to_dict())
            cfg.train.resume = False
        self.write_config(cfg, resolved)

    def read_config(self) -> RunConfig:
        return read_run_config(self.path)

    def for_rank(self, main: bool) -> "RunDir":
        """This run as a data-parallel rank sees it: rank 0 writes, the others only read."""
        return self if main else ReadOnlyRunDir(self.path)

    def resolved(self) -> dict:
        """What the run's "auto" settings became where it last ran (precision, device, threads, ...)."""
        file = self.path / CONFIG
        raw = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
        return raw.get("resolved") or {} if isinstance(raw, dict) else {}

    def write_config(self, cfg: RunConfig, resolved: dict | None = None) -> None:
        atomic_write_json(self.path / CONFIG, cfg.to_dict() | ({"resolved": resolved} if resolved else {}))

    @property
    def adapter(self) -> Path:
        return self.path / ADAPTER

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    def trunk_cache(self, rank: int) -> Path:
        """Where rank `rank` spills its trunk cache (one writer per folder, every rank included)."""
        return self.path / TRUNK_CACHE / f"rank-{rank}"

    def metrics(self) -> dict:
        return read_metrics(self.path)

    def merge_metrics(self, update: dict) -> dict:
        return merge_metrics(self.path, update)

    def log(self, record: dict) -> None:
        with open(self.path / LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def log_size(self) -> int:
        file = self.path / LOG
        return file.stat().st_size if file.exists() else 0

    def truncate_log(self, size: int) -> None:
        """Drop log lines written after the checkpoint we resume from: they will be written again."""
        file = self.path / LOG
        if file.exists():
            with open(file, "r+b") as f:
                f.truncate(size)


class ReadOnlyRunDir(RunDir):
    """The run directory of a rank other than 0: it reads the config and checkpoints rank 0 writes
    (on a file system every rank sees) and writes nothing but its own `trunk_cache(rank)`, so no file
    has two writers."""

    def start(self, cfg: RunConfig, resolved: dict | None = None) -> None:
        pass

    def write_config(self, cfg: RunConfig, resolved: dict | None = None) -> None:
        pass

    def merge_metrics(self, update: dict) -> dict:
        return update

    def log(self, record: dict) -> None:
        pass

    def truncate_log(self, size: int) -> None:
        pass
