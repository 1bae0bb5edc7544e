"""Soft prompt tuning: a few learned vectors prepended to the input embeddings; the model stays frozen.

One `SoftPrompts` holds a prompt per task, shape (n_tasks, n_virtual, d). A batch row picks its task's
prompt by index (a gather), so mixed-task batches cost one forward. The prepend itself lives in
`peftlab.adapted.AdaptedLM.embed`, written once for training, evaluation and generation.

On disk (PEFT's format): `adapter_config.json` (peft_type PROMPT_TUNING) + `adapter_model.safetensors`
with the one tensor `prompt_embeddings` (n_virtual, d). A multi-task run writes one such directory per
task. The task a prompt was trained for rides in the safetensors metadata (`peftlab_task`), not in the
config, because PEFT warns about config keys it does not know. A soft prompt is an input, not a weight
change, so it cannot be merged into the model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..adapted import AdaptedLM
from ..checkpoint import atomic_save_tensors, atomic_write_json
from ..config import MethodConfig
from ..data.tasks import get_task
from ..errors import UsageError
from .base import Method
from .peft_format import CONFIG, WEIGHTS, field, load_weights, peft_common, read_config

INIT_NAMES = {"text": "TEXT", "vocab": "SAMPLE_VOCAB", "random": "RANDOM"}


class SoftPrompts(nn.Module):
    def __init__(self, tasks: list[str], num_virtual: int, dim: int):
        super().__init__()
        self.tasks = list(tasks)
        self.num_virtual = num_virtual
        self.weight = nn.Parameter(torch.zeros(len(tasks), num_virtual, dim))

    def forward(self, task_ids: torch.Tensor) -> torch.Tensor:
        return self.weight[task_ids]  # (B,) -> (B, n_virtual, d)

    def task_index(self, task: str) -> int:
        if task not in self.tasks:
            raise UsageError(f"this run has no prompt for task {task!r}: use --task {' | '.join(self.tasks)}")
        return self.tasks.index(task)


def init_vectors(embedding: torch.Tensor, num_virtual: int, how: str, token_ids: list[int] | None,
                 generator: torch.Generator) -> torch.Tensor:
    """(num_virtual, d) start vectors: the init text's token embeddings repeated or cut to length (as PEFT
    does), random vocabulary rows, or Gaussian noise at the embedding matrix's scale."""
    embedding = embedding.detach().float().cpu()
    if how == "text":
        if not token_ids:
            raise UsageError("--prompt-init-text tokenizes to nothing: give some words")
        repeated = token_ids * math.ceil(num_virtual / len(token_ids))
        return embedding[torch.tensor(repeated[:num_virtual])].clone()
    if how == "vocab":
        rows = torch.randint(0, embedding.shape[0], (num_virtual,), generator=generator)
        return embedding[rows].clone()
    if how == "random":
        return torch.randn(num_virtual, embedding.shape[1], generator=generator) * embedding.std()
    raise UsageError(f"unknown --prompt-init {how!r}: use text, vocab or random")


def apply(model: nn.Module, tokenizer, tasks: list[str], num_virtual: int, how: str = "text",
          init_text: str | None = None, generator: torch.Generator | None = None) -> SoftPrompts:
    """Build per-task soft prompts for a frozen `model`, initialised from its input embeddings; random
    inits draw from `generator` (a fresh one seeded 0 if none is given), never from the global RNG."""
    embedding = model.get_input_embeddings().weight
    prompts = SoftPrompts(tasks, num_virtual, embedding.shape[1])
    if embedding.is_meta:  # shapes only (parameter counting): nothing to initialise from
        return prompts.to("meta")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i, task in enumerate(tasks):
            text = init_text_for(task, init_text)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] if how == "text" else None
            prompts.weight[i] = init_vectors(embedding, num_virtual, how, ids, generator)
    return prompts.to(embedding.device)


def init_text_for(task: str, init_text: str | None) -> str:
    """The text a task's prompt starts from: the user's, or the task's own words (`Task.init_text`)."""
    return init_text or get_task(task).init_text


