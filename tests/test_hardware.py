"""Precision chosen from the hardware, threads from the cores we may use, and the first-run traps of
issue 9: a slow offline failure, `--lr -1e-3`, and nothing to put in a bug report."""

from __future__ import annotations

import io
import json
import time

import pytest
import torch

from conftest import make_config
from peftlab import hardware
from peftlab.cli import main
from peftlab.errors import UsageError

pytestmark = pytest.mark.real_bf16_probe

CPU = torch.device("cpu")
CUDA = torch.device("cuda")


@pytest.fixture
def cpu_with(monkeypatch):
    """Pretend the CPU has (or lacks) native bf16, as torch's probes would report it."""
    def set_native(avx512_bf16: bool, amx: bool = False, capability: str = "AVX512"):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    return set_native


@pytest.fixture
def gpu_with(monkeypatch):
    def set_bf16(supported: bool):
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Test GPU")
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    return set_bf16


# ------------------------------------------------------------------ precision

def test_auto_is_fp32_on_an_avx2_cpu(cpu_with):
    cpu_with(avx512_bf16=False, capability="AVX2")
    assert hardware.resolve_precision("auto", CPU) == "fp32"
    assert hardware.probe(CPU).describe() == "CPU AVX2 (no native bf16)"


def test_plain_avx512_without_bf16_is_still_fp32(cpu_with):
    """oneDNN says yes to bf16 on any AVX512 CPU, but there it is emulated: auto must not trust that."""
    cpu_with(avx512_bf16=False, amx=False, capability="AVX512")
    assert hardware.resolve_precision("auto", CPU) == "fp32"


@pytest.mark.parametrize("avx512_bf16, amx", [(True, False), (False, True), (True, True)])
def test_auto_is_bf16_on_a_cpu_with_avx512_bf16_or_amx(cpu_with, avx512_bf16, amx):
    cpu_with(avx512_bf16=avx512_bf16, amx=amx)
    assert hardware.resolve_precision("auto", CPU) == "bf16"


