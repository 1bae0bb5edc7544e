"""Method objects: the registry, no hidden RNG use, and every random init unchanged since b9bbf6b.

`data/init_b9bbf6b.safetensors` holds LoRA A matrices, soft-prompt inits and random-model weights
computed by the code at commit b9bbf6b (which seeded the global RNG); building them from a
`torch.Generator` must give the same tensors bit for bit, or every figure in the README would move.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from peftlab.config import METHODS as CONFIG_METHODS
from peftlab.config import MethodConfig
from peftlab.errors import UsageError
from peftlab.methods import BASE, METHODS, apply_method, get_method, lora
from peftlab.models import load_model

EXPECTED = load_file(Path(__file__).parent / "data" / "init_b9bbf6b.safetensors")


def test_registry_holds_exactly_the_config_methods():
    assert set(METHODS) == set(CONFIG_METHODS)
    assert all(get_method(name).name == name for name in METHODS)
    assert "base" not in METHODS and BASE.name == "base"


def test_unknown_method_fails_at_lookup_in_one_line():
    with pytest.raises(UsageError) as err:
        get_method("adapter")
    assert "unknown method 'adapter'" in str(err.value) and "\n" not in str(err.value)


def test_base_pseudo_method_adds_nothing_and_has_nothing_to_save(tmp_path):
    loaded = load_model("random:tiny-llama")
    adapted = BASE.apply(loaded, MethodConfig(), ["summarize"], torch.Generator())
    assert adapted.method is BASE and adapted.named_trainable() == {} and adapted.num_virtual == 0
    with pytest.raises(UsageError, match="no adapter to save"):
        BASE.save(adapted, tmp_path, "random:tiny-llama", MethodConfig())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_apply_method_leaves_the_global_rng_alone(method):
    loaded = load_model("random:tiny-llama")
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    apply_method(loaded, MethodConfig(method=method, prompt_init="random"), ["summarize", "qa"] if method == "prompt"
                 else ["summarize"], seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("arch", ["random:tiny-llama", "random:tiny-gpt2"])
def test_loading_a_random_model_leaves_the_global_rng_alone(arch):
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    load_model(arch, seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("arch", ["random:tiny-llama", "random:tiny-gpt2"])
@pytest.mark.parametrize("seed", [0, 7])
def test_lora_init_and_random_weights_are_those_of_b9bbf6b(arch, seed):
    key = arch.removeprefix("random:")
    loaded = load_model(arch, seed=seed)
    if seed == 7:
        assert torch.equal(loaded.model.get_input_embeddings().weight[:4], EXPECTED[f"{key}.seed7.embed_rows"])
    adapted = apply_method(loaded, MethodConfig(method="lora", rank=4), ["summarize"], seed=seed)
    layers = lora.lora_layers(adapted.model)
    assert layers
    for name, layer in layers:
        assert torch.equal(layer.lora_A.weight, EXPECTED[f"{key}.seed{seed}.{name}.lora_A"]), name


@pytest.mark.parametrize("arch", ["random:tiny-llama", "random:tiny-gpt2"])
@pytest.mark.parametrize("how", ["vocab", "random"])
def test_random_prompt_inits_are_those_of_b9bbf6b(arch, how):
    loaded = load_model(arch, seed=0)
    cfg = MethodConfig(method="prompt", num_prompts=6, prompt_init=how)
    adapted = apply_method(loaded, cfg, ["summarize", "qa"], seed=3)
    assert torch.equal(adapted.prompts.weight, EXPECTED[f"{arch.removeprefix('random:')}.prompt.{how}.seed3"])


def test_the_model_owns_its_device_precision_and_autocast():
    fp32 = apply_method(load_model("random:tiny-llama"), MethodConfig(method="last-layer"), ["qa"])
    bf16 = apply_method(load_model("random:tiny-llama", precision="bf16"), MethodConfig(method="last-layer"), ["qa"])
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")  # last-layer's fp32 block does not change it
    assert fp32.device == torch.device("cpu")
    with bf16.autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with fp32.autocast():
        assert not torch.is_autocast_enabled("cpu")
