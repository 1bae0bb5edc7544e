"""The run directory's one rule for continuing a run, and its files."""

from __future__ import annotations

import json

import pytest

from peftlab.config import RunConfig
from peftlab.errors import UsageError
from peftlab.rundir import RunDir, differing_keys, merge_metrics, read_metrics, read_run_config, write_samples


def _config(**train) -> RunConfig:
    cfg = RunConfig()
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def test_a_moved_run_on_another_device_may_continue_with_more_epochs():
    saved = _config(out="/old/place", epochs=2)
    wanted = _config(out="/new/place", epochs=3, resume=True)
    wanted.model.device = "cpu"
    assert differing_keys(saved, wanted) == []


def test_fewer_epochs_or_other_settings_may_not():
    saved = _config(epochs=2, lr=1e-3)
    wanted = _config(epochs=1, lr=1e-2, seed=4)
    wanted.method.rank = 2
    assert differing_keys(saved, wanted) == ["method.rank", "train.epochs", "train.lr", "train.seed"]


def test_check_names_the_rule(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start(_config(out=str(run.path), epochs=2))
    with pytest.raises(UsageError, match=r"differs from the run's in train\.seed: use the original flags"):
        run.check(_config(out=str(run.path), epochs=2, seed=1, resume=True))
    run.check(_config(out="elsewhere", epochs=5, resume=True))


def test_a_resume_records_the_config_as_an_uninterrupted_run_would(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start(_config(out="old", epochs=1))
    run.start(_config(out=str(run.path), epochs=2, resume=True))
    saved = read_run_config(run.path)
    assert (saved.train.out, saved.train.epochs, saved.train.resume) == (str(run.path), 2, False)


def test_metrics_merge_and_samples(tmp_path):
    merge_metrics(tmp_path, {"loss": {"train": 1.0}, "method": "lora"})
    merge_metrics(tmp_path, {"loss": {"test": 2.0}})
    assert read_metrics(tmp_path) == {"loss": {"train": 1.0, "test": 2.0}, "method": "lora"}
    assert read_metrics(tmp_path / "none") == {}
    write_samples(tmp_path, [{"input": "Здравей", "generation": "Hello"}])
    lines = (tmp_path / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"input": "Здравей", "generation": "Hello"}]


def test_no_run_directory_is_a_usage_error():
    with pytest.raises(UsageError, match="pass --out RUN"):
        RunDir(None)


def test_a_run_from_before_batch_order_reads_as_random_order_and_resumes_only_so(tmp_path):
    run = RunDir(tmp_path / "run")
    run.start(_config(out=str(run.path), epochs=1))
    raw = json.loads((run.path / "config.json").read_text())
    assert raw["train"]["batch_order"] == "random"  # what new runs record by default
    del raw["train"]["batch_order"]
    (run.path / "config.json").write_text(json.dumps(raw))
    assert read_run_config(run.path).train.batch_order == "random"
    with pytest.raises(UsageError, match=r"train\.batch_order"):
        run.check(_config(out=str(run.path), epochs=2, resume=True, batch_order="grouped"))
    run.check(_config(out=str(run.path), epochs=2, resume=True))
