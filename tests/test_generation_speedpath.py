"""The decoding loop's speed path changes no token: grouped prefill, the in-place KV buffer and rows
leaving the batch as they stop give exactly what a plain loop gives (one padded prefill, transformers'
own growing cache, every row decoded until the last one stops), for every batch size."""

from __future__ import annotations

import pytest
import torch

from conftest import ARCHS, ROWS, spread_weights
from peftlab import decoding
from peftlab.cli import build_parser, config_of
from peftlab.config import MethodConfig, QualityConfig
from peftlab.data.collate import IGNORE, Example, collate, encode
from peftlab.data.tasks import get_task
from peftlab.decoding import (PREFILL_ROWS, PrefixCache, blank_ids, decode_steps, generate_ids, greedy_batch,
                              mask_before_answer, prefix_cache_for, shared_heads)
from peftlab.errors import UsageError
from peftlab.methods import apply_method, lora
from peftlab.models import load_model

TASKS = ["summarize", "qa", "translate"]


def build(arch: str, method: str = "prompt"):
    loaded = load_model(arch, device="cpu")
    spread_weights(loaded.model)
    adapted = apply_method(loaded, MethodConfig(method=method, num_prompts=3, prompt_init="random"), TASKS)
    if method == "lora":  # B starts at zero: give it weights, or LoRA would change nothing
        with torch.no_grad():
            for _, layer in lora.lora_layers(adapted.model):
                layer.lora_B.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    return loaded.tokenizer, adapted.eval()


def varied_examples(tokenizer, adapted, n: int = 4):
    """n rows per task, lengths all different: more rows than one prefill group, every batch padded."""
    rows = [dict(ROWS[t](n + 1)[i + 1], task=t) for i in range(n) for t in TASKS]
    return [encode(r, get_task(r["task"]), tokenizer, max_length=160, num_virtual=adapted.num_virtual,
                   task_id=TASKS.index(r["task"])) for r in rows]


@torch.no_grad()
def plain_greedy(adapted, examples, *, pad_id: int, stops: frozenset[int], max_new_tokens: int,
                 min_new_tokens: int = 0, blanks: frozenset[int] = frozenset()) -> list[list[int]]:
    """The reference: the whole batch in one padded forward, then every row every step until all have
    stopped, with transformers' own cache."""
    batch = collate(examples, pad_id, left=True, prompt_only=True)
    embeds, mask, positions = adapted.embed(batch.input_ids, batch.attention_mask, batch.task_ids)
    stop_tensor = torch.tensor(sorted(stops))
    blank_tensor = torch.tensor(sorted(blanks | stops))
    done = torch.zeros(len(examples), dtype=torch.bool)
    said = torch.zeros(len(examples), dtype=torch.long)
    out: list[list[int]] = [[] for _ in examples]
    past = None
    for _ in range(max_new_tokens):
        hidden = adapted.model.base_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                                          past_key_values=past, use_cache=True)
        logits = adapted.model.get_output_embeddings()(hidden.last_hidden_state[:, -1]).float()
        ids = mask_before_answer(logits, said, min_new_tokens, stop_tensor, blank_tensor).argmax(-1)
        said += ~torch.isin(ids, blank_tensor)
        done |= torch.isin(ids, stop_tensor)
        for i in torch.nonzero(~done).flatten().tolist():
            out[i].append(int(ids[i]))
        if bool(done.all()):
            break
        past = hidden.past_key_values
        embeds = adapted.model.get_input_embeddings()(ids)[:, None]
        mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=1)
        positions = positions[:, -1:] + 1
    return out


def staggered_stops(free: list[list[int]]) -> frozenset[int]:
    """Four stop tokens, each occurring in one row of the free-running outputs, at depths 1, 4, 7, ... of
    rows taken in turn: those rows end at different steps, the others run to the budget."""
    picks: list[int] = []
    for i, row in enumerate(free):
        token = row[(1 + 3 * len(picks)) % len(row)]
        if len(picks) < 4 and sum(token in other for other in free) == 1:
            picks.append(token)
    return frozenset(picks)


def prefix_for(kind: str, adapted, examples):
    """No prefix cache, the soft prompt's alone, or the soft prompt's and each task's shared head."""
    if kind == "none":
        return None
    return PrefixCache(adapted) if kind == "prompt" else prefix_cache_for(adapted, examples)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("cached", ["none", "prompt", "heads"])
@pytest.mark.parametrize("min_new_tokens", [0, 1])
def test_speed_path_equals_the_plain_loop_token_for_token(arch, cached, min_new_tokens):
    tokenizer, adapted = build(arch)
    examples = varied_examples(tokenizer, adapted)
    assert len(examples) > PREFILL_ROWS and len({e.prompt_len for e in examples}) > 1
    blanks = blank_ids(tokenizer) if min_new_tokens else frozenset()
    kw = dict(pad_id=tokenizer.pad_token_id, max_new_tokens=10, min_new_tokens=min_new_tokens, blanks=blanks)
    free = plain_greedy(adapted, examples, stops=frozenset({tokenizer.eos_token_id}), **kw)
    stops = staggered_stops(free)
    expected = plain_greedy(adapted, examples, stops=stops, **kw)
    assert len({len(ids) for ids in expected}) >= 3  # rows really stop at different steps
    prefix = prefix_for(cached, adapted, examples)
    assert greedy_batch(adapted, examples, stops=stops, prefix=prefix, **kw) == expected


