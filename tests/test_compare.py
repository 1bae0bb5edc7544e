"""`peftlab compare`: one end-to-end comparison on a tiny random model (two examples per split), then
resuming, re-rendering and bad input against copies of it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from conftest import summarize_rows, write_jsonl
from peftlab.cli import main
from peftlab.comparison import parse_lr, parse_methods
from peftlab.comparison_children import LabelledLines, method_stage, run_child
from peftlab.config import DEFAULT_LR
from peftlab.errors import UsageError
from peftlab.rundir import read_run_config

METHODS = ("prompt", "lora", "last-layer")


def _flags(data: Path) -> list[str]:
    return ["--model", "random:tiny-llama", "--data", str(data), "--max-train-samples", "2", "--max-eval-samples", "2",
            "--epochs", "2", "--batch-size", "2", "--max-length", "128", "--max-new-tokens", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory, one_thread) -> tuple[Path, list[str]]:
    """A finished comparison of all three methods; tests work on copies of it."""
    root = tmp_path_factory.mktemp("compare")
    flags = _flags(write_jsonl(root / "sum.jsonl", summarize_rows(20)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")  # the children: tiny models, busy runner (see conftest.one_thread)
        assert main(["compare", *flags, "--out", str(root / "cmp")]) == 0
    return root / "cmp", flags


@pytest.fixture
def copy(compared, tmp_path, monkeypatch) -> Path:
    """A copy of the comparison in another place: its runs' config.json still name the old one, which
    a resume allows (a moved run directory resumes)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return Path(shutil.copytree(compared[0], tmp_path / "cmp"))


