"""`peftlab eval`: losses with training's masking, quality from generations, the base model, adapters."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import make_config, qa_rows, spread_weights, summarize_rows, write_jsonl
from peftlab.cli import main
from peftlab.config import MethodConfig
from peftlab.data.collate import IGNORE, encode
from peftlab.data.tasks import get_task
from peftlab.evaluation import EvalOptions, format_table
from peftlab.decoding import beam_batch, greedy_batch, stop_ids
from peftlab.methods import apply_method
from peftlab.models import load_model
from peftlab.training import train

TINY = ["--max-new-tokens", "6"]  # random tiny models never stop early: keep decoding short


def _train(root: Path, name: str, data: Path, **overrides) -> Path:
    cfg = make_config(root / name, data=str(data), **overrides)
    cfg.train.out = str(root / name)
    train(cfg, announce=lambda *_: None)
    return root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_thread) -> dict[str, Path]:
    """A LoRA run on summarize and a two-task prompt run, each 16 train / 2 val / 2 test rows per task."""
    root = tmp_path_factory.mktemp("eval")
    data = write_jsonl(root / "sum.jsonl", summarize_rows(20))
    qa = write_jsonl(root / "qa.jsonl", qa_rows(20))
    return {"data": data, "qa": qa,
            "lora": _train(root, "lora", data, method="lora"),
            "multi": _train(root, "multi", Path(f"summarize={data},qa={qa}"), task="summarize,qa", method="prompt")}


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _samples(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def _finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


# ------------------------------------------------------------------ a run

def test_eval_run_writes_loss_quality_and_samples(runs, capsys):
    run = runs["lora"]
    trained_val = _metrics(run)["history"][-1]["val_loss"]
    assert main(["eval", str(run), "--baseline", *TINY]) == 0
    metrics = _metrics(run)
    assert all(_finite(metrics["loss"][s]) for s in ("train", "val", "test"))
    # same weights, same masking: eval's val loss is the one training measured after its last epoch
    assert metrics["loss"]["val"] == pytest.approx(trained_val, rel=1e-9)
    assert set(metrics["quality"]) == {"rouge1", "rouge2", "rougeL"}
    assert metrics["eval_time_s"] > 0 and metrics["trainable_params"] > 0  # train's figures are kept
    assert metrics["eval"]["split"] == "test" and metrics["eval"]["examples"] == 2
    samples = _samples(run)
    assert [s["task"] for s in samples] == ["summarize", "summarize"]
    by_summary = {r["summary"]: r for r in summarize_rows(20)}
    for s in samples:  # the exact prompt the model was given, and the row's own reference
        assert s["input"] == get_task("summarize").prompt_text(by_summary[s["reference"]])
    # the stored generations are exactly what was scored, against the stored references
    assert get_task("summarize").score([s["generation"] for s in samples], [s["reference"] for s in samples]) == \
        metrics["quality"]
    assert get_task("summarize").score([s["base_generation"] for s in samples], [s["reference"] for s in samples]) == \
        metrics["baseline"]["quality"]
    table = capsys.readouterr().out
    assert "base model" in table and f"{metrics['loss']['test']:.4f}" in table


def test_losses_equal_plain_cross_entropy_of_the_base_model(runs, tmp_path):
    """The base model's loss is mean cross-entropy per target token, computed here with plain
    transformers on each example alone: no soft prompt, no padding, loss on target tokens only."""
    out = tmp_path / "base"
    assert main(["eval", "--baseline", "--out", str(out), "--model", "random:tiny-llama", "--data", str(runs["data"]),
                 "--max-length", "128", "--batch-size", "4", "--device", "cpu", *TINY]) == 0
    base = _metrics(out)["baseline"]
    loaded = load_model("random:tiny-llama")
    total, count = 0.0, 0
    for s in _samples(out):
        row = {"article": s["input"].split("Article: ", 1)[1].rsplit("\nSummary:", 1)[0], "summary": s["reference"]}
        ex = encode(row, get_task("summarize"), loaded.tokenizer, max_length=128)
        with torch.no_grad():
            logits = loaded.model(torch.tensor([ex.input_ids])).logits[0, :-1]
        labels = torch.tensor(ex.labels[1:])
        keep = labels != IGNORE
        total += F.cross_entropy(logits[keep], labels[keep], reduction="sum").item()
        count += int(keep.sum())
    assert base["loss"]["test"] == pytest.approx(total / count, rel=1e-5)


def test_baseline_alone_equals_the_baseline_of_a_run(runs, tmp_path):
    run = runs["lora"]
    assert main(["eval", str(run), "--baseline", *TINY]) == 0
    out = tmp_path / "base"
    assert main(["eval", "--baseline", "--out", str(out), "--model", "random:tiny-llama", "--data", str(runs["data"]),
                 "--max-length", "128", "--batch-size", "4", *TINY]) == 0
    alone, with_run = _metrics(out)["baseline"], _metrics(run)["baseline"]
    assert alone["loss"] == pytest.approx(with_run["loss"], rel=1e-9)
    assert alone["quality"] == with_run["quality"]
    assert alone["total_params"] < _metrics(run)["total_params"]  # LoRA adds parameters; the base has none
    assert _metrics(run)["loss"]["train"] != pytest.approx(alone["loss"]["train"], rel=1e-9)  # trained weights differ
    assert "generation" not in _samples(out)[0] and "base_generation" in _samples(out)[0]


def test_adapter_directory_gives_the_same_figures_as_its_run(runs, tmp_path):
    run = runs["lora"]
    assert main(["eval", str(run), *TINY]) == 0
    out = tmp_path / "adapter-eval"
    assert main(["eval", "--adapter", str(run / "adapter"), "--model", "random:tiny-llama", "--data", str(runs["data"]),
                 "--max-length", "128", "--batch-size", "4", "--out", str(out), *TINY]) == 0
    assert _metrics(out)["loss"] == pytest.approx(_metrics(run)["loss"], rel=1e-9)
    assert _metrics(out)["quality"] == _metrics(run)["quality"]


def test_multitask_prompt_run_gets_per_task_loss_and_quality(runs, capsys):
    run = runs["multi"]
    assert main(["eval", str(run), *TINY]) == 0
    metrics = _metrics(run)
    assert set(metrics["quality_per_task"]) == {"summarize", "qa"}
    assert set(metrics["quality"]) == {"rouge1", "rouge2", "rougeL", "exact_match", "f1"}
    for split in ("train", "val", "test"):
        assert set(metrics["loss_per_task"][split]) == {"summarize", "qa"}
        per_task = metrics["loss_per_task"][split].values()
        assert min(per_task) <= metrics["loss"][split] <= max(per_task)  # the overall loss is their token mean
    samples = _samples(run)
    assert sorted(s["task"] for s in samples) == ["qa", "qa", "summarize", "summarize"]
    qa = [s for s in samples if s["task"] == "qa"]
    assert get_task("qa").score([s["generation"] for s in qa], [s["reference"] for s in qa]) == \
        metrics["quality_per_task"]["qa"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].split()[:5] == ["task", "model", "loss", "train", "loss"]
    assert [line.split()[0] for line in lines[-2:]] == ["summarize", "qa"]


@pytest.mark.smoke
def test_real_model_baseline_writes_real_summaries(tmp_path):
    """The embedded model, untouched, already summarises a little: its loss is far below a random
    model's ~10.8 and its generations share words with the references."""
    out = tmp_path / "base"
    assert main(["eval", "--baseline", "--out", str(out), "--model", "default", "--data", "builtin",
                 "--max-train-samples", "2", "--max-eval-samples", "2",
                 "--max-new-tokens", "24"]) == 0
    base = _metrics(out)["baseline"]
    assert all(_finite(base["loss"][s]) and base["loss"][s] < 3 for s in ("train", "val", "test"))
    assert base["quality"]["rouge1"] > 10 and base["untrained"] is False
    assert all(s["base_generation"] for s in _samples(out))


