"""Never lose a run: a run killed anywhere and resumed ends exactly where an uninterrupted one does.

"Exactly" means the same adapter bytes and the same logged losses, steps and epochs (bitwise, CPU,
fixed seed). `time_s` and `peak_memory_mb` are measurements of the machine, not of the run, so they
are the only log fields left out of the comparison.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import make_config, summarize_rows, write_jsonl
from peftlab.checkpoint import list_checkpoints, verify
from peftlab.cli import main
from peftlab.errors import UsageError
from peftlab.pipeline import prepare
from peftlab.training import train

import peftlab.training as train_mod
pytestmark = pytest.mark.usefixtures("one_thread")
TIMING = {"time_s", "peak_memory_mb"}


class Crash(Exception):
    """Stands in for a kill inside the process (the subprocess test uses a real SIGKILL)."""


def log_records(run: Path) -> list[dict]:
    """log.jsonl without the machine-dependent timing fields."""
    lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def adapter_bytes(run: Path) -> dict[str, object]:
    """Every adapter file's content: JSON as bytes; safetensors as (metadata, tensors' raw bytes) —
    safetensors writes its metadata map in no fixed order, so the file bytes may differ."""
    files = {}
    for path in sorted((run / "adapter").rglob("*")):
        if path.suffix == ".safetensors":
            with safe_open(path, "pt") as f:
                files[path.name] = (f.metadata(), {k: f.get_tensor(k).numpy().tobytes() for k in sorted(f.keys())})
        elif path.is_file():
            files[path.name] = path.read_bytes()
    return files


def history(run: Path) -> list[dict]:
    metrics = json.loads((run / "metrics.json").read_text())
    return [{k: v for k, v in h.items() if k not in TIMING} for h in metrics["history"]]


def assert_same_run(run: Path, reference: Path) -> None:
    assert adapter_bytes(run) == adapter_bytes(reference)
    assert log_records(run) == log_records(reference)
    assert history(run) == history(reference)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "sum.jsonl", summarize_rows(30))


def lora_cfg(tmp_path: Path, data: Path, out: str, **overrides):
    """LoRA with dropout (the RNG must be restored), grad accumulation (the batch position must be)."""
    settings = dict(method="lora", rank=4, dropout=0.1, data=str(data), batch_size=2, grad_accum=2, epochs=2,
                    log_every=1, save_every_steps=2, max_length=64)
    cfg = make_config(tmp_path, **(settings | overrides))
    cfg.train.out = str(tmp_path / out)
    return cfg


@pytest.fixture(scope="module")
def reference(tmp_path_factory, one_thread):
    """Uninterrupted runs to compare with, trained once per module and settings (same rows as `data`)."""
    root = tmp_path_factory.mktemp("reference")
    rows = write_jsonl(root / "sum.jsonl", summarize_rows(30))
    runs: dict[str, Path] = {}

    def get(**overrides) -> Path:
        key = json.dumps(overrides, sort_keys=True)
        if key not in runs:
            name = f"ref-{len(runs)}"
            train(lora_cfg(root, rows, name, **overrides), announce=lambda *_: None)
            runs[key] = root / name
        return runs[key]

    return get


def crash_at(monkeypatch, step: int) -> None:
    """Raise right after optimizer step `step` has been logged (and checkpointed, if due)."""
    original = train_mod._after_step

    def after_step(p, run, optimizer, state, *args):
        original(p, run, optimizer, state, *args)
        if state.step == step:
            raise Crash(step)

    monkeypatch.setattr(train_mod, "_after_step", after_step)


def train_until_crash(cfg, monkeypatch, step: int) -> None:
    with monkeypatch.context() as m:
        crash_at(m, step)
        with pytest.raises(Crash):
            train(cfg, announce=lambda *_: None)


# ---------------------------------------------------------------------------------------------- in-process


@pytest.mark.parametrize("method", ["lora", "prompt"])
@pytest.mark.parametrize("crash_step", [3, 4, 6, 7])  # between checkpoints, on one, at an epoch end, after
def test_resume_mid_epoch_equals_uninterrupted(tmp_path, data, reference, monkeypatch, method, crash_step):
    # 24 train rows / batch 2 / accum 2 -> 6 steps per epoch, checkpoints every 2 steps
    cfg = lora_cfg(tmp_path, data, "run", method=method)
    with monkeypatch.context() as m:
        crash_at(m, crash_step)
        with pytest.raises(Crash):
            train(cfg, announce=lambda *_: None)
    steps_logged = [r["step"] for r in log_records(tmp_path / "run") if r["event"] == "step"]
    assert steps_logged[-1] == crash_step  # the crash lost work: the log ran past the last checkpoint

    cfg.train.resume = True
    train(cfg, announce=lambda *_: None)
    assert_same_run(tmp_path / "run", reference(method=method))


def test_resume_after_final_checkpoint_only_rewrites_outputs(tmp_path, data):
    cfg = lora_cfg(tmp_path, data, "run")
    first = train(cfg, announce=lambda *_: None)
    run = tmp_path / "run"
    log_before = (run / "log.jsonl").read_bytes()
    adapter_before = adapter_bytes(run)
    (run / "metrics.json").unlink()
    for file in (run / "adapter").iterdir():
        file.unlink()  # as if killed after the final checkpoint, before the adapter was written

    cfg.train.resume = True
    again = train(cfg, announce=lambda *_: None)
    assert (run / "log.jsonl").read_bytes() == log_before  # no step trained or logged twice
    assert adapter_bytes(run) == adapter_before
    assert [{k: v for k, v in h.items() if k not in TIMING} for h in again["history"]] == \
           [{k: v for k, v in h.items() if k not in TIMING} for h in first["history"]]


def test_resume_before_any_checkpoint_starts_over_exactly(tmp_path, data, reference, monkeypatch):
    cfg = lora_cfg(tmp_path, data, "run", save_every_steps=None)
    with monkeypatch.context() as m:
        crash_at(m, 2)  # first checkpoint is at the end of epoch 1 (step 6)
        with pytest.raises(Crash):
            train(cfg, announce=lambda *_: None)
    assert not list_checkpoints(tmp_path / "run" / "checkpoints")
    assert log_records(tmp_path / "run")  # lines of lost work that must not be kept

    torch.manual_seed(12345)  # whatever the RNG holds, a resume from nothing must reseed
    cfg.train.resume = True
    train(cfg, announce=lambda *_: None)
    assert_same_run(tmp_path / "run", reference())  # (checkpointing never changes the results)


def test_corrupt_newest_checkpoint_falls_back_to_previous(tmp_path, data, reference, monkeypatch):
    cfg = lora_cfg(tmp_path, data, "run")
    train_until_crash(cfg, monkeypatch, 5)
    newest, previous = list_checkpoints(tmp_path / "run" / "checkpoints")[:2]
    weights = newest / "trainable.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated mid-file
    assert not verify(newest) and verify(previous)

    cfg.train.resume = True
    with pytest.warns(UserWarning, match=f"{newest.name} is corrupt or partial"):
        train(cfg, announce=lambda *_: None)
    assert_same_run(tmp_path / "run", reference())


def test_keeps_last_k_checkpoints(tmp_path, data):
    cfg = lora_cfg(tmp_path, data, "run", keep_checkpoints=3, save_every_steps=1)
    train(cfg, announce=lambda *_: None)
    kept = list_checkpoints(tmp_path / "run" / "checkpoints")
    assert len(kept) == 3 and all(verify(c) for c in kept)
    states = [json.loads((c / "state.json").read_text()) for c in kept]
    # newest first: the end-of-run save, the save of step 12 before its epoch closed, step 11
    assert [(s["step"], s["epoch"], s["batch"]) for s in states] == [(12, 2, 0), (12, 1, 12), (11, 1, 10)]


class InfiniteGradient(torch.autograd.Function):
    """Identity forward, infinite backward: a finite loss whose gradient would poison the weights."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


