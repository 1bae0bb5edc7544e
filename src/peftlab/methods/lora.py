"""LoRA: a low-rank update beside each frozen target layer, `y = W x + (alpha / r) * B A dropout(x)`.

`LoRALayer` wraps the frozen layer it adapts (as loralib and PEFT do) and keeps PEFT's names
(`base_layer`, `lora_A`, `lora_B`), so a state dict maps 1:1 onto PEFT's adapter files. A is
Kaiming-uniform and B zero, so step 0 is exactly the base model. GPT-2's `Conv1D` stores its weight
as (in, out); `fan_in_fan_out` transposes the merged delta for it. `merge()` / `unmerge()` are
explicit and idempotent; nothing merges behind your back.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import UsageError

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
    def __init__(self, base_layer: nn.Module, rank: int, alpha: float, dropout: float):
        super().__init__()
        in_features, out_features = _layer_dims(base_layer)
        self.base_layer = base_layer
        self.fan_in_fan_out = _is_conv1d(base_layer)
        self.rank, self.alpha = rank, alpha
        self.scaling = alpha / rank
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(in_features, rank, bias=False)   # weight (r, in)
        self.lora_B = nn.Linear(rank, out_features, bias=False)  # weight (out, r)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        if self.merged:
            return y
        update = self.lora_B(self.lora_A(self.lora_dropout(x.to(self.lora_A.weight.dtype))))
        return y + (update * self.scaling).to(y.dtype)

    def delta_weight(self) -> torch.Tensor:
        """The update in the base weight's own layout: (out, in) for Linear, (in, out) for Conv1D."""
        delta = (self.lora_B.weight @ self.lora_A.weight) * self.scaling  # (out, in)
        return delta.T if self.fan_in_fan_out else delta

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


def default_targets(model: nn.Module) -> list[str]:
    arch = getattr(model.config, "model_type", "")
    if arch not in DEFAULT_TARGETS:
        raise UsageError(f"no default LoRA targets for architecture {arch!r}: pass --target-modules")
    return DEFAULT_TARGETS[arch]


def matches(name: str, targets: list[str]) -> bool:
    """PEFT's rule: a target is a full module name or its last dotted parts."""
    return any(name == t or name.endswith("." + t) for t in targets)


def apply(model: nn.Module, rank: int, alpha: float, dropout: float, targets: list[str] | None = None) -> list[str]:
    """Wrap every matching layer of a frozen `model` in place; returns the wrapped module names."""
    targets = targets or default_targets(model)
    names = [name for name, module in model.named_modules()
             if matches(name, targets) and (isinstance(module, nn.Linear) or _is_conv1d(module))]
    if not names:
        raise UsageError(f"--target-modules {','.join(targets)} match no Linear/Conv1D layer: "
                         f"this model has {', '.join(sorted(linear_leaf_names(model)))}")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        base = getattr(parent, child)
        layer = LoRALayer(base, rank, alpha, dropout).to(device=base.weight.device)
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