# ------------------------------------------------------------------ decoding

@pytest.mark.parametrize("arch", ["random:tiny-llama", "random:tiny-gpt2"])
def test_beam_search_with_one_beam_is_greedy(arch, tokenizer):
    """Beam search runs through transformers' generate; with one beam it must reproduce our greedy
    decoder token for token — same soft prompt, left padding and positions."""
    loaded = load_model(arch)
    spread_weights(loaded.model)
    adapted = apply_method(loaded, MethodConfig(method="prompt", num_prompts=3), ["summarize"])
    with torch.no_grad():
        adapted.prompts.weight.normal_(0, 0.5)
    rows = summarize_rows(4)
    examples = [encode(dict(r, article=r["article"] * (1 + i % 3)), get_task("summarize"), loaded.tokenizer,
                       max_length=128, num_virtual=3) for i, r in enumerate(rows)]
    kwargs = dict(pad_id=loaded.tokenizer.pad_token_id, stops=stop_ids(loaded.tokenizer), max_new_tokens=8)
    greedy = greedy_batch(adapted, examples, **kwargs)
    assert len({tuple(g) for g in greedy}) > 1  # input-dependent, so the comparison means something
    assert beam_batch(adapted, examples, num_beams=1, **kwargs) == greedy
    beams = beam_batch(adapted, examples, num_beams=3, **kwargs)
    assert len(beams) == 4 and all(len(b) <= 8 for b in beams)


