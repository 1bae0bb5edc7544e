"""--packing: a micro-batch runs as one row of its examples end to end, without padding (`peftlab.packing`).
The same losses and gradients as the padded batch for every method on both architectures (one soft prompt
per task included); attention really stays within each example (changing one example changes no other's
losses, and attention runs on each example alone); the model's attention implementation is back after a forward,
also one that raised; a run trains the same with it as without it and a resume may switch it; the
combinations it cannot serve are refused in one line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from peftlab.config import MethodConfig
from peftlab.data.collate import collate, encode
from peftlab.data.tasks import get_task
from peftlab.errors import UsageError
from peftlab.methods import apply_method
from peftlab.models import load_model
from peftlab.packing import SEGMENTED, attention_by_segments
from peftlab.rundir import differing_keys
from peftlab.training import train

from conftest import ARCHS, make_config, qa_rows, spread_weights, step_losses, write_jsonl

ROWS = [{"article": "The council met on Monday and approved the budget for the new school.", "summary": "Budget approved."},
        {"article": "Rain is expected all week.", "summary": "A wet week ahead, says the forecast."},
        {"article": "Fog.", "summary": "Fog."}]


def _adapted(arch: str, method: str, tasks=("summarize",)):
    loaded = load_model(arch)
    spread_weights(loaded.model, std=0.1)
    return apply_method(loaded, MethodConfig(method=method, rank=4, dropout=0.0), list(tasks)).eval()


def _batch(adapted, tokenizer, rows=ROWS, task_ids=None):
    task_ids = task_ids or [0] * len(rows)
    examples = [encode(row, get_task("summarize"), tokenizer, max_length=64, num_virtual=adapted.num_virtual,
                       task_id=t) for row, t in zip(rows, task_ids)]
    return collate(examples, tokenizer.pad_token_id)  # rows of different lengths: padded


def _terms(adapted, batch, packed: bool):
    adapted.zero_grad(set_to_none=True)
    losses, rows, targets = adapted.loss_terms(batch, packed=packed)
    losses.sum().backward()
    return losses.detach(), rows, targets, {n: p.grad.clone() for n, p in adapted.named_trainable().items()}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", ["prompt", "lora", "last-layer"])
def test_a_packed_batch_gives_the_padded_batchs_losses_and_gradients(arch, method, tokenizer):
    adapted = _adapted(arch, method)
    batch = _batch(adapted, tokenizer)
    assert int(batch.attention_mask.sum()) < batch.attention_mask.numel()  # there is padding to drop
    losses, rows, targets, grads = _terms(adapted, batch, packed=False)
    p_losses, p_rows, p_targets, p_grads = _terms(adapted, batch, packed=True)
    assert torch.equal(rows, p_rows) and torch.equal(targets, p_targets)
    torch.testing.assert_close(p_losses, losses, rtol=1e-5, atol=1e-5)
    assert grads.keys() == p_grads.keys() and grads
    for name in grads:
        torch.testing.assert_close(p_grads[name], grads[name], rtol=1e-4, atol=1e-5, msg=name)


def test_each_row_keeps_its_own_task_prompt_when_packed(tokenizer):
    adapted = _adapted("random:tiny-llama", "prompt", tasks=("summarize", "qa"))
    with torch.no_grad():
        adapted.prompts.weight[1].normal_(generator=torch.Generator().manual_seed(1))  # two different prompts
    batch = _batch(adapted, tokenizer, task_ids=[0, 1, 0])
    padded, packed = _terms(adapted, batch, packed=False), _terms(adapted, batch, packed=True)
    torch.testing.assert_close(packed[0], padded[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(packed[3]["prompts.weight"], padded[3]["prompts.weight"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_attention_stays_within_each_packed_example(arch, tokenizer):
    adapted = _adapted(arch, "lora")
    batch = _batch(adapted, tokenizer)
    other = dataclasses.replace(batch, input_ids=batch.input_ids.clone())
    other.input_ids[0, :5] = (other.input_ids[0, :5] + 7) % 1000  # example 0's first tokens change
    with torch.no_grad():
        before, rows, _ = adapted.loss_terms(batch, packed=True)
        after, _, _ = adapted.loss_terms(other, packed=True)
    later = rows > 0
    torch.testing.assert_close(after[later], before[later], rtol=1e-5, atol=1e-6)  # examples 1 and 2: unchanged
    assert not torch.allclose(after[~later], before[~later])  # example 0's own losses did change



def _query_lengths(adapted, batch, monkeypatch) -> list[int]:
    """The query lengths transformers' SDPA attention ran on in a packed forward, in order."""
    import transformers.integrations.sdpa_attention as sdpa

    seen: list[int] = []
    full = sdpa.sdpa_attention_forward
    monkeypatch.setattr(sdpa, "sdpa_attention_forward", lambda m, q, *a, **k: seen.append(q.shape[2]) or full(m, q, *a, **k))
    with torch.no_grad():
        adapted.loss_terms(batch, packed=True)
    return seen