def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _mtimes(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in sorted(path.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ the comparison

def test_every_figure_is_present_and_finite(compared):
    out, _ = compared
    results = _results(out)
    assert results["task"] == "summarize" and results["primary_metric"] == "rougeL"
    assert list(results["methods"]) == list(METHODS)
    for name, m in results["methods"].items():
        assert isinstance(m["trainable_params"], int) and m["trainable_params"] > 0, name
        for key in ("trainable_pct", "epoch_time_s", "train_tokens_per_s", "peak_memory_mb", "eval_time_s"):
            assert _finite(m[key]), (name, key)
        assert all(_finite(m["loss"][s]) for s in ("train", "val", "test")), name
        assert [h["epoch"] for h in m["history"]] == [1, 2]
        assert all(_finite(h[k]) for h in m["history"] for k in ("train_loss", "val_loss", "time_s"))
        assert m["epoch_time_s"] == pytest.approx(sum(m["epoch_times_s"]) / 2)
        assert set(m["quality"]) == {"rouge1", "rouge2", "rougeL"} and all(
            _finite(v) and 0 <= v <= 100 for v in m["quality"].values())
        assert m["lr"] == DEFAULT_LR[name]
    base = results["baseline"]
    assert all(_finite(base["loss"][s]) for s in ("train", "val", "test"))
    assert set(base["quality"]) == {"rouge1", "rouge2", "rougeL"} and all(_finite(v) for v in base["quality"].values())
    assert results["data"]["sizes"] == {"train": 2, "val": 2, "test": 2}
    assert results["memory_kind"] == "peak RSS growth over the loaded model (CPU)"
    assert results["model"]["untrained"] is True and _finite(results["model"]["total_params"])
    for key in ("peftlab", "python", "torch", "transformers", "device", "device_name", "cpu_threads", "precision"):
        assert results["environment"][key] not in (None, ""), key
    config = results["config"]
    assert config["lr"] == DEFAULT_LR and config["epochs"] == 2 and config["batch_size"] == 2
    assert config["max_new_tokens"] == {"summarize": 4} and config["decoding"] == "greedy"


def test_tensorboard_overlays_the_methods_with_the_same_tags(compared):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for name in METHODS:
        events = EventAccumulator(str(compared[0] / "runs" / name / "tb"))
        events.Reload()
        tags[name] = set(events.Tags()["scalars"])
    assert tags["prompt"] == tags["lora"] == tags["last-layer"]
    assert {"epoch/val_loss", "epoch/train_loss", "eval/loss/test", "eval/quality/rouge1"} <= tags["lora"]


def test_parameter_counts_are_consistent(compared):
    results = _results(compared[0])
    m, base_total = results["methods"], results["model"]["total_params"]
    assert m["prompt"]["trainable_params"] < m["lora"]["trainable_params"] < m["last-layer"]["trainable_params"]
    assert m["prompt"]["total_params"] == base_total + m["prompt"]["trainable_params"]  # prompts are added
    assert m["lora"]["total_params"] == base_total + m["lora"]["trainable_params"]      # so are A and B
    assert m["last-layer"]["total_params"] == base_total                              # the block is the model's
    for name in METHODS:
        assert m[name]["trainable_pct"] == pytest.approx(100 * m[name]["trainable_params"] / m[name]["total_params"])


def test_every_method_ran_with_the_same_settings(compared):
    out, _ = compared
    configs = {m: json.loads((out / "runs" / m / "config.json").read_text()) for m in METHODS}
    for m, cfg in configs.items():
        assert cfg["method"]["method"] == m and cfg["train"]["lr"] == DEFAULT_LR[m]
        assert cfg["data"] == configs["prompt"]["data"] and cfg["model"] == configs["prompt"]["model"]
        assert {k: v for k, v in cfg["train"].items() if k not in ("lr", "out")} == \
            {k: v for k, v in configs["prompt"]["train"].items() if k not in ("lr", "out")}
    # the same test rows were generated for every method and the base model
    refs = {m: [json.loads(x)["reference"] for x in (out / "runs" / m / "samples.jsonl").read_text().splitlines()]
            for m in METHODS}
    base = [json.loads(x)["reference"] for x in (out / "baseline" / "samples.jsonl").read_text().splitlines()]
    assert refs["prompt"] == refs["lora"] == refs["last-layer"] == base and len(base) == 2


def test_report_is_written(compared):
    out, _ = compared
    md = (out / "report.md").read_text()
    for name in METHODS:
        assert f"| {name} | " in md
    assert "| base model (no adapter) |" in md and "## Uncertainty over test examples" in md
    assert "Best rougeL" not in md  # the paired bootstrap's sentences replace the point ranking
    assert "the base model" in md and ("beats" in md or "indistinguishable at this budget" in md)
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 6  # the five and cost.png


# ------------------------------------------------------------------ resuming and re-rendering

def test_resume_keeps_finished_methods_and_completes_the_rest(copy, compared, capsys):
    _, flags = compared
    prompt_before = _mtimes(copy / "runs" / "prompt")
    lora = copy / "runs" / "lora"  # killed after training, before its evaluation
    metrics = json.loads((lora / "metrics.json").read_text())
    (lora / "metrics.json").write_text(json.dumps({k: v for k, v in metrics.items() if k not in ("quality", "eval")}))
    lora_log = (lora / "log.jsonl").read_bytes()
    last = copy / "runs" / "last-layer"  # killed while training: checkpoints, no adapter, no metrics
    shutil.rmtree(last / "adapter")
    (last / "metrics.json").unlink()
    (copy / "results.json").unlink()
    assert main(["compare", *flags, "--out", str(copy), "--resume"]) == 0
    said = capsys.readouterr().out
    assert "prompt (lr 0.03) — already trained and evaluated, kept" in said
    assert "lora (lr 0.001) — already trained, evaluating" in said
    assert "last-layer (lr 0.0001) — resuming its training" in said
    assert "base model — already evaluated, kept" in said
    assert _mtimes(copy / "runs" / "prompt") == prompt_before
    assert (lora / "log.jsonl").read_bytes() == lora_log  # evaluated, not trained again
    results, original = _results(copy), _results(compared[0])
    assert results["methods"]["lora"]["quality"] == original["methods"]["lora"]["quality"]
    assert results["methods"]["last-layer"]["loss"] == pytest.approx(original["methods"]["last-layer"]["loss"])
    assert (last / "adapter").is_dir()


def test_an_existing_comparison_needs_resume_or_overwrite(copy, compared, capsys):
    before = _mtimes(copy)
    assert main(["compare", *compared[1], "--out", str(copy)]) == 2
    assert "already holds a comparison: pass --resume" in capsys.readouterr().err
    assert main(["compare", *compared[1], "--seed", "3", "--out", str(copy), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "was made with other settings (train.seed)" in err and err.count("\n") == 1
    assert main(["compare", *compared[1], "--epochs", "1", "--out", str(copy), "--resume"]) == 2
    assert "was made with other settings (train.epochs)" in capsys.readouterr().err  # epochs may grow, not shrink
    assert _mtimes(copy) == before


def test_from_renders_again_without_training(copy, compared, tmp_path, capsys):
    original = (copy / "report.md").read_text()
    for name in ("report.md", "report.html", "loss.png"):
        (copy / name).unlink()
    runs_before = _mtimes(copy / "runs")
    assert main(["compare", "--from", str(copy)]) == 0
    assert (copy / "report.md").read_text() == original and (copy / "loss.png").is_file()
    assert _mtimes(copy / "runs") == runs_before
    assert main(["compare", "--from", str(copy), "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "report.md").read_text() == original
    assert main(["compare", "--from", str(copy), "--epochs", "3"]) == 2
    assert "--from renders an existing comparison again: drop --epochs" in capsys.readouterr().err
    assert main(["compare", "--from", str(tmp_path / "none")]) == 2
    assert "holds no results.json" in capsys.readouterr().err


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("extra, needle", [
    (["--methods", "prompt,full"], "unknown --methods full"),
    (["--methods", "lora,lora"], "names a method twice"),
    (["--lr", "lora=fast"], "bad --lr 'lora=fast'"),
    (["--lr", "adapter=0.1"], "bad --lr 'adapter=0.1'"),
    (["--lr", "-1"], "bad --lr '-1'"),
    (["--epochs", "0"], "--epochs must be a positive integer"),
    (["--num-beams", "0"], "--num-beams must be a positive integer"),
    (["--task", "summarize,qa"], "several tasks at once need --method prompt"),
    (["--model", "random:nope"], "prompt: unknown random architecture 'nope'"),
])
def test_bad_input_is_one_line_and_writes_nothing(extra, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = write_jsonl(tmp_path / "sum.jsonl", summarize_rows(20))
    assert main(["compare", *_flags(data), *extra, "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("peftlab: error: ") and needle in err and err.count("\n") == 1
    assert not (tmp_path / "cmp").exists()


def test_compare_needs_an_out_dir(capsys):
    assert main(["compare", "--model", "random:tiny-llama"]) == 2
    assert "pass --out DIR" in capsys.readouterr().err


# ------------------------------------------------------------------ pieces

def test_parse_methods_and_lr():
    assert parse_methods(None) == list(METHODS)
    assert parse_methods("lora, prompt") == ["lora", "prompt"]
    assert parse_lr(None, ["prompt", "lora"]) == {"prompt": DEFAULT_LR["prompt"], "lora": DEFAULT_LR["lora"]}
    assert parse_lr("0.002", ["prompt", "last-layer"]) == {"prompt": 0.002, "last-layer": 0.002}
    assert parse_lr("lora=0.0005", list(METHODS)) == DEFAULT_LR | {"lora": 0.0005}
    with pytest.raises(UsageError):
        parse_lr("prompt=0.1,lora", list(METHODS))


def test_more_epochs_on_resume_continue_a_finished_method(copy):
    """The run directory's one rule: `epochs` may grow, so a finished method has training left."""
    cfg = read_run_config(copy / "runs" / "lora")
    cfg.train.out = str(copy / "runs" / "lora")
    assert method_stage(cfg, {}) == "done"
    cfg.train.epochs = 3
    assert method_stage(cfg, {}) == "resume"


def test_a_child_returns_its_result_or_its_usage_error(tmp_path):
    assert run_child("adder", sum, [1, 2, 3]) == 6
    with pytest.raises(UsageError, match=r"^reader: .*nope is not a peftlab run"):
        run_child("reader", read_run_config, tmp_path / "nope")
    with pytest.raises(RuntimeError, match="the divider process exited with code 1"):
        run_child("divider", divmod, 1, 0)


def test_child_output_lines_carry_the_label():
    import io

    out = io.StringIO()
    stream = LabelledLines(out, "lora")
    stream.write("Epoch: 1 | Step")
    stream.write(": 2\ndone\n")
    stream.write("tail")
    stream.flush()
    assert out.getvalue() == "[lora] Epoch: 1 | Step: 2\n[lora] done\n[lora] tail\n"
