"""LoRA: a low-rank update beside each frozen target layer, `y = W x + (alpha / r) * B A dropout(x)`.

`LoRALayer` wraps the frozen layer it adapts (as loralib and PEFT do) and keeps PEFT's names
(`base_layer`, `lora_A`, `lora_B`), so a state dict maps 1:1 onto PEFT's adapter files. A is
Kaiming-uniform and B zero, so step 0 is exactly the base model. GPT-2's `Conv1D` stores its weight
as (in, out); `fan_in_fan_out` transposes the merged delta for it. `merge()` / `unmerge()` are
explicit and idempotent (export uses them); nothing merges behind your back. Generation computes
with `W + ΔW` held in a separate tensor (`merged_copies`), so the frozen W is never written: in bf16,
W + Δ − Δ ≠ W, and an in-place merge/unmerge would drift the base model with every call.

On disk (PEFT's format): `adapter_config.json` (peft_type LORA) and `adapter_model.safetensors` with
`base_model.model.<module>.lora_A.weight` (r, in) / `lora_B.weight` (out, r). A PEFT feature peftlab
does not apply (DoRA, rsLoRA, patterns, ...) is refused with one line naming it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from ..adapted import AdaptedLM
from ..checkpoint import atomic_save_tensors, atomic_write_json
from ..config import MethodConfig
from ..errors import UsageError
from .base import Method
from .peft_format import CONFIG, PEFT_PREFIX, WEIGHTS, field, load_weights, peft_common, read_config

# The attention projections that PEFT and the LoRA paper adapt by default (W_q and W_v).
DEFAULT_TARGETS = {"llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"],
                   "gpt2": ["c_attn"], "gpt_neox": ["query_key_value"], "opt": ["q_proj", "v_proj"]}


def _is_conv1d(layer: nn.Module) -> bool:
    return type(layer).__name__ == "Conv1D"  # transformers.pytorch_utils.Conv1D, weight (in, out)


def _layer_dims(layer: nn.Module) -> tuple[int, int]:
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    if _is_conv1d(layer):
        return layer.weight.shape[0], layer.weight.shape[1]
    raise UsageError(f"LoRA adapts nn.Linear and Conv1D layers, not {type(layer).__name__}: "
                     "choose other --target-modules")


class LoRALayer(nn.Module):
    def __init__(self, base_layer: nn.Module, rank: int, alpha: float, dropout: float, generator: torch.Generator):
        super().__init__()
        in_features, out_features = _layer_dims(base_layer)
        self.base_layer = base_layer
        self.fan_in_fan_out = _is_conv1d(base_layer)
        self.rank, self.alpha = rank, alpha
        self.scaling = alpha / rank
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lora_A = nn.utils.skip_init(nn.Linear, in_features, rank, bias=False)   # weight (r, in)
        self.lora_B = nn.utils.skip_init(nn.Linear, rank, out_features, bias=False)  # weight (out, r)
        _init_weights(self.lora_A.weight, self.lora_B.weight, generator)
        self.merged = False
        self.merged_weight: torch.Tensor | None = None  # W + ΔW, a copy, while `merged_copies` is active

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base_layer(x)
        if self.merged_weight is not None:  # the base layer's own forward, computing with the merged copy
            return functional_call(self.base_layer, {"weight": self.merged_weight}, (x,))
        y = self.base_layer(x)
        update = self.lora_B(self.lora_A(self.lora_dropout(x.to(self.lora_A.weight.dtype))))
        return y + (update * self.scaling).to(y.dtype)

    def delta_weight(self) -> torch.Tensor:
        """The update in the base weight's own layout: (out, in) for Linear, (in, out) for Conv1D."""
        delta = (self.lora_B.weight @ self.lora_A.weight) * self.scaling  # (out, in)
        return delta.T if self.fan_in_fan_out else delta

    @torch.no_grad()
    def merged_base_weight(self) -> torch.Tensor:
        """W + ΔW in W's dtype, as a new tensor (the same values an in-place merge would give)."""
        weight = self.base_layer.weight
        return weight + self.delta_weight().to(weight.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            weight = self.base_layer.weight
            weight += self.delta_weight().to(weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            weight = self.base_layer.weight
            weight -= self.delta_weight().to(weight.dtype)
            self.merged = False


@torch.no_grad()
def _init_weights(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> None:
    """A Kaiming-uniform (as loralib and PEFT), B zero. Earlier versions built A and B as plain
    `nn.Linear`s, whose own Kaiming inits drew first from the seeded global RNG; drawing the same two
    throw-away tensors from `generator` keeps every seed's A exactly as it was."""
    for shape in (a.shape, b.shape):
        nn.init.kaiming_uniform_(torch.empty(shape), a=math.sqrt(5), generator=generator)
    nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=generator)
    nn.init.zeros_(b)


def default_targets(model: nn.Module) -> list[str]:
    arch = getattr(model.config, "model_type", "")
    if arch not in DEFAULT_TARGETS:
        raise UsageError(f"no default LoRA targets for architecture {arch!r}: pass --target-modules")
    return DEFAULT_TARGETS[arch]


def matches(name: str, targets: list[str]) -> bool:
    """PEFT's rule: a target is a full module name or its last dotted parts."""
    return any(name == t or name.endswith("." + t) for t in targets)


def apply(model: nn.Module, rank: int, alpha: float, dropout: float, targets: list[str] | None = None,
          generator: torch.Generator | None = None) -> list[str]:
    """Wrap every matching layer of a frozen `model` in place; returns the wrapped module names. A's init
    draws from `generator` (a fresh one seeded 0 if none is given), never from the global RNG."""
    targets = targets or default_targets(model)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    names = [name for name, module in model.named_modules()
             if matches(name, targets) and (isinstance(module, nn.Linear) or _is_conv1d(module))]
    if not names:
        raise UsageError(f"--target-modules {','.join(targets)} match no Linear/Conv1D layer: "
                         f"this model has {', '.join(sorted(linear_leaf_names(model)))}")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        base = getattr(parent, child)
        layer = LoRALayer(base, rank, alpha, dropout, generator).to(device=base.weight.device)
        setattr(parent, child, layer)
    return names


def linear_leaf_names(model: nn.Module) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear) or _is_conv1d(m)}


