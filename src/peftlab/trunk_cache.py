"""Trunk caching: the later epochs of last-layer run only the block that learns.

Every block below the trained one is frozen and in eval mode (no dropout), so the hidden states that
enter the trained block depend on the example alone. Epoch 1 computes them anyway; every later epoch
can start from them instead of running the frozen trunk again (issue 12: a later epoch >= 10x faster
than the reference's, the same losses to float rounding). A row's states do not depend on its batch:
pads sit to the right of its tokens and the mask hides them.

No per-architecture code: the model still runs its own forward, so the embeddings, the attention
mask and the rotary or position embeddings are computed as always (cheap). Only the slot of the last
frozen block (L-2), whose output is the trained block's input, is swapped for the step:

- capture: `Capture` runs that block and copies its output (each row's real tokens, detached) on the
  way through; there is no extra forward;
- replay: `Replay` returns the cached states, right-padded to the batch's width, and the blocks below
  it become `PassThrough` (their output is their input), so none of the frozen trunk runs.

Under `--packing` the block's input and output are one packed row (`packing`): `Capture` cuts it into
each example's states and `Replay` lays them out again (`packing.unpack_states` / `repack_states`), so
what is cached is the same either way and a resume may switch the flag.

The trained block itself is never wrapped or hooked, so `--compile` and `--gradient-checkpointing`
see it as they always do. A micro-batch replays only when every one of its examples is cached;
otherwise it runs the whole model and captures what is missing. A resume at epoch >= 2 (which starts
with an empty cache) and data-parallel ranks (whose slices change every epoch) therefore need no
special case. A model whose blocks return something other than one (B, T, d) tensor is simply never
replayed. Whatever was swapped is put back in a `finally`.

Storage: host memory up to `--trunk-cache-mb`; beyond it, safetensors shards in the run directory
(`RunDir.trunk_cache`), read back lazily (safetensors maps the file) and deleted when training ends.
States keep the dtype the model produced (bf16 stays bf16).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from . import distributed
from .models import decoder_blocks
from .packing import Layout, packed_layout, repack_states, unpack_states

if TYPE_CHECKING:
    from .pipeline import Prepared
    from .rundir import RunDir

MB = 2 ** 20


class PassThrough(nn.Module):
    """Stands in for a frozen block below the cached states: it returns its hidden states unchanged."""

    runs_attention = False  # a packed forward checks that every block's attention ran: this one has none

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return hidden_states


class Replay(nn.Module):
    """Stands in for the last frozen block: its output is the cached states, whatever it is given, laid
    out as its input is (right-padded rows, or one packed row)."""

    runs_attention = False

    def __init__(self, states: list[torch.Tensor]):
        super().__init__()
        self.states = states  # each example's (T_i, d), on the batch's device

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        layout = packed_layout(kwargs)
        states = repack_states(self.states, layout) if layout else right_padded(self.states, hidden_states.shape[1])
        if hidden_states.shape != states.shape:
            raise RuntimeError(f"trunk cache: replaying {tuple(states.shape)} into a forward of "
                               f"{tuple(hidden_states.shape)}")
        return states


def right_padded(states: list[torch.Tensor], width: int) -> torch.Tensor:
    """Examples' states (T_i, d) as the rows of a right-padded batch (B, width, d), zeros after each."""
    out = states[0].new_zeros((len(states), width, states[0].shape[-1]))
    for row, state in enumerate(states):
        out[row, :state.shape[0]] = state
    return out


class Capture(nn.Module):
    """Runs the last frozen block as it is and hands its output (the trained block's input) to `record`."""

    def __init__(self, block: nn.Module, record: Callable[[Any, dict], None]):
        super().__init__()
        self.block = block
        self.record = record

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = self.block(*args, **kwargs)
        self.record(out, kwargs)
        return out


class NoCache:
    """Every micro-batch runs the whole model (methods that train below the top, or --trunk-cache-mb 0)."""

    def step(self, indices: list[int], attention_mask: torch.Tensor) -> ContextManager:
        return contextlib.nullcontext()


NO_CACHE = NoCache()


