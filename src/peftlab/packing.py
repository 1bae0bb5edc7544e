"""Packed micro-batches (`--packing`): a batch's rows laid end to end in one row, so no position is padding.

Shuffled batches pad: on the built-in QA and translation data 15-25% of a batch's positions are padding
at batch 4-8, and real datasets of mixed length pad more. `adapted.mlps_at` already keeps the MLPs (three
quarters of a block's matmuls) off the padding; packing removes the rest — the attention projections,
attention itself, the norms — so a step computes real tokens only. The batches stay the ones the
schedule drew (same examples per step, same order, so quality is the shuffled path's), and so does the
math, row for row:

- every example keeps its own positions (from its mask, soft prompt included, as `AdaptedLM.embed`
  gives them), so rotary or learned position embeddings see what they see in the padded batch;
- attention stays inside each example: for the forward, the model's attention implementation is
  `SEGMENTED`, a function registered with transformers' `AttentionInterface` that runs transformers'
  own SDPA attention on each example's slice alone, causal. The slices come as `cu_seq_lens_q`, the
  keyword transformers passes through to attention for flash-attention's variable-length kernels;
- the loss reads the same target positions, in the same order;
- what every example of the batch begins with — the task's soft prompt, then the instruction tokens
  all its rows start with (`AdaptedLM.shared_columns`) — sits in the row once, in front, and each
  example attends to it and then to itself. Under causal attention those columns' states are the
  same in every example, so computing them once is exact; on the built-in summaries (5 virtual tokens,
  a 12-token instruction, ~145 tokens a row) that is ~9% of a prompt-tuning batch's positions at batch
  4. It is off while a dropout is active (LoRA's `--dropout`): each row would draw its own mask there.

`AdaptedLM.loss_terms(batch, packed=True)` runs it: `pack` lays the embedded batch out, and the forward
runs inside `attention_by_segments`.

Only the forward sees packing: the backward replays what autograd recorded. So it does not combine with
`--gradient-checkpointing` (which re-runs the forward in the backward) or `--compile` (config validation
refuses both in one line). Dropout draws (LoRA's, GPT-2's in last-layer's block) fall on the packed rows, so
they differ from a padded run's draws, as they would with another batch size. Last-layer's trunk cache keeps
each example's states whatever the layout they were computed in: `packed_layout` tells a block's stand-in
that its forward is packed, `unpack_states` and `repack_states` convert.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import lru_cache

import torch
import torch.nn.functional as F

from .errors import UsageError

SEGMENTED = "peftlab_segmented"


def segmented_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, *, cu_seq_lens_q: torch.Tensor, packed_layers: list,
                        shared_prefix: int = 0, **kwargs):
    """transformers' SDPA attention on each example of a packed row alone (causal within it): query
    (1, heads, N, dim), key/value (1, kv heads, N, dim) -> ((1, N, heads, dim), None), as SDPA returns.
    With `shared_prefix` P > 0 the row's first segment is the prefix every example begins with (`pack`),
    and each later segment attends to it, then to itself. Appends to `packed_layers` (the forward's own
    list), so the caller can tell it ran."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    packed_layers.append(module)
    sizes = segment_sizes(cu_seq_lens_q)
    # One split per tensor (its backward is one cat), not a slice per segment (each slice's backward
    # writes a zero tensor of the whole row's size).
    segments = list(zip(*(t.split(sizes, dim=2) for t in (query, key, value))))  # each (q, k, v) of one segment
    outputs = []
    for i, (q, k, v) in enumerate(segments):
        lead = shared_prefix if i else 0  # an example after the shared prefix (segment 0 is the prefix itself)
        if lead:
            # The prefix's columns in front of the example's: causal attention over the P + length
            # columns is then exactly "the prefix, then itself" for the example's queries, and runs
            # SDPA's causal kernel (a mask would compute every block). The prefix's own query rows ride
            # along and are dropped.
            q, k, v = (torch.cat([prefix, t], dim=2) for prefix, t in zip(segments[0], (q, k, v)))
        out = sdpa_attention_forward(module, q, k, v, None, **kwargs)[0]  # (1, lead + length, heads, dim)
        outputs.append(out[:, lead:] if lead else out)
    return torch.cat(outputs, dim=1), None


def segment_sizes(bounds: torch.Tensor) -> list[int]:
    """Each segment's length, from a packed row's `bounds` (segments + 1,): where each starts and ends."""
    return (bounds[1:] - bounds[:-1]).tolist()


