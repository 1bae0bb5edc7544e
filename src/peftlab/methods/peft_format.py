"""What every adapter directory shares on disk: HuggingFace PEFT's file names, its common config keys,
and the checks that run before any method builds a module from a file.

Each method writes and reads its own tensors (`prompt_tuning.py`, `lora.py`, `last_layer.py`); this
module holds only the parts they have in common, so a config is parsed and type-checked one way.
Only JSON and safetensors are read; a value of the wrong type or out of range is refused with one
line naming the field, before anything is allocated from it. `tests/test_peft_parity.py` checks
both directions against PEFT itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..errors import UsageError

PEFT_PREFIX = "base_model.model."
WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"


def read_config(path: Path, name: str = CONFIG) -> dict[str, Any]:
    """The JSON config `name` of adapter directory `path` as a dict, or a one-line error naming the file."""
    file = Path(path) / name
    if not file.is_file():
        raise UsageError(f"{path} holds no {CONFIG}: point --adapter at a PEFT adapter directory")
    try:
        raw = json.loads(Path(file).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{file} is not valid JSON ({exc}): re-export the adapter") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{file} must hold a JSON object: re-export the adapter")
    return raw


def field(config: dict, key: str, kind: type | tuple, *, lo: float | None = None, hi: float | None = None):
    """`config[key]` if it has type `kind` (bool is not an int) and lies in [lo, hi]."""
    value = config.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UsageError(f"adapter_config.json field {key!r} is {value!r}: expected {getattr(kind, '__name__', kind)}")
    if lo is not None and not (lo <= value <= (hi if hi is not None else value)):
        raise UsageError(f"adapter_config.json field {key!r} = {value} is out of range [{lo}, {hi}]")
    return value


def check_common(config: dict[str, Any], kind: str) -> None:
    """The keys every PEFT config has and peftlab supports one value of (LoRA files may omit task_type)."""
    task_type = config.get("task_type", "CAUSAL_LM")
    if task_type != "CAUSAL_LM" and not (task_type is None and kind == "LORA"):
        raise UsageError(f"adapter task_type {task_type!r} is not supported: only CAUSAL_LM")
    if config.get("modules_to_save"):
        raise UsageError(f"adapters with modules_to_save {config['modules_to_save']!r} (fully trained extra modules) "
                         "are not supported: peftlab reads plain LoRA and prompt-tuning adapters")


def peft_common(peft_type: str, base_path: str) -> dict[str, Any]:
    """The config keys PEFT writes for every adapter type."""
    return {"peft_type": peft_type, "task_type": "CAUSAL_LM", "base_model_name_or_path": base_path,
            "inference_mode": True, "revision": None, "auto_mapping": None}


def load_weights(path: Path, name: str = WEIGHTS) -> dict[str, torch.Tensor]:
    file = Path(path) / name
    if not file.is_file():
        raise UsageError(f"{file} is missing: an adapter needs its safetensors weights (peftlab reads no .bin)")
    try:
        return load_file(file)
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise UsageError(f"{file} is not a readable safetensors file ({exc}): re-export the adapter") from None


def recorded_task(path: Path) -> str | None:
    """The task a peftlab adapter was trained for (safetensors metadata; older runs: the config)."""
    file = Path(path) / WEIGHTS
    try:
        with safe_open(file, framework="pt") as f:
            task = (f.metadata() or {}).get("peftlab_task")
    except Exception:  # missing or unreadable: the loader says so with the right message
        task = None
    if task is None and (Path(path) / CONFIG).is_file():
        task = read_config(path).get("peftlab_task")
    return task if isinstance(task, str) else None
