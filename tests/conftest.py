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
    cfg.model.precision = "fp32"  # equivalence tests compare to 1e-4; fp32 on every machine
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


def step_losses(run: Path) -> list[float]:
    """The step losses a run logged (log.jsonl's "step" records), in order."""
    return [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r.get("event") == "step"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def summarize_rows(n: int) -> list[dict]:
    return [{"article": f"The council of Town{i} approved a budget of {i * 10} million on Monday. "
                        f"The mayor called it fair.", "summary": f"Town{i} approved a {i * 10} million budget."}
            for i in range(n)]


def qa_rows(n: int) -> list[dict]:
    """Context lengths vary with i, so batches of these rows need padding."""
    return [{"context": f"Mira{i} was born in Varna{i}." + " She later moved to the capital." * (i % 3),
             "question": f"Where was Mira{i} born?", "answer": f"Varna{i}"} for i in range(n)]


def translate_rows(n: int) -> list[dict]:
    return [{"source": f"Аз имам {i} книги" + " и една химикалка" * (i % 2) + ".",
             "target": f"I have {i} books" + " and one pen" * (i % 2) + "."} for i in range(n)]


ROWS = {"summarize": summarize_rows, "qa": qa_rows, "translate": translate_rows}


def spread_weights(model: torch.nn.Module, std: float = 0.2, seed: int = 0) -> torch.nn.Module:
    """Redraw every weight matrix at `std`: at the stock 0.02 init a tiny model's greedy token is the same
    for every input, which would let a decoding test pass without comparing anything."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=generator) * std)
    return model


@pytest.fixture(scope="session")
def spread_model_dir(tmp_path_factory) -> Path:
    """random:tiny-llama with `spread_weights`, saved as a local model directory (safetensors + tokenizer),
    so CLI commands given `--model DIR` decode input-dependent tokens."""
    from peftlab.models import load_model

    loaded = load_model("random:tiny-llama")
    path = tmp_path_factory.mktemp("spread-tiny-llama")
    spread_weights(loaded.model).save_pretrained(path)
    loaded.tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def sum_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "sum.jsonl", summarize_rows(20))


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _auto_means_fp32(request, monkeypatch):
    """CLI commands default to --precision auto, which is bf16 on a CPU with AVX512-BF16 or AMX; CI may
    land on one. So that every test measures the same arithmetic on every machine, the suite sees no
    native bf16 — except tests marked `real_bf16_probe`, which test the probing itself."""
    if request.node.get_closest_marker("real_bf16_probe") is None:
        import peftlab.hardware

        monkeypatch.setattr(peftlab.hardware, "cpu_native_bf16", lambda: False)
    yield


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from a second intra-op thread, and on a busy 2-core runner OpenMP threads
    spinning against other processes make training 10x slower; subprocesses get OMP_NUM_THREADS=1."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