def lora_layers(model: nn.Module) -> list[tuple[str, LoRALayer]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoRALayer)]


def merge(model: nn.Module) -> None:
    for _, layer in lora_layers(model):
        layer.merge()


def unmerge(model: nn.Module) -> None:
    for _, layer in lora_layers(model):
        layer.unmerge()


@contextlib.contextmanager
def merged_copies(model: nn.Module) -> Iterator[None]:
    """Inside, every LoRA layer computes `x @ (W + ΔW)` from a copy (no adapter matmuls per token);
    the frozen W is never written, and the copies are dropped on exit."""
    layers = [layer for _, layer in lora_layers(model) if not layer.merged]
    for layer in layers:
        layer.merged_weight = layer.merged_base_weight()
    try:
        yield
    finally:
        for layer in layers:
            layer.merged_weight = None


class LoRA(Method):
    name = "lora"
    config_file = CONFIG
    config_type = "LORA"

    def apply(self, loaded, cfg: MethodConfig, tasks: list[str], generator: torch.Generator) -> AdaptedLM:
        model = loaded.model
        names = apply(model, cfg.rank, cfg.alpha, cfg.dropout, cfg.targets, generator)
        return AdaptedLM(model, self, tasks, trainable_modules=[model.get_submodule(n) for n in names])

    def save(self, adapted: AdaptedLM, out: Path, base_path: str, cfg: MethodConfig) -> list[Path]:
        layers = lora_layers(adapted.model)
        tensors = {}
        for name, layer in layers:
            tensors[f"{PEFT_PREFIX}{name}.lora_A.weight"] = layer.lora_A.weight.float()
            tensors[f"{PEFT_PREFIX}{name}.lora_B.weight"] = layer.lora_B.weight.float()
        first = layers[0][1]
        config = peft_common("LORA", base_path) | {
            "r": first.rank, "lora_alpha": first.alpha, "lora_dropout": cfg.dropout,
            "target_modules": sorted({name.rsplit(".", 1)[-1] for name, _ in layers}),
            "fan_in_fan_out": first.fan_in_fan_out, "bias": "none", "init_lora_weights": True,
            "modules_to_save": None, "use_rslora": False, "use_dora": False, "layers_to_transform": None,
            "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {},
        }
        atomic_save_tensors(Path(out) / WEIGHTS, tensors, metadata={"format": "pt"})
        atomic_write_json(Path(out) / CONFIG, config)
        return [Path(out)]

    def load(self, adapted: AdaptedLM, path: Path) -> None:
        load_lora_weights(adapted, path)

    def config_from_adapter(self, path: Path, config: dict[str, Any]) -> MethodConfig:
        s = lora_settings(path)
        return MethodConfig(method=self.name, rank=s["rank"], alpha=s["alpha"], dropout=s["dropout"],
                            target_modules=",".join(s["targets"]))

    def check_fits(self, model: nn.Module, cfg: MethodConfig, model_name: str) -> None:
        """At least one module an adapter targets must exist in the base model, as PEFT requires; the
        tensor-by-tensor check in `load_lora_weights` then catches any other mismatch."""
        if not any(matches(name, cfg.targets) for name, _ in model.named_modules()):
            raise UsageError(f"the adapter targets {', '.join(cfg.targets)}, which {model_name} does not have: "
                             "use the base model the adapter was trained on")

    def generating(self, adapted: AdaptedLM):
        return merged_copies(adapted.model)

    def merged(self, adapted: AdaptedLM) -> nn.Module:
        """Every `LoRALayer` merged and replaced by the layer it wrapped: the base model's plain key names."""
        model = adapted.model
        tied = model.get_input_embeddings().weight
        layers = lora_layers(model)
        for name, layer in layers:  # all checked before anything is merged
            if layer.base_layer.weight is tied:
                raise UsageError(f"LoRA on {name} shares its weight with the input embeddings (tied): merging would "
                                 "change both; serve the PEFT adapter instead")
        for name, layer in layers:
            layer.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, layer.base_layer)
        return model


