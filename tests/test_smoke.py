"""Smoke tests on the real embedded SmolLM2-135M-Instruct: it loads offline, every method trains, and
fine-tuning visibly lowers the loss. A few seconds each once the model cache exists."""

from __future__ import annotations

import json

import pytest

from peftlab.cli import main
from peftlab.training import train

from conftest import make_config

pytestmark = pytest.mark.smoke


@pytest.mark.parametrize("method", ["prompt", "lora", "last-layer"])
def test_two_steps_of_each_method_on_the_embedded_model(tmp_path, method):
    cfg = make_config(tmp_path, model="default", method=method, task="summarize", max_train_samples=4,
                      max_eval_samples=2, batch_size=2, lr=1e-3)
    metrics = train(cfg, announce=lambda _: None)
    assert metrics["history"][0]["train_loss"] > 0
    assert metrics["total_params"] >= 134_515_008
    expected = {"prompt": 5 * 576, "lora": 30 * 8 * ((576 + 576) + (576 + 192)), "last-layer": None}[method]
    if expected:
        assert metrics["trainable_params"] == expected
    assert (tmp_path / "run" / "adapter").is_dir()


def test_prompt_tuning_the_embedded_model_lowers_val_loss(tmp_path):
    cfg = make_config(tmp_path, model="default", method="prompt", task="translate", max_train_samples=16,
                      max_eval_samples=8, batch_size=4, lr=3e-2, epochs=2, precision="auto")
    history = train(cfg, announce=lambda _: None)["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_params_command_counts_smollm2_prompt(capsys):
    assert main(["params", "--method", "prompt", "--num-prompts", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trainable"] == 2880 and out["untrained"] is False
