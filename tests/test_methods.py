"""Methods: parameter counts, frozen/trainable split, LoRA identities (init = base, merged = unmerged)."""

from __future__ import annotations

import pytest
import torch

from peftlab.config import MethodConfig
from peftlab.methods import apply_method, lora
from peftlab.models import count_params, decoder_blocks, load_model

from conftest import ARCHS


def adapted_for(arch: str, method: str, device: str = "cpu", **kw):
    loaded = load_model(arch, device=device)
    return loaded, apply_method(loaded, MethodConfig(method=method, **kw), ["summarize"])


def test_prompt_params_gpt2_is_5_x_768():
    _, adapted = adapted_for("random:gpt2", "prompt", device="meta", num_prompts=5)
    assert count_params(adapted)[0] == 3840


@pytest.mark.parametrize("arch", ["random:gpt2", "random:llama", *ARCHS])
def test_lora_param_count_equals_peft(arch):
    peft = pytest.importorskip("peft")
    device = "meta" if arch in ("random:gpt2", "random:llama") else "cpu"  # full-size configs: shapes only
    loaded, adapted = adapted_for(arch, "lora", device=device, rank=4, alpha=8, dropout=0.0)
    reference = peft.get_peft_model(load_model(arch, device=device).model,
                                    peft.LoraConfig(r=4, lora_alpha=8, target_modules=lora.default_targets(loaded.model),
                                                    fan_in_fan_out=arch.endswith("gpt2")))
    assert count_params(adapted)[0] == reference.get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("arch", ARCHS)
def test_last_layer_trains_exactly_the_final_block(arch):
    _, adapted = adapted_for(arch, "last-layer")
    _, blocks = decoder_blocks(adapted.model)
    assert {id(p) for p in adapted.named_trainable().values()} == {id(p) for p in blocks[-1].parameters()}
    assert not any(p.requires_grad for p in blocks[0].parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_lora_at_init_gives_exactly_the_base_logits(arch):
    loaded = load_model(arch)
    ids = torch.randint(0, 1000, (2, 11))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        base = loaded.model(input_ids=ids, attention_mask=mask).logits
    adapted = apply_method(loaded, MethodConfig(method="lora", rank=4), ["summarize"])
    with torch.no_grad():
        assert torch.equal(adapted.logits(ids, mask), base)


@pytest.mark.parametrize("arch", ARCHS)
def test_merge_equals_unmerged_and_unmerge_restores(arch):
    loaded, adapted = adapted_for(arch, "lora", rank=4, dropout=0.0)
    for _, layer in lora.lora_layers(adapted.model):
        torch.nn.init.normal_(layer.lora_B.weight, std=0.5)  # a non-trivial update
    ids = torch.randint(0, 1000, (2, 9))
    mask = torch.ones_like(ids)
    weights_before = {n: p.clone() for n, p in adapted.model.named_parameters() if "base_layer" in n}
    with torch.no_grad():
        unmerged = adapted.logits(ids, mask)
        lora.merge(adapted.model)
        lora.merge(adapted.model)  # idempotent
        merged = adapted.logits(ids, mask)
        lora.unmerge(adapted.model)
        lora.unmerge(adapted.model)
        restored = adapted.logits(ids, mask)
    assert not torch.allclose(unmerged, load_model(arch).model(input_ids=ids, attention_mask=mask).logits, atol=1e-3)
    assert torch.allclose(merged, unmerged, atol=1e-4)
    assert torch.allclose(restored, unmerged, atol=1e-5)
    for name, p in adapted.model.named_parameters():
        if name in weights_before:
            assert torch.allclose(p, weights_before[name], atol=1e-6)


def test_gpt2_conv1d_uses_fan_in_fan_out():
    _, adapted = adapted_for("random:tiny-gpt2", "lora")
    layers = lora.lora_layers(adapted.model)
    assert layers and all(layer.fan_in_fan_out for _, layer in layers)
    assert layers[0][1].delta_weight().shape == layers[0][1].base_layer.weight.shape  # (in, out)


def test_prompt_init_from_task_words(tokenizer):
    loaded, adapted = adapted_for("random:tiny-llama", "prompt", num_prompts=8)
    ids = tokenizer("summarize shorten distill short", add_special_tokens=False)["input_ids"]
    embedding = loaded.model.get_input_embeddings().weight
    expected = embedding[torch.tensor((ids * 8)[:8])]
    assert torch.equal(adapted.prompts.weight[0], expected)


@pytest.mark.parametrize("method", ["prompt", "lora", "last-layer"])
def test_only_intended_parameters_change_after_a_step(method, tokenizer):
    from peftlab.data.collate import collate, encode
    from peftlab.data.tasks import get_task

    loaded, adapted = adapted_for("random:tiny-llama", method)
    before = {n: p.detach().clone() for n, p in adapted.named_parameters()}
    row = {"article": "The council met on Monday and approved the budget.", "summary": "Budget approved."}
    batch = collate([encode(row, get_task("summarize"), tokenizer, max_length=64, num_virtual=adapted.num_virtual)],
                    tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(adapted.named_trainable().values(), lr=1e-2)
    adapted.train()
    losses, _, _ = adapted.loss_terms(batch)
    losses.mean().backward()
    optimizer.step()
    trainable = set(adapted.named_trainable())
    for name, p in adapted.named_parameters():
        changed = not torch.equal(p, before[name])
        if name in trainable:
            assert changed or "lora_A" in name, name  # lora_A's gradient is 0 while B is still 0
        else:
            assert not changed, name
    assert all(p.dtype == torch.float32 for p in adapted.named_trainable().values())