def test_eval_records_beam_search_and_token_budget(runs):
    run = runs["lora"]
    assert main(["eval", str(run), "--num-beams", "2", "--max-new-tokens", "4", "--split", "val"]) == 0
    recorded = _metrics(run)["eval"]
    assert recorded["num_beams"] == 2 and recorded["max_new_tokens"] == {"summarize": 4}
    assert recorded["split"] == "val" and {s["split"] for s in _samples(run)} == {"val"}


def test_default_token_budget_per_task():
    opts = EvalOptions()
    assert [opts.tokens_for(t) for t in ("summarize", "qa", "translate")] == [48, 16, 64]
    assert EvalOptions(max_new_tokens=5).tokens_for("qa") == 5


def test_format_table_marks_missing_figures():
    figures = {"loss_per_task": {"train": {"qa": 1.0}, "val": {}, "test": {"qa": 2.0}},
               "quality_per_task": {"qa": {"exact_match": 50.0, "f1": 75.0}}}
    lines = format_table(figures).splitlines()
    assert lines[1].split() == ["qa", "adapter", "1.0000", "—", "2.0000", "50.00", "75.00"]


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("argv, needle", [
    ([], "nothing to evaluate"),
    (["RUN", "--split", "dev"], "unknown --split 'dev'"),
    (["RUN", "--num-beams", "0"], "--num-beams must be a positive integer"),
    (["RUN", "--max-new-tokens", "-1"], "--max-new-tokens must be a positive integer"),
    (["RUN", "--model", "random:tiny-gpt2"], "was trained with --model random:tiny-llama"),
    (["RUN", "--out", "OUT"], "drop --out"),
    (["RUN", "--adapter", "RUN/adapter"], "not both"),
    (["NOPE"], "is not a peftlab run"),
    (["--adapter", "NOPE"], "holds no adapter_config.json"),
])
def test_bad_input_is_one_line_and_writes_nothing(runs, argv, needle, capsys, tmp_path):
    run = runs["lora"]
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    argv = [a.replace("RUN", str(run)).replace("NOPE", str(tmp_path / "nope")).replace("OUT", str(tmp_path / "out"))
            for a in argv]
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("peftlab: error: ") and needle in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert not (tmp_path / "out").exists()
