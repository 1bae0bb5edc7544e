"""peftlab adapters against HuggingFace PEFT itself, both ways, on tiny random GPT-2 and Llama models.

peftlab -> PEFT: an adapter peftlab saved (trained, so LoRA B and the soft prompts are far from their
init) loads with `PeftModel.from_pretrained` and gives peftlab's logits (max abs diff <= 1e-4, fp32).
PEFT -> peftlab: an adapter made with `get_peft_model`, its weights randomised, saved with
`save_pretrained` loads with `runs.load_adapter_dir` and gives PEFT's logits. Last-layer weights
restore into plain transformers with `load_state_dict(strict=False)`. Bad adapters fail with one line.

The random base models depend on the seed: both sides build theirs with `load_model(arch, seed=0)`.
PEFT's prompt-tuning forward returns logits for the virtual tokens too; those positions are dropped.
Inputs are right-padded, so a token's position is the same whichever way positions are computed, and
only real (mask = 1) positions are compared.
"""

from __future__ import annotations

import copy
import functools
import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from peftlab.config import MethodConfig
from peftlab.errors import UsageError
from peftlab.methods import apply_method, save_adapter
from peftlab.methods.peft_format import CONFIG, WEIGHTS
from peftlab.models import load_model
from peftlab.runs import load_adapter_dir

from conftest import ARCHS

peft = pytest.importorskip("peft")

