"""Encoding and collation: loss on target tokens only, truncation cuts the source, never the target."""

from __future__ import annotations

import torch

from peftlab.data.collate import IGNORE, collate, encode
from peftlab.data.tasks import get_task

ROW = {"article": " ".join(f"Sentence number {i} says something about the town." for i in range(40)),
       "summary": "The town said many things."}


def test_labels_cover_exactly_the_target_and_eos(tokenizer):
    task = get_task("summarize")
    example = encode(ROW, task, tokenizer, max_length=1024)
    target = tokenizer(task.target_text(ROW), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    labelled = [t for t in example.labels if t != IGNORE]
    assert labelled == target
    assert example.input_ids[-len(target):] == target
    assert all(t == IGNORE for t in example.labels[:example.prompt_len])
    assert not example.truncated


def test_loss_on_prompt_labels_every_token(tokenizer):
    example = encode(ROW, get_task("summarize"), tokenizer, max_length=1024, loss_on_prompt=True)
    assert example.labels == example.input_ids


def test_truncation_cuts_the_article_and_keeps_target_and_question(tokenizer):
    row = {"context": ROW["article"], "question": "What did the town say?", "answer": "many things"}
    task = get_task("qa")
    full = encode(row, task, tokenizer, max_length=4096)
    cut = encode(row, task, tokenizer, max_length=64, num_virtual=5)
    assert cut.truncated and not full.truncated
    assert len(cut.input_ids) + 5 <= 64
    _, _, tail = task.render(row)
    kept = len(tokenizer(tail, add_special_tokens=False)["input_ids"]) + len(full.input_ids) - full.prompt_len
    assert cut.input_ids[-kept:] == full.input_ids[-kept:]  # question, "Answer:" and the answer survive intact
    assert [t for t in cut.labels if t != IGNORE] == [t for t in full.labels if t != IGNORE]


def test_collate_pads_without_labels_on_padding(tokenizer):
    task = get_task("translate")
    rows = [{"source": "Котката спи.", "target": "The cat sleeps."},
            {"source": "Кучето на Мария тича бързо в парка всяка сутрин.", "target": "Maria's dog runs fast in the park every morning."}]
    examples = [encode(r, task, tokenizer, max_length=128, task_id=i) for i, r in enumerate(rows)]
    for left in (False, True):
        batch = collate(examples, tokenizer.pad_token_id, left=left)
        assert batch.input_ids.shape == batch.labels.shape == batch.attention_mask.shape
        assert torch.all(batch.labels[batch.attention_mask == 0] == IGNORE)
        assert batch.task_ids.tolist() == [0, 1]
        short = batch.attention_mask[0]
        assert (short[0] == 0) == left and (short[-1] == 0) == (not left)
    prompts = collate(examples, tokenizer.pad_token_id, left=True, prompt_only=True)
    assert torch.all(prompts.labels == IGNORE)
    assert prompts.attention_mask.sum(1).tolist() == [e.prompt_len for e in examples]