@pytest.mark.parametrize("poison", ["loss", "gradient"])
def test_non_finite_step_names_it_and_keeps_the_last_good_checkpoint(tmp_path, data, monkeypatch, poison):
    from peftlab.adapted import AdaptedLM

    cfg = lora_cfg(tmp_path, data, "run", save_every_steps=1)
    original = AdaptedLM.loss_terms
    calls = {"n": 0}

    def poisoned(self, batch, **kwargs):
        losses, rows, targets = original(self, batch, **kwargs)
        calls["n"] += 1
        if calls["n"] == 7:  # micro-batch 7 is in optimizer step 4
            losses = losses * float("nan") if poison == "loss" else InfiniteGradient.apply(losses)
        return losses, rows, targets

    monkeypatch.setattr(AdaptedLM, "loss_terms", poisoned)
    with pytest.raises(UsageError, match=rf"the {poison} became non-finite at step 4 \(epoch 1\): lower --lr"):
        train(cfg, announce=lambda *_: None)
    newest = list_checkpoints(tmp_path / "run" / "checkpoints")[0]
    assert verify(newest)
    assert json.loads((newest / "state.json").read_text())["step"] == 3
    assert all(torch.isfinite(w).all() for w in load_file(newest / "trainable.safetensors").values())


def test_huge_lr_stops_on_non_finite_loss(tmp_path, data):
    cfg = lora_cfg(tmp_path, data, "run", method="last-layer", lr=1e30, dropout=0.0, epochs=3)
    with pytest.raises(UsageError, match=r"non-finite at step \d+ \(epoch \d\)"):
        train(cfg, announce=lambda *_: None)


def test_max_grad_norm_clips_the_update(tmp_path, data):
    """SGD-free check: AdamW's first step is lr * g / (|g| + eps); clipping g to 1e-12 makes it ~0."""
    moved = {}
    for clip in (None, 1e-12):
        cfg = lora_cfg(tmp_path, data, f"clip-{clip}", method="prompt", dropout=0.0, epochs=1, lr=1e-2,
                       max_grad_norm=clip, save_every_steps=None)
        start = prepare(cfg).adapted.prompts.weight.detach().clone()
        train(cfg, announce=lambda *_: None)
        end = load_file(tmp_path / f"clip-{clip}" / "adapter" / "adapter_model.safetensors")["prompt_embeddings"]
        moved[clip] = (end - start[0]).abs().max().item()
    assert moved[None] > 1e-3
    assert moved[1e-12] < moved[None] / 100


