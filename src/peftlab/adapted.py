"""`AdaptedLM`: the frozen base model plus what one method adds, behind one forward.

- LoRA and last-layer change the base model in place (wrapped layers, an unfrozen block).
- Prompt tuning adds `SoftPrompts`; `embed` prepends the row's task prompt to the token embeddings
  and extends the attention mask. Positions come from the mask (`cumsum - 1`), so left padding,
  right padding or a soft prompt in front never shift a token's position: a row's result does not
  depend on its batch.

The loss runs the LM head only on positions that carry a target (next-token prediction), which saves
the vocabulary projection on every prompt and pad token. For the same reason the blocks' MLPs run only
where their output is read (`mlps_at`): the final block's at the target positions (nothing after that
MLP mixes positions; keys and values, which every position needs, come before it), every other
block's at the real tokens, not the padding (no attention reads a pad). On random batches of the
built-in QA and translation data, padding is 15-25% of the positions.

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
from .packing import attention_by_segments, pack

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

    def tokens(self, batch: Batch) -> torch.Tensor:
        """(B, n + T) bool: the positions that hold a token (soft prompt included), not padding."""
        return F.pad(batch.attention_mask.bool(), (self.num_virtual, 0), value=True)

    def targets_at(self, batch: Batch) -> torch.Tensor:
        """(B, n + T) bool: the positions whose next token is a target (soft prompt included) — where the
        LM head runs and the loss is read."""
        return F.pad(batch.labels[:, 1:] != IGNORE, (self.num_virtual, 1))  # token t+1 is predicted at t

    def loss_terms(self, batch: Batch, trim: bool = True, packed: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-target-token cross-entropy (N,), the row of each term (N,) — for per-task sums — and
        the targets (N,). Mean it yourself: a mean per target token is what peftlab reports. `trim`: the
        MLPs run only where their output is read (`mlps_at`); training turns it off under --compile and
        --gradient-checkpointing, which run a block's forward again or trace it. `packed` (--packing):
        the forward runs the batch as one row without padding (`packing`), the same terms."""
        at = self.targets_at(batch)                   # (B, n + T)
        targets = batch.labels[:, 1:]                 # (B, T-1): token t+1 is predicted at t
        keep = at[:, self.num_virtual:-1]             # (B, T-1): the same positions, without the soft prompt
        hidden = self._packed_hidden_at(batch, at, trim) if packed else self._hidden_at(batch, at, trim)  # (N, d)
        logits = self.model.get_output_embeddings()(hidden).float()  # (N, V)
        rows = torch.nonzero(keep)[:, 0]
        return F.cross_entropy(logits, targets[keep], reduction="none"), rows, targets[keep]

    def _hidden_at(self, batch: Batch, at: torch.Tensor, trim: bool) -> torch.Tensor:
        """Final hidden states at `at` (B, n + T) bool, from the padded batch: (N, d), row-major."""
        with mlps_at(self.model, self.tokens(batch), at) if trim else contextlib.nullcontext():
            hidden = self.hidden(batch.input_ids, batch.attention_mask, batch.task_ids)  # (B, T, d)
        return hidden[at[:, self.num_virtual:]]

    def _packed_hidden_at(self, batch: Batch, at: torch.Tensor, trim: bool) -> torch.Tensor:
        """The same as `_hidden_at`, from one forward of the batch packed into a row (`packing.pack`):
        no padding left, and the columns every row shares (`shared_columns`) run once; only the final
        block's MLP has positions to skip."""
        row = pack(*self.embed(batch.input_ids, batch.attention_mask, batch.task_ids), at,
                   shared=self.shared_columns(batch, at))
        with attention_by_segments(self.model), \
                mlps_at(self.model, torch.ones_like(row.at), row.at) if trim else contextlib.nullcontext():
            out = self.model.base_model(inputs_embeds=row.embeds, position_ids=row.positions, use_cache=False,
                                        **row.attention_kwargs())
        # Every block's attention must have run segmented; the trunk cache's stand-ins for frozen blocks
        # (`runs_attention = False`) have none to run.
        row.check_attended(sum(getattr(b, "runs_attention", True) for b in decoder_blocks(self.model)[1]))
        return out.last_hidden_state[row.at]

    def shared_columns(self, batch: Batch, at: torch.Tensor) -> int:
        """P: how many leading columns (soft prompt included) hold the same input, through the same
        parameters, in every row of `batch` — the same task's soft prompt, then the same tokens — before
        any column in `at` (B, n + T) bool. Causal attention makes their keys, values and states the same
        in every row too, so a packed forward can compute them once and let each row attend to them
        (`packing.pack`); the gradient reaching them is the sum over rows either way. 0 with one row, and
        while a dropout is active: every row draws its own mask there, so the rows' columns differ."""
        rows = batch.input_ids.shape[0]
        if rows < 2 or drops_out(self):
            return 0
        if self.prompts is not None and not bool((batch.task_ids == batch.task_ids[0]).all()):
            return 0  # other tasks' prompts: nothing in common, not even the first column
        same = (batch.input_ids == batch.input_ids[:1]) & batch.attention_mask.bool()  # (B, T)
        tokens = int(same.all(0).long().cumprod(0).sum())  # leading token columns alike in every row
        targets = at.any(0).nonzero()
        first_target = int(targets[0]) if len(targets) else at.shape[1]
        return min(self.num_virtual + tokens, first_target)


