"""Decoding's prepacked matmuls (`peftlab.prepacked`): while the context is open, a model's linear layers
multiply through oneDNN with packed weights and give what their own forward gives (to fp32 rounding);
LoRA's merged copies are packed as themselves; autograd, other dtypes and closed contexts take the
layers' own path; greedy tokens do not change."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import spread_weights
from peftlab import prepacked
from peftlab.config import MethodConfig
from peftlab.data.collate import encode
from peftlab.data.tasks import get_task
from peftlab.decoding import generate_ids
from peftlab.methods import apply_method, lora
from peftlab.models import load_model
from peftlab.prepacked import prepacked_linears

pytestmark = pytest.mark.skipif(not prepacked._onednn_linear_works(), reason="this PyTorch has no oneDNN linear ops")


def tiny(arch: str = "random:tiny-llama", method: str = "prompt"):
    loaded = load_model(arch, device="cpu")
    spread_weights(loaded.model)
    adapted = apply_method(loaded, MethodConfig(method=method, num_prompts=3, prompt_init="random"), ["summarize"])
    if method == "lora":  # B starts at zero: give it weights, or the merged copy would equal the base weight
        with torch.no_grad():
            for _, layer in lora.lora_layers(adapted.model):
                layer.lora_B.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    return loaded.tokenizer, adapted.eval()


def summaries(tokenizer, adapted, n: int) -> list:
    """n built-in summarize rows, encoded as eval encodes them."""
    from conftest import ROWS

    return [encode(dict(r, task="summarize"), get_task("summarize"), tokenizer, max_length=120,
                   num_virtual=adapted.num_virtual, task_id=0) for r in ROWS["summarize"](n)]


def instance_forwards(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if "forward" in m.__dict__]


@torch.no_grad()
def test_linear_layers_run_packed_and_give_their_own_outputs():
    _, adapted = tiny()
    ids = torch.randint(0, 200, (3, 17), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    expected = adapted.logits(ids, mask)
    with prepacked_linears(adapted.model) as packs:
        got = adapted.logits(ids, mask)
    linears = sum(type(m) is nn.Linear for m in adapted.model.modules())
    assert packs is not None and packs.calls == linears  # every projection and the LM head ran packed
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert instance_forwards(adapted.model) == []  # every layer's own forward is back


def test_forwards_are_restored_when_the_body_raises():
    _, adapted = tiny()
    with pytest.raises(KeyError), prepacked_linears(adapted.model):
        assert instance_forwards(adapted.model)
        raise KeyError("boom")
    assert instance_forwards(adapted.model) == []


@torch.no_grad()
def test_lora_merged_copies_are_packed_as_the_weights_they_stand_for():
    _, adapted = tiny(method="lora")
    name, layer = lora.lora_layers(adapted.model)[0]
    x = torch.randn(5, layer.base_layer.in_features, generator=torch.Generator().manual_seed(2))
    merged = x @ layer.merged_base_weight().T
    assert not torch.allclose(merged, layer.base_layer(x), atol=1e-3)  # the adapter changes the output
    with adapted.generating(), prepacked_linears(adapted.model) as packs:
        got = layer(x)
        assert packs.calls == 1
    torch.testing.assert_close(got, merged, rtol=1e-5, atol=1e-5)


def test_autograd_many_rows_and_other_dtypes_take_the_layers_own_path():
    _, adapted = tiny()
    layer = next(m for m in adapted.model.modules() if type(m) is nn.Linear)
    x = torch.randn(4, layer.in_features, requires_grad=True)
    with prepacked_linears(adapted.model) as packs:
        y = layer(x)  # autograd on: a training forward never reads a pack
        y.sum().backward()
        with torch.no_grad():
            layer(torch.randn(prepacked.PACKED_ROWS + 1, layer.in_features))  # a prefill's many rows
            bf16 = layer.to(torch.bfloat16)(x.detach().bfloat16())  # weight and input in another dtype
        layer.float()
        assert packs.calls == 0
    assert y.requires_grad and x.grad is not None and bf16.dtype == torch.bfloat16


@torch.no_grad()
def test_weights_changed_between_contexts_are_packed_anew():
    _, adapted = tiny()
    layer = next(m for m in adapted.model.modules() if type(m) is nn.Linear)
    x = torch.randn(2, layer.in_features)
    with prepacked_linears(adapted.model):
        before = layer(x)
    layer.weight.mul_(2)  # training moved the weights: the next generation packs them again
    with prepacked_linears(adapted.model):
        after = layer(x)
    torch.testing.assert_close(after, 2 * before, rtol=1e-5, atol=1e-5)


def test_off_when_disabled_not_fp32_or_too_large_for_memory(monkeypatch):
    _, adapted = tiny()
    with prepacked_linears(adapted.model, enabled=False) as packs:
        assert packs is None and instance_forwards(adapted.model) == []
    monkeypatch.setattr(prepacked, "available_bytes", lambda: 1024)  # a copy of the weights would not fit
    with prepacked_linears(adapted.model) as packs:
        assert packs is None
    monkeypatch.undo()
    bf16 = load_model("random:tiny-llama", device="cpu", precision="bf16").model
    with prepacked_linears(bf16) as packs:
        assert packs is None


@pytest.mark.parametrize("arch,method", [("random:tiny-llama", "lora"), ("random:tiny-gpt2", "prompt")])
def test_greedy_tokens_are_the_same_with_and_without_packing(arch, method):
    """End to end through `generate_ids` (prefill in groups, decoding steps, rows leaving): GPT-2's
    blocks are `Conv1D`s, so there only the LM head runs packed."""
    tokenizer, adapted = tiny(arch, method)
    examples = summaries(tokenizer, adapted, 10)
    kw = dict(max_new_tokens=12, batch_size=32, stop_at_newline=False)
    plain = generate_ids(adapted, tokenizer, examples, prepack=False, **kw)
    assert len({tuple(ids) for ids in plain}) > 1  # the rows' outputs depend on their inputs
    assert generate_ids(adapted, tokenizer, examples, **kw) == plain


def test_the_packs_memory_goes_back_after_generation():
    """The packs are a second copy of the weights (513 MiB for the embedded SmolLM2-135M); once dropped,
    the process is not left that much larger. glibc keeps freed blocks that lie under live ones unless
    `malloc_trim` hands them back: without it RSS stayed ~470 MiB up after this generation."""
    from peftlab.memory import rss_bytes

    loaded = load_model("default", device="cpu")
    adapted = apply_method(loaded, MethodConfig(method="prompt", num_prompts=3), ["summarize"]).eval()
    examples = summaries(loaded.tokenizer, adapted, 4)
    generate_ids(adapted, loaded.tokenizer, examples, max_new_tokens=2, batch_size=32, prepack=False)
    before = rss_bytes()
    generate_ids(adapted, loaded.tokenizer, examples, max_new_tokens=2, batch_size=32)
    assert (rss_bytes() - before) / 2**20 < 128
