"""Batched greedy decoding with a KV cache, for every method through the same `AdaptedLM.embed`.

Rows are left-padded; positions come from the attention mask, so a row's tokens do not depend on its
batch. Decoding stops per row at EOS or at a token that starts a new line (every task's target is one
line); LoRA layers are merged for the duration (no extra matmuls) and unmerged afterwards.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

import torch

from .adapted import AdaptedLM
from .data.collate import Example, collate, encode
from .data.tasks import get_task
from .methods import lora
from .runtime import autocast


@contextlib.contextmanager
def merged_lora(adapted: AdaptedLM):
    """LoRA folded into the frozen weights while inside; restored on exit."""
    if adapted.method != "lora":
        yield
        return
    lora.merge(adapted.model)
    try:
        yield
    finally:
        lora.unmerge(adapted.model)


@lru_cache(maxsize=8)
def _newline_ids(tokenizer) -> frozenset[int]:
    return frozenset(i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i]))


def stop_ids(tokenizer, stop_at_newline: bool = True) -> frozenset[int]:
    ids = {tokenizer.eos_token_id} | (set(_newline_ids(tokenizer)) if stop_at_newline else set())
    return frozenset(i for i in ids if i is not None)


@torch.no_grad()
def greedy_batch(adapted: AdaptedLM, examples: list[Example], *, pad_id: int, stops: frozenset[int],
                 max_new_tokens: int, device: torch.device, precision: str = "fp32") -> list[list[int]]:
    """New token ids per example (stop token excluded), decoding the prompt part of each example."""
    batch = collate(examples, pad_id, left=True, prompt_only=True).to(device)
    body, head = adapted.model.base_model, adapted.model.get_output_embeddings()
    embeds, mask, positions = adapted.embed(batch.input_ids, batch.attention_mask, batch.task_ids)
    out_ids: list[list[int]] = [[] for _ in examples]
    done = torch.zeros(len(examples), dtype=torch.bool, device=device)
    stop_tensor = torch.tensor(sorted(stops), device=device)
    past = None
    for _ in range(max_new_tokens):
        with autocast(device, precision):
            out = body(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                       past_key_values=past, use_cache=True)
            next_ids = head(out.last_hidden_state[:, -1]).float().argmax(-1)  # (B,)
        done |= torch.isin(next_ids, stop_tensor)
        for i in torch.nonzero(~done).flatten().tolist():
            out_ids[i].append(int(next_ids[i]))
        if bool(done.all()):
            break
        past = out.past_key_values
        embeds = adapted.model.get_input_embeddings()(next_ids)[:, None]  # (B, 1, d)
        mask = torch.cat([mask, mask.new_ones(len(examples), 1)], dim=1)
        positions = positions[:, -1:] + 1
    return out_ids


def generate_for_rows(adapted: AdaptedLM, tokenizer, rows: list[dict[str, str]], *, max_length: int,
                      max_new_tokens: int, batch_size: int, device: torch.device, precision: str = "fp32") -> list[str]:
    """One generation per row (rows carry their "task"), in row order."""
    examples = [encode(r, get_task(r["task"]), tokenizer, max_length=max_length, num_virtual=adapted.num_virtual,
                       task_id=adapted.tasks.index(r["task"])) for r in rows]
    return generate_for_examples(adapted, tokenizer, examples, max_new_tokens=max_new_tokens,
                                 batch_size=batch_size, device=device, precision=precision)


def generate_for_examples(adapted: AdaptedLM, tokenizer, examples: list[Example], *, max_new_tokens: int,
                          batch_size: int, device: torch.device, precision: str = "fp32",
                          stop_at_newline: bool = True) -> list[str]:
    stops = stop_ids(tokenizer, stop_at_newline)
    order = sorted(range(len(examples)), key=lambda i: examples[i].prompt_len)  # similar lengths pad less
    texts: list[str] = [""] * len(examples)
    was_training = adapted.training
    adapted.eval()
    with merged_lora(adapted):
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            new = greedy_batch(adapted, [examples[i] for i in chunk], pad_id=tokenizer.pad_token_id, stops=stops,
                               max_new_tokens=max_new_tokens, device=device, precision=precision)
            for i, ids in zip(chunk, new):
                texts[i] = tokenizer.decode(ids, skip_special_tokens=True).strip()
    adapted.train(was_training)
    return texts
