"""Tracking and model cards: TensorBoard events read back with TensorBoard's own reader hold what
log.jsonl holds; an MLflow file store holds the metrics and the config; the card's front matter is
YAML and its figures are metrics.json's; compare's children print progress lines."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from peftlab.cards import write_card
from peftlab.cli import main
from peftlab.config import EvalConfig
from peftlab.errors import UsageError
from peftlab.evaluation import evaluate
from peftlab.tracking import parse_report_to
from peftlab.training import train

from conftest import ROWS, make_config, summarize_rows, write_jsonl


def _events(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def _scalars(acc, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def _log(run: Path, event: str) -> list[dict]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r["event"] == event]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, one_thread) -> Path:
    """A tiny LoRA run reported to TensorBoard and to an MLflow file store, then evaluated."""
    root = tmp_path_factory.mktemp("tracked")
    data = write_jsonl(root / "sum.jsonl", summarize_rows(20))
    cfg = make_config(root, data=str(data), method="lora", epochs=2, batch_size=2, max_train_samples=6,
                      max_eval_samples=2, log_every=1, report_to="tensorboard,mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", (root / "mlruns").as_uri())
        train(cfg, announce=lambda _: None)
        evaluate(EvalConfig(run=cfg.train.out, quality=type(EvalConfig().quality)(max_new_tokens=4)),
                 announce=lambda _: None)
    return root


def test_tensorboard_events_hold_the_logged_steps_and_epochs(tracked):
    run = tracked / "run"
    acc = _events(run)
    steps = _log(run, "step")
    assert len(steps) == 6  # 3 steps per epoch, logged every step
    assert _scalars(acc, "train/loss") == [(r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in steps]
    assert [v for _, v in _scalars(acc, "train/lr")] == pytest.approx([r["lr"] for r in steps])
    assert [v for _, v in _scalars(acc, "train/grad_norm")] == pytest.approx([r["grad_norm"] for r in steps], rel=1e-6)
    assert [s for s, v in _scalars(acc, "train/tokens_per_s") if v > 0] == [r["step"] for r in steps]
    epochs = _log(run, "epoch")
    assert _scalars(acc, "epoch/val_loss") == [(3, pytest.approx(epochs[0]["val_loss"], rel=1e-6)),
                                               (6, pytest.approx(epochs[1]["val_loss"], rel=1e-6))]
    assert len(_scalars(acc, "epoch/peak_memory_mb")) == 2


def test_multi_task_runs_have_per_task_epoch_tags(tmp_path, one_thread):
    data = ",".join(f"{t}={write_jsonl(tmp_path / f'{t}.jsonl', ROWS[t](10))}" for t in ("summarize", "qa"))
    cfg = make_config(tmp_path, task="summarize,qa", data=data, num_prompts=2, max_length=96, max_train_samples=2,
                      max_eval_samples=2)
    train(cfg, announce=lambda _: None)
    acc = _events(tmp_path / "run")
    epoch = _log(tmp_path / "run", "epoch")[0]
    for key in ("train_loss", "val_loss"):
        for task in ("summarize", "qa"):
            assert _scalars(acc, f"epoch/{key}/{task}")[0][1] == pytest.approx(epoch[f"{key}_per_task"][task])


def test_eval_figures_reach_the_run_events(tracked):
    acc = _events(tracked / "run")
    metrics = json.loads((tracked / "run/metrics.json").read_text())
    assert metrics["steps"] == 6
    assert _scalars(acc, "eval/loss/test") == [(6, pytest.approx(metrics["loss"]["test"], rel=1e-6))]
    assert _scalars(acc, "eval/quality/rouge1") == [(6, pytest.approx(metrics["quality"]["rouge1"], rel=1e-6))]


def test_mlflow_file_store_holds_metrics_and_params(tracked):
    from mlflow.tracking import MlflowClient

    from peftlab.tracking import _file_store_allowed

    uri = (tracked / "mlruns").as_uri()
    run_id = json.loads((tracked / "run/tracking.json").read_text())["mlflow"]
    with _file_store_allowed(uri):
        client = MlflowClient(uri)
        run = client.get_run(run_id)
        history = client.get_metric_history(run_id, "train/loss")
    steps = _log(tracked / "run", "step")
    assert sorted((m.step, m.value) for m in history) == [(r["step"], pytest.approx(r["loss"])) for r in steps]
    assert run.data.params["method.method"] == "lora" and run.data.params["train.epochs"] == "2"
    assert run.data.metrics["eval/loss/test"] == pytest.approx(
        json.loads((tracked / "run/metrics.json").read_text())["loss"]["test"])


def test_model_card_front_matter_and_figures(tracked):
    run = tracked / "run"
    text = (run / "adapter/README.md").read_text()
    _, header, body = text.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["base_model"] == "random:tiny-llama" and meta["library_name"] == "peft"
    assert {"peft", "lora", "peftlab"} <= set(meta["tags"]) and meta["pipeline_tag"] == "text-generation"
    assert "datasets" not in meta  # a local file: no Hub dataset to name
    metrics = json.loads((run / "metrics.json").read_text())
    for h in metrics["history"]:
        assert f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_loss']:.4f} |" in body
    for split, value in metrics["loss"].items():
        assert f"| {split} | {value:.4f} |" in body
    for name, value in metrics["quality"].items():
        assert f"| {name} | {value:.2f} |" in body
    assert 'PeftModel.from_pretrained(base, "RUN/adapter")' in body and str(run) not in body
    assert "peftlab generate" in body


def test_last_layer_card_is_transformers_with_load_state_dict(tmp_path, sum_file, one_thread):
    cfg = make_config(tmp_path, data=str(sum_file), method="last-layer", max_train_samples=2, max_eval_samples=2,
                      report_to="none")
    train(cfg, announce=lambda _: None)
    run = tmp_path / "run"
    assert not (run / "tb").exists()  # --report-to none writes no event files
    text = (run / "adapter/README.md").read_text()
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    assert meta["library_name"] == "transformers" and "last-layer" in meta["tags"]
    assert "load_state_dict(load_file(" in text and "PeftModel" not in text


def test_card_names_hub_base_model_and_dataset(tmp_path):
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    config = make_config(tmp_path, method="prompt", model="default", data="hf:cnn_dailymail:3.0.0").to_dict()
    (run / "config.json").write_text(json.dumps(config))
    meta = yaml.safe_load(write_card(run).read_text().split("---\n", 2)[1])
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert meta["datasets"] == ["cnn_dailymail"] and "prompt-tuning" in meta["tags"]


@pytest.mark.parametrize("text, needle", [
    ("tensorbored", "unknown --report-to tensorbored: use a comma-separated subset of tensorboard,mlflow,wandb"),
    ("none,mlflow", "'none' goes alone"),
])
def test_bad_report_to_is_one_line(text, needle):
    with pytest.raises(UsageError, match=re.escape(needle)):
        parse_report_to(text)


def test_missing_extra_is_one_line_naming_pip_and_writes_nothing(tmp_path, sum_file, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    code = main(["train", "--model", "random:tiny-llama", "--data", str(sum_file), "--report-to", "tensorboard,wandb",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "--report-to wandb needs the wandb package: pip install 'peftlab[wandb]'" in err[0]
    assert not (tmp_path / "run").exists()


def test_resume_purges_the_steps_it_replays(tmp_path, sum_file, one_thread):
    common = dict(data=str(sum_file), method="prompt", batch_size=2, max_train_samples=4, max_eval_samples=2,
                  log_every=1)
    train(make_config(tmp_path, epochs=1, **common), announce=lambda _: None)
    lines: list[str] = []
    train(make_config(tmp_path, epochs=2, resume=True, progress="lines", **common), announce=lines.append)
    acc = _events(tmp_path / "run")
    steps = _log(tmp_path / "run", "step")
    assert _scalars(acc, "train/loss") == [(r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in steps]
    assert [s for s, _ in _scalars(acc, "epoch/val_loss")] == [2, 4]
    # the line progress a compare child prints: steps of all planned, loss, tokens/s, ETA
    progress = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in progress] == ["3/4", "4/4"]
    assert all(re.fullmatch(r"step \d/4 loss \d+\.\d{4} \d+ tok/s ETA \d+m\d\ds", line) for line in progress)
    assert math.isfinite(json.loads((tmp_path / "run/metrics.json").read_text())["loss"]["val"])


def test_compare_child_prints_progress_and_a_finished_line(tmp_path, sum_file, capfd, one_thread):
    from peftlab.comparison import CompareSpec, run_method
    from peftlab.config import CompareConfig

    cfg = CompareConfig(methods="lora", out=str(tmp_path / "cmp"))
    cfg.run = make_config(None, data=str(sum_file), batch_size=2, max_train_samples=4, max_eval_samples=2, log_every=1)
    cfg.quality.max_new_tokens = 2
    spec = CompareSpec.from_config(cfg)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        run_method(spec, "lora")
    out = capfd.readouterr().out.splitlines()
    assert any(re.fullmatch(r"\[lora\] step 2/2 loss \d+\.\d{4} \d+ tok/s ETA 0m00s", line) for line in out), out
    assert any(re.fullmatch(r"peftlab compare: lora finished in \d+ s — test loss \d+\.\d{4}, rouge1 .*", line)
               for line in out), out
    assert (tmp_path / "cmp/runs/lora/tb").is_dir()


@pytest.mark.parametrize("key, mode", [(None, "offline"), ("k" * 40, "online")])
def test_wandb_is_offline_unless_logged_in(tmp_path, monkeypatch, key, mode):
    """wandb is not installed here: a stand-in module records what peftlab asks of it."""
    import importlib.machinery
    import sys
    import types

    calls: dict = {}

    class Run:
        id = "abc123"
        config = types.SimpleNamespace(update=lambda params, **_: calls.setdefault("params", params))

        def log(self, values, step):
            calls.setdefault("logged", []).append((step, values))

        def finish(self):
            calls["finished"] = True

    stub = types.ModuleType("wandb")
    stub.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    stub.init = lambda **kwargs: calls.update(init=kwargs) or Run()
    monkeypatch.setitem(sys.modules, "wandb", stub)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_MODE", raising=False)
    if key:
        monkeypatch.setenv("WANDB_API_KEY", key)
    else:
        monkeypatch.delenv("WANDB_API_KEY", raising=False)
    from peftlab.tracking import open_tracking

    tracking = open_tracking("wandb", tmp_path)
    tracking.log_step({"step": 3, "loss": 1.5, "lr": 0.1})
    tracking.close()
    assert calls["init"]["mode"] == mode and calls["init"]["dir"] == str(tmp_path)
    assert calls["logged"] == [(3, {"train/loss": 1.5, "train/lr": 0.1})] and calls["finished"]
    assert json.loads((tmp_path / "tracking.json").read_text()) == {"wandb": "abc123"}


def test_a_resume_in_the_same_second_writes_an_event_file_that_sorts_after_the_old_one(tmp_path):
    """TensorBoard reads event files in name order; a second file opened in the same second by the same
    process would sort by its counter as text ('10' before '9') and replay old points after new ones."""
    import socket
    import time

    from peftlab.tracking import TensorBoardTracker

    tb = tmp_path / "tb"
    tb.mkdir()
    now = int(time.time())
    old = tb / f"events.out.tfevents.{now:010d}.{socket.gethostname()}.1.9"
    old.write_bytes(b"")
    tracker = TensorBoardTracker(tmp_path, purge_step=3)
    tracker.close()
    new = [f.name for f in tb.iterdir() if f != old]
    assert len(new) == 1 and int(new[0].split(".")[3]) > now
    assert sorted([old.name, new[0]])[-1] == new[0]
