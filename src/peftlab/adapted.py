"""`AdaptedLM`: the frozen base model plus what one method adds, behind one forward.

- LoRA and last-layer change the base model in place (wrapped layers, an unfrozen block).
- Prompt tuning adds `SoftPrompts`; `embed` prepends the row's task prompt to the token embeddings
  and extends the attention mask. Positions come from the mask (`cumsum - 1`), so left padding,
  right padding or a soft prompt in front never shift a token's position: a row's result does not
  depend on its batch.

The loss runs the LM head only on positions that carry a target (next-token prediction), which saves
the vocabulary projection on every prompt and pad token — and, for the same reason, the final block's
MLP runs only there (`final_mlp_at`): nothing after that MLP mixes positions, so its output anywhere else
is never read. Keys and values, which every position needs, come before it.

The model's device and precision are read from its weights, never passed alongside it, and
`autocast()` is the one precision context every forward runs in: a caller cannot run a bf16 model
without it by forgetting an argument.

`checkpointing()` is the context a training forward runs in under `--gradient-checkpointing` (see
`grad_checkpointing`): the blocks recompute their activations in the backward pass instead of keeping them.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ContextManager

import torch
import torch.nn.functional as F
from torch import nn

from .data.collate import IGNORE, Batch
from .grad_checkpointing import checkpointed_blocks
from .models import decoder_blocks, swapped_forward

if TYPE_CHECKING:
    from .methods.base import Method
    from .methods.prompt_tuning import SoftPrompts


class AdaptedLM(nn.Module):
    def __init__(self, model: nn.Module, method: Method, tasks: list[str], prompts: SoftPrompts | None = None,
                 trainable_modules: list[nn.Module] | None = None):
        super().__init__()
        self.model = model
        self.method = method
        self.tasks = list(tasks)
        self.prompts = prompts
        self._trainable_modules = trainable_modules or []

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def precision(self) -> str:
        """"bf16" when the frozen weights are stored in bf16, else "fp32" (what `load_model` was asked for)."""
        return "bf16" if self.model.get_input_embeddings().weight.dtype == torch.bfloat16 else "fp32"

    def autocast(self) -> ContextManager:
        """bf16: frozen weights are stored in bf16 and matmuls run in bf16; fp32 trainable parameters are
        cast per op, and their gradients and optimizer state stay fp32. fp32: nothing changes."""
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def checkpointing(self, enabled: bool = True) -> ContextManager:
        """`enabled` (--gradient-checkpointing) and in a training forward with grad enabled: the decoder
        blocks run checkpointed until the context closes (the backward may come after it). Else nothing."""
        if enabled and self.training and torch.is_grad_enabled():
            return checkpointed_blocks(self.model)
        return contextlib.nullcontext()

    def generating(self) -> ContextManager:
        """What the method sets up while this model generates (frozen weights are never changed)."""
        return self.method.generating(self)

    @property
    def num_virtual(self) -> int:
        return self.prompts.num_virtual if self.prompts is not None else 0

    def named_trainable(self) -> dict[str, nn.Parameter]:
        """The parameters the optimizer owns, by stable name (checkpoint keys)."""
        return {name: p for name, p in self.named_parameters() if p.requires_grad}

    def train(self, mode: bool = True) -> "AdaptedLM":
        """Frozen parts stay in eval mode (no dropout: they do not learn); only what trains switches."""
        super().train(False)
        for module in self._trainable_modules:
            module.train(mode)
        self.training = mode
        return self

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task_ids: torch.Tensor):
        """(inputs_embeds, attention_mask, position_ids), with each row's soft prompt prepended."""
        embeds = self.model.get_input_embeddings()(input_ids)  # (B, T, d)
        if self.prompts is not None:
            prompt = self.prompts(task_ids).to(embeds.dtype)     # (B, n, d)
            embeds = torch.cat([prompt, embeds], dim=1)          # (B, n + T, d)
            ones = attention_mask.new_ones(prompt.shape[:2])
            attention_mask = torch.cat([ones, attention_mask], dim=1)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return embeds, attention_mask, position_ids

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """Final hidden states at the token positions, (B, T, d) — soft-prompt positions dropped."""
        embeds, mask, positions = self.embed(input_ids, attention_mask, task_ids)
        out = self.model.base_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=False)
        return out.last_hidden_state[:, self.num_virtual:]

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task_ids: torch.Tensor | None = None):
        """Full next-token logits at every token position (B, T, V); for parity checks and scoring."""
        task_ids = _default_tasks(task_ids, input_ids)
        return self.model.get_output_embeddings()(self.hidden(input_ids, attention_mask, task_ids)).float()

    def loss_terms(self, batch: Batch, trim: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-target-token cross-entropy (N,), the row of each term (N,) — for per-task sums — and
        the targets (N,). Mean it yourself: a mean per target token is what peftlab reports. `trim`: the
        final block's MLP runs only at target positions (`final_mlp_at`); training turns it off under
        --compile and --gradient-checkpointing, which run a block's forward again or trace it."""
        targets = batch.labels[:, 1:]                 # (B, T-1): token t+1 is predicted at t
        keep = targets != IGNORE
        at = F.pad(keep, (self.num_virtual, 1))       # (B, n + T): the same positions, soft prompt included
        with final_mlp_at(self.model, at) if trim else contextlib.nullcontext():
            hidden = self.hidden(batch.input_ids, batch.attention_mask, batch.task_ids)
        logits = self.model.get_output_embeddings()(hidden[:, :-1][keep]).float()  # (N, V)
        rows = torch.nonzero(keep)[:, 0]
        return F.cross_entropy(logits, targets[keep], reduction="none"), rows, targets[keep]


@contextlib.contextmanager
def final_mlp_at(model: nn.Module, positions: torch.Tensor):
    """While open, the last decoder block's `mlp` computes only at `positions` (B, S) bool and returns
    zeros elsewhere — rows whose output the loss never reads. Exact: the same rows through the same
    weights. Left as it is when the block has no `mlp`, when that MLP has an active dropout (fewer rows
    would draw other masks than a full run), or when it returns anything but one tensor per row."""
    mlp = getattr(decoder_blocks(model)[1][-1], "mlp", None)
    if mlp is None or any(isinstance(m, nn.Dropout) and m.p > 0 and m.training for m in mlp.modules()):
        yield
        return
    full = mlp.forward

    def forward(x: torch.Tensor, *args, **kwargs):
        picked = full(x[positions], *args, **kwargs)  # (N, d)
        if not (isinstance(picked, torch.Tensor) and picked.shape == (int(positions.sum()), x.shape[-1])):
            return full(x, *args, **kwargs)  # not a position-wise MLP: run it on everything
        return x.new_zeros(x.shape).index_put((positions,), picked)  # (B, S, d)

    with swapped_forward(mlp, forward):
        yield


def _default_tasks(task_ids: torch.Tensor | None, input_ids: torch.Tensor) -> torch.Tensor:
    return task_ids if task_ids is not None else input_ids.new_zeros(input_ids.shape[0])
