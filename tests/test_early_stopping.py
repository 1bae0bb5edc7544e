"""Early stopping and the best adapter: the pure rule on crafted loss sequences, the same rule in a
real tiny run (it stops at the evaluation the rule names), and a killed-and-resumed early-stopped,
keep-best run that ends exactly where the uninterrupted one does."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from conftest import summarize_rows, write_jsonl
from peftlab.config import RunConfig
from peftlab.early_stopping import EarlyStopping
from peftlab.errors import UsageError
from peftlab.loss import split_loss
from peftlab.methods import load_adapter
from peftlab.pipeline import prepare
from peftlab.training import train
from test_resume import Crash, adapter_bytes, assert_same_run, crash_at, log_records, lora_cfg

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = {"announce": lambda *_: None}


def first_stop(losses: list[float], patience: int | None, min_delta: float = 0.0) -> int | None:
    """The 0-based evaluation after which training stops, or None."""
    stopper = EarlyStopping(patience, min_delta)
    for i, loss in enumerate(losses):
        stopper.observe(loss, step=i + 1)
        if stopper.should_stop:
            return i
    return None


@pytest.mark.parametrize("losses, patience, min_delta, stop", [
    ([1.0, 0.9, 0.95, 0.91, 0.8], 2, 0.0, 3),       # two evaluations in a row above the best 0.9
    ([1.0, 0.9, 0.95, 0.85, 0.86, 0.87], 2, 0.0, 5),  # an improvement resets the count
    ([1.0, 0.9, 0.95, 0.91, 0.8], 3, 0.0, None),    # patience 3 would have seen 0.8
    ([1.0, 0.97, 0.96, 0.5], 2, 0.05, 2),           # 0.03 and 0.04 down are not more than min_delta
    ([1.0, 0.97, 0.96, 0.5], 2, 0.0, None),         # ... without it, each is a new best
    ([1.0, 1.0, 1.0], 2, 0.0, 2),                   # equal is not better
    ([1.0, math.nan, math.inf], 2, 0.0, 2),         # a non-finite loss never improves
    ([3.0, 2.0, 1.0, 5.0, 5.0, 5.0], None, 0.0, None),  # no patience: never stops
])
def test_the_rule_on_crafted_losses(losses, patience, min_delta, stop):
    assert first_stop(losses, patience, min_delta) == stop


def test_best_and_its_step_and_a_step_counted_once():
    stopper = EarlyStopping(patience=2)
    assert stopper.observe(2.0, step=4, epoch=1)
    assert not stopper.observe(2.5, step=6, epoch=1)
    assert not stopper.observe(2.5, step=6, epoch=1)  # the epoch end right after the step-6 evaluation
    assert (stopper.since_best, stopper.evaluations, stopper.should_stop) == (1, 2, False)
    assert stopper.summary() == {"val_loss": 2.0, "step": 4, "epoch": 1, "evaluations": 2, "stopped_early": False}


def test_progress_round_trips_through_json_at_every_point():
    losses = [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.71]
    whole = EarlyStopping(2, 0.01)
    for i, loss in enumerate(losses):
        resumed = EarlyStopping.resume(2, 0.01, json.loads(json.dumps(whole.progress())))
        assert resumed == whole
        assert resumed.observe(loss, step=i) == whole.observe(loss, step=i)
    assert whole.should_stop


@pytest.mark.parametrize("flag, value", [("eval_every_steps", 0), ("early_stopping_patience", -1), ("min_delta", -0.1)])
def test_bad_settings_are_usage_errors(tmp_path, flag, value):
    cfg = lora_cfg(tmp_path, tmp_path / "none.jsonl", "run", **{flag: value})
    with pytest.raises(UsageError, match=flag.replace("_", "-")):
        cfg.validate()


# ---------------------------------------------------------------------------------------- real runs

# LoRA at a rate high enough that the val loss turns back up within two epochs of 6 steps each (on
# random batches: the data was chosen for that order).
STOPPING = dict(lr=0.5, eval_every_steps=1, early_stopping_patience=3, keep_best=True, batch_order="random")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_thread):
    """The same run without early stopping (its val losses, one per step) and with it, uninterrupted."""
    root = tmp_path_factory.mktemp("stopping")
    data = write_jsonl(root / "sum.jsonl", summarize_rows(30))
    full = lora_cfg(root, data, "full", lr=0.5, eval_every_steps=1, batch_order="random")
    train(full, **QUIET)
    stopped = lora_cfg(root, data, "stopped", **STOPPING)
    train(stopped, **QUIET)
    return root, data


def evals(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["val_loss"]) for r in log_records(run) if r["event"] == "eval"]


def test_a_run_stops_at_the_evaluation_the_rule_names(runs):
    root, _ = runs
    full = evals(root / "full")
    assert [s for s, _ in full] == list(range(1, 13))  # every step; the epoch ends (6, 12) are not counted twice
    assert json.loads((root / "full" / "metrics.json").read_text())["best"]["evaluations"] == 12
    stop = first_stop([loss for _, loss in full], STOPPING["early_stopping_patience"])
    assert stop is not None and stop < len(full) - 1  # the data makes it stop early: the test means something

    stopped = evals(root / "stopped")
    assert stopped == full[: stop + 1]  # the same losses, up to and including the stopping evaluation
    steps = [r["step"] for r in log_records(root / "stopped") if r["event"] == "step"]
    assert steps[-1] == full[stop][0]  # no step trained after it
    metrics = json.loads((root / "stopped" / "metrics.json").read_text())
    best_step, best_loss = min(full[: stop + 1], key=lambda e: e[1])
    assert metrics["best"] | {"evaluations": None} == {"val_loss": best_loss, "step": best_step,
                                                        "epoch": (best_step - 1) // 6 + 1, "evaluations": None,
                                                        "stopped_early": True}
    assert metrics["steps"] == full[stop][0] and metrics["adapter_weights"] == "best"


def test_keep_best_writes_the_best_evaluations_weights(runs):
    root, _ = runs
    run = root / "stopped"
    p = prepare(RunConfig.from_dict(json.loads((run / "config.json").read_text())))
    load_adapter(p.adapted, run / "adapter")
    val = split_loss(p.adapted, p.examples["val"], batch_size=2, pad_id=p.pad_id)["loss"]
    best = json.loads((run / "metrics.json").read_text())["best"]
    assert val == pytest.approx(best["val_loss"], abs=1e-6)
    last = sorted((run / "checkpoints").iterdir())[-1] / "trainable.safetensors"  # the weights at the stop
    from safetensors.torch import load_file

    assert [loss for step, loss in evals(run) if step == best["step"]] == [best["val_loss"]]
    assert any(not torch.equal(w, p.adapted.named_trainable()[n].detach()) for n, w in load_file(last).items())


@pytest.mark.parametrize("when", ["before_best", "after_best", "at_stop"])
def test_a_resumed_early_stopped_keep_best_run_equals_the_uninterrupted_one(tmp_path, runs, monkeypatch, when):
    root, data = runs
    metrics = json.loads((root / "stopped" / "metrics.json").read_text())
    best, stop = metrics["best"]["step"], metrics["steps"]
    assert 1 < best < stop - 1
    crash_step = {"before_best": best - 1, "after_best": best + 1, "at_stop": stop}[when]
    cfg = lora_cfg(tmp_path, data, "run", **STOPPING)
    with monkeypatch.context() as m:
        crash_at(m, crash_step)
        with pytest.raises(Crash):
            train(cfg, **QUIET)
    cfg.train.resume = True
    train(cfg, **QUIET)
    assert_same_run(tmp_path / "run", root / "stopped")
    assert adapter_bytes(tmp_path / "run") == adapter_bytes(root / "stopped")
    metrics = [json.loads((r / "metrics.json").read_text()) for r in (tmp_path / "run", root / "stopped")]
    assert metrics[0]["best"] == metrics[1]["best"] and metrics[0]["steps"] == metrics[1]["steps"]
