"""The CUDA path, where a GPU is present (skipped elsewhere, so CI on CPU runners skips it all).

The rest of the suite pins `--device cpu`; these run the same training and decoding on the GPU and hold
them to the CPU's figures: fp32 step losses within 1e-4 for the three methods and both architectures,
the same greedy tokens, `--packing` and the trunk cache exact on the GPU too, bf16 autocast chosen by
`auto` and within 2% of fp32, peak memory read from CUDA's allocator, one torchrun rank on NCCL equal to
one process, and `--compile` (inductor) equal to eager.

    pytest tests/test_cuda.py        # on a machine with a CUDA GPU
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ARCHS, make_config, step_losses
from peftlab import decoding
from peftlab.memory import CUDA_KIND
from peftlab.training import train
from test_distributed import env as subprocess_env

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

METHODS = ("prompt", "lora", "last-layer")


@pytest.fixture(autouse=True)
def _full_fp32_matmuls():
    """fp32 means fp32: TF32 matmuls (off by default in torch, on in some users' setups) would move
    the losses by ~1e-3 and hide a real difference."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(before)


def run(tmp_path: Path, name: str, **overrides) -> tuple[dict, list[float]]:
    """Train a small run; its metrics and its logged step losses."""
    settings = dict(max_train_samples=16, max_eval_samples=4, log_every=1, report_to="none", progress="lines")
    cfg = make_config(tmp_path / name, **(settings | overrides))
    metrics = train(cfg, announce=lambda *_: None)
    return metrics, step_losses(Path(cfg.train.out))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", METHODS)
def test_training_on_cuda_logs_the_cpus_losses_and_reads_cuda_memory(tmp_path, arch, method):
    """Dropout draws from each device's own generator, so LoRA's is off here; GPT-2's own dropout (in
    the block last-layer trains) cannot be, and moves its losses by ~1e-3 between devices."""
    _, on_cpu = run(tmp_path, "cpu", model=arch, method=method, device="cpu", epochs=2, dropout=0.0)
    metrics, on_gpu = run(tmp_path, "gpu", model=arch, method=method, device="cuda", epochs=2, dropout=0.0)
    tol = 5e-3 if (arch, method) == ("random:tiny-gpt2", "last-layer") else 1e-4
    assert len(on_gpu) == len(on_cpu) > 2
    assert on_gpu[0] == pytest.approx(on_cpu[0], rel=1e-4)
    assert on_gpu == pytest.approx(on_cpu, rel=tol, abs=1e-5)
    assert metrics["memory_kind"] == CUDA_KIND and metrics["peak_memory_mb"] > 0
    assert metrics["precision"] == "fp32"


def test_auto_precision_is_bf16_on_cuda_and_trains_close_to_fp32(tmp_path):
    fp32, exact = run(tmp_path, "fp32", method="lora", device="cuda")
    metrics, mixed = run(tmp_path, "auto", method="lora", device="cuda", precision="auto")
    assert fp32["precision"] == "fp32" and metrics["precision"] == "bf16"
    assert mixed != exact  # bf16 arithmetic really ran
    assert mixed == pytest.approx(exact, rel=2e-2)


@pytest.mark.parametrize("method", ["prompt", "lora"])
def test_packing_on_cuda_gives_the_padded_losses(tmp_path, method):
    """Dropout off: a packed batch has another shape, so it would draw other masks."""
    _, padded = run(tmp_path, "padded", task="qa", method=method, device="cuda", dropout=0.0)
    _, packed = run(tmp_path, "packed", task="qa", method=method, device="cuda", dropout=0.0, packing=True)
    assert packed == pytest.approx(padded, rel=1e-4, abs=1e-5)


def test_trunk_cache_spilled_to_disk_on_cuda_gives_the_recomputed_losses(tmp_path):
    settings = dict(method="last-layer", device="cuda", epochs=3)
    _, recomputed = run(tmp_path, "recomputed", trunk_cache_mb=0.0, **settings)
    _, spilled = run(tmp_path, "spilled", trunk_cache_mb=0.01, **settings)  # far under one epoch's states
    _, kept = run(tmp_path, "kept", **settings)
    assert spilled == pytest.approx(recomputed, rel=1e-5, abs=1e-6)
    assert kept == pytest.approx(recomputed, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("method", ["prompt", "lora"])
def test_greedy_decoding_on_cuda_gives_the_cpus_tokens(method):
    from test_generation_speedpath import build, varied_examples

    tokenizer, adapted = build("random:tiny-llama", method)
    examples = varied_examples(tokenizer, adapted)
    kw = dict(max_new_tokens=12, batch_size=8)
    on_cpu = decoding.generate_ids(adapted, tokenizer, examples, **kw)
    on_gpu = decoding.generate_ids(adapted.to("cuda"), tokenizer, examples, **kw)
    assert len({tuple(ids) for ids in on_cpu}) > 1  # input-dependent outputs, not one repeated row
    assert on_gpu == on_cpu


def test_one_torchrun_rank_on_nccl_trains_like_one_process(tmp_path):
    data_args = ["--model", "random:tiny-llama", "--device", "cuda", "--precision", "fp32", "--method", "lora",
                 "--max-train-samples", "16", "--max-eval-samples", "4", "--max-length", "128", "--log-every", "1",
                 "--report-to", "none", "--progress", "lines", "--epochs", "2", "--batch-size", "4"]
    env = subprocess_env() | {"NVIDIA_TF32_OVERRIDE": "0"}
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                               "-m", "peftlab", "train", *data_args, "--out", str(tmp_path / "rank")],
                              env=env, capture_output=True, text=True, timeout=300)
    assert launched.returncode == 0, launched.stderr[-3000:]
    alone = subprocess.run([sys.executable, "-m", "peftlab", "train", *data_args, "--out", str(tmp_path / "alone")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stderr[-3000:]
    losses = [step_losses(tmp_path / name) for name in ("rank", "alone")]
    assert len(losses[0]) > 2 and losses[0] == pytest.approx(losses[1], rel=1e-5, abs=1e-6)
    backends = [json.loads((tmp_path / name / "config.json").read_text())["resolved"]["backend"]
                for name in ("rank", "alone")]
    assert backends == ["nccl", None]


def test_compile_on_cuda_trains_like_eager(tmp_path):
    _, eager = run(tmp_path, "eager", method="lora", device="cuda", dropout=0.0)
    _, compiled = run(tmp_path, "compiled", method="lora", device="cuda", dropout=0.0, compile=True)
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-5)