# ---------------------------------------------------------------- reading PEFT files

# LoRA config fields whose any non-empty value changes what the adapter computes in ways peftlab does not.
LORA_UNSUPPORTED = ("use_dora", "use_rslora", "rank_pattern", "alpha_pattern", "layers_to_transform",
                    "layers_pattern", "exclude_modules", "layer_replication", "lora_bias", "use_qalora",
                    "alora_invocation_tokens", "trainable_token_indices", "target_parameters", "use_bdlora",
                    "megatron_config")


def lora_settings(path: Path) -> dict[str, Any]:
    """rank, alpha, dropout and target module names from a PEFT LoRA config, each type-checked."""
    config = read_config(path)
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
    return {"rank": _rank_of_weights(path, field(config, "r", int, lo=1, hi=65536)),
            "alpha": float(field(config, "lora_alpha", (int, float), lo=1e-12, hi=1e12)),
            "dropout": float(field(config, "lora_dropout", (int, float), lo=0, hi=0.999999)
                             if config.get("lora_dropout") is not None else 0.0), "targets": targets}


def _rank_of_weights(path: Path, rank: int) -> int:
    """`r` must be the rank the weight file holds: checked before any layer of that rank is built, so a
    crafted r (up to 65536) cannot make the loader allocate gigabytes first."""
    ranks = {t.shape[0] for k, t in load_weights(path).items() if ".lora_A." in k and t.dim() == 2}
    if ranks != {rank}:
        raise UsageError(f"adapter_config.json has r={rank} but its lora_A tensors have rank "
                         f"{', '.join(map(str, sorted(ranks))) or 'none'}: re-export the adapter")
    return rank


def load_lora_weights(adapted: AdaptedLM, path: Path) -> None:
    """Copy lora_A / lora_B from a PEFT file into the wrapped layers, checking every name and shape."""
    tensors = load_weights(path)
    layers = dict(lora_layers(adapted.model))
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


LORA = LoRA()