# ---------------------------------------------------------------------------------------------- run directory


def test_existing_run_dir_needs_overwrite_or_resume(tmp_path, data):
    cfg = lora_cfg(tmp_path, data, "run", epochs=1)
    train(cfg, announce=lambda *_: None)
    with pytest.raises(UsageError, match="already holds a run: pass --resume .* or --overwrite"):
        train(lora_cfg(tmp_path, data, "run", epochs=1), announce=lambda *_: None)
    cfg = lora_cfg(tmp_path, data, "run", epochs=1, overwrite=True, seed=1)
    train(cfg, announce=lambda *_: None)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["seed"] == 1


def test_resume_with_conflicting_config_names_the_keys(tmp_path, data):
    train(lora_cfg(tmp_path, data, "run", epochs=1), announce=lambda *_: None)
    cfg = lora_cfg(tmp_path, data, "run", epochs=1, rank=2, lr=0.5, resume=True)
    with pytest.raises(UsageError, match=r"differs from the run's in method\.rank, train\.lr"):
        train(cfg, announce=lambda *_: None)


def test_resume_may_add_epochs(tmp_path, data, reference):
    """--epochs is the one training knob a resume may raise: 1 epoch then +1 == 2 epochs straight.
    (With the default constant lr the schedule does not depend on the total.)"""
    train(lora_cfg(tmp_path, data, "run", epochs=1), announce=lambda *_: None)
    train(lora_cfg(tmp_path, data, "run", epochs=2, resume=True), announce=lambda *_: None)
    assert_same_run(tmp_path / "run", reference())


def test_a_moved_run_resumes_and_equals_uninterrupted(tmp_path, data, reference, monkeypatch):
    """A run directory carries everything a resume needs: killed in one place, moved, finished in another."""
    cfg = lora_cfg(tmp_path, data, "run")
    train_until_crash(cfg, monkeypatch, 3)
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(tmp_path / "run", moved)
    cfg.train.out, cfg.train.resume = str(moved), True
    train(cfg, announce=lambda *_: None)
    assert_same_run(moved, reference())
    assert json.loads((moved / "config.json").read_text())["train"]["out"] == str(moved)


def test_resume_without_a_run_is_an_error(tmp_path, data, capsys):
    code = main(["train", "--model", "random:tiny-llama", "--device", "cpu", "--data", str(data),
                 "--out", str(tmp_path / "nothing"), "--resume"])
    assert code == 2
    assert "holds no run: drop --resume" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


# ---------------------------------------------------------------------------------------------- SIGKILL


ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}  # see conftest.one_thread


def _argv(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "peftlab.cli", "train", "--model", "random:tiny-llama", "--device", "cpu",
            "--method", "lora", "--rank", "4", "--dropout", "0.1", "--data", str(data), "--max-length", "64",
            "--batch-size", "2", "--grad-accum", "2", "--epochs", "4", "--lr", "0.01", "--log-every", "1",
            "--save-every-steps", "2", "--keep-checkpoints", "2", "--out", str(out), *extra]


def _steps_logged(run: Path) -> int:
    try:
        text = (run / "log.jsonl").read_text(encoding="utf-8")
    except FileNotFoundError:
        return 0
    return text.count('"event": "step"')


def _run_until_killed(argv: list[str], run: Path, at_step: int, jitter_s: float) -> int:
    """Start training, SIGKILL it once `at_step` steps are logged (plus a jitter); its return code."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    deadline = time.monotonic() + 60
    while proc.poll() is None and _steps_logged(run) < at_step and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(jitter_s)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"training ended before the kill at step {at_step}: {err}"
    return proc.returncode


def test_sigkill_at_random_points_then_resume_equals_uninterrupted(tmp_path):
    data = write_jsonl(tmp_path / "sum.jsonl", summarize_rows(50))  # 40 train rows -> 10 steps per epoch
    total_steps = 4 * math.ceil(40 / 2 / 2)
    reference = tmp_path / "ref"
    assert main(_argv(data, reference)[3:]) == 0  # in-process: same code, one thread, one start-up fewer
    assert _steps_logged(reference) == total_steps

    run = tmp_path / "run"
    rng = random.Random(7)  # kills after steps 11, 22 and 27 of 40, each plus a jitter
    for at_step in sorted(rng.sample(range(2, total_steps - 6), 3)):  # leave time to kill before the end
        extra = ("--resume",) if run.exists() else ()
        _run_until_killed(_argv(data, run, *extra), run, at_step, rng.uniform(0, 0.06))
    resumed = subprocess.run(_argv(data, run, "--resume"), capture_output=True, text=True, env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert_same_run(run, reference)
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no stale temp dirs
