"""Methods by name, and adapter directories by what they hold.

`get_method(name)` is the one place a method name becomes a `Method`; `apply_method(loaded, cfg,
tasks, seed)` applies one. Every method starts from a fully frozen model and marks exactly what it
trains; trainable parameters are fp32 whatever precision the frozen weights use. An adapter directory
names its method by its config's type (`peft_type`, or `peftlab_type` for last-layer), so reading one
needs no method name from the user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..adapted import AdaptedLM
from ..config import MethodConfig
from ..errors import UsageError
from .base import BASE, Method
from .last_layer import LAST_LAYER
from .lora import LORA
from .peft_format import CONFIG, check_common, read_config, recorded_task
from .prompt_tuning import PROMPT

METHODS: dict[str, Method] = {m.name: m for m in (PROMPT, LORA, LAST_LAYER)}
ADAPTER_CONFIGS = tuple(dict.fromkeys(m.config_file for m in METHODS.values()))  # the files that mark an adapter

__all__ = ["ADAPTER_CONFIGS", "BASE", "METHODS", "Method", "adapter_method", "apply_method", "get_method",
           "is_adapter_dir", "load_adapter", "method_config_for", "recorded_task", "save_adapter"]


def get_method(name: str) -> Method:
    if name not in METHODS:
        *others, last = METHODS
        raise UsageError(f"unknown method {name!r}: use {', '.join(others)} or {last}")
    return METHODS[name]


def apply_method(loaded, cfg: MethodConfig, tasks: list[str], seed: int = 0) -> AdaptedLM:
    """`cfg.method` added to `loaded.model`. Random inits draw from a generator seeded with `seed`
    (the same draws for the same seed, always); the caller's global RNG is left alone."""
    return get_method(cfg.method).apply(loaded, cfg, tasks, torch.Generator().manual_seed(seed))


def is_adapter_dir(path: Path) -> bool:
    return any((Path(path) / name).is_file() for name in ADAPTER_CONFIGS)


def adapter_method(path: Path) -> tuple[Method, dict[str, Any]]:
    """The method whose adapter `path` holds, and its parsed config (common keys already checked)."""
    path = Path(path)
    name = next((n for n in ADAPTER_CONFIGS if (path / n).is_file()), CONFIG)
    config = read_config(path, name)
    kind = config.get("peft_type") or config.get("peftlab_type")
    by_type = {m.config_type: m for m in METHODS.values()}
    if not isinstance(kind, str) or kind not in by_type:
        raise UsageError(f"adapter type {kind!r} is not supported: peftlab reads LORA, PROMPT_TUNING and its "
                         "own last-layer adapters")
    check_common(config, kind)
    return by_type[kind], config


def method_config_for(adapter: Path) -> MethodConfig:
    """The MethodConfig that rebuilds an adapter's modules, from its (type-checked) config."""
    method, config = adapter_method(adapter)
    return method.config_from_adapter(Path(adapter), config)


def save_adapter(adapted: AdaptedLM, out: Path, base_path: str, cfg: MethodConfig) -> list[Path]:
    """Write the trained part of `adapted` under `out` in its method's format; the directories written."""
    return adapted.method.save(adapted, Path(out), base_path, cfg)


def load_adapter(adapted: AdaptedLM, path: Path) -> None:
    """Load an adapter directory written by `save_adapter` (or by PEFT) into a matching `adapted`."""
    adapted.method.load(adapted, Path(path))
