"""The training loop: it learns, accumulation is exact, files and logs are what the README promises."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import load_file

from peftlab.config import DEFAULT_LR, TrainConfig
from peftlab.errors import UsageError
from peftlab.training import epoch_order, lr_at, train

from conftest import make_config


def test_overfitting_a_tiny_set_lowers_the_loss(tmp_path, sum_file):
    # A random tiny model starts near the uniform loss ln(49152) = 10.8 and moves slowly: the real
    # model's steep drop is asserted in test_smoke.py.
    cfg = make_config(tmp_path, data=str(sum_file), method="last-layer", lr=1e-2, epochs=8, batch_size=2,
                      max_train_samples=4)
    history = train(cfg, announce=lambda _: None)["history"]
    losses = [h["train_loss"] for h in history]
    assert len(losses) == 8
    assert losses[-1] < losses[0] - 0.3
    assert history[-1]["val_loss"] is not None


def test_grad_accumulation_equals_one_big_batch(tmp_path, sum_file):
    common = dict(data=str(sum_file), method="lora", dropout=0.0, epochs=1, max_train_samples=8, lr=1e-2)
    big = train(make_config(tmp_path / "a", batch_size=4, grad_accum=1, **common), announce=lambda _: None)
    small = train(make_config(tmp_path / "b", batch_size=2, grad_accum=2, **common), announce=lambda _: None)
    a = load_file(tmp_path / "a/run/adapter/adapter_model.safetensors")
    b = load_file(tmp_path / "b/run/adapter/adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    assert big["loss"]["train"] == pytest.approx(small["loss"]["train"], rel=1e-5)


def test_run_directory_files_and_log_lines(tmp_path, sum_file):
    lines: list[str] = []
    cfg = make_config(tmp_path, data=str(sum_file), method="prompt", epochs=2, log_every=1)
    metrics = train(cfg, announce=lines.append)
    run = tmp_path / "run"
    assert any(re.fullmatch(r"Epoch: 1 \| Step: 1 \| Loss: \d+\.\d{4}", line) for line in lines)
    saved = json.loads((run / "config.json").read_text())
    assert saved["method"]["method"] == "prompt" and saved["train"]["epochs"] == 2
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["event"] == "epoch"] == [1, 2]
    on_disk = json.loads((run / "metrics.json").read_text())
    for key in ("trainable_params", "total_params", "loss", "epoch_time_s", "peak_memory_mb", "train_tokens_per_s"):
        assert on_disk[key] == metrics[key]
    assert on_disk["trainable_params"] == 5 * 64
    assert (run / "adapter" / "adapter_config.json").is_file()


def test_an_existing_run_is_never_overwritten_silently(tmp_path, sum_file):
    cfg = make_config(tmp_path, data=str(sum_file), method="prompt")
    train(cfg, announce=lambda _: None)
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    with pytest.raises(UsageError, match="--overwrite"):
        train(make_config(tmp_path, data=str(sum_file), method="prompt"), announce=lambda _: None)
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before


@pytest.mark.parametrize("method", ["prompt", "last-layer"])
def test_without_lr_a_run_gets_its_methods_default_and_records_it(tmp_path, sum_file, method):
    cfg = make_config(tmp_path, data=str(sum_file), method=method, lr=None, max_train_samples=2)
    train(cfg, announce=lambda _: None)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["lr"] == DEFAULT_LR[method]
    assert cfg.train.lr is None  # the caller's config is left as it was


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    assert epoch_order([5, 3], 0, 1, "proportional") == epoch_order([5, 3], 0, 1, "proportional")
    assert epoch_order([5, 3], 0, 1, "proportional") != epoch_order([5, 3], 0, 2, "proportional")
    assert sorted(epoch_order([5, 3], 0, 0, "proportional")) == list(range(8))
    uniform = epoch_order([6, 2], 0, 0, "uniform")
    assert len(uniform) == 12 and sum(i >= 6 for i in uniform) == 6  # the small task repeated to 6


def test_learning_rate_warmup_and_linear_decay():
    cfg = TrainConfig(lr=1.0, warmup_steps=2, decay="linear")
    assert [round(lr_at(s, 6, cfg), 3) for s in range(6)] == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
