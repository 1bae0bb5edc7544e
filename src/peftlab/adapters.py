"""Adapters on disk in HuggingFace PEFT's format, so PEFT, transformers and serving stacks load them.

- prompt: `adapter_config.json` (peft_type PROMPT_TUNING) + `adapter_model.safetensors` with the one
  tensor `prompt_embeddings` (n_virtual, d). A multi-task run writes one such directory per task. The
  task a prompt was trained for rides in the safetensors metadata (`peftlab_task`), not in the config,
  because PEFT warns about config keys it does not know.
- lora: peft_type LORA, tensors `base_model.model.<module>.lora_A.weight` (r, in) / `lora_B.weight` (out, r).
- last-layer: no PEFT type exists for it, so `model.safetensors` holds the block under the base
  model's own key names and `peftlab_adapter.json` says which block it is.
Reading is the same code backwards, for peftlab's own runs and for adapters PEFT wrote. Only JSON and
safetensors are read; a config is checked field by field before anything is built from it, and an
adapter using a PEFT feature peftlab does not apply (DoRA, extra trained modules, ...) is refused with
one line naming it rather than loaded half-way. `tests/test_peft_parity.py` checks both directions
against PEFT itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from .adapted import AdaptedLM
from .checkpoint import atomic_save_tensors, atomic_write_json
from .errors import UsageError
from .methods import lora as lora_method

PEFT_PREFIX = "base_model.model."
WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
LAST_LAYER_CONFIG = "peftlab_adapter.json"
INIT_NAMES = {"text": "TEXT", "vocab": "SAMPLE_VOCAB", "random": "RANDOM"}


def save_adapter(adapted: AdaptedLM, out: Path, base_path: str, method_cfg) -> list[Path]:
    """Write the trained part of `adapted` under `out`; returns the adapter directories written."""
    out = Path(out)
    if adapted.method == "prompt":
        return [_save_prompt(adapted, out / task if len(adapted.tasks) > 1 else out, i, base_path, method_cfg)
                for i, task in enumerate(adapted.tasks)]
    if adapted.method == "lora":
        return [_save_lora(adapted, out, base_path, method_cfg)]
    return [_save_last_layer(adapted, out, base_path)]


def _save_prompt(adapted: AdaptedLM, out: Path, task_index: int, base_path: str, cfg) -> Path:
    from .methods.prompt_tuning import init_text_for

    weight = adapted.prompts.weight[task_index].detach().float()  # (n_virtual, d)
    config = _peft_common("PROMPT_TUNING", base_path) | {
        "num_virtual_tokens": weight.shape[0], "token_dim": weight.shape[1], "num_transformer_submodules": 1,
        "num_attention_heads": _config_int(adapted.model, "num_attention_heads", "n_head"),
        "num_layers": _config_int(adapted.model, "num_hidden_layers", "n_layer"),
        "prompt_tuning_init": INIT_NAMES[cfg.prompt_init],
        "prompt_tuning_init_text": init_text_for(adapted.tasks[task_index], cfg.prompt_init_text)
        if cfg.prompt_init == "text" else None,
        "tokenizer_name_or_path": base_path if cfg.prompt_init == "text" else None, "tokenizer_kwargs": None,
        "modules_to_save": None,
    }
    atomic_save_tensors(out / WEIGHTS, {"prompt_embeddings": weight},
                        metadata={"format": "pt", "peftlab_task": adapted.tasks[task_index]})
    atomic_write_json(out / CONFIG, config)
    return out


def _save_lora(adapted: AdaptedLM, out: Path, base_path: str, cfg) -> Path:
    layers = lora_method.lora_layers(adapted.model)
    tensors = {}
    for name, layer in layers:
        tensors[f"{PEFT_PREFIX}{name}.lora_A.weight"] = layer.lora_A.weight.float()
        tensors[f"{PEFT_PREFIX}{name}.lora_B.weight"] = layer.lora_B.weight.float()
    first = layers[0][1]
    config = _peft_common("LORA", base_path) | {
        "r": first.rank, "lora_alpha": first.alpha, "lora_dropout": cfg.dropout,
        "target_modules": sorted({name.rsplit(".", 1)[-1] for name, _ in layers}),
        "fan_in_fan_out": first.fan_in_fan_out, "bias": "none", "init_lora_weights": True,
        "modules_to_save": None, "use_rslora": False, "use_dora": False, "layers_to_transform": None,
        "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {},
    }
    atomic_save_tensors(out / WEIGHTS, tensors, metadata={"format": "pt"})
    atomic_write_json(out / CONFIG, config)
    return out


def _save_last_layer(adapted: AdaptedLM, out: Path, base_path: str) -> Path:
    state = {name.removeprefix("model."): p for name, p in adapted.named_trainable().items()}
    atomic_save_tensors(out / "model.safetensors", state, metadata={"format": "pt"})
    atomic_write_json(out / LAST_LAYER_CONFIG, {"peftlab_type": "LAST_LAYER", "base_model_name_or_path": base_path,
                                                "keys": sorted(state)})
    return out


def _peft_common(peft_type: str, base_path: str) -> dict[str, Any]:
    return {"peft_type": peft_type, "task_type": "CAUSAL_LM", "base_model_name_or_path": base_path,
            "inference_mode": True, "revision": None, "auto_mapping": None}


def _config_int(model, *names: str) -> int | None:
    for name in names:
        value = getattr(model.config, name, None)
        if isinstance(value, int):
            return value
    return None


# ---------------------------------------------------------------- reading

def read_adapter_config(path: Path) -> dict[str, Any]:
    """Parse and type-check an adapter directory's JSON config (PEFT's or peftlab's last-layer one)."""
    path = Path(path)
    for name in (CONFIG, LAST_LAYER_CONFIG):
        if (path / name).is_file():
            try:
                raw = json.loads((path / name).read_text(encoding="utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise UsageError(f"{path / name} is not valid JSON ({exc}): re-export the adapter") from None
            if not isinstance(raw, dict):
                raise UsageError(f"{path / name} must hold a JSON object: re-export the adapter")
            return raw
    raise UsageError(f"{path} holds no {CONFIG}: point --adapter at a PEFT adapter directory")


def _field(config: dict, key: str, kind: type | tuple, *, lo: float | None = None, hi: float | None = None):
    value = config.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UsageError(f"adapter_config.json field {key!r} is {value!r}: expected {getattr(kind, '__name__', kind)}")
    if lo is not None and not (lo <= value <= (hi if hi is not None else value)):
        raise UsageError(f"adapter_config.json field {key!r} = {value} is out of range [{lo}, {hi}]")
    return value


def adapter_method(config: dict[str, Any]) -> str:
    kind = config.get("peft_type") or config.get("peftlab_type")
    methods = {"PROMPT_TUNING": "prompt", "LORA": "lora", "LAST_LAYER": "last-layer"}
    if not isinstance(kind, str) or kind not in methods:
        raise UsageError(f"adapter type {kind!r} is not supported: peftlab reads LORA, PROMPT_TUNING and its "
                         "own last-layer adapters")
    task_type = config.get("task_type", "CAUSAL_LM")
    if task_type != "CAUSAL_LM" and not (task_type is None and kind == "LORA"):
        raise UsageError(f"adapter task_type {task_type!r} is not supported: only CAUSAL_LM")
    if config.get("modules_to_save"):
        raise UsageError(f"adapters with modules_to_save {config['modules_to_save']!r} (fully trained extra modules) "
                         "are not supported: peftlab reads plain LoRA and prompt-tuning adapters")
    return methods[kind]


def trained_task(path: Path) -> str | None:
    """The task a peftlab prompt adapter was trained for (safetensors metadata; older runs: the config)."""
    file = Path(path) / WEIGHTS
    try:
        with safe_open(file, framework="pt") as f:
            task = (f.metadata() or {}).get("peftlab_task")
    except Exception:  # missing or unreadable: the loader says so with the right message
        task = None
    if task is None and (Path(path) / CONFIG).is_file():
        task = read_adapter_config(path).get("peftlab_task")
    return task if isinstance(task, str) else None


def _load_weights(path: Path, name: str) -> dict[str, torch.Tensor]:
    file = Path(path) / name
    if not file.is_file():
        raise UsageError(f"{file} is missing: an adapter needs its safetensors weights (peftlab reads no .bin)")
    try:
        return load_file(file)
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise UsageError(f"{file} is not a readable safetensors file ({exc}): re-export the adapter") from None


def load_prompt_vectors(path: Path, dim: int) -> torch.Tensor:
    """(n_virtual, d) from a PEFT prompt-tuning adapter, checked against the model width."""
    config = read_adapter_config(path)
    n = _field(config, "num_virtual_tokens", int, lo=1, hi=4096)
    token_dim = _field(config, "token_dim", int, lo=1, hi=65536)
    if config.get("num_transformer_submodules", 1) != 1:
        raise UsageError("prompt adapters with num_transformer_submodules != 1 (encoder-decoder) are not supported")
    if token_dim != dim:
        raise UsageError(f"adapter token_dim {token_dim} does not match the model's width {dim}: "
                         "use the base model the adapter was trained on")
    tensors = _load_weights(path, WEIGHTS)
    extra = sorted(set(tensors) - {"prompt_embeddings"})
    if extra:
        raise UsageError(f"{path}/{WEIGHTS} holds tensors besides prompt_embeddings (first: {extra[0]}): "
                         "peftlab reads plain prompt-tuning adapters")
    weight = tensors.get("prompt_embeddings")
    if weight is None or tuple(weight.shape) != (n, dim):
        raise UsageError(f"{path}/{WEIGHTS} has no prompt_embeddings of shape ({n}, {dim}): re-export the adapter")
    return weight.float()


def lora_settings(path: Path) -> dict[str, Any]:
    """rank, alpha, dropout and target module names from a PEFT LoRA config, each type-checked."""
    config = read_adapter_config(path)
    for unsupported in LORA_UNSUPPORTED:
        if config.get(unsupported) not in (None, False, {}, [], ""):
            raise UsageError(f"LoRA adapters with {unsupported}={config[unsupported]!r} are not supported: "
                             "peftlab applies plain LoRA (y = Wx + alpha/r * BAx) on Linear/Conv1D layers")
    if config.get("bias", "none") != "none":
        raise UsageError(f"LoRA adapters with bias={config['bias']!r} (trained biases) are not supported: "
                         "only bias='none'")
    targets = config.get("target_modules")
    if isinstance(targets, str):
        raise UsageError(f"adapter target_modules is the pattern {targets!r}: peftlab reads adapters whose "
                         "target_modules is a list of module names")
    if not (isinstance(targets, list) and targets and all(
            isinstance(t, str) and t.replace("_", "").replace(".", "").isalnum() for t in targets)):
        raise UsageError(f"adapter target_modules {targets!r} must be a list of module names: re-export the adapter")
    return {"rank": _rank_of_weights(path, _field(config, "r", int, lo=1, hi=65536)),
            "alpha": float(_field(config, "lora_alpha", (int, float), lo=1e-12, hi=1e12)),
            "dropout": float(_field(config, "lora_dropout", (int, float), lo=0, hi=0.999999)
                             if config.get("lora_dropout") is not None else 0.0), "targets": targets}


def _rank_of_weights(path: Path, rank: int) -> int:
    """`r` must be the rank the weight file holds: checked before any layer of that rank is built, so a
    crafted r (up to 65536) cannot make the loader allocate gigabytes first."""
    ranks = {t.shape[0] for k, t in _load_weights(path, WEIGHTS).items() if ".lora_A." in k and t.dim() == 2}
    if ranks != {rank}:
        raise UsageError(f"adapter_config.json has r={rank} but its lora_A tensors have rank "
                         f"{', '.join(map(str, sorted(ranks))) or 'none'}: re-export the adapter")
    return rank


# LoRA config fields whose any non-empty value changes what the adapter computes in ways peftlab does not.
LORA_UNSUPPORTED = ("use_dora", "use_rslora", "rank_pattern", "alpha_pattern", "layers_to_transform",
                    "layers_pattern", "exclude_modules", "layer_replication", "lora_bias", "use_qalora",
                    "alora_invocation_tokens", "trainable_token_indices", "target_parameters", "use_bdlora",
                    "megatron_config")


def load_lora_weights(adapted: AdaptedLM, path: Path) -> None:
    """Copy lora_A / lora_B from a PEFT file into the wrapped layers, checking every name and shape."""
    tensors = _load_weights(path, WEIGHTS)
    layers = dict(lora_method.lora_layers(adapted.model))
    expected = {f"{PEFT_PREFIX}{name}.{part}.weight": getattr(layer, part).weight
                for name, layer in layers.items() for part in ("lora_A", "lora_B")}
    stripped = {_strip_adapter_name(k): v for k, v in tensors.items()}
    unknown = sorted(set(stripped) - set(expected))
    foreign = [k for k in unknown if not k.startswith(PEFT_PREFIX) or not k.endswith((".lora_A.weight", ".lora_B.weight"))]
    if foreign:
        raise UsageError(f"adapter holds {len(foreign)} tensors peftlab would not apply (first: {foreign[0]}): "
                         "only lora_A/lora_B of Linear/Conv1D layers are supported")
    if unknown:
        module = unknown[0].removeprefix(PEFT_PREFIX).rsplit(".", 2)[0]
        raise UsageError(f"adapter has LoRA weights for {module}, which is not a Linear/Conv1D layer of this model: "
                         "use the base model the adapter was trained on")
    missing = sorted(set(expected) - set(stripped))
    if missing:
        raise UsageError(f"adapter lacks {len(missing)} LoRA tensors (first: {missing[0]}): "
                         "it was trained for another architecture")
    for key, param in expected.items():
        if stripped[key].shape != param.shape:
            raise UsageError(f"adapter tensor {key} has shape {tuple(stripped[key].shape)}, the model needs "
                             f"{tuple(param.shape)}: it was trained for another model width")
        with torch.no_grad():
            param.copy_(stripped[key].to(param.dtype))


def _strip_adapter_name(key: str) -> str:
    """PEFT may save `lora_A.default.weight`; its files normally drop the adapter name."""
    return key.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")


def load_last_layer(adapted: AdaptedLM, path: Path) -> None:
    tensors = _load_weights(path, "model.safetensors")
    params = {name.removeprefix("model."): p for name, p in adapted.named_trainable().items()}
    if set(tensors) != set(params):
        raise UsageError(f"{path} holds other block weights than this model's last block: "
                         "use the base model the adapter was trained on")
    with torch.no_grad():
        for key, param in params.items():
            if tensors[key].shape != param.shape:
                raise UsageError(f"{key} has shape {tuple(tensors[key].shape)}, the model needs {tuple(param.shape)}")
            param.copy_(tensors[key])


def load_into(adapted: AdaptedLM, path: Path) -> None:
    """Load an adapter directory written by `save_adapter` (or by PEFT) into a matching `adapted`."""
    path = Path(path)
    if adapted.method == "prompt":
        dirs = [path / task for task in adapted.tasks] if len(adapted.tasks) > 1 else [path]
        with torch.no_grad():
            for i, task_dir in enumerate(dirs):
                vectors = load_prompt_vectors(task_dir, adapted.prompts.weight.shape[-1])
                if vectors.shape[0] != adapted.num_virtual:
                    raise UsageError(f"{task_dir} has {vectors.shape[0]} virtual tokens, the run expects "
                                     f"{adapted.num_virtual}: use the matching --num-prompts")
                adapted.prompts.weight[i] = vectors
    elif adapted.method == "lora":
        load_lora_weights(adapted, path)
    else:
        load_last_layer(adapted, path)
