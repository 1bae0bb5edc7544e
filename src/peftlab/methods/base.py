"""`Method`: everything callers do with a fine-tuning method, in one interface.

Each method (prompt tuning, LoRA, last-layer) is one object in its own module, the way PEFT's
`tuners/<method>/` or torchtune's `AdapterModule` give a method one home. Train, eval, generate and
export call these operations and never compare a method's name. `BASE` is the pseudo-method
"no adapter" (the base model as it ships, scored by `eval --baseline`): explicit, so nothing unknown
falls through to another method's behaviour.

Every random draw takes the `torch.Generator` passed to `apply`: building an adapter never touches
the global RNG.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ContextManager

import torch
from torch import nn

from ..adapted import AdaptedLM
from ..config import MethodConfig
from ..errors import UsageError


class Method:
    name: str = ""
    config_file: str = ""   # the JSON file that marks an adapter directory of this method
    config_type: str = ""   # its `peft_type` (or `peftlab_type`) value
    backprop_through_frozen: bool = True  # gradients pass back through the frozen trunk (compare's FLOPs estimate)
    caches_trunk: bool = False  # only the last block learns: its input may be kept from epoch 1 (`trunk_cache`)

    def apply(self, loaded, cfg: MethodConfig, tasks: list[str], generator: torch.Generator) -> AdaptedLM:
        """Add the method to `loaded.model` (frozen; changed in place) and return the model that trains:
        exactly what the method marks `requires_grad` is `AdaptedLM.named_trainable()`, in fp32."""
        raise NotImplementedError

    def num_virtual(self, cfg: MethodConfig) -> int:
        """Positions the method puts in front of every input (examples are encoded to leave room)."""
        return 0

    def save(self, adapted: AdaptedLM, out: Path, base_path: str, cfg: MethodConfig) -> list[Path]:
        """Write the trained part under `out` in the method's on-disk format; the directories written."""
        raise NotImplementedError

    def load(self, adapted: AdaptedLM, path: Path) -> None:
        """Copy an adapter directory written by `save` (or by PEFT) into a matching `adapted`."""
        raise NotImplementedError

    def config_from_adapter(self, path: Path, config: dict[str, Any]) -> MethodConfig:
        """The MethodConfig that rebuilds the adapter in `path` (whose parsed config is `config`)."""
        raise NotImplementedError

    def check_fits(self, model: nn.Module, cfg: MethodConfig, model_name: str) -> None:
        """Refuse, in one line, an adapter that cannot apply to `model` (before it is built)."""

    def generating(self, adapted: AdaptedLM) -> ContextManager:
        """What the method sets up for the duration of a generation call; frozen weights never change."""
        return contextlib.nullcontext()

    def check_mergeable(self, adapter: Path) -> None:
        """Refuse, before any model loads, an export the method cannot merge into the weights."""

    def merged(self, adapted: AdaptedLM) -> nn.Module:
        """The plain transformers model with the trained part folded in (consumes `adapted`)."""
        raise NotImplementedError


class BaseModel(Method):
    """No adapter: the base model as it ships, with nothing trainable and nothing to save or merge."""

    name = "base"

    def apply(self, loaded, cfg: MethodConfig, tasks: list[str], generator: torch.Generator) -> AdaptedLM:
        return AdaptedLM(loaded.model, self, tasks)

    def save(self, adapted: AdaptedLM, out: Path, base_path: str, cfg: MethodConfig) -> list[Path]:
        raise UsageError("the base model has no adapter to save: train a method first")

    def load(self, adapted: AdaptedLM, path: Path) -> None:
        raise UsageError(f"the base model takes no adapter ({path}): evaluate it with --adapter instead")

    def merged(self, adapted: AdaptedLM) -> nn.Module:
        return adapted.model


BASE = BaseModel()