def test_attention_runs_once_per_example_and_layer_on_that_example_alone(tokenizer, monkeypatch):
    adapted = _adapted("random:tiny-llama", "prompt", tasks=("summarize", "qa"))
    batch = _batch(adapted, tokenizer, task_ids=[0, 1, 0])  # two tasks' prompts: no prefix in common
    assert adapted.shared_columns(batch, adapted.targets_at(batch)) == 0
    lengths = (batch.attention_mask.sum(-1) + adapted.num_virtual).tolist()
    layers = adapted.model.config.num_hidden_layers
    assert _query_lengths(adapted, batch, monkeypatch) == lengths * layers  # per layer: each example's own queries


def test_the_prefix_every_row_shares_runs_once_and_each_example_attends_to_it(tokenizer, monkeypatch):
    adapted = _adapted("random:tiny-llama", "prompt")
    batch = _batch(adapted, tokenizer)
    shared = adapted.shared_columns(batch, adapted.targets_at(batch))
    common = 0
    while bool((batch.input_ids[:, common] == batch.input_ids[0, common]).all()):
        common += 1
    assert shared == adapted.num_virtual + common > adapted.num_virtual  # the soft prompt, then the instruction
    lengths = (batch.attention_mask.sum(-1) + adapted.num_virtual).tolist()
    layers = adapted.model.config.num_hidden_layers
    # per layer: the prefix's own queries, then each example's (prefix columns in front of its own)
    assert _query_lengths(adapted, batch, monkeypatch) == [shared, *lengths] * layers


def test_no_prefix_is_shared_by_one_row_or_under_an_active_dropout(tokenizer):
    adapted = _adapted("random:tiny-llama", "lora")
    batch = _batch(adapted, tokenizer)
    at = adapted.targets_at(batch)
    assert adapted.shared_columns(batch, at) > 0  # the instruction tokens, dropout 0
    one = _batch(adapted, tokenizer, rows=ROWS[:1])
    assert adapted.shared_columns(one, adapted.targets_at(one)) == 0
    dropping = apply_method(load_model("random:tiny-llama"), MethodConfig(method="lora", rank=4, dropout=0.1),
                            ["summarize"]).train()
    assert dropping.shared_columns(batch, at) == 0  # each row draws its own dropout mask on those columns
    assert dropping.eval().shared_columns(batch, at) == adapted.shared_columns(batch, at)


