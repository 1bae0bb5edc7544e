"""compare --lr-search on a tiny random model: a log-spaced grid per method on part of the training
data, the rate with the lowest validation loss chosen for the final run, reported with its cost."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import summarize_rows, write_jsonl
from peftlab.cli import main
from peftlab.comparison_search import lr_grid
from peftlab.errors import UsageError
from peftlab.rundir import read_metrics, read_run_config
from test_compare import _flags


def test_lr_grid_is_log_spaced_around_the_rate():
    assert lr_grid(1e-3, 3) == [1e-4, 1e-3, 1e-2]
    assert lr_grid(0.03, 2) == [0.003, 0.3]
    assert lr_grid(0.03, 1) == [0.03]
    assert lr_grid(1e-3, 5) == pytest.approx([1e-4, 10 ** -3.5, 1e-3, 10 ** -2.5, 1e-2])
    with pytest.raises(UsageError, match="--lr-grid-points"):
        lr_grid(1e-3, 0)


@pytest.fixture(scope="module")
def searched(tmp_path_factory, one_thread) -> Path:
    root = tmp_path_factory.mktemp("search")
    flags = _flags(write_jsonl(root / "sum.jsonl", summarize_rows(20)))
    flags[flags.index("--max-train-samples") + 1] = "4"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        assert main(["compare", *flags, "--methods", "lora", "--epochs", "1", "--lr-search", "--lr-grid-points", "2",
                     "--lr-search-fraction", "0.5", "--out", str(root / "cmp")]) == 0
    return root / "cmp"


def test_the_rate_with_the_lowest_val_loss_trains_the_final_run(searched):
    results = json.loads((searched / "results.json").read_text())
    search = results["lr_search"]
    grid = search["methods"]["lora"]["grid"]
    assert [g["lr"] for g in grid] == [1e-4, 1e-2]
    for g in grid:
        run = searched / "lr-search" / "lora" / f"lr{g['lr']:g}"
        assert read_run_config(run).data.max_train_samples == 2  # half of the 4 training examples
        assert g["val_loss"] == read_metrics(run)["history"][-1]["val_loss"] and math.isfinite(g["val_loss"])
        assert "quality" not in read_metrics(run)  # the search never generates on the test split
    chosen = min(grid, key=lambda g: g["val_loss"])["lr"]
    assert search["methods"]["lora"]["chosen"] == chosen == results["methods"]["lora"]["lr"]
    assert read_run_config(searched / "runs" / "lora").train.lr == chosen
    assert search["runs"] == 2 and search["train_time_s"] == pytest.approx(sum(g["train_time_s"] for g in grid))
    md = (searched / "report.md").read_text()
    assert "## Learning-rate search" in md and "](lr_search.png)" in md and "chosen" in md
    assert (searched / "lr_search.png").is_file()


def test_bad_search_settings_fail_before_anything_runs(tmp_path, capsys):
    flags = _flags(write_jsonl(tmp_path / "sum.jsonl", summarize_rows(20)))
    assert main(["compare", *flags, "--lr-search", "--lr-search-fraction", "0", "--out", str(tmp_path / "c")]) == 2
    assert "--lr-search-fraction" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