def test_rows_leave_the_batch_after_their_stop_token():
    tokenizer, adapted = build("random:tiny-llama")
    examples = varied_examples(tokenizer, adapted)
    kw = dict(pad_id=tokenizer.pad_token_id, max_new_tokens=10)
    stops = staggered_stops(plain_greedy(adapted, examples, stops=frozenset({tokenizer.eos_token_id}), **kw))
    batch = collate(examples, tokenizer.pad_token_id, left=True, prompt_only=True)
    live = list(range(len(examples)))
    for step in decode_steps(adapted, batch, stops=stops, max_new_tokens=10, prefix=PrefixCache(adapted)):
        assert step.rows.tolist() == live and step.logits.shape == (len(live), adapted.model.config.vocab_size)
        live = [r for r, s in zip(live, step.stopped.tolist()) if not s]
    assert len(live) < len(examples)


def test_models_with_other_caches_decode_the_same_on_their_own_cache(monkeypatch):
    """Sliding-window (or KV-sharing) models keep transformers' cache: one prefill, rows still leave."""
    tokenizer, adapted = build("random:tiny-llama")
    examples = varied_examples(tokenizer, adapted)
    kw = dict(pad_id=tokenizer.pad_token_id, max_new_tokens=10)
    stops = staggered_stops(plain_greedy(adapted, examples, stops=frozenset({tokenizer.eos_token_id}), **kw))
    expected = greedy_batch(adapted, examples, stops=stops, **kw)
    monkeypatch.setattr(decoding, "_plain_attention", lambda config: False)
    assert greedy_batch(adapted, examples, stops=stops, **kw) == expected
    assert greedy_batch(adapted, examples, stops=stops, prefix=PrefixCache(adapted), **kw) == expected


@pytest.mark.parametrize("method", ["prompt", "lora"])
def test_batch_size_does_not_change_outputs(method):
    tokenizer, adapted = build("random:tiny-gpt2", method)
    examples = varied_examples(tokenizer, adapted, n=3)
    kw = dict(max_new_tokens=6, min_new_tokens=1)
    one = generate_ids(adapted, tokenizer, examples, batch_size=1, **kw)
    assert len({tuple(ids) for ids in one}) > 1
    for size in (3, 32):
        assert generate_ids(adapted, tokenizer, examples, batch_size=size, **kw) == one


def test_kv_buffer_writes_in_place_and_keeps_the_rows_asked_for():
    keys, values = torch.zeros(3, 2, 6, 4), torch.zeros(3, 2, 6, 4)
    keys[:, :, :2], values[:, :, :2] = 1.0, 2.0
    layer = decoding.kv_buffer(keys, values, 2)
    k, v = layer.update(torch.full((3, 2, 1, 4), 5.0), torch.full((3, 2, 1, 4), 6.0))
    assert k.shape == (3, 2, 3, 4) and layer.get_seq_length() == 3
    assert k.data_ptr() == keys.data_ptr() and float(keys[0, 0, 2, 0]) == 5.0  # no copy of the cache
    keys[1] += 10.0
    layer.batch_select_indices(torch.tensor([1, 2]))
    assert layer.keys.shape == (2, 2, 3, 4) and float(layer.keys[0, 0, 0, 0]) == 11.0
    assert layer.update(torch.zeros(2, 2, 1, 4), torch.zeros(2, 2, 1, 4))[1].shape == (2, 2, 4, 4)


def test_prefill_groups_are_length_sorted_and_bounded():
    groups = decoding.prefill_groups([5, 1, 9, 3, 7], size=2)
    assert groups == [[1, 3], [0, 4], [2]]


def test_gen_batch_size_is_an_eval_and_compare_flag():
    assert QualityConfig().gen_batch_size == 32
    for command in ("eval", "compare"):
        cfg = config_of(command, build_parser().parse_args([command, "--gen-batch-size", "3"]))
        assert cfg.quality.gen_batch_size == 3
    with pytest.raises(UsageError, match="--gen-batch-size"):
        QualityConfig(gen_batch_size=0).validate()


def test_shared_heads_are_the_common_start_of_each_tasks_prompts():
    def example(prompt: list[int], task_id: int) -> Example:
        return Example(prompt + [99], [IGNORE] * len(prompt) + [99], len(prompt), task_id, False)

    heads = shared_heads([example([1, 2, 3, 4], 0), example([1, 2, 5, 6, 7], 0), example([8, 9], 1)])
    assert heads == {0: [1, 2], 1: [8]}  # a lone prompt keeps its last token to run


def test_methods_without_a_soft_prompt_cache_the_shared_head():
    tokenizer, adapted = build("random:tiny-llama", "lora")
    examples = varied_examples(tokenizer, adapted)
    prefix = prefix_cache_for(adapted, examples)
    heads = shared_heads(examples)
    assert prefix.length == max(len(h) for h in heads.values()) > 0
    kw = dict(pad_id=tokenizer.pad_token_id, max_new_tokens=10)
    stops = staggered_stops(plain_greedy(adapted, examples, stops=frozenset({tokenizer.eos_token_id}), **kw))
    expected = plain_greedy(adapted, examples, stops=stops, **kw)
    assert len({len(ids) for ids in expected}) >= 3
    assert greedy_batch(adapted, examples, stops=stops, prefix=prefix, **kw) == expected
    with adapted.generating():  # LoRA from merged copies, as generate_ids runs it
        merged = prefix_cache_for(adapted, examples)
        assert greedy_batch(adapted, examples, stops=stops, prefix=merged, **kw) == expected


def test_a_prefix_cache_refuses_rows_that_do_not_begin_with_its_heads():
    tokenizer, adapted = build("random:tiny-llama", "lora")
    examples = varied_examples(tokenizer, adapted)
    prefix = PrefixCache(adapted, {0: [1, 2, 3]})
    with pytest.raises(ValueError, match="does not begin with"):
        greedy_batch(adapted, examples, pad_id=tokenizer.pad_token_id, stops=frozenset({0}), max_new_tokens=2,
                     prefix=prefix)
