"""Batched greedy decoding with a KV cache, for every method through the same `AdaptedLM.embed`.

Rows are left-padded; positions come from the attention mask, so a row's tokens do not depend on its
batch. Decoding stops per row at EOS or at a token that starts a new line (every task's target is one
line). With `min_new_tokens` N (eval uses 1 for tasks whose answers are never empty), a row cannot
stop before it has said N non-blank tokens, and blank tokens (whitespace, EOS, special tokens) are
masked until its first non-blank one: the newline rule then applies only after the answer began, so
a model's quality measures what it says rather than when it stops. N = 0 is the unmasked argmax. The
method prepares itself for the duration (`AdaptedLM.generating`: LoRA computes with merged copies of
its target weights, so no extra matmuls per token) and never changes a frozen weight. Device
and precision are the model's own (`AdaptedLM.device`, `AdaptedLM.autocast`).

Prefix caching: a soft prompt sits at positions 0..n-1 of every row, before any padding, and attends
only to itself; the task's instruction (the tokens every row of the task begins with, `shared_heads`)
follows at n..n+h-1 and attends only to the two. Their keys/values depend on the task alone, for
every method, so `PrefixCache` computes them once per task; a batch then starts from a gather of its
rows' prefixes and runs only the rest of each row. It is an option of the one decoding loop
(`decode_steps`), not a second loop.

What a step costs (profiled on a 2-core AVX2 CPU, fp32, SmolLM2-135M, bench/README.md): decoding
reads every weight once per step whatever the number of rows, so a batch decodes many rows for little
more than one; transformers' `DynamicCache` copies the whole cache every step (`torch.cat`), which cost
as much as the step's matmuls. Hence the loop's shape, each part exact (masked columns add nothing,
positions come from the mask), so a row's tokens never depend on its batch:
- the prefill runs in groups of similar length (`PREFILL_ROWS`), so a large batch pads no more than
  small ones; the groups' keys/values are laid side by side, left-padded, in one cache;
- that cache (`KVBuffer`) has room for every token still to come and is written in place;
- a row that stops leaves the batch (and the cache) at once: a batch costs what its live rows cost;
- on a CPU in fp32 a step's few rows multiply with weights packed once per call (`prepacked`) rather
  than by the matmul library's per-call repacking.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import distributed
from .adapted import AdaptedLM
from .data.collate import Batch, Example, collate, encode, length_groups
from .data.tasks import get_task
from .prepacked import prepacked_linears


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
    early = torch.nonzero(said < min_new_tokens).flatten()
    if len(early) == 0:  # every row has begun its answer: nothing to mask, nothing to copy
        return logits
    logits = logits.clone()
    logits[early[:, None], stops[None, :]] = float("-inf")
    silent = torch.nonzero(said == 0).flatten()
    logits[silent[:, None], blanks[None, :]] = float("-inf")
    return logits


def stop_ids(tokenizer, stop_at_newline: bool = True) -> frozenset[int]:
    ids = {tokenizer.eos_token_id} | (set(_newline_ids(tokenizer)) if stop_at_newline else set())
    return frozenset(i for i in ids if i is not None)


class PrefixCache:
    """Keys/values of what every row of a task begins with: its soft prompt (prompt runs) and the tokens
    all of its rows start with (`heads`, by task id: the task's instruction), from one forward of each
    task's prefix alone (positions 0..n+h-1; shorter prefixes are padded at the end and masked). Valid
    for the weights it was built from: build a new one after training moves them."""

    def __init__(self, adapted: AdaptedLM, heads: dict[int, list[int]] | None = None):
        heads = heads or {}
        if adapted.prompts is None and not any(heads.values()):
            raise ValueError("a prefix cache needs a shared prefix: the soft prompt of a prompt-tuning model, or "
                             "tokens every row of a task begins with")
        tasks = len(adapted.tasks)
        longest = max([len(h) for h in heads.values()] + [0])
        ids = torch.zeros(tasks, longest, dtype=torch.long, device=adapted.device)  # (K, h) heads, padded at the end
        for task, head in heads.items():
            ids[task, :len(head)] = torch.tensor(head, dtype=torch.long)
        self.head_lengths = torch.tensor([len(heads.get(t, [])) for t in range(tasks)], device=adapted.device)
        self.head_ids = ids
        head_mask = (torch.arange(longest, device=adapted.device) < self.head_lengths[:, None]).long()
        embeds, self.mask, positions = adapted.embed(ids, head_mask, torch.arange(tasks, device=adapted.device))
        self.length = self.mask.shape[1]  # P = n + longest head; self.mask (K, P) marks each task's own
        with torch.no_grad(), adapted.autocast():
            cache = adapted.model.base_model(inputs_embeds=embeds, attention_mask=self.mask, position_ids=positions,
                                             use_cache=True).past_key_values
        self.layers = [(layer.keys, layer.values) for layer in cache.layers]  # each (K, heads, P, head_dim)
        self.config = adapted.model.config

    def for_rows(self, task_ids: torch.Tensor):
        """A fresh `DynamicCache` holding row i's task prefix (decoding appends to it, so never shared)."""
        from transformers import DynamicCache

        return DynamicCache([(k[task_ids], v[task_ids]) for k, v in self.layers], config=self.config)

    def covered(self, batch: Batch) -> torch.Tensor:
        """(B, T) True at each row's first h tokens (its task's head, already in the cache); a row that
        does not begin with its head is an error (the cache was built from other examples)."""
        index = batch.attention_mask.cumsum(-1)  # (B, T) 1-based index among the row's tokens
        covered = batch.attention_mask.bool() & (index <= self.head_lengths[batch.task_ids][:, None])
        if self.head_ids.shape[1]:
            expected = self.head_ids[batch.task_ids].gather(1, (index - 1).clamp(0, self.head_ids.shape[1] - 1))
            if bool((covered & (batch.input_ids != expected)).any()):
                raise ValueError("a row does not begin with its task's cached head: build the prefix cache from "
                                 "the examples being decoded")
        return covered


def shared_heads(examples: list[Example]) -> dict[int, list[int]]:
    """Per task id, the longest run of tokens every example of that task begins with (its instruction),
    one token short of its shortest prompt at most: every row keeps a token of its own to run."""
    heads: dict[int, list[int]] = {}
    for e in examples:
        prompt = e.input_ids[:e.prompt_len - 1]
        head = heads.get(e.task_id, prompt)
        same = next((i for i, (a, b) in enumerate(zip(head, prompt)) if a != b), min(len(head), len(prompt)))
        heads[e.task_id] = head[:same]
    return heads


PREFILL_ROWS = 8  # rows per prefill forward: the prefill is compute-bound, so more rows buy little
                  # while padding a short row to a long one costs in proportion


class Step(NamedTuple):
    """One decoding step of the rows still decoding (R of the batch's B)."""

    rows: torch.Tensor     # (R,) their indices in the batch
    ids: torch.Tensor      # (R,) their next tokens
    logits: torch.Tensor   # (R, V) fp32, after the min-new-tokens mask
    stopped: torch.Tensor  # (R,) the token is a stop token: the row ends here and the token is not kept


class KVBuffer:
    """One layer's keys/values in tensors (B, heads, length + room, head_dim) with room for the tokens still
    to come: a step writes its column in place, where `DynamicLayer` copies the whole cache per step.
    `keys`/`values` are views of the filled part, which is what attention reads. Build it with
    `kv_buffer`, which makes it a transformers cache layer (the rest of `DynamicLayer`'s interface
    reads `get_seq_length`)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        self._keys, self._values, self.length = keys, values, length
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self._view()

    def _view(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.keys, self.values = self._keys[:, :, :self.length], self._values[:, :, :self.length]
        return self.keys, self.values

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        end = self.length + key_states.shape[-2]
        self._keys[:, :, self.length:end] = key_states
        self._values[:, :, self.length:end] = value_states
        self.length = end
        return self._view()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._keys, self._values = self._keys[indices], self._values[indices]
        self._view()

    def get_seq_length(self) -> int:
        return self.length


def kv_buffer(keys: torch.Tensor, values: torch.Tensor, length: int) -> KVBuffer:
    """A `KVBuffer` whose first `length` columns are filled, as a layer of transformers' `Cache`."""
    return _cache_layer(KVBuffer)(keys, values, length)


@lru_cache(maxsize=None)
def _cache_layer(cls: type) -> type:
    """`cls` over transformers' `DynamicLayer` (what `Cache` checks its layers against), bound at first
    use because peftlab imports transformers only when a model is loaded."""
    from transformers.cache_utils import DynamicLayer

    return type(cls.__name__, (cls, DynamicLayer), {})


def _plain_attention(config) -> bool:
    """Whether every layer of the model caches all its keys/values (no sliding window, no sharing):
    then `KVBuffer` can hold them, and prefill groups can be laid side by side."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=config).layers)


def prefill_groups(lengths: list[int], size: int = PREFILL_ROWS) -> list[list[int]]:
    """Row indices in groups of at most `size` rows of similar length (shortest first)."""
    return length_groups(lengths, size)


def _prefill(adapted: AdaptedLM, batch: Batch, prefix: PrefixCache | None, room: int):
    """(cache of every row's prompt with room for `room` more tokens, next-token logits (B, V) fp32,
    attention mask (B, lead + T)). Layout per row: `lead` columns (the soft prompt, or the cached
    prefix), padding, the row's tokens, as one padded forward would have it; a group's forward skips
    the columns that are padding for all of its rows."""
    embeds, mask, positions = adapted.embed(batch.input_ids, batch.attention_mask, batch.task_ids)
    lead = adapted.num_virtual  # the soft prompt, run in every group's forward...
    if prefix is not None:      # ...or the prefix, whose keys/values are known: run only the tokens after it
        mask = torch.cat([prefix.mask[batch.task_ids], batch.attention_mask * ~prefix.covered(batch)], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        embeds, lead = embeds[:, adapted.num_virtual:], prefix.length  # (B, T, d): the tokens' columns
    total = mask.shape[1]
    lengths = mask[:, lead:].sum(-1).tolist()  # tokens each row runs
    plain = _plain_attention(adapted.model.config)
    groups = prefill_groups(lengths) if plain else [list(range(len(lengths)))]
    caches, logits = [], None
    for rows in groups:
        index = torch.tensor(rows, device=mask.device)
        cols = torch.cat([torch.arange(lead), torch.arange(total - max(lengths[i] for i in rows), total)])
        cols = cols.to(mask.device)
        run = cols if prefix is None else cols[lead:]  # the columns this forward computes
        past = prefix.for_rows(batch.task_ids[index]) if prefix is not None else None
        inputs = embeds[index][:, run - (total - embeds.shape[1])]  # embeds start at column 0, or at `lead`
        with adapted.autocast():
            out = adapted.model.base_model(inputs_embeds=inputs, attention_mask=mask[index][:, cols],
                                           position_ids=positions[index][:, run], past_key_values=past, use_cache=True)
            g_logits = adapted.model.get_output_embeddings()(out.last_hidden_state[:, -1]).float()  # (b, V)
        logits = g_logits.new_empty(len(lengths), g_logits.shape[1]) if logits is None else logits
        logits[index] = g_logits
        caches.append(out.past_key_values)
    if not plain:
        return caches[0], logits, mask
    return _side_by_side(caches, groups, lead, total, room), logits, mask


def _side_by_side(caches: list, groups: list[list[int]], lead: int, total: int, room: int):
    """One cache of B rows from the groups' caches: each group's columns go where the full padded
    batch has them (the lead at 0..lead-1, tokens ending at column `total`); the rest is zeros, masked."""
    from transformers.cache_utils import Cache

    rows = sum(len(g) for g in groups)
    layers = []
    for depth in range(len(caches[0].layers)):
        parts = [(c.layers[depth].keys, c.layers[depth].values) for c in caches]  # each (b, heads, lead + w, dim)
        k0, v0 = parts[0]
        keys = k0.new_zeros(rows, k0.shape[1], total + room, k0.shape[3])
        values = v0.new_zeros(rows, v0.shape[1], total + room, v0.shape[3])
        for (k, v), group in zip(parts, groups):
            index, width = torch.tensor(group, device=k.device), k.shape[2] - lead
            for buffer, part in ((keys, k), (values, v)):
                buffer[index, :, :lead] = part[:, :, :lead]
                buffer[index, :, total - width:total] = part[:, :, lead:]
        layers.append(kv_buffer(keys, values, total))
    return Cache(layers=layers)


@torch.no_grad()
def decode_steps(adapted: AdaptedLM, batch: Batch, *, stops: frozenset[int], max_new_tokens: int,
                 prefix: PrefixCache | None = None, min_new_tokens: int = 0,
                 blanks: frozenset[int] = frozenset()) -> Iterator[Step]:
    """The decoding loop: one `Step` per step, of the rows still decoding (a row leaves after the step
    that gives its stop token). One forward per step for those rows. `blanks` (with `min_new_tokens` >
    0): see `mask_before_answer`."""
    body, head, device = adapted.model.base_model, adapted.model.get_output_embeddings(), adapted.device
    cache, logits, mask = _prefill(adapted, batch, prefix, room=max_new_tokens)
    stop_tensor = torch.tensor(sorted(stops), dtype=torch.long, device=device)
    blank_tensor = torch.tensor(sorted(blanks | stops), dtype=torch.long, device=device)
    rows = torch.arange(len(batch.input_ids), device=device)
    said = torch.zeros_like(rows)  # non-blank tokens per row
    for step in range(max_new_tokens):
        logits = mask_before_answer(logits, said, min_new_tokens, stop_tensor, blank_tensor)
        ids = logits.argmax(-1)
        said += ~torch.isin(ids, blank_tensor)
        stopped = torch.isin(ids, stop_tensor)
        yield Step(rows, ids, logits, stopped)
        if bool(stopped.all()) or step + 1 == max_new_tokens:
            return
        if bool(stopped.any()):  # finished rows leave the batch and the cache
            keep = torch.nonzero(~stopped).flatten()
            cache.batch_select_indices(keep)
            rows, ids, said, mask = rows[keep], ids[keep], said[keep], mask[keep]
        mask = F.pad(mask, (0, 1), value=1)  # (R, L + 1): the column of the token fed next
        with adapted.autocast():
            out = body(inputs_embeds=adapted.model.get_input_embeddings()(ids)[:, None], attention_mask=mask,
                       position_ids=mask.sum(-1, keepdim=True) - 1, past_key_values=cache, use_cache=True)
            logits = head(out.last_hidden_state[:, -1]).float()  # (R, V)


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
    for step in steps:
        for row, token, stopped in zip(step.rows.tolist(), step.ids.tolist(), step.stopped.tolist()):
            if not stopped:
                out_ids[row].append(token)
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


def prefix_cache_for(adapted: AdaptedLM, examples: list[Example] = (), enabled: bool = True) -> PrefixCache | None:
    """The prefix cache of `examples`: the soft prompt (prompt tuning) and each task's shared head; None
    where there is neither, or when not `enabled` (the plain path)."""
    heads = shared_heads(examples)
    if not enabled or (adapted.prompts is None and not any(heads.values())):
        return None
    return PrefixCache(adapted, heads)


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
                 min_new_tokens: int = 0, prepack: bool = True) -> list[list[int]]:
    """New token ids in example order (stop token excluded). Batches of up to `batch_size` are cut from a
    length-sorted order (less padding) and may mix tasks; under torchrun they are small enough that
    every rank gets one. Every batch starts from one `PrefixCache` of the examples (soft prompt, each
    task's shared head) unless `prefix_cache=False`. `num_beams` > 1 decodes with beam search instead
    of greedy (no prefix cache, no streaming). On a CPU in fp32 the linear layers multiply with
    prepacked weights (`prepacked`) unless `prepack=False`."""
    stops = stop_ids(tokenizer, stop_at_newline)
    blanks = blank_ids(tokenizer) if min_new_tokens > 0 else frozenset()
    out: list[list[int]] = [[] for _ in examples]
    was_training = adapted.training
    adapted.eval()
    kw = dict(pad_id=tokenizer.pad_token_id, stops=stops, max_new_tokens=max_new_tokens,
              min_new_tokens=min_new_tokens, blanks=blanks)
    size = max(1, min(batch_size, -(-len(examples) // distributed.world_size())))
    chunks = length_groups([e.prompt_len for e in examples], size)  # similar lengths pad less
    with adapted.generating(), prepacked_linears(adapted.model, prepack):
        prefix = prefix_cache_for(adapted, examples, prefix_cache) if num_beams == 1 else None
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