@pytest.mark.parametrize("arch", ARCHS)
def test_identical_rows_share_up_to_their_first_target_and_keep_their_losses(arch, tokenizer):
    adapted = _adapted(arch, "prompt")
    batch = _batch(adapted, tokenizer, rows=[ROWS[1]] * 3)
    at = adapted.targets_at(batch)
    first_target = int(at[0].nonzero()[0])
    assert adapted.shared_columns(batch, at) == first_target  # every column alike: the targets' stay per row
    losses, _, _, grads = _terms(adapted, batch, packed=False)
    p_losses, _, _, p_grads = _terms(adapted, batch, packed=True)
    torch.testing.assert_close(p_losses, losses, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(p_grads["prompts.weight"], grads["prompts.weight"], rtol=1e-4, atol=1e-5)


def test_examples_after_a_shared_prefix_still_attend_only_to_it_and_themselves(tokenizer):
    adapted = _adapted("random:tiny-llama", "lora")
    batch = _batch(adapted, tokenizer)
    shared = adapted.shared_columns(batch, adapted.targets_at(batch))
    other = dataclasses.replace(batch, input_ids=batch.input_ids.clone())
    other.input_ids[1, shared:shared + 3] = (other.input_ids[1, shared:shared + 3] + 7) % 1000  # after the prefix
    assert adapted.shared_columns(other, adapted.targets_at(other)) == shared
    with torch.no_grad():
        before, rows, _ = adapted.loss_terms(batch, packed=True)
        after, _, _ = adapted.loss_terms(other, packed=True)
    torch.testing.assert_close(after[rows != 1], before[rows != 1], rtol=1e-5, atol=1e-6)  # examples 0 and 2
    assert not torch.allclose(after[rows == 1], before[rows == 1])


def test_the_attention_implementation_is_back_after_a_packed_forward_also_one_that_raised(tokenizer):
    adapted = _adapted("random:tiny-llama", "prompt")
    batch = _batch(adapted, tokenizer)
    own = adapted.model.config._attn_implementation
    with torch.no_grad():
        adapted.loss_terms(batch, packed=True)
    assert adapted.model.config._attn_implementation == own != SEGMENTED
    with pytest.raises(RuntimeError), attention_by_segments(adapted.model):
        assert adapted.model.config._attn_implementation == SEGMENTED
        raise RuntimeError("a forward that fails")
    assert adapted.model.config._attn_implementation == own


def _trained(root: Path, data: Path, packing: bool, **kw) -> list[float]:
    cfg = make_config(root, data=str(data), task="qa", method="lora", rank=4, dropout=0.0, max_train_samples=12,
                      log_every=1, packing=packing, **kw)
    train(cfg, announce=lambda _: None)
    return step_losses(Path(cfg.train.out))


def test_a_run_trains_the_same_with_packing_and_a_resume_may_switch_it(tmp_path):
    data = write_jsonl(tmp_path / "qa.jsonl", qa_rows(16))  # contexts of three lengths: padded batches
    plain = _trained(tmp_path / "plain", data, packing=False, epochs=2)
    packed = _trained(tmp_path / "packed", data, packing=True, epochs=2)
    assert len(plain) == len(packed) == 6
    assert plain == pytest.approx(packed, rel=1e-5, abs=1e-6)
    config = json.loads((tmp_path / "packed" / "run" / "config.json").read_text())
    assert config["train"]["packing"] is True
    on, off = make_config(packing=True), make_config(packing=False)
    assert differing_keys(on, off) == []  # the same batches either way: a resume may switch it


@pytest.mark.parametrize("overrides, words", [
    (dict(packing=True, compile=True), "--packing does not combine with --compile"),
    (dict(packing=True, gradient_checkpointing=True), "--packing does not combine with --gradient-checkpointing"),
])
def test_what_packing_cannot_serve_is_refused_in_one_line(overrides, words):
    with pytest.raises(UsageError) as exc:
        make_config(**overrides).validate()
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_compare_packs_every_method(tmp_path):
    from peftlab.comparison import CompareSpec
    from peftlab.config import CompareConfig

    cfg = CompareConfig(out=str(tmp_path / "cmp"))
    cfg.run.train.packing = True
    spec = CompareSpec.from_config(cfg)
    packing = {m: spec.run_config(m).train.packing for m in ("prompt", "lora", "last-layer")}
    assert packing == {"prompt": True, "lora": True, "last-layer": True}
    for method in packing:
        spec.run_config(method).validate()  # every child's config is one train accepts


def test_a_model_whose_attention_ignores_the_segments_is_refused(tokenizer, monkeypatch):
    """A model that does not hand the forward's keywords to transformers' attention interface would let
    packed examples attend to each other: simulated by leaving the model on its own attention."""
    import contextlib

    adapted = _adapted("random:tiny-llama", "lora")
    monkeypatch.setattr("peftlab.adapted.attention_by_segments", lambda model: contextlib.nullcontext())
    with pytest.raises(UsageError, match="--packing needs a model whose 2 attention layers"), torch.no_grad():
        adapted.loss_terms(_batch(adapted, tokenizer), packed=True)
