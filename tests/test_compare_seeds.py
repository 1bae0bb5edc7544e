"""compare --seeds: a 2-seed, 2-method study on a tiny random model. Its intervals equal a hand
computation from the per-seed runs; the data split is the same for every seed; --resume finishes a
partly done study; the bootstrap over test examples is written and rendered."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest

from conftest import summarize_rows, write_jsonl
from peftlab.cli import main
from peftlab.rundir import read_metrics, read_run_config
from test_compare import _flags

T_975_DF1 = 12.7062047  # Student's t, 97.5% quantile, 1 degree of freedom (any table)


@pytest.fixture(scope="module")
def study(tmp_path_factory, one_thread) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("seeds")
    flags = _flags(write_jsonl(root / "sum.jsonl", summarize_rows(20))) + ["--methods", "prompt,lora",
                                                                          "--seeds", "2", "--epochs", "1"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        assert main(["compare", *flags, "--out", str(root / "cmp")]) == 0
    return root / "cmp", flags


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_each_seed_is_an_ordinary_run_on_the_same_split(study):
    out, _ = study
    for method in ("prompt", "lora"):
        refs = []
        for seed in (0, 1):
            run = out / "runs" / method / f"seed{seed}"
            cfg = read_run_config(run)
            assert (cfg.train.seed, cfg.data.data_seed) == (seed, 0)
            assert (run / "adapter").is_dir() and "quality" in read_metrics(run)
            refs.append([json.loads(line)["reference"] for line in (run / "samples.jsonl").read_text().splitlines()])
        assert refs[0] == refs[1]


def test_intervals_equal_a_hand_computation_from_the_per_seed_figures(study):
    out, _ = study
    results = _results(out)
    assert results["config"]["seeds"] == [0, 1]
    for method, m in results["methods"].items():
        assert m["seeds"] == [0, 1]
        for keys in (("quality", "rougeL"), ("loss", "test"), ("loss", "val"), ("epoch_time_s",)):
            a, b = (_at(read_metrics(out / "runs" / method / f"seed{s}"), keys) for s in (0, 1))
            assert _at(m, keys) == pytest.approx((a + b) / 2)
            half = T_975_DF1 * statistics.stdev([a, b]) / math.sqrt(2)  # = 12.706 * |a - b| / 2
            assert half == pytest.approx(T_975_DF1 * abs(a - b) / 2)
            if a != b:
                assert _at(m["ci"], keys) == pytest.approx(half)
            assert _at(m["per_seed"]["1"], keys) == b
        assert m["trainable_params"] == m["per_seed"]["0"]["trainable_params"]  # equal counts stay exact


def _at(d: dict, keys: tuple[str, ...]):
    for k in keys:
        d = d[k]
    return d


def test_report_shows_mean_plus_minus_and_the_example_bootstrap(study):
    out, _ = study
    md = (out / "report.md").read_text()
    assert " ± " in md and "95% t-interval over the seeds 0, 1" in md
    assert "## Uncertainty over test examples" in md
    u = _results(out)["uncertainty"]
    assert u["metric"] == "rougeL" and u["examples"] == 2 and set(u["vs_base"]) == {"prompt", "lora"}
    assert [len(u["per_run"][m]) for m in ("prompt", "lora")] == [2, 2] and "each seed's run" in md
    for name, (lo, hi) in u["intervals"].items():
        assert 0 <= lo <= hi <= 100, name
    top = u["best_vs_runner_up"]
    assert {top["best"], top["runner_up"]} == {"prompt", "lora"}


def test_cost_and_reproducibility_are_reported(study):
    out, flags = study
    results = _results(out)
    for method, m in results["methods"].items():
        for seed in ("0", "1"):
            run = read_metrics(out / "runs" / method / f"seed{seed}")
            assert m["per_seed"][seed]["train_time_s"] == pytest.approx(sum(run["epoch_times_s"]))
            n, t = run["total_params"], run["trainable_params"]
            assert m["per_seed"][seed]["train_flops"] == run["train_tokens"] * (2 * n + 4 * t + 2 * (n - t))
    stamp = results["reproducibility"]
    command = stamp["command"]
    assert command.startswith("peftlab compare --methods prompt,lora --seeds 2 --out ")
    assert " --max-train-samples 2 " in command and " --device cpu" in command and "--epochs" not in command  # 1: default
    assert set(stamp["splits_sha256"]) == {"train", "val", "test"} and set(stamp["builtin_generator_sha256"]) == \
        {"summarize"}
    assert stamp["study_wall_time_s"] > 0 and stamp["versions"]["peft"]
    md = (out / "report.md").read_text()
    assert "## Cost and quality" in md and "](cost.png)" in md and "## Reproducibility" in md
    assert stamp["splits_sha256"]["test"] in md and (out / "cost.png").is_file()


def test_resume_finishes_a_partly_done_multi_seed_study(study, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out, flags = study
    copy = Path(shutil.copytree(out, tmp_path / "cmp"))
    killed = copy / "runs" / "lora" / "seed1"  # killed while training: config, no adapter, no metrics
    shutil.rmtree(killed / "adapter")
    (killed / "metrics.json").unlink()
    (copy / "results.json").unlink()
    assert main(["compare", *flags, "--out", str(copy), "--resume"]) == 0
    said = capsys.readouterr().out
    assert "prompt seed 0 (lr 0.03) — already trained and evaluated, kept" in said
    assert "lora seed 0 (lr 0.001) — already trained and evaluated, kept" in said
    assert "lora seed 1 (lr 0.001) — resuming its training" in said
    assert (killed / "adapter").is_dir()
    assert _results(copy)["methods"]["lora"]["seeds"] == [0, 1]
    assert "--resume" not in _results(copy)["reproducibility"]["command"]


def test_bad_seeds_are_one_line_usage_errors(study, tmp_path, capsys):
    _, flags = study
    for bad in ("0", "x", "1,1"):
        assert main(["compare", *flags[:-4], "--seeds", bad, "--out", str(tmp_path / bad)]) == 2
        assert "--seeds" in capsys.readouterr().err