@pytest.mark.parametrize("supported, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_follows_the_gpus_bf16_support(gpu_with, supported, expected):
    gpu_with(supported)
    assert hardware.resolve_precision("auto", CUDA) == expected
    assert hardware.probe(CUDA).device_name == "Test GPU"


@pytest.mark.parametrize("requested", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept(cpu_with, requested):
    cpu_with(avx512_bf16=True)
    assert hardware.resolve_precision(requested, CPU, warn=None) == requested


def test_bf16_on_a_cpu_without_native_bf16_warns_once_in_one_line(cpu_with):
    cpu_with(avx512_bf16=False, capability="AVX2")
    out = io.StringIO()
    assert hardware.resolve_precision("bf16", CPU, warn=out) == "bf16"
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "AVX2" in lines[0] and "slower" in lines[0] and "--precision fp32" in lines[0]


def test_no_warning_where_bf16_is_native(cpu_with):
    cpu_with(avx512_bf16=True)
    out = io.StringIO()
    hardware.resolve_precision("bf16", CPU, warn=out)
    assert out.getvalue() == ""


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="--precision"):
        hardware.resolve_precision("fp16", CPU)


def test_auto_is_every_commands_default():
    from peftlab.cli import build_parser
    from peftlab.config import ModelConfig

    assert ModelConfig().precision == "auto"
    from peftlab.cli import SUBCOMMANDS, from_args

    args = build_parser().parse_args(["export", "--merged", "run", "out"])
    assert from_args(SUBCOMMANDS["export"].config, args).precision == "auto"


# ------------------------------------------------------------------ a run records request and result

def test_a_run_records_the_requested_and_the_resolved_precision(tmp_path, sum_file, capsys, one_thread):
    cfg = make_config(tmp_path, data=str(sum_file), max_train_samples=4, max_eval_samples=2, precision="auto")
    from peftlab.training import train

    metrics = train(cfg)
    expected = hardware.resolve_precision("auto", CPU, warn=None)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["precision"] == "auto"
    assert saved["resolved"]["precision"] == expected
    assert saved["resolved"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert metrics["precision"] == expected and metrics["precision_requested"] == "auto"
    banner = capsys.readouterr().out.splitlines()[0]
    assert f"{expected} (auto)" in banner and "threads" in banner and "native bf16" in banner


# ------------------------------------------------------------------ threads

def test_threads_follow_omp_num_threads_when_set(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert hardware.thread_count() == 3


@pytest.mark.parametrize("value", ["", "0", "two", "-1"])
def test_threads_fall_back_to_usable_cores(monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    monkeypatch.setattr(hardware, "usable_cores", lambda: 5)
    assert hardware.thread_count() == 5


def test_usable_cores_respect_affinity_and_cgroup_quota(monkeypatch):
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(hardware, "_cgroup_cpu_quota", lambda: None)
    assert hardware.usable_cores() == 4
    monkeypatch.setattr(hardware, "_cgroup_cpu_quota", lambda: 2)
    assert hardware.usable_cores() == 2


def test_configure_threads_sets_torchs_count(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert hardware.configure_threads() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------ first-run traps

def test_a_hub_id_while_offline_fails_fast_in_one_line(monkeypatch, capsys):
    """Port 9 on loopback refuses at once: the hub is unreachable, as on an offline machine."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", "/nonexistent-peftlab-test-cache")
    started = time.perf_counter()
    rc = main(["params", "--model", "someorg/not-a-model", "--method", "lora"])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "not reachable" in err[0] and "someorg/not-a-model" in err[0] and "'default' offline" in err[0]
    assert elapsed < 5, f"offline failure took {elapsed:.1f} s"


@pytest.mark.parametrize("flag, value, message", [("--lr", "-1e-3", "--lr must be a finite number > 0"),
                                                   ("--lr", "-0.5", "--lr must be a finite number > 0"),
                                                   ("--alpha", "-2E+1", "--alpha must be a finite number > 0")])
def test_negative_numbers_reach_the_range_check(tmp_path, capsys, flag, value, message):
    rc = main(["train", "--model", "random:tiny-llama", flag, value, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and "expected one argument" not in err
    assert not (tmp_path / "run").exists()


def test_env_prints_what_a_bug_report_needs(capsys):
    assert main(["env"]) == 0
    text = capsys.readouterr().out
    for label in ("peftlab:", "torch:", "transformers:", "peft:", "device:", "cpu capability:",
                  "native bf16 (CPU):", "precision auto resolves to:", "threads peftlab uses:", "cache dir:",
                  "embedded model:"):
        assert label in text
    assert f"cpu capability: {torch.backends.cpu.get_cpu_capability()}" in text


def test_env_json_is_machine_readable(capsys):
    assert main(["env", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["precision"] == hardware.resolve_precision("auto", CPU, warn=None)
    assert report["cpu_native_bf16"] == hardware.cpu_native_bf16()
    assert report["threads_chosen"] == hardware.thread_count()


def test_explicit_bf16_trains_with_bf16_frozen_weights_and_fp32_trainables(tmp_path, sum_file, one_thread):
    """The bf16 path itself, on a tiny model so it is quick even where bf16 is emulated."""
    from peftlab.pipeline import prepare
    from peftlab.training import train

    cfg = make_config(tmp_path, data=str(sum_file), max_train_samples=4, max_eval_samples=2, precision="bf16",
                      method="lora")
    metrics = train(cfg, announce=lambda _: None)
    assert metrics["precision"] == "bf16" and metrics["loss"]["val"] > 0
    p = prepare(make_config(data=str(sum_file), max_train_samples=4, max_eval_samples=2, precision="bf16",
                            method="lora"))
    dtypes = {(p_.requires_grad, p_.dtype) for p_ in p.adapted.parameters()}
    assert dtypes == {(False, torch.bfloat16), (True, torch.float32)}


def test_the_warning_goes_to_the_stderr_of_the_moment(cpu_with):
    """A compare child swaps sys.stderr for its labelled stream after import: the warning must use it."""
    import contextlib

    cpu_with(avx512_bf16=False, capability="AVX2")
    out = io.StringIO()
    with contextlib.redirect_stderr(out):
        hardware.resolve_precision("bf16", CPU)
    assert "bf16 is emulated here" in out.getvalue()