@contextlib.contextmanager
def mlps_at(model: nn.Module, tokens: torch.Tensor, targets: torch.Tensor):
    """While open, every decoder block's `mlp` computes only where its output is ever read and returns
    zeros elsewhere: the last block's at `targets` (B, S) bool — nothing after it mixes positions, and
    the loss reads only there — and the other blocks' at `tokens` (B, S) bool, the real tokens (padding
    is masked out of every attention, so no token reads a pad's state). Exact: the same rows through
    the same weights. See `mlp_only_at` for the blocks it leaves alone."""
    blocks = decoder_blocks(model)[1]
    padded = not bool(tokens.all())  # without padding the lower blocks have nothing to skip
    with contextlib.ExitStack() as stack:
        if padded:
            token_rows = _flat_rows(tokens)  # once for every lower block
            for block in blocks[:-1]:
                stack.enter_context(mlp_only_at(block, token_rows))
        stack.enter_context(mlp_only_at(blocks[-1], _flat_rows(targets)))
        yield


def _flat_rows(positions: torch.Tensor) -> torch.Tensor:
    """(N,) the rows of the flattened (B * S) positions that are True in `positions` (B, S)."""
    return positions.flatten().nonzero().squeeze(1)


def mlp_only_at(block: nn.Module, index: torch.Tensor) -> ContextManager:
    """While open, `block.mlp` runs only on the rows `index` (N,) of its flattened (B * S) input and
    returns zeros at the others. Left as it is when the block has no `mlp`, when that MLP has an active
    dropout (fewer rows would draw other masks than a full run), or when it returns anything but one
    tensor per row."""
    mlp = getattr(block, "mlp", None)
    if mlp is None or drops_out(mlp):
        return contextlib.nullcontext()
    full = mlp.forward

    def forward(x: torch.Tensor, *args, **kwargs):
        flat = x.flatten(0, -2)                                         # (B * S, d)
        picked = full(flat.index_select(0, index), *args, **kwargs)     # (N, d)
        if not (isinstance(picked, torch.Tensor) and picked.shape == (len(index), x.shape[-1])):
            return full(x, *args, **kwargs)  # not a position-wise MLP: run it on everything
        return picked.new_zeros(flat.shape).index_copy(0, index, picked).view(x.shape)  # (B, S, d), the MLP's dtype

    return swapped_forward(mlp, forward)


def drops_out(module: nn.Module) -> bool:
    """Whether a dropout inside `module` is active (p > 0, training): then the same input gives other
    outputs per row and per call, so computing fewer or shared rows would draw other masks."""
    return any(isinstance(m, nn.Dropout) and m.p > 0 and m.training for m in module.modules())


def _default_tasks(task_ids: torch.Tensor | None, input_ids: torch.Tensor) -> torch.Tensor:
    return task_ids if task_ids is not None else input_ids.new_zeros(input_ids.shape[0])
