"""One frozen model, one soft prompt per task: interleaved training, mixed-task batches, serving.

The central property: a request's logits and greedy tokens do not depend on which tasks share its
batch or how much left padding it gets (fp32, <= 1e-4), with and without the prefix cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import ARCHS, ROWS, make_config, spread_weights, write_jsonl
from peftlab.cli import main
from peftlab.config import MethodConfig
from peftlab.data.collate import collate, encode
from peftlab.data.tasks import get_task
from peftlab.decoding import PrefixCache, decode_steps, greedy_batch
from peftlab.methods import apply_method
from peftlab.models import load_model
from peftlab.training import epoch_order

TASKS = ["summarize", "qa", "translate"]
TOL = 1e-4


@pytest.fixture(scope="module", params=ARCHS)
def multi(request):
    """(tokenizer, AdaptedLM) with three distinct random prompts on a tiny random model."""
    loaded = load_model(request.param, device="cpu")
    spread_weights(loaded.model)
    adapted = apply_method(loaded, MethodConfig(method="prompt", num_prompts=4, prompt_init="random"), TASKS)
    return loaded.tokenizer, adapted.eval()


def mixed_examples(tokenizer, adapted, per_task: int = 2):
    """Rows of all three tasks interleaved, with different prompt lengths (so padding differs)."""
    rows = [dict(ROWS[task](per_task + 1)[i + 1], task=task) for i in range(per_task) for task in TASKS]
    return [encode(r, get_task(r["task"]), tokenizer, max_length=160, num_virtual=adapted.num_virtual,
                   task_id=TASKS.index(r["task"])) for r in rows]


# ------------------------------------------------------------------ training order

def test_proportional_order_covers_every_example_once_and_mixes_tasks():
    sizes = [7, 5, 4]
    order = epoch_order(sizes, seed=3, epoch=0, sampling="proportional")
    assert sorted(order) == list(range(16))
    task_of = [0] * 7 + [1] * 5 + [2] * 4
    batches = [order[i:i + 4] for i in range(0, 16, 4)]
    assert any(len({task_of[i] for i in b}) > 1 for b in batches)  # batches hold rows of several tasks
    assert order != epoch_order(sizes, seed=3, epoch=1, sampling="proportional")  # reshuffled per epoch


def test_uniform_order_repeats_smaller_tasks_to_the_largest():
    order = epoch_order([6, 2, 3], seed=0, epoch=0, sampling="uniform")
    counts = [sum(1 for i in order if lo <= i < hi) for lo, hi in ((0, 6), (6, 8), (8, 11))]
    assert counts == [6, 6, 6]
    assert sorted(i for i in order if 6 <= i < 8) == [6, 6, 6, 7, 7, 7]


# ------------------------------------------------------------------ each row its own prompt

def test_gradient_reaches_only_the_prompts_of_tasks_in_the_batch(multi):
    tokenizer, adapted = multi
    examples = [e for e in mixed_examples(tokenizer, adapted) if e.task_id != 1]  # no qa rows
    batch = collate(examples, tokenizer.pad_token_id)
    adapted.prompts.weight.grad = None
    losses, _, _ = adapted.loss_terms(batch)
    losses.mean().backward()
    per_task = adapted.prompts.weight.grad.abs().sum(dim=(1, 2))
    adapted.prompts.weight.grad = None
    assert per_task[0] > 0 and per_task[2] > 0
    assert per_task[1] == 0


@pytest.mark.parametrize("left", [True, False])
def test_mixed_batch_logits_equal_each_request_alone(multi, left):
    tokenizer, adapted = multi
    examples = mixed_examples(tokenizer, adapted)
    assert len({e.prompt_len for e in examples}) > 2
    batch = collate(examples, tokenizer.pad_token_id, left=left, prompt_only=True)
    with torch.no_grad():
        together = adapted.logits(batch.input_ids, batch.attention_mask, batch.task_ids)
        for i, example in enumerate(examples):
            one = collate([example], tokenizer.pad_token_id, prompt_only=True)
            alone = adapted.logits(one.input_ids, one.attention_mask, one.task_ids)[0]
            real = batch.attention_mask[i].bool()
            assert (together[i][real] - alone).abs().max() <= TOL


@pytest.mark.parametrize("cached", [False, True])
def test_mixed_batch_greedy_tokens_and_step_logits_equal_alone(multi, cached):
    tokenizer, adapted = multi
    examples = mixed_examples(tokenizer, adapted, per_task=1)
    stops = frozenset({tokenizer.eos_token_id})
    prefix = PrefixCache(adapted) if cached else None
    kw = dict(stops=stops, max_new_tokens=5, prefix=prefix)
    batch = collate(examples, tokenizer.pad_token_id, left=True, prompt_only=True)
    together = list(decode_steps(adapted, batch, **kw))
    tokens = greedy_batch(adapted, examples, pad_id=tokenizer.pad_token_id, **kw)
    for i, example in enumerate(examples):
        one = collate([example], tokenizer.pad_token_id, left=True, prompt_only=True)
        alone = list(decode_steps(adapted, one, **kw))
        assert tokens[i] == greedy_batch(adapted, [example], pad_id=tokenizer.pad_token_id, **kw)[0]
        mine = [step.logits[step.rows == i][0] for step in together if bool((step.rows == i).any())]
        assert len(mine) == len(alone)
        for step_logits, one in zip(mine, alone):
            assert (step_logits - one.logits[0]).abs().max() <= TOL
    assert len({tuple(t) for t in tokens}) > 1  # the tasks' prompts really differ


# ------------------------------------------------------------------ a real multi-task run

@pytest.fixture(scope="module")
def multi_run(tmp_path_factory, spread_model_dir) -> Path:
    """A tiny three-task prompt run trained from per-task files (module-scoped: trained once)."""
    from peftlab.training import train

    root = tmp_path_factory.mktemp("multi")
    data = ",".join(f"{t}={write_jsonl(root / f'{t}.jsonl', ROWS[t](10))}" for t in TASKS)
    cfg = make_config(root, task=",".join(TASKS), data=data, num_prompts=3, max_length=96, epochs=2,
                      model=str(spread_model_dir))
    train(cfg, announce=lambda line: None)
    return Path(cfg.train.out)


def test_training_logs_per_task_losses_each_epoch(multi_run):
    metrics = json.loads((multi_run / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    for record in metrics["history"]:
        assert set(record["train_loss_per_task"]) == set(TASKS) == set(record["val_loss_per_task"])
        per_task = record["val_loss_per_task"].values()
        assert min(per_task) <= record["val_loss"] <= max(per_task)  # the mixed figure is their token-weighted mean
    epochs = [json.loads(line) for line in (multi_run / "log.jsonl").read_text().splitlines()]
    assert sum(1 for e in epochs if e.get("event") == "epoch" and "train_loss_per_task" in e) == 2
    assert all((multi_run / "adapter" / t / "adapter_model.safetensors").is_file() for t in TASKS)


def test_generate_on_a_multi_task_run_needs_a_task(multi_run, capsys):
    assert main(["generate", str(multi_run), "--text", "Some article."]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("peftlab: error:") and "\n" not in err
    assert all(task in err for task in TASKS)


def test_mixed_requests_file_gives_the_same_outputs_as_one_request_at_a_time(multi_run, tmp_path, capsys):
    requests = [{"task": t, "text": text} for t, text in (
        ("qa", "Context: Mira2 was born in Varna2. She later moved to the capital. Question: Where was Mira2 born?"),
        ("summarize", "The council of Town4 approved a budget of 40 million on Monday. The mayor called it fair."),
        ("translate", "Аз имам 3 книги и една химикалка."),
        ("qa", {"context": "Mira7 was born in Varna7.", "question": "Where was Mira7 born?"}))]
    write_jsonl(tmp_path / "req.jsonl", requests)
    flags = ["--max-new-tokens", "5"]
    assert main(["generate", str(multi_run), "--input", str(tmp_path / "req.jsonl"), "--output",
                 str(tmp_path / "ans.jsonl"), "--batch-size", "4", *flags]) == 0
    answers = [json.loads(line) for line in (tmp_path / "ans.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [{k: a[k] for k in ("task", "text")} for a in answers] == requests
    assert len({a["output"] for a in answers}) > 1  # input-dependent outputs, so equality below means something
    capsys.readouterr()
    for request, answer in zip(requests, answers):
        text = request["text"] if isinstance(request["text"], str) else json.dumps(request["text"])
        assert main(["generate", str(multi_run), "--task", request["task"], "--text", text, *flags]) == 0
        assert capsys.readouterr().out == answer["output"] + "\n"
