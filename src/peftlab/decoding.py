"""Batched greedy decoding with a KV cache, for every method through the same `AdaptedLM.embed`.

Rows are left-padded; positions come from the attention mask, so a row's tokens do not depend on its
batch. Decoding stops per row at EOS or at a token that starts a new line (every task's target is one
line). With `min_new_tokens` N (eval uses 1 for tasks whose answers are never empty), a row cannot
stop before it has said N non-blank tokens, and blank tokens (whitespace, EOS, special tokens) are
masked until its first non-blank one: the newline rule then applies only after the answer began, so
a model's quality measures what it says rather than when it stops. N = 0 is the unmasked argmax. The method prepares itself for the duration (`AdaptedLM.generating`: LoRA computes with merged
copies of its target weights, so no extra matmuls per token) and never changes a frozen weight. Device
and precision are the model's own (`AdaptedLM.device`, `AdaptedLM.autocast`).

Prefix caching (prompt runs): a soft prompt sits at positions 0..n-1 of every row, before any
padding, and attends only to itself, so its keys/values depend on the task alone. `PrefixCache`
computes them once per task; a batch then starts from a gather of its rows' prefixes and runs only
its own tokens. It is an option of the one decoding loop (`decode_steps`), not a second loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from functools import lru_cache

import torch

from . import distributed
from .adapted import AdaptedLM
from .data.collate import Batch, Example, collate, encode
from .data.tasks import get_task


@lru_cache(maxsize=8)
def _newline_ids(tokenizer) -> frozenset[int]:
    return frozenset(i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i]))


@lru_cache(maxsize=8)
def blank_ids(tokenizer) -> frozenset[int]:
    """Tokens that say nothing: whitespace-only text (newlines included), EOS and every special token."""
    blank = {i for i in range(len(tokenizer)) if not tokenizer.decode([i]).strip()}
    return frozenset(blank | set(tokenizer.all_special_ids) | ({tokenizer.eos_token_id} - {None}))


def mask_before_answer(logits: torch.Tensor, said: torch.Tensor, min_new_tokens: int, stops: torch.Tensor,
                       blanks: torch.Tensor) -> torch.Tensor:
    """`logits` (R, V) with stop tokens forbidden to rows that have said fewer than `min_new_tokens`
    non-blank tokens (`said` (R,)), and blank tokens forbidden to rows that have said none yet."""
    if min_new_tokens <= 0:
        return logits
    logits = logits.clone()
    early = torch.nonzero(said < min_new_tokens).flatten()
    logits[early[:, None], stops[None, :]] = float("-inf")
    silent = torch.nonzero(said == 0).flatten()
    logits[silent[:, None], blanks[None, :]] = float("-inf")
    return logits


def stop_ids(tokenizer, stop_at_newline: bool = True) -> frozenset[int]:
    ids = {tokenizer.eos_token_id} | (set(_newline_ids(tokenizer)) if stop_at_newline else set())
    return frozenset(i for i in ids if i is not None)


class PrefixCache:
    """Every task's soft-prompt keys/values, from one forward of the n virtual tokens alone (positions
    0..n-1). Valid for the prompt weights it was built from: build a new one after training moves them."""

    def __init__(self, adapted: AdaptedLM):
        if adapted.prompts is None:
            raise ValueError("a prefix cache needs a prompt-tuning model: other methods have no shared prefix")
        weight = adapted.prompts.weight.to(adapted.model.get_input_embeddings().weight.dtype)  # (K, n, d)
        self.length = weight.shape[1]
        positions = torch.arange(self.length, device=adapted.device).expand(weight.shape[0], -1)
        with torch.no_grad(), adapted.autocast():
            cache = adapted.model.base_model(inputs_embeds=weight, position_ids=positions, use_cache=True).past_key_values
        self.layers = [(layer.keys, layer.values) for layer in cache.layers]  # each (K, heads, n, head_dim)
        self.config = adapted.model.config

    def for_rows(self, task_ids: torch.Tensor):
        """A fresh `DynamicCache` holding row i's task prefix (decoding appends to it, so never shared)."""
        from transformers import DynamicCache

        return DynamicCache([(k[task_ids], v[task_ids]) for k, v in self.layers], config=self.config)