class PromptTuning(Method):
    name = "prompt"
    config_file = CONFIG
    config_type = "PROMPT_TUNING"

    def apply(self, loaded, cfg: MethodConfig, tasks: list[str], generator: torch.Generator) -> AdaptedLM:
        prompts = apply(loaded.model, loaded.tokenizer, tasks, cfg.num_prompts, cfg.prompt_init,
                        cfg.prompt_init_text, generator)
        return AdaptedLM(loaded.model, self, tasks, prompts=prompts)

    def num_virtual(self, cfg: MethodConfig) -> int:
        return cfg.num_prompts

    def save(self, adapted: AdaptedLM, out: Path, base_path: str, cfg: MethodConfig) -> list[Path]:
        return [_save_one(adapted, d, i, base_path, cfg) for i, d in enumerate(_task_dirs(adapted, Path(out)))]

    def load(self, adapted: AdaptedLM, path: Path) -> None:
        with torch.no_grad():
            for i, task_dir in enumerate(_task_dirs(adapted, Path(path))):
                vectors = load_vectors(task_dir, adapted.prompts.weight.shape[-1])
                if vectors.shape[0] != adapted.num_virtual:
                    raise UsageError(f"{task_dir} has {vectors.shape[0]} virtual tokens, the run expects "
                                     f"{adapted.num_virtual}: use the matching --num-prompts")
                adapted.prompts.weight[i] = vectors

    def config_from_adapter(self, path: Path, config: dict[str, Any]) -> MethodConfig:
        return MethodConfig(method=self.name, num_prompts=field(config, "num_virtual_tokens", int, lo=1, hi=4096))

    def check_mergeable(self, adapter: Path) -> None:
        raise UsageError(f"prompt tuning cannot be merged into the weights (a soft prompt is an input, not a weight "
                         f"change): serve the PEFT adapter {adapter} with PeftModel.from_pretrained instead")

    def merged(self, adapted: AdaptedLM) -> nn.Module:
        raise UsageError("prompt tuning cannot be merged into the weights: serve its PEFT adapter instead")


def _task_dirs(adapted: AdaptedLM, root: Path) -> list[Path]:
    """A single-task prompt lives in `root`; a multi-task run keeps one sub-directory per task."""
    return [root / task for task in adapted.tasks] if len(adapted.tasks) > 1 else [root]


def _save_one(adapted: AdaptedLM, out: Path, task_index: int, base_path: str, cfg: MethodConfig) -> Path:
    weight = adapted.prompts.weight[task_index].detach().float()  # (n_virtual, d)
    task = adapted.tasks[task_index]
    text = cfg.prompt_init == "text"
    config = peft_common("PROMPT_TUNING", base_path) | {
        "num_virtual_tokens": weight.shape[0], "token_dim": weight.shape[1], "num_transformer_submodules": 1,
        "num_attention_heads": _config_int(adapted.model, "num_attention_heads", "n_head"),
        "num_layers": _config_int(adapted.model, "num_hidden_layers", "n_layer"),
        "prompt_tuning_init": INIT_NAMES[cfg.prompt_init],
        "prompt_tuning_init_text": init_text_for(task, cfg.prompt_init_text) if text else None,
        "tokenizer_name_or_path": base_path if text else None, "tokenizer_kwargs": None,
        "modules_to_save": None,
    }
    atomic_save_tensors(out / WEIGHTS, {"prompt_embeddings": weight}, metadata={"format": "pt", "peftlab_task": task})
    atomic_write_json(out / CONFIG, config)
    return out


def _config_int(model: nn.Module, *names: str) -> int | None:
    for name in names:
        value = getattr(model.config, name, None)
        if isinstance(value, int):
            return value
    return None


def load_vectors(path: Path, dim: int) -> torch.Tensor:
    """(n_virtual, d) from a PEFT prompt-tuning adapter, checked against the model width."""
    config = read_config(path)
    n = field(config, "num_virtual_tokens", int, lo=1, hi=4096)
    token_dim = field(config, "token_dim", int, lo=1, hi=65536)
    if config.get("num_transformer_submodules", 1) != 1:
        raise UsageError("prompt adapters with num_transformer_submodules != 1 (encoder-decoder) are not supported")
    if token_dim != dim:
        raise UsageError(f"adapter token_dim {token_dim} does not match the model's width {dim}: "
                         "use the base model the adapter was trained on")
    tensors = load_weights(path)
    extra = sorted(set(tensors) - {"prompt_embeddings"})
    if extra:
        raise UsageError(f"{path}/{WEIGHTS} holds tensors besides prompt_embeddings (first: {extra[0]}): "
                         "peftlab reads plain prompt-tuning adapters")
    weight = tensors.get("prompt_embeddings")
    if weight is None or tuple(weight.shape) != (n, dim):
        raise UsageError(f"{path}/{WEIGHTS} has no prompt_embeddings of shape ({n}, {dim}): re-export the adapter")
    return weight.float()


PROMPT = PromptTuning()