TOL = 1e-4
ALL_LINEAR = {"random:tiny-gpt2": ["c_attn", "c_proj", "c_fc"],
              "random:tiny-llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
MEASURED: dict[str, float] = {}  # max abs diffs, printed at the end with -s


# ------------------------------------------------------------------ helpers

def inputs(rows: int = 3, length: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (no special tokens), the last row right-padded by 4."""
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(10, 5000, (rows, length), generator=g)
    mask = torch.ones_like(ids)
    mask[-1, -4:] = 0
    ids[-1, -4:] = 2
    return ids, mask


def max_diff(ours: torch.Tensor, theirs: torch.Tensor, mask: torch.Tensor) -> float:
    keep = mask.bool()
    return (ours[keep] - theirs[keep]).abs().max().item()


def record(name: str, diff: float) -> float:
    MEASURED[name] = diff
    return diff


@functools.lru_cache(maxsize=None)
def _base(arch: str):
    return load_model(arch, seed=0).model


def base_model(arch: str):
    """A fresh copy of the stock transformers model that `load_model(arch, seed=0)` builds."""
    return copy.deepcopy(_base(arch))


def base_logits(arch: str, ids, mask) -> torch.Tensor:
    with torch.no_grad():
        return _base(arch)(input_ids=ids, attention_mask=mask).logits


def train_steps(adapted, steps: int = 5, lr: float = 3e-2) -> None:
    """A few real AdamW steps of next-token loss on random text: a trained, not an initial, adapter."""
    g = torch.Generator().manual_seed(99)
    ids = torch.randint(10, 5000, (2, 8), generator=g)
    mask = torch.ones_like(ids)
    optimizer = torch.optim.AdamW(adapted.named_trainable().values(), lr=lr)
    adapted.train()
    for _ in range(steps):
        logits = adapted.logits(ids, mask)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    adapted.eval()


def peftlab_adapter(arch: str, method: str, tasks=("summarize",), **kw):
    cfg = MethodConfig(method=method, **kw)
    loaded = load_model(arch, seed=0)
    adapted = apply_method(loaded, cfg, list(tasks))
    train_steps(adapted)
    return loaded, adapted, cfg


def peft_load(base, path: Path):
    """PeftModel.from_pretrained, failing on PEFT's warnings about config keys it does not know."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = peft.PeftModel.from_pretrained(base, str(path))
    unknown = [str(w.message) for w in caught if "Unexpected keyword" in str(w.message)]
    assert not unknown, unknown
    return model.eval()


def randomise_peft(model, std: float = 0.1) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name or "prompt_encoder" in name:
                p.copy_(torch.randn_like(p) * std)


# ------------------------------------------------------------------ peftlab -> PEFT

@pytest.mark.parametrize("targets", ["default", "all-linear"])
@pytest.mark.parametrize("arch", ARCHS)
def test_peftlab_lora_loads_in_peft_with_the_same_logits(arch, targets, tmp_path):
    target_modules = ",".join(ALL_LINEAR[arch]) if targets == "all-linear" else None
    loaded, adapted, cfg = peftlab_adapter(arch, "lora", rank=4, alpha=8.0, dropout=0.1, target_modules=target_modules)
    layers = [m for n, m in adapted.model.named_modules() if type(m).__name__ == "LoRALayer"]
    assert all(layer.lora_B.weight.abs().max() > 1e-3 for layer in layers)  # trained: B is not the zero init
    save_adapter(adapted, tmp_path, loaded.path, cfg)

    config = json.loads((tmp_path / CONFIG).read_text())
    assert config["peft_type"] == "LORA" and config["task_type"] == "CAUSAL_LM"
    assert config["base_model_name_or_path"] == arch
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (4, 8.0, 0.1)
    assert config["fan_in_fan_out"] is (arch == "random:tiny-gpt2")  # GPT-2's Conv1D stores W as (in, out)

    ids, mask = inputs()
    with torch.no_grad():
        ours = adapted.logits(ids, mask)
        model = peft_load(base_model(arch), tmp_path)
        theirs = model(input_ids=ids, attention_mask=mask).logits
    # PEFT's own tensor names for the same adapter are exactly the ones in our file
    assert set(load_file(tmp_path / WEIGHTS)) == set(peft.get_peft_model_state_dict(model))
    assert max_diff(ours, base_logits(arch, ids, mask), mask) > 1e-2  # the adapter does change the model
    assert record(f"lora {targets} peftlab->peft {arch}", max_diff(ours, theirs, mask)) <= TOL


@pytest.mark.parametrize("arch,init", [(arch, "text") for arch in ARCHS]
                         + [("random:tiny-llama", "vocab"), ("random:tiny-gpt2", "random")])
def test_peftlab_prompt_loads_in_peft_offline_with_the_same_logits(arch, init, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    def no_tokenizer(*args, **kwargs):
        raise AssertionError("PEFT loaded a tokenizer for an inference-mode prompt adapter")

    loaded, adapted, cfg = peftlab_adapter(arch, "prompt", num_prompts=6, prompt_init=init)
    save_adapter(adapted, tmp_path, loaded.path, cfg)

    config = json.loads((tmp_path / CONFIG).read_text())
    assert config["peft_type"] == "PROMPT_TUNING" and config["task_type"] == "CAUSAL_LM"
    assert (config["num_virtual_tokens"], config["token_dim"]) == (6, 64)
    assert config["inference_mode"] is True
    assert config["prompt_tuning_init"] == {"text": "TEXT", "vocab": "SAMPLE_VOCAB", "random": "RANDOM"}[init]
    if init == "text":  # names a tokenizer PEFT cannot load ("random:..."): proof it is never loaded
        assert config["prompt_tuning_init_text"] and config["tokenizer_name_or_path"] == arch

    ids, mask = inputs()
    base = base_model(arch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a TEXT init must not make PEFT fetch (or load) a tokenizer
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", no_tokenizer)
    with torch.no_grad():
        ours = adapted.logits(ids, mask)
        model = peft_load(base, tmp_path)
        theirs = model(input_ids=ids, attention_mask=mask).logits[:, 6:]  # drop the virtual positions
    assert torch.equal(model.prompt_encoder["default"].embedding.weight, adapted.prompts.weight[0])
    assert max_diff(ours, base_logits(arch, ids, mask), mask) > 1e-2
    assert record(f"prompt {init} peftlab->peft {arch}", max_diff(ours, theirs, mask)) <= TOL


@pytest.mark.parametrize("arch", ARCHS)
def test_multitask_prompt_run_saves_one_peft_adapter_per_task(arch, tmp_path):
    tasks = ["summarize", "qa", "translate"]
    loaded, adapted, cfg = peftlab_adapter(arch, "prompt", tasks=tasks, num_prompts=4)
    written = save_adapter(adapted, tmp_path, loaded.path, cfg)
    assert sorted(p.name for p in written) == sorted(tasks)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(tasks)

    ids, mask = inputs()
    for i, task in enumerate(tasks):
        with torch.no_grad():
            ours = adapted.logits(ids, mask, torch.full((ids.shape[0],), i))
            theirs = peft_load(base_model(arch), tmp_path / task)(input_ids=ids, attention_mask=mask).logits[:, 4:]
        assert record(f"multitask prompt {task} peftlab->peft {arch}", max_diff(ours, theirs, mask)) <= TOL
    # and back: the whole run directory, and each task directory alone, load into peftlab
    _, again = load_adapter_dir(tmp_path, arch, device="cpu")
    assert again.tasks == sorted(tasks) and torch.equal(
        again.prompts.weight, adapted.prompts.weight[[tasks.index(t) for t in sorted(tasks)]])
    _, single = load_adapter_dir(tmp_path / "qa", arch, device="cpu")
    assert single.tasks == ["qa"] and torch.equal(single.prompts.weight[0], adapted.prompts.weight[1])


# ------------------------------------------------------------------ PEFT -> peftlab

@pytest.mark.parametrize("targets", ["default", "all-linear"])
@pytest.mark.parametrize("arch", ARCHS)
def test_peft_lora_loads_in_peftlab_with_the_same_logits(arch, targets, tmp_path):
    from peftlab.methods.lora import DEFAULT_TARGETS

    gpt2 = arch == "random:tiny-gpt2"
    target_modules = ALL_LINEAR[arch] if targets == "all-linear" else DEFAULT_TARGETS["gpt2" if gpt2 else "llama"]
    model = peft.get_peft_model(base_model(arch), peft.LoraConfig(
        r=8, lora_alpha=32, lora_dropout=0.05, target_modules=target_modules, fan_in_fan_out=gpt2,
        task_type="CAUSAL_LM"))
    randomise_peft(model)
    model.save_pretrained(tmp_path)
    assert not list(tmp_path.glob("*.bin"))
    ids, mask = inputs()
    with torch.no_grad():
        theirs = model.eval()(input_ids=ids, attention_mask=mask).logits
        _, adapted = load_adapter_dir(tmp_path, arch, device="cpu")
        ours = adapted.logits(ids, mask)
    assert max_diff(ours, base_logits(arch, ids, mask), mask) > 1e-2
    assert record(f"lora {targets} peft->peftlab {arch}", max_diff(ours, theirs, mask)) <= TOL


@pytest.mark.parametrize("arch", ARCHS)
def test_peft_lora_without_task_type_loads_in_peftlab(arch, tmp_path):
    """PEFT writes task_type null when the user gives none; the LoRA forward is the same."""
    model = peft.get_peft_model(base_model(arch), peft.LoraConfig(
        r=2, lora_alpha=4, target_modules=ALL_LINEAR[arch][:1], fan_in_fan_out=arch == "random:tiny-gpt2"))
    randomise_peft(model)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / CONFIG).read_text())["task_type"] is None
    ids, mask = inputs()
    with torch.no_grad():
        theirs = model.eval()(input_ids=ids, attention_mask=mask).logits
        ours = load_adapter_dir(tmp_path, arch, device="cpu")[1].logits(ids, mask)
    assert record(f"lora task_type=None peft->peftlab {arch}", max_diff(ours, theirs, mask)) <= TOL


@pytest.mark.parametrize("init", ["RANDOM", "TEXT"])
@pytest.mark.parametrize("arch", ARCHS)
def test_peft_prompt_loads_in_peftlab_with_the_same_logits(arch, init, tmp_path, tokenizer):
    extra = {}
    if init == "TEXT":
        tokenizer.save_pretrained(tmp_path / "tok")
        extra = {"prompt_tuning_init_text": "Summarize the text", "tokenizer_name_or_path": str(tmp_path / "tok")}
    model = peft.get_peft_model(base_model(arch), peft.PromptTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=7, prompt_tuning_init=init, **extra))
    with torch.no_grad():  # "trained": moved well away from its init
        embedding = model.prompt_encoder["default"].embedding.weight
        embedding.add_(torch.randn_like(embedding) * 0.5)
    model.save_pretrained(tmp_path / "adapter")
    ids, mask = inputs()
    with torch.no_grad():
        theirs = model.eval()(input_ids=ids, attention_mask=mask).logits[:, 7:]
        _, adapted = load_adapter_dir(tmp_path / "adapter", arch, device="cpu", task="qa")
        ours = adapted.logits(ids, mask)
    assert adapted.tasks == ["qa"] and adapted.num_virtual == 7
    assert record(f"prompt {init} peft->peftlab {arch}", max_diff(ours, theirs, mask)) <= TOL


def test_peftlab_adapter_round_trips_through_peft_save(tmp_path):
    """peftlab -> PEFT load -> PEFT save -> peftlab load: the weights come back bit for bit."""
    arch = "random:tiny-llama"
    loaded, adapted, cfg = peftlab_adapter(arch, "lora", rank=4)
    save_adapter(adapted, tmp_path / "ours", loaded.path, cfg)
    peft_load(base_model(arch), tmp_path / "ours").save_pretrained(tmp_path / "theirs")
    _, again = load_adapter_dir(tmp_path / "theirs", arch, device="cpu")
    for (name, p), q in zip(adapted.named_trainable().items(), again.named_trainable().values()):
        assert torch.equal(p, q), name


# ------------------------------------------------------------------ last layer in plain transformers

@pytest.mark.parametrize("arch", ARCHS)
def test_last_layer_weights_restore_with_plain_load_state_dict(arch, tmp_path):
    loaded, adapted, cfg = peftlab_adapter(arch, "last-layer")
    save_adapter(adapted, tmp_path, loaded.path, cfg)
    assert {p.name for p in tmp_path.iterdir()} == {"model.safetensors", "peftlab_adapter.json"}

    plain = base_model(arch)  # a stock transformers model, nothing from peftlab on it
    state = load_file(tmp_path / "model.safetensors")
    result = plain.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    block = ".h.1." if arch == "random:tiny-gpt2" else ".layers.1."
    assert state and all(block in key for key in state)
    assert not any(block in key for key in result.missing_keys)

    ids, mask = inputs()
    with torch.no_grad():
        ours = adapted.logits(ids, mask)
        theirs = plain(input_ids=ids, attention_mask=mask).logits
    assert max_diff(ours, base_logits(arch, ids, mask), mask) > 1e-2
    assert record(f"last-layer load_state_dict {arch}", max_diff(ours, theirs, mask)) <= TOL


# ------------------------------------------------------------------ one-line errors

def one_line_error(adapter: Path, model: str = "random:tiny-gpt2", **kw) -> str:
    with pytest.raises(UsageError) as err:
        load_adapter_dir(adapter, model, device="cpu", **kw)
    message = str(err.value)
    assert message and "\n" not in message
    return message


@pytest.fixture(scope="module")
def narrow_model(tmp_path_factory, tokenizer) -> str:
    """A local HF directory holding a GPT-2 half as wide (32) as the tiny ones, with a tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("narrow")
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=49152, n_embd=32, n_layer=2, n_head=2, n_positions=128)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def gpt2_adapters(tmp_path_factory) -> dict[str, Path]:
    """PEFT-made LoRA and prompt adapters on tiny-gpt2 (width 64)."""
    root = tmp_path_factory.mktemp("adapters")
    lora = peft.get_peft_model(base_model("random:tiny-gpt2"), peft.LoraConfig(
        r=4, target_modules=["c_attn"], fan_in_fan_out=True, task_type="CAUSAL_LM"))
    lora.save_pretrained(root / "lora")
    prompt = peft.get_peft_model(base_model("random:tiny-gpt2"), peft.PromptTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=3))
    prompt.save_pretrained(root / "prompt")
    return {"lora": root / "lora", "prompt": root / "prompt"}


@pytest.mark.parametrize("kind,config", [
    ("IA3", lambda: peft.IA3Config(task_type="CAUSAL_LM", target_modules=["c_attn"], feedforward_modules=[])),
    ("PREFIX_TUNING", lambda: peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3)),
    ("P_TUNING", lambda: peft.PromptEncoderConfig(task_type="CAUSAL_LM", num_virtual_tokens=3)),
])
def test_unknown_peft_type_is_one_line_naming_it(kind, config, tmp_path):
    peft.get_peft_model(base_model("random:tiny-gpt2"), config()).save_pretrained(tmp_path)
    message = one_line_error(tmp_path)
    assert kind in message and "not supported" in message


def test_prompt_for_another_width_is_one_line(gpt2_adapters, narrow_model):
    message = one_line_error(gpt2_adapters["prompt"], narrow_model)
    assert "token_dim 64" in message and "32" in message


def test_lora_for_another_width_is_one_line(gpt2_adapters, narrow_model):
    message = one_line_error(gpt2_adapters["lora"], narrow_model)
    assert "c_attn" in message and "shape" in message


def test_lora_for_a_deeper_model_is_one_line(gpt2_adapters, tmp_path, tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(vocab_size=49152, n_embd=64, n_layer=1, n_head=4)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    message = one_line_error(gpt2_adapters["lora"], str(tmp_path))
    assert "transformer.h.1.attn.c_attn" in message and "base model" in message


def test_lora_for_another_architecture_is_one_line(gpt2_adapters):
    message = one_line_error(gpt2_adapters["lora"], "random:tiny-llama")
    assert "c_attn" in message and "random:tiny-llama" in message


@pytest.mark.parametrize("feature,config", [
    ("use_dora", dict(use_dora=True)),
    ("modules_to_save", dict(modules_to_save=["lm_head"])),
    ("bias", dict(bias="all")),
    ("layers_to_transform", dict(layers_to_transform=[0])),
])
def test_unsupported_lora_features_are_one_line_naming_them(feature, config, tmp_path):
    model = peft.get_peft_model(base_model("random:tiny-llama"), peft.LoraConfig(
        r=2, target_modules=["q_proj"], task_type="CAUSAL_LM", **config))
    model.save_pretrained(tmp_path)
    assert feature in one_line_error(tmp_path, "random:tiny-llama")


def test_regex_target_modules_is_one_line(gpt2_adapters, tmp_path):
    for name in (CONFIG, WEIGHTS):
        (tmp_path / name).write_bytes((gpt2_adapters["lora"] / name).read_bytes())
    config = json.loads((tmp_path / CONFIG).read_text())
    config["target_modules"] = r".*\.c_attn"
    (tmp_path / CONFIG).write_text(json.dumps(config))
    assert "target_modules" in one_line_error(tmp_path)


def test_extra_tensors_in_a_lora_file_are_refused(gpt2_adapters, tmp_path):
    (tmp_path / CONFIG).write_bytes((gpt2_adapters["lora"] / CONFIG).read_bytes())
    tensors = load_file(gpt2_adapters["lora"] / WEIGHTS)
    tensors["base_model.model.transformer.wte.lora_embedding_A"] = torch.zeros(4, 49152)
    save_file(tensors, tmp_path / WEIGHTS)
    assert "lora_embedding_A" in one_line_error(tmp_path)


@pytest.mark.parametrize("kind", ["lora", "prompt"])
def test_missing_weights_file_is_one_line(kind, gpt2_adapters, tmp_path):
    (tmp_path / CONFIG).write_bytes((gpt2_adapters[kind] / CONFIG).read_bytes())
    torch_bin = tmp_path / "adapter_model.bin"  # a pickle is never a fallback (never written, never read)
    torch_bin.write_bytes(b"not read")
    message = one_line_error(tmp_path)
    assert WEIGHTS in message and "missing" in message


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\xff\xfe"])
def test_non_json_config_is_one_line(text, gpt2_adapters, tmp_path):
    (tmp_path / WEIGHTS).write_bytes((gpt2_adapters["lora"] / WEIGHTS).read_bytes())
    (tmp_path / CONFIG).write_text(text, encoding="latin-1")
    assert CONFIG in one_line_error(tmp_path)


def test_corrupt_weights_file_is_one_line(gpt2_adapters, tmp_path):
    (tmp_path / CONFIG).write_bytes((gpt2_adapters["lora"] / CONFIG).read_bytes())
    (tmp_path / WEIGHTS).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!")
    assert "safetensors" in one_line_error(tmp_path)


def test_wrong_field_types_are_one_line(gpt2_adapters, tmp_path):
    (tmp_path / WEIGHTS).write_bytes((gpt2_adapters["lora"] / WEIGHTS).read_bytes())
    config = json.loads((gpt2_adapters["lora"] / CONFIG).read_text())
    for key, value in (("r", "4"), ("lora_alpha", None), ("lora_dropout", "x"), ("target_modules", [1])):
        (tmp_path / CONFIG).write_text(json.dumps(config | {key: value}))
        assert key in one_line_error(tmp_path)


def test_not_an_adapter_directory_is_one_line(tmp_path):
    assert CONFIG in one_line_error(tmp_path)
    assert CONFIG in one_line_error(tmp_path / "absent")


def test_zz_print_measured_parity():
    """Not a check: prints every max abs difference measured above (pytest -s)."""
    for name, diff in sorted(MEASURED.items()):
        print(f"{diff:.3e}  {name}")
