"""Tokenised examples and padded batches.

`encode` turns a row into token ids and labels: labels are -100 on prompt tokens (unless
`loss_on_prompt`) and on padding, so the loss falls on target tokens only. When an example is too
long, the task's body is cut from the end; the target is never cut. `collate` pads right for
training and left for generation; positions come from the attention mask (`AdaptedLM.embed`), so the
side never changes a row's result.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UsageError
from .tasks import Task

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    prompt_len: int       # tokens before the target; generation feeds input_ids[:prompt_len]
    task_id: int
    truncated: bool

    @property
    def target_tokens(self) -> int:
        """Tokens that carry loss after the one-position shift (as `Batch.target_tokens` counts them):
        a global batch's count without collating it, which data-parallel ranks each need."""
        return sum(1 for label in self.labels[1:] if label != IGNORE)


@dataclass
class Batch:
    input_ids: torch.Tensor       # (B, T)
    attention_mask: torch.Tensor  # (B, T) 1 = token, 0 = pad
    labels: torch.Tensor          # (B, T) -100 = no loss
    task_ids: torch.Tensor        # (B,)

    def to(self, device: torch.device) -> "Batch":
        return Batch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.labels, self.task_ids)))

    @property
    def target_tokens(self) -> int:
        """Tokens that carry loss after the one-position shift of next-token prediction."""
        return int((self.labels[:, 1:] != IGNORE).sum())


def encode(row: dict[str, str], task: Task, tokenizer, *, max_length: int, num_virtual: int = 0,
           task_id: int = 0, loss_on_prompt: bool = False) -> Example:
    """Tokenise one row; `max_length` counts soft-prompt positions too."""
    head, body, tail = (_ids(tokenizer, part) for part in task.render(row))
    target = _ids(tokenizer, task.target_text(row)) + [tokenizer.eos_token_id]
    room = max_length - num_virtual - len(head) - len(tail) - len(target)
    if room < 1:
        raise UsageError(f"a {task.name} example (target {task.target_text(row).strip()[:40]!r}) needs "
                         f"{max_length - room + 1} tokens with its prompt but --max-length is {max_length}: "
                         "raise --max-length or shorten that target")
    truncated = len(body) > room
    prompt = head + body[:room] + tail
    labels = list(prompt) if loss_on_prompt else [IGNORE] * len(prompt)
    return Example(prompt + target, labels + target, len(prompt), task_id, truncated)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def collate(examples: list[Example], pad_id: int, *, left: bool = False, prompt_only: bool = False) -> Batch:
    """Pad a list of examples into tensors; `prompt_only` drops the targets (for generation)."""
    rows = [(e.input_ids[:e.prompt_len], [IGNORE] * e.prompt_len) if prompt_only else (e.input_ids, e.labels)
            for e in examples]
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, labs) in enumerate(rows):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        input_ids[i, span] = torch.tensor(ids)
        labels[i, span] = torch.tensor(labs)
        mask[i, span] = 1
    task_ids = torch.tensor([e.task_id for e in examples], dtype=torch.long)
    return Batch(input_ids, mask, labels, task_ids)


def length_groups(lengths: list[int], size: int) -> list[list[int]]:
    """Indices in groups of at most `size`, shortest first, so each group pads little (ties keep order)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + size] for i in range(0, len(order), size)]


def length_sorted_batches(examples: list[Example], batch_size: int) -> list[list[int]]:
    """Index batches of similar length for evaluation (order does not change sums; padding shrinks)."""
    return length_groups([len(e.input_ids) for e in examples], batch_size)


def make_batch(examples: list[Example], indices: list[int], pad_id: int, device: torch.device, **kw) -> Batch:
    """The examples at `indices`, padded into one batch on `device`."""
    return collate([examples[i] for i in indices], pad_id, **kw).to(device)
