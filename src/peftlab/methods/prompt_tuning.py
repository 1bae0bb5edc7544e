"""Soft prompt tuning: a few learned vectors prepended to the input embeddings; the model stays frozen.

One `SoftPrompts` holds a prompt per task, shape (n_tasks, n_virtual, d). A batch row picks its task's
prompt by index (a gather), so mixed-task batches cost one forward. The prepend itself lives in
`peftlab.adapted.AdaptedLM.embed`, written once for training, evaluation and generation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..data.tasks import get_task
from ..errors import UsageError


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
          init_text: str | None = None, seed: int = 0) -> SoftPrompts:
    """Build per-task soft prompts for a frozen `model`, initialised from its input embeddings."""
    embedding = model.get_input_embeddings().weight
    prompts = SoftPrompts(tasks, num_virtual, embedding.shape[1])
    if embedding.is_meta:  # shapes only (parameter counting): nothing to initialise from
        return prompts.to("meta")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for i, task in enumerate(tasks):
            text = init_text_for(task, init_text)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] if how == "text" else None
            prompts.weight[i] = init_vectors(embedding, num_virtual, how, ids, generator)
    return prompts.to(embedding.device)


def init_text_for(task: str, init_text: str | None) -> str:
    """The text a task's prompt starts from: the user's, or the task's own words (`Task.init_text`)."""
    return init_text or get_task(task).init_text
