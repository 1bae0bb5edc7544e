"""`peftlab runs`: a finished, an interrupted and two failed runs below one directory, each with the
status, epochs, losses and quality the rule in `run_list.py` gives it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import peftlab.training as train_mod
from conftest import summarize_rows, write_jsonl
from peftlab.cli import main
from peftlab.config import EvalConfig, QualityConfig
from peftlab.errors import UsageError
from peftlab.evaluation import evaluate
from peftlab.training import train
from test_resume import Crash, crash_at, lora_cfg

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = {"announce": lambda *_: None}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, one_thread) -> Path:
    root = tmp_path_factory.mktemp("runs")
    data = write_jsonl(root / "sum.jsonl", summarize_rows(30))
    base = root / "runs"

    finished = lora_cfg(base, data, "study/finished", epochs=1)
    train(finished, **QUIET)
    evaluate(EvalConfig(run=finished.train.out, quality=QualityConfig(max_new_tokens=2)))

    mp = pytest.MonkeyPatch()
    interrupted = lora_cfg(base, data, "interrupted")  # 2 epochs of 6 steps, a checkpoint every 2 steps
    crash_at(mp, 3)
    with pytest.raises(Crash):
        train(interrupted, **QUIET)
    mp.undo()

    crash_at(mp, 1)  # killed before its first checkpoint: nothing to resume
    with pytest.raises(Crash):
        train(lora_cfg(base, data, "killed", save_every_steps=None), **QUIET)
    mp.undo()

    real_step = train_mod.train_step

    def diverging(p, optimizer, group, lr, state, *rest):
        if state.step == 4:
            raise UsageError("the loss became non-finite at step 5 (epoch 1): lower --lr")
        return real_step(p, optimizer, group, lr, state, *rest)

    mp.setattr(train_mod, "train_step", diverging)
    with pytest.raises(UsageError):
        train(lora_cfg(base, data, "diverged"), **QUIET)
    mp.undo()

    (base / "notes").mkdir()
    (base / "notes" / "config.json").write_text('{"theme": "dark"}')  # not a peftlab run
    return base


def test_each_run_gets_its_status(runs_dir, capsys):
    assert main(["runs", str(runs_dir), "--json"]) == 0
    listed = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(listed) == ["diverged", "interrupted", "killed", "study/finished"]

    done = listed["study/finished"]
    metrics = json.loads((runs_dir / "study" / "finished" / "metrics.json").read_text())
    assert (done["status"], done["status_text"], done["method"], done["tasks"]) == ("finished", "finished", "lora",
                                                                                    ["summarize"])
    assert (done["epochs_done"], done["epochs_planned"], done["step"]) == (1, 1, 6)
    assert done["val_loss"] == metrics["loss"]["val"]
    assert done["metric"] == "rougeL" and done["metric_value"] == metrics["quality"]["rougeL"]

    cut = listed["interrupted"]
    assert (cut["status"], cut["step"], cut["status_text"]) == ("interrupted", 2, "interrupted at step 2")
    assert (cut["epochs_done"], cut["epochs_planned"], cut["val_loss"], cut["metric_value"]) == (0, 2, None, None)

    assert (listed["killed"]["status_text"], listed["killed"]["step"]) == ("failed", None)
    failed = listed["diverged"]
    assert failed["status"] == "failed" and failed["step"] == 4
    assert failed["status_text"] == "failed: the loss became non-finite at step 5 (epoch 1): lower --lr"


def test_the_table_has_a_line_per_run(runs_dir, capsys):
    assert main(["runs", str(runs_dir)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["RUN", "METHOD", "TASKS", "EPOCHS"]
    by_path = {line.split()[0]: line for line in lines}
    assert set(by_path) == {"diverged", "interrupted", "killed", "study/finished"}
    assert by_path["interrupted"].endswith("interrupted at step 2") and "0/2" in by_path["interrupted"]
    assert by_path["study/finished"].split()[1:4] == ["lora", "summarize", "1/1"]
    assert "rougeL" in by_path["study/finished"] and by_path["study/finished"].endswith("finished")
    assert by_path["killed"].endswith("failed")


def test_a_run_directory_given_itself_lists_itself(runs_dir, capsys):
    assert main(["runs", str(runs_dir / "study" / "finished")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_an_early_stopped_run_says_so_and_bad_dirs_are_usage_errors(tmp_path, capsys):
    data = write_jsonl(tmp_path / "sum.jsonl", summarize_rows(30))
    train(lora_cfg(tmp_path, data, "runs/es", lr=0.5, eval_every_steps=1, early_stopping_patience=1), **QUIET)
    assert main(["runs", str(tmp_path / "runs")]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    steps = json.loads((tmp_path / "runs" / "es" / "metrics.json").read_text())["steps"]
    assert line.endswith(f"finished (stopped early at step {steps})")
    assert main(["runs", str(tmp_path / "nothing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["runs", str(tmp_path / "empty")]) == 0 and "no runs below" in capsys.readouterr().out
