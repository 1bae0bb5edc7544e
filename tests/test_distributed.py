"""Data parallelism under torchrun, proven equal to one process (CPU, gloo, tiny random models).

Two ranks with per-rank batch B must end with the adapter of one process with batch 2B over the same
examples (fp32, <= 1e-5) and log the same losses; a rank killed mid-run makes the launch fail fast
with a clear line, and `--resume` on two ranks then ends where an uninterrupted two-rank run does;
sharded `eval` gives a single process's figures and generations. Each torchrun launch costs seconds
of interpreter start-up, so the launches are shared between the asserts (module-scoped fixtures).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import summarize_rows, write_jsonl
from peftlab.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
BASE = ["--model", "random:tiny-llama", "--device", "cpu", "--precision", "fp32", "--max-length", "96",
        "--log-every", "1", "--lr", "0.01", "--epochs", "1"]
# Per-rank batch 5: global batches of 10, 10 and 4 (rank 1 gets nothing of the last one). last-layer
# trains with its own default rate: AdamW divides by sqrt(v), so a weight whose gradient is ~0 turns the
# float noise of a differently ordered sum into a step of up to lr, and at 0.01 that exceeds 1e-5.
# Prompt tuning runs on two tasks at once (a multi-task prompt is a prompt run with per-task sums on top);
# it is also the run the kill, resume and eval tests start from: one launch fewer.
METHODS = {
    "prompt": ["--method", "prompt", "--task", "summarize,qa", "--data", "builtin", "--max-train-samples", "12",
               "--max-eval-samples", "3", "--save-every-steps", "2", "--epochs", "4"],
    "lora": ["--method", "lora", "--dropout", "0", "--rank", "4", "--grad-accum", "2", "--epochs", "2"],
    "last-layer": ["--method", "last-layer", "--lr", "0.0001"],
}
TIMING = {"time_s", "peak_memory_mb"}


def env() -> dict:
    return os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                         "OMP_NUM_THREADS": "1"}


def torchrun_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "peftlab", *args]


def torchrun(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(torchrun_cmd(*args), env=env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def in_process(argv: list[str]) -> int:
    """`peftlab ARGV` in this process, on one thread as every rank runs (threads change float sums)."""
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as m:
        m.setenv("OMP_NUM_THREADS", "1")
        try:
            return main(argv)
        finally:
            torch.set_num_threads(threads)


def train_args(name: str, data: Path, out: Path, batch: int) -> list[str]:
    extra = METHODS[name]
    data_args = [] if "--data" in extra else ["--data", str(data)]
    return ["train", *BASE, *data_args, *extra, "--batch-size", str(batch), "--out", str(out)]


def adapter(run: Path) -> dict[str, torch.Tensor]:
    return {f"{p.parent.name}/{k}": v for p in sorted((run / "adapter").rglob("*.safetensors"))
            for k, v in load_file(p).items()}


def log(run: Path) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def assert_close_logs(ours: list[dict], theirs: list[dict], tol: float = 1e-5) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], float):
                assert a[key] == pytest.approx(b[key], rel=tol, abs=tol), (key, a, b)
            elif isinstance(a[key], dict):
                assert a[key] == pytest.approx(b[key], rel=tol, abs=tol), (key, a, b)
            else:
                assert a[key] == b[key], (key, a, b)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "sum.jsonl", summarize_rows(30))  # 24 train rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data):
    """(two-rank run with batch 5, one-process run with batch 10) per setting, made on first use."""
    root = tmp_path_factory.mktemp("runs")
    made: dict[str, tuple[Path, Path]] = {}

    def get(name: str) -> tuple[Path, Path]:
        if name not in made:
            two, one = root / f"{name}-2ranks", root / f"{name}-1proc"
            torchrun(*train_args(name, data, two, 5))
            assert in_process(train_args(name, data, one, 10)) == 0
            made[name] = two, one
        return made[name]
    return get


@pytest.mark.parametrize("name", list(METHODS))
def test_two_ranks_equal_one_process_with_twice_the_batch(runs, name):
    two, one = runs(name)
    ours, theirs = adapter(two), adapter(one)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.allclose(ours[key], theirs[key], atol=1e-5, rtol=0), key
    assert_close_logs(log(two), log(one))
    metrics, config = json.loads((two / "metrics.json").read_text()), json.loads((two / "config.json").read_text())
    assert config["resolved"]["world_size"] == 2 and config["resolved"]["global_batch_size"] == 10 * (2 if name == "lora" else 1)
    assert config["resolved"]["backend"] == "gloo"
    assert len(metrics["peak_memory_mb_per_rank"]) == 2 and metrics["peak_memory_mb"] == max(metrics["peak_memory_mb_per_rank"])
    per_rank = metrics["train_tokens_per_s_per_rank"]
    assert len(per_rank) == 2 and all(v > 0 for v in per_rank)
    assert sum(per_rank) == pytest.approx(metrics["train_tokens_per_s"])


def rank_pid(launcher: subprocess.Popen, wanted: int) -> int:
    """The pid of the worker the launcher started as RANK=`wanted` (Linux /proc)."""
    for pid in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"RANK={wanted}".encode() in environ:
            return int(pid)
    raise AssertionError("no such rank")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the rank's pid in /proc")
def test_killed_rank_fails_fast_and_resume_on_two_ranks_finishes_the_same_run(tmp_path, runs, data):
    reference, _ = runs("prompt")
    out = tmp_path / "killed"
    args = train_args("prompt", data, out, 5) + ["--dist-timeout", "30"]
    launcher = subprocess.Popen(torchrun_cmd(*args), env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        while not list((out / "checkpoints").glob("step-*")):
            assert launcher.poll() is None, launcher.communicate()[1][-3000:]
            time.sleep(0.02)
        victim = rank_pid(launcher, 1)
        os.kill(victim, signal.SIGSTOP)  # from here no step can complete: the kill lands mid-run
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        _, stderr = launcher.communicate(timeout=60)
    finally:
        launcher.kill()
    assert time.monotonic() - killed_at < 30  # within --dist-timeout
    assert launcher.returncode != 0 and not (out / "adapter").exists()
    assert "peftlab: error: rank 0 of 2" in stderr and "restart" in stderr and "--resume" in stderr

    torchrun(*args, "--resume")
    ours, theirs = adapter(out), adapter(reference)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert log(out) == log(reference)


def test_resume_with_another_number_of_ranks_is_refused(runs, data, tmp_path, capsys):
    two, _ = runs("prompt")
    copy = tmp_path / "copy"
    shutil.copytree(two, copy)
    args = train_args("prompt", data, copy, 5)
    assert in_process([*args, "--epochs", "7", "--resume"]) == 2
    assert "trained on 2 rank(s) so far, this is 1: resume it with torchrun --nproc_per_node 2" in capsys.readouterr().err


def test_sharded_eval_equals_one_process(runs, tmp_path):
    two, _ = runs("prompt")
    single = tmp_path / "single"
    shutil.copytree(two, single)
    flags = ["--split", "test", "--max-new-tokens", "4"]
    assert in_process(["eval", str(single), *flags]) == 0
    torchrun("eval", str(two), *flags)
    ours, theirs = json.loads((two / "metrics.json").read_text()), json.loads((single / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        assert ours["loss"][split] == pytest.approx(theirs["loss"][split], rel=1e-12)
    assert ours["quality"] == theirs["quality"]
    assert (two / "samples.jsonl").read_text() == (single / "samples.jsonl").read_text()


def test_train_flags_rebuild_the_config():
    """How `compare --nproc-per-node` hands a config to torchrun: the flags must rebuild it exactly."""
    from peftlab.cli import build_parser, config_from_args
    from peftlab.config import RunConfig
    from peftlab.flags import run_argv

    cfg = RunConfig()
    cfg.method.method, cfg.method.dropout, cfg.method.target_modules = "lora", 0.0, "q_proj,v_proj"
    cfg.data.task, cfg.data.loss_on_prompt, cfg.data.max_eval_samples = "qa", True, 3
    cfg.train.lr, cfg.train.max_grad_norm, cfg.train.out, cfg.train.resume = 1 / 3, 0.5, "runs/x", True
    argv = run_argv(cfg)
    assert "--loss-on-prompt" in argv and "--lr" in argv
    assert config_from_args(build_parser().parse_args(["train", *argv])) == cfg


def test_compare_trains_each_method_on_torchrun(tmp_path, data, monkeypatch):
    """`compare --nproc-per-node 2` hands every method child the rank count, and the child's launch
    (`train_data_parallel`, run here directly: the whole comparison would add two spawned interpreters)
    trains the method's exact config on two ranks."""
    from peftlab import comparison
    from peftlab.comparison_children import train_data_parallel
    from peftlab.config import CompareConfig

    cfg = CompareConfig(out=str(tmp_path / "cmp"), methods="prompt", nproc_per_node=2)
    cfg.run.model.model, cfg.run.model.device, cfg.run.model.precision = "random:tiny-llama", "cpu", "fp32"
    cfg.run.data.data, cfg.run.data.max_train_samples, cfg.run.data.max_length = str(data), 4, 96
    cfg.run.train.batch_size = 2
    spec = comparison.CompareSpec.from_config(cfg).validate()
    launched = []
    monkeypatch.setattr(comparison, "run_child", lambda label, fn, *args: launched.append(args) or {})
    comparison.run_method(spec, "prompt", announce=lambda *_: None)
    run_cfg, stage, _, nproc = launched[0]
    assert (stage, nproc) == ("train", 2)
    assert comparison.config_record(spec)["nproc_per_node"] == 2

    monkeypatch.setenv("PYTHONPATH", env()["PYTHONPATH"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train_data_parallel(run_cfg, 2)
    run = Path(run_cfg.train.out)
    resolved = json.loads((run / "config.json").read_text())["resolved"]
    assert resolved["world_size"] == 2 and resolved["global_batch_size"] == 4
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == run_cfg.train.lr
    assert len(json.loads((run / "metrics.json").read_text())["peak_memory_mb_per_rank"]) == 2


@pytest.mark.parametrize("world", [2, 3])
def test_rank_slices_cover_every_global_batch_once(monkeypatch, world):
    """Each global micro-batch (up to batch x world examples; the last one short) is split so that every
    example lands on exactly one rank, in order; a rank left with nothing adds zeros."""
    from peftlab import distributed

    monkeypatch.setattr(distributed, "world_size", lambda: world)
    for length in range(0, 4 * world + 1):
        batch = list(range(100, 100 + length))
        parts = []
        for r in range(world):
            monkeypatch.setattr(distributed, "rank", lambda r=r: r)
            parts.append(distributed.my_slice(batch, 4))
        assert [i for part in parts for i in part] == batch
        assert all(len(part) <= 4 for part in parts)


def test_gradients_are_summed_once_per_optimizer_step(tmp_path, data, monkeypatch):
    """`--grad-accum`: the earlier micro-batches of a step send nothing (DDP's no_sync); one sum per step."""
    from conftest import make_config
    from peftlab import distributed
    from peftlab.training import train

    calls = []
    monkeypatch.setattr(distributed, "sum_gradients", lambda params: calls.append(len(params)))
    cfg = make_config(tmp_path, data=str(data), batch_size=2, grad_accum=3, max_train_samples=12, max_length=96)
    metrics = train(cfg, announce=lambda *_: None)
    assert len(calls) == 2  # 12 examples / batch 2 = 6 micro-batches = 2 steps of 3
    assert metrics["train_tokens_per_s_per_rank"] and metrics["peak_memory_mb_per_rank"]