class TrunkCache:
    """The trained block's input hidden states per training example index: (T_i, d) over its real tokens."""

    def __init__(self, blocks: nn.ModuleList, budget_mb: float, folder: Path):
        if len(blocks) < 2:
            raise ValueError("a trunk cache needs a frozen block below the trained one")
        self.blocks = blocks
        self.budget = int(budget_mb * MB)
        self.folder = Path(folder)
        self.memory: dict[int, torch.Tensor] = {}
        self.on_disk: dict[int, Path] = {}
        self.memory_bytes = self.disk_bytes = self.shards = 0
        self.captured = self.replayed = 0  # micro-batches run in full / from cached states
        self.usable = True  # False once a block's output was not one (B, T, d) tensor: never replay

    def __contains__(self, index: int) -> bool:
        return index in self.memory or index in self.on_disk

    def __len__(self) -> int:
        return len(self.memory) + len(self.on_disk)

    def step(self, indices: list[int], attention_mask: torch.Tensor) -> ContextManager:
        """Around one micro-batch's forward and backward, for the examples `indices` (batch rows, in
        order) right-padded as `attention_mask` (B, T) says: replay when all are cached, else capture."""
        if not self.usable:
            return contextlib.nullcontext()
        lengths = attention_mask.sum(dim=1).tolist()  # right padding: row r's tokens are [:lengths[r]]
        if all(i in self for i in indices):
            self.replayed += 1
            return self._swapped(Replay(self._states(indices, lengths, attention_mask.device)), skip_below=True)
        self.captured += 1
        record = functools.partial(self._record, indices=indices, lengths=lengths, width=attention_mask.shape[1])
        return self._swapped(Capture(self.blocks[-2], record), skip_below=False)

    def clear(self) -> None:
        """Forget everything and delete this rank's shards (and the cache folder, once it is empty)."""
        self.memory.clear()
        self.on_disk.clear()
        self.memory_bytes = self.disk_bytes = 0
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # other ranks' folders may still be there
            self.folder.parent.rmdir()

    def summary(self) -> dict[str, float]:
        return {"examples": len(self), "memory_mb": self.memory_bytes / MB, "disk_mb": self.disk_bytes / MB,
                "batches_captured": self.captured, "batches_replayed": self.replayed}

    @contextlib.contextmanager
    def _swapped(self, trunk_end: nn.Module, skip_below: bool) -> Iterator[None]:
        """Block L-2 becomes `trunk_end` and, with `skip_below`, blocks 0..L-3 each a `PassThrough`, until
        the context closes (the trained block L-1 stays as it is)."""
        before = list(self.blocks)
        try:
            for i in range(len(before) - 2 if skip_below else 0):
                self.blocks[i] = PassThrough()  # one each: whoever wraps a block's forward wraps it once
            self.blocks[len(before) - 2] = trunk_end
            yield
        finally:
            for i, block in enumerate(before):
                self.blocks[i] = block

    # ------------------------------------------------------------------ capture

    def _record(self, out: Any, block_kwargs: dict, indices: list[int], lengths: list[int], width: int) -> None:
        rows = _example_states(out, packed_layout(block_kwargs), lengths, width)
        if rows is None or [len(r) for r in rows] != lengths:
            self.usable = False  # not the hidden states of this batch: recompute them every epoch
            return
        self._store({i: row.detach().to("cpu", copy=True) for i, row in zip(indices, rows) if i not in self})

    def _store(self, states: dict[int, torch.Tensor]) -> None:
        spill = {}
        for index, state in states.items():
            if self.memory_bytes + state.nbytes <= self.budget:
                self.memory[index] = state
                self.memory_bytes += state.nbytes
            else:
                spill[str(index)] = state
        if spill:
            self._write_shard(spill)

    def _write_shard(self, states: dict[str, torch.Tensor]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        shard = self.folder / f"shard-{self.shards:06d}.safetensors"
        save_file(states, str(shard))
        self.shards += 1
        for key, state in states.items():
            self.on_disk[int(key)] = shard
            self.disk_bytes += state.nbytes

    # ------------------------------------------------------------------ replay

    def _load(self, index: int) -> torch.Tensor:
        if index in self.memory:
            return self.memory[index]
        with safe_open(str(self.on_disk[index]), framework="pt") as f:
            return f.get_tensor(str(index))

    def _states(self, indices: list[int], lengths: list[int], device: torch.device) -> list[torch.Tensor]:
        """The cached states of `indices` (T_i, d) on `device`, each checked against its length now."""
        states = [self._load(i).to(device) for i in indices]
        for index, state, n in zip(indices, states, lengths):
            if state.shape[0] != n:
                raise RuntimeError(f"trunk cache: example {index} has {n} tokens now but {state.shape[0]} "
                                   "when it was cached")
        return states


def _example_states(out: Any, layout: Layout | None, lengths: list[int], width: int) -> list[torch.Tensor] | None:
    """Each example's states (T_i, d) at its real positions, from a block's output: the rows of a
    right-padded batch (B, width, d) cut to `lengths`, or one packed row (1, N, d) cut by `layout`. None
    when `out` is not hidden states of that shape (a block returning a tuple)."""
    if not (isinstance(out, torch.Tensor) and out.dim() == 3):
        return None
    if layout is not None:
        return unpack_states(out, layout) if tuple(out.shape[:2]) == (1, sum(layout.sizes)) else None
    if tuple(out.shape[:2]) != (len(lengths), width):
        return None
    return [row[:n] for row, n in zip(out, lengths)]


@contextlib.contextmanager
def open_trunk_cache(p: Prepared, run: RunDir) -> Iterator[TrunkCache | NoCache]:
    """The run's trunk cache (NO_CACHE when its method trains below the top or the budget is 0); the
    cache's files are deleted on the way out, whether training finished or failed."""
    _, blocks = decoder_blocks(p.adapted.model)
    if not (p.adapted.method.caches_trunk and p.cfg.train.trunk_cache_mb > 0 and len(blocks) >= 2):
        yield NO_CACHE
        return
    cache = TrunkCache(blocks, p.cfg.train.trunk_cache_mb, run.trunk_cache(distributed.rank()))
    cache.clear()  # shards a killed process left behind
    try:
        yield cache
    finally:
        cache.clear()
