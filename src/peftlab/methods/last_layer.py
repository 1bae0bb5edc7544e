"""Last-layer fine-tuning: only the final transformer block learns; nothing is added to the model.

Its weights are saved under the base model's own key names (`model.layers.29.mlp.up_proj.weight`),
so `model.load_state_dict(state, strict=False)` in plain transformers restores them.
"""

from __future__ import annotations

from torch import nn

from ..models import decoder_blocks


def apply(model: nn.Module) -> str:
    """Unfreeze the last block (the rest stays frozen); returns its module name."""
    list_name, blocks = decoder_blocks(model)
    block = blocks[-1]
    block.requires_grad_(True)
    for p in block.parameters():
        p.data = p.data.float()  # trainable parameters live in fp32 whatever the frozen precision
    return f"{list_name}.{len(blocks) - 1}"
