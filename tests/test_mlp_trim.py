"""The loss runs each block's MLP only where its output is read (`adapted.mlps_at`): the final block's at
the target positions, the others' at the real tokens (not the padding). The same losses and gradients
as the full forward, for every method and both architectures; fewer rows really go through the MLPs; and
the blocks are left as they were, also when the forward raises."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from peftlab.config import MethodConfig
from peftlab.data.collate import IGNORE, collate, encode
from peftlab.data.tasks import get_task
from peftlab.methods import apply_method
from peftlab.models import decoder_blocks, load_model

from conftest import ARCHS, spread_weights

ROWS = [{"article": "The council met on Monday and approved the budget for the new school.",
         "summary": "Budget approved."},
        {"article": "Rain is expected all week.", "summary": "A wet week ahead, says the forecast."}]


def _batch(adapted, tokenizer):
    examples = [encode(row, get_task("summarize"), tokenizer, max_length=64, num_virtual=adapted.num_virtual)
                for row in ROWS]
    return collate(examples, tokenizer.pad_token_id)  # rows of different lengths: padding included


def _adapted(arch: str, method: str):
    loaded = load_model(arch)
    spread_weights(loaded.model, std=0.1)
    return apply_method(loaded, MethodConfig(method=method, rank=4, dropout=0.0), ["summarize"])


def _loss_and_grads(adapted, batch, trim: bool):
    adapted.zero_grad(set_to_none=True)
    losses, rows, targets = adapted.loss_terms(batch, trim=trim)
    losses.sum().backward()
    return losses.detach(), {n: p.grad.clone() for n, p in adapted.named_trainable().items()}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", ["prompt", "lora", "last-layer"])
def test_trimmed_mlps_give_the_full_forwards_losses_and_gradients(arch, method, tokenizer):
    adapted = _adapted(arch, method)
    adapted.eval()  # GPT-2's trained block has dropout in train mode, which rightly switches the trim off
    batch = _batch(adapted, tokenizer)
    full_losses, full_grads = _loss_and_grads(adapted, batch, trim=False)
    losses, grads = _loss_and_grads(adapted, batch, trim=True)
    torch.testing.assert_close(losses, full_losses, rtol=1e-5, atol=1e-6)
    assert grads.keys() == full_grads.keys() and grads
    for name in grads:
        torch.testing.assert_close(grads[name], full_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def _rows_into(mlp: torch.nn.Module, run) -> list[int]:
    """The positions (rows) that reach the MLP's first layer (gate_proj, c_fc) during `run()`."""
    seen: list[int] = []
    first = next(iter(mlp.children()))
    handle = first.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[:-1].numel()))
    try:
        run()
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("arch", ARCHS)
def test_targets_go_through_the_final_mlp_and_real_tokens_through_the_others(arch, tokenizer):
    adapted = _adapted(arch, "prompt")
    batch = _batch(adapted, tokenizer)
    blocks = decoder_blocks(adapted.model)[1]
    targets = int((batch.labels[:, 1:] != IGNORE).sum())
    tokens = len(ROWS) * adapted.num_virtual + int(batch.attention_mask.sum())  # soft prompt included
    positions = len(ROWS) * (adapted.num_virtual + batch.input_ids.shape[1])
    with torch.no_grad():
        for block in blocks[:-1]:
            assert _rows_into(block.mlp, lambda: adapted.loss_terms(batch)) == [tokens]
        assert _rows_into(blocks[-1].mlp, lambda: adapted.loss_terms(batch)) == [targets]
        for block in blocks:
            assert _rows_into(block.mlp, lambda: adapted.loss_terms(batch, trim=False)) == [positions]
    assert targets < tokens < positions


def test_a_batch_without_padding_runs_the_lower_mlps_as_they_are(tokenizer):
    """Nothing to skip below the final block: those MLPs keep their own forward (no gather, no scatter)."""
    adapted = _adapted("random:tiny-llama", "lora")
    batch = _batch(adapted, tokenizer)
    width = int(batch.attention_mask[0].sum())  # the longer row: no padding once it is alone
    alone = dataclasses.replace(batch, input_ids=batch.input_ids[:1, :width], attention_mask=batch.attention_mask[:1, :width],
                                labels=batch.labels[:1, :width], task_ids=batch.task_ids[:1])
    assert width == batch.input_ids.shape[1]
    blocks = decoder_blocks(adapted.model)[1]
    swapped = []
    hooks = [b.mlp.register_forward_pre_hook(lambda m, args: swapped.append("forward" in m.__dict__)) for b in blocks]
    try:
        with torch.no_grad():
            adapted.loss_terms(alone)
            adapted.loss_terms(batch)
    finally:
        for hook in hooks:
            hook.remove()
    n = len(blocks)
    assert swapped == [False] * (n - 1) + [True] + [True] * n  # alone: only the final MLP; padded pair: all


def test_padding_does_not_change_a_rows_loss(tokenizer):
    """Row 1 alone (no padding) and beside a longer row (padded, its MLP rows skipped): the same losses."""
    adapted = _adapted("random:tiny-llama", "prompt")
    adapted.eval()
    batch = _batch(adapted, tokenizer)
    assert int(batch.attention_mask[1].sum()) < batch.input_ids.shape[1]  # row 1 is padded in the pair
    width = int(batch.attention_mask[1].sum())
    alone = dataclasses.replace(batch, input_ids=batch.input_ids[1:, :width], attention_mask=batch.attention_mask[1:, :width],
                                labels=batch.labels[1:, :width], task_ids=batch.task_ids[1:])
    with torch.no_grad():
        together, rows, _ = adapted.loss_terms(batch)
        single, _, _ = adapted.loss_terms(alone)
    torch.testing.assert_close(together[rows == 1], single, rtol=1e-5, atol=1e-6)


def test_active_dropout_in_the_final_mlp_keeps_every_position(tokenizer):
    adapted = _adapted("random:tiny-gpt2", "last-layer")
    adapted.train()  # the trained block's MLP dropout draws: a trimmed run would draw other masks
    mlp = decoder_blocks(adapted.model)[1][-1].mlp
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in mlp.modules())
    batch = _batch(adapted, tokenizer)
    assert _rows_into(mlp, lambda: adapted.loss_terms(batch)) == [batch.input_ids.numel()]


def test_the_mlps_are_left_as_they_were_also_after_a_failed_forward(tokenizer):
    adapted = _adapted("random:tiny-llama", "lora")
    batch = _batch(adapted, tokenizer)
    mlps = [block.mlp for block in decoder_blocks(adapted.model)[1]]
    with torch.no_grad():
        adapted.loss_terms(batch)
    assert not any("forward" in mlp.__dict__ for mlp in mlps)
    broken = dataclasses.replace(batch, input_ids=batch.input_ids[:, :3], attention_mask=batch.attention_mask[:, :3])
    with pytest.raises(IndexError), torch.no_grad():
        adapted.loss_terms(broken)  # labels no longer match the tokens: the forward fails midway
    assert not any("forward" in mlp.__dict__ for mlp in mlps)