@torch.no_grad()
def decode_steps(adapted: AdaptedLM, batch: Batch, *, stops: frozenset[int], max_new_tokens: int,
                 prefix: PrefixCache | None = None, min_new_tokens: int = 0,
                 blanks: frozenset[int] = frozenset()) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The decoding loop: per step (next ids (B,), their logits (B, V) fp32 after the min-new-tokens
    mask, rows still live (B,) — a row is live while it has not produced a stop token). One forward
    per step for the whole batch. `blanks` (with `min_new_tokens` > 0): see `mask_before_answer`."""
    body, head, device = adapted.model.base_model, adapted.model.get_output_embeddings(), adapted.device
    embeds, mask, positions = adapted.embed(batch.input_ids, batch.attention_mask, batch.task_ids)
    past = None
    if prefix is not None:  # the prompt's keys/values are already known: feed only the tokens after it
        past = prefix.for_rows(batch.task_ids)
        embeds, positions = embeds[:, prefix.length:], positions[:, prefix.length:]
    done = torch.zeros(len(batch.input_ids), dtype=torch.bool, device=device)
    stop_tensor = torch.tensor(sorted(stops), dtype=torch.long, device=device)
    blank_tensor = torch.tensor(sorted(blanks | stops), dtype=torch.long, device=device)
    said = torch.zeros(len(batch.input_ids), dtype=torch.long, device=device)  # non-blank tokens per row
    for _ in range(max_new_tokens):
        with adapted.autocast():
            out = body(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                       past_key_values=past, use_cache=True)
            logits = head(out.last_hidden_state[:, -1]).float()  # (B, V)
        logits = mask_before_answer(logits, said, min_new_tokens, stop_tensor, blank_tensor)
        next_ids = logits.argmax(-1)
        said += ~torch.isin(next_ids, blank_tensor)
        done |= torch.isin(next_ids, stop_tensor)
        yield next_ids, logits, ~done
        if bool(done.all()):
            return
        past = out.past_key_values
        embeds = adapted.model.get_input_embeddings()(next_ids)[:, None]  # (B, 1, d)
        mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=1)
        positions = positions[:, -1:] + 1


def greedy_batch(adapted: AdaptedLM, examples: list[Example], *, pad_id: int, stops: frozenset[int],
                 max_new_tokens: int, prefix: PrefixCache | None = None,
                 on_token: Callable[[list[list[int]]], None] | None = None, min_new_tokens: int = 0,
                 blanks: frozenset[int] = frozenset()) -> list[list[int]]:
    """New token ids per example (stop token excluded), decoding the prompt part of each example;
    `on_token(ids_so_far)` after every step lets a caller stream."""
    batch = collate(examples, pad_id, left=True, prompt_only=True).to(adapted.device)
    out_ids: list[list[int]] = [[] for _ in examples]
    steps = decode_steps(adapted, batch, stops=stops, max_new_tokens=max_new_tokens, prefix=prefix,
                         min_new_tokens=min_new_tokens, blanks=blanks)
    for next_ids, _, live in steps:
        for i in torch.nonzero(live).flatten().tolist():
            out_ids[i].append(int(next_ids[i]))
        if on_token is not None:
            on_token(out_ids)
    return out_ids


@torch.no_grad()
def beam_batch(adapted: AdaptedLM, examples: list[Example], *, pad_id: int, stops: frozenset[int],
               max_new_tokens: int, num_beams: int, min_new_tokens: int = 0,
               blanks: frozenset[int] = frozenset()) -> list[list[int]]:
    """Beam search (transformers' own, with its KV cache) from the same soft-prompted embeddings and
    mask as greedy; a beam ends at a stop token, which is excluded from the returned ids. The
    min-new-tokens mask is the greedy one, applied per beam as a logits processor."""
    from transformers import GenerationConfig, LogitsProcessorList

    batch = collate(examples, pad_id, left=True, prompt_only=True).to(adapted.device)
    embeds, mask, _ = adapted.embed(batch.input_ids, batch.attention_mask, batch.task_ids)
    config = GenerationConfig(max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False,
                              eos_token_id=sorted(stops), pad_token_id=pad_id)
    processors = LogitsProcessorList([_MinNewTokens(min_new_tokens, stops | blanks, stops, adapted.device)])
    with adapted.autocast():
        out = adapted.model.generate(inputs_embeds=embeds, attention_mask=mask, generation_config=config,
                                     logits_processor=processors)
    return [[t for t in itertools.takewhile(lambda t: t not in stops, row)] for row in out.tolist()]


class _MinNewTokens:
    """`mask_before_answer` for transformers' `generate`: with `inputs_embeds` alone its `input_ids`
    hold only the generated tokens (R = batch x beams rows), so counting the non-blank ones is exact."""

    def __init__(self, min_new_tokens: int, blanks: frozenset[int], stops: frozenset[int], device):
        self.min_new_tokens = min_new_tokens
        self.blanks = torch.tensor(sorted(blanks), dtype=torch.long, device=device)
        self.stops = torch.tensor(sorted(stops), dtype=torch.long, device=device)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        said = (~torch.isin(input_ids, self.blanks)).sum(-1)
        return mask_before_answer(scores, said, self.min_new_tokens, self.stops, self.blanks)


def prefix_cache_for(adapted: AdaptedLM, enabled: bool = True) -> PrefixCache | None:
    """The prefix cache where the method has a shared prefix (prompt tuning), else None (plain path)."""
    return PrefixCache(adapted) if enabled and adapted.prompts is not None else None


def generate_for_rows(adapted: AdaptedLM, tokenizer, rows: list[dict[str, str]], *, max_length: int,
                      max_new_tokens: int, batch_size: int, prefix_cache: bool = True, num_beams: int = 1,
                      min_new_tokens: int = 0) -> tuple[list[str], list[int]]:
    """One generation per row (rows carry their "task"; tasks may mix within a batch), in row order,
    and the number of tokens each one took (`max_new_tokens` means it was cut off, not stopped)."""
    examples = [encode(r, get_task(r["task"]), tokenizer, max_length=max_length, num_virtual=adapted.num_virtual,
                       task_id=adapted.tasks.index(r["task"])) for r in rows]
    ids = generate_ids(adapted, tokenizer, examples, max_new_tokens=max_new_tokens, batch_size=batch_size,
                       prefix_cache=prefix_cache, num_beams=num_beams, min_new_tokens=min_new_tokens,
                       stop_at_newline=all(get_task(r["task"]).stop_at_newline for r in rows))
    return [tokenizer.decode(i, skip_special_tokens=True).strip() for i in ids], [len(i) for i in ids]


def generate_for_examples(adapted: AdaptedLM, tokenizer, examples: list[Example], *, max_new_tokens: int,
                          batch_size: int, stop_at_newline: bool = True, prefix_cache: bool = True,
                          on_token: Callable[[list[list[int]]], None] | None = None, num_beams: int = 1,
                          min_new_tokens: int = 0) -> list[str]:
    """Decoded generations in example order (see `generate_ids`)."""
    ids = generate_ids(adapted, tokenizer, examples, max_new_tokens=max_new_tokens, batch_size=batch_size,
                       stop_at_newline=stop_at_newline, prefix_cache=prefix_cache, on_token=on_token,
                       num_beams=num_beams, min_new_tokens=min_new_tokens)
    return [tokenizer.decode(i, skip_special_tokens=True).strip() for i in ids]


def generate_ids(adapted: AdaptedLM, tokenizer, examples: list[Example], *, max_new_tokens: int,
                 batch_size: int, stop_at_newline: bool = True, prefix_cache: bool = True,
                 on_token: Callable[[list[list[int]]], None] | None = None, num_beams: int = 1,
                 min_new_tokens: int = 0) -> list[list[int]]:
    """New token ids in example order (stop token excluded). Batches are cut from a length-sorted order
    (less padding) and may mix tasks; prompt runs reuse one `PrefixCache` for every batch unless
    `prefix_cache=False`. `num_beams` > 1 decodes with beam search instead of greedy (no prefix cache,
    no streaming)."""
    stops = stop_ids(tokenizer, stop_at_newline)
    blanks = blank_ids(tokenizer) if min_new_tokens > 0 else frozenset()
    order = sorted(range(len(examples)), key=lambda i: examples[i].prompt_len)  # similar lengths pad less
    out: list[list[int]] = [[] for _ in examples]
    was_training = adapted.training
    adapted.eval()
    prefix = prefix_cache_for(adapted, prefix_cache)
    kw = dict(pad_id=tokenizer.pad_token_id, stops=stops, max_new_tokens=max_new_tokens,
              min_new_tokens=min_new_tokens, blanks=blanks)
    chunks = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    with adapted.generating():
        for turn in distributed.my_turns(len(chunks)):  # under torchrun each rank decodes its own batches
            chunk = chunks[turn]
            if num_beams > 1:
                new = beam_batch(adapted, [examples[i] for i in chunk], num_beams=num_beams, **kw)
            else:
                new = greedy_batch(adapted, [examples[i] for i in chunk], prefix=prefix, on_token=on_token, **kw)
            for i, ids in zip(chunk, new):
                out[i] = ids
    adapted.train(was_training)
    return _gathered(out, chunks)


def _gathered(results: list, chunks: list[list[int]]) -> list:
    """Every rank's generations put back in example order (the batches are the ones a single process
    decodes, so each result is the one it would produce)."""
    if distributed.world_size() == 1:
        return results
    for r, theirs in enumerate(distributed.gather(results)):
        for turn in range(r, len(chunks), distributed.world_size()):
            for i in chunks[turn]:
                results[i] = theirs[i]
    return results