@lru_cache(maxsize=None)
def _registered() -> str:
    """Register `segmented_attention` under `SEGMENTED` once (transformers loads lazily, with the model).
    A name of its own, with no mask function: transformers then builds no mask for it."""
    from transformers import AttentionInterface

    AttentionInterface.register(SEGMENTED, segmented_attention)
    return SEGMENTED


@contextlib.contextmanager
def attention_by_segments(model: torch.nn.Module):
    """While open, `model` attends with `segmented_attention`; its own implementation is back after,
    also when the body raises."""
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = _registered()
    try:
        yield
    finally:
        config._attn_implementation = before


@dataclass
class PackedRow:
    """A padded batch's real positions laid end to end (N of them, soft prompts included)."""

    embeds: torch.Tensor     # (1, N, d)
    positions: torch.Tensor  # (1, N): each example's own, from 0
    at: torch.Tensor         # (1, N) bool: the positions asked for, in the padded layout's row-major order
    bounds: torch.Tensor     # (segments + 1,) int32 on the CPU: where each segment starts and ends
    shared: int = 0          # P: the first segment is the prefix all B examples share, the next B their rest
    layers: list = field(default_factory=list)  # the attention modules that ran segmented, filled by the forward

    def attention_kwargs(self) -> dict:
        """What the model's forward passes through to attention: the segments (flash-attention's
        variable-length names), the shared prefix's length and the list `segmented_attention` reports to."""
        longest = max(segment_sizes(self.bounds))
        return {"cu_seq_lens_q": self.bounds, "cu_seq_lens_k": self.bounds, "max_length_q": longest,
                "max_length_k": longest, "shared_prefix": self.shared, "packed_layers": self.layers}

    def check_attended(self, expected: int) -> None:
        """Refuse a model whose attention did not run segmented (it does not pass the forward's keywords
        to transformers' attention interface): its examples would have attended to each other."""
        if len(self.layers) != expected:
            raise UsageError(f"--packing needs a model whose {expected} attention layers use transformers' attention "
                             f"interface; {len(self.layers)} did here: drop --packing for this model")


@dataclass(frozen=True)
class Layout:
    """How a packed forward's row is cut: each segment's size, and P, the shared prefix's columns (the
    first segment when P > 0)."""

    sizes: list[int]
    shared: int


def packed_layout(block_kwargs: dict) -> Layout | None:
    """The layout of the row a decoder block is given, read from the keywords every block of a packed
    forward receives (`PackedRow.attention_kwargs`); None in a padded forward."""
    if "packed_layers" not in block_kwargs:
        return None
    return Layout(segment_sizes(block_kwargs["cu_seq_lens_q"]), block_kwargs.get("shared_prefix", 0))


def unpack_states(row: torch.Tensor, layout: Layout) -> list[torch.Tensor]:
    """A packed row's states (1, N, d) as each example's own (T_i, d), the shared prefix in front of each:
    what the example's row of the padded batch holds at its real positions."""
    segments = row[0].split(layout.sizes)
    if not layout.shared:
        return list(segments)
    return [torch.cat([segments[0], own]) for own in segments[1:]]


def repack_states(states: list[torch.Tensor], layout: Layout) -> torch.Tensor:
    """The inverse of `unpack_states`: examples' states (T_i, d) as one packed row (1, N, d), the shared
    prefix once, from the first example (every example holds the same states there)."""
    p = layout.shared
    parts = [states[0][:p], *(s[p:] for s in states)] if p else states
    return torch.cat(parts)[None]


def pack(embeds: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, at: torch.Tensor,
         shared: int = 0) -> PackedRow:
    """`embeds` (B, S, d), `mask` (B, S) (1 = a position that holds something), `positions` (B, S) and `at`
    (B, S) bool, as one row without the padding. `shared` P: every row holds the same input in its first
    P columns (`AdaptedLM.shared_columns`) and none of them is in `at`; the row then holds them once, in
    front, and each example only its columns after them."""
    tokens = mask.bool()
    keep = tokens.clone()
    keep[1:, :shared] = False  # the prefix from the first row only
    index = keep.flatten().nonzero().squeeze(1)  # (N,) the kept positions' places in the flattened batch
    lengths = tokens.sum(-1) - shared
    if shared:
        lengths = torch.cat([lengths.new_tensor([shared]), lengths])
    bounds = F.pad(lengths.cumsum(0), (1, 0)).to("cpu", torch.int32)  # read on the host by every layer
    return PackedRow(embeds.flatten(0, 1).index_select(0, index)[None], positions.flatten()[index][None],
                     at.flatten()[index][None], bounds, shared)
