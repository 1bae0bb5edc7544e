"""The loss runs the final block's MLP only at target positions (`adapted.final_mlp_at`): the same
losses and gradients as the full forward, for every method and both architectures; fewer rows really go
through the MLP; and the block is left as it was, also when the forward raises."""

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
def test_trimmed_final_mlp_gives_the_full_forwards_losses_and_gradients(arch, method, tokenizer):
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
def test_only_target_positions_go_through_the_final_mlp(arch, tokenizer):
    adapted = _adapted(arch, "prompt")
    batch = _batch(adapted, tokenizer)
    blocks = decoder_blocks(adapted.model)[1]
    targets = int((batch.labels[:, 1:] != IGNORE).sum())
    positions = len(ROWS) * (adapted.num_virtual + batch.input_ids.shape[1])
    with torch.no_grad():
        assert _rows_into(blocks[0].mlp, lambda: adapted.loss_terms(batch)) == [positions]
        assert _rows_into(blocks[-1].mlp, lambda: adapted.loss_terms(batch)) == [targets]
        assert _rows_into(blocks[-1].mlp, lambda: adapted.loss_terms(batch, trim=False)) == [positions]
    assert targets < positions


def test_active_dropout_in_the_final_mlp_keeps_every_position(tokenizer):
    adapted = _adapted("random:tiny-gpt2", "last-layer")
    adapted.train()  # the trained block's MLP dropout draws: a trimmed run would draw other masks
    mlp = decoder_blocks(adapted.model)[1][-1].mlp
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in mlp.modules())
    batch = _batch(adapted, tokenizer)
    assert _rows_into(mlp, lambda: adapted.loss_terms(batch)) == [batch.input_ids.numel()]


def test_the_final_mlp_is_left_as_it_was_also_after_a_failed_forward(tokenizer):
    adapted = _adapted("random:tiny-llama", "lora")
    batch = _batch(adapted, tokenizer)
    mlp = decoder_blocks(adapted.model)[1][-1].mlp
    with torch.no_grad():
        adapted.loss_terms(batch)
    assert "forward" not in mlp.__dict__
    broken = dataclasses.replace(batch, input_ids=batch.input_ids[:, :3], attention_mask=batch.attention_mask[:, :3])
    with pytest.raises(IndexError), torch.no_grad():
        adapted.loss_terms(broken)  # labels no longer match the tokens: the forward fails midway
    assert "forward" not in mlp.__dict__
