"""Last-layer fine-tuning: only the final transformer block learns; nothing is added to the model.

On disk: no PEFT type exists for it, so `model.safetensors` holds the block under the base model's
own key names (`model.layers.29.mlp.up_proj.weight`, so `model.load_state_dict(state, strict=False)`
in plain transformers restores them) and `peftlab_adapter.json` says which block it is. Merged export
is the model as it stands: the trained block is already in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..adapted import AdaptedLM
from ..checkpoint import atomic_save_tensors, atomic_write_json
from ..config import MethodConfig
from ..errors import UsageError
from ..models import decoder_blocks
from .base import Method
from .peft_format import load_weights

LAST_LAYER_CONFIG = "peftlab_adapter.json"
LAST_LAYER_WEIGHTS = "model.safetensors"


def apply(model: nn.Module) -> str:
    """Unfreeze the last block (the rest stays frozen); returns its module name."""
    list_name, blocks = decoder_blocks(model)
    block = blocks[-1]
    block.requires_grad_(True)
    for p in block.parameters():
        p.data = p.data.float()  # trainable parameters live in fp32 whatever the frozen precision
    return f"{list_name}.{len(blocks) - 1}"


class LastLayer(Method):
    name = "last-layer"
    backprop_through_frozen = False  # nothing below the trained block needs a gradient
    caches_trunk = True  # and nothing below it changes: later epochs replay its input (`trunk_cache`)
    config_file = LAST_LAYER_CONFIG
    config_type = "LAST_LAYER"

    def apply(self, loaded, cfg: MethodConfig, tasks: list[str], generator: torch.Generator) -> AdaptedLM:
        block = apply(loaded.model)
        return AdaptedLM(loaded.model, self, tasks, trainable_modules=[loaded.model.get_submodule(block)])

    def save(self, adapted: AdaptedLM, out: Path, base_path: str, cfg: MethodConfig) -> list[Path]:
        out = Path(out)
        state = _block_state(adapted)
        atomic_save_tensors(out / LAST_LAYER_WEIGHTS, state, metadata={"format": "pt"})
        atomic_write_json(out / LAST_LAYER_CONFIG, {"peftlab_type": self.config_type,
                                                    "base_model_name_or_path": base_path, "keys": sorted(state)})
        return [out]

    def load(self, adapted: AdaptedLM, path: Path) -> None:
        tensors = load_weights(path, LAST_LAYER_WEIGHTS)
        params = _block_state(adapted)
        if set(tensors) != set(params):
            raise UsageError(f"{path} holds other block weights than this model's last block: "
                             "use the base model the adapter was trained on")
        with torch.no_grad():
            for key, param in params.items():
                if tensors[key].shape != param.shape:
                    raise UsageError(f"{key} has shape {tuple(tensors[key].shape)}, the model needs "
                                     f"{tuple(param.shape)}")
                param.copy_(tensors[key])

    def config_from_adapter(self, path: Path, config: dict[str, Any]) -> MethodConfig:
        return MethodConfig(method=self.name)

    def merged(self, adapted: AdaptedLM) -> nn.Module:
        return adapted.model


def _block_state(adapted: AdaptedLM) -> dict[str, nn.Parameter]:
    """The trained block's parameters under the base model's own key names."""
    return {name.removeprefix("model."): p for name, p in adapted.named_trainable().items()}


LAST_LAYER = LastLayer()
