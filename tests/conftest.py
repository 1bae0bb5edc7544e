"""Shared fixtures: tiny random models (seconds, not minutes) and small data files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from peftlab.config import RunConfig

ARCHS = ("random:tiny-gpt2", "random:tiny-llama")


@pytest.fixture(scope="session")
def tokenizer():
    from peftlab.models import load_tokenizer

    return load_tokenizer("default")


def make_config(tmp_path: Path | None = None, **overrides) -> RunConfig:
    """A RunConfig for fast tests; `overrides` are flag names (`rank=4`, `model="random:tiny-gpt2"`)."""
    cfg = RunConfig()
    cfg.model.model = "random:tiny-llama"
    cfg.model.device = "cpu"
    cfg.train.epochs = 1
    cfg.train.batch_size = 4
    cfg.train.lr = 1e-2
    cfg.data.max_length = 128
    if tmp_path is not None:
        cfg.train.out = str(tmp_path / "run")
    for key, value in overrides.items():
        section = next(s for s in ("model", "data", "method", "train") if hasattr(getattr(cfg, s), key))
        setattr(getattr(cfg, section), key, value)
    return cfg


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def summarize_rows(n: int) -> list[dict]:
    return [{"article": f"The council of Town{i} approved a budget of {i * 10} million on Monday. "
                        f"The mayor called it fair.", "summary": f"Town{i} approved a {i * 10} million budget."}
            for i in range(n)]


@pytest.fixture
def sum_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "sum.jsonl", summarize_rows(20))


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
