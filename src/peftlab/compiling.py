"""`--compile`: the decoder blocks run through `torch.compile` while training steps run.

Why blocks and why only during steps: an eager CPU step spends about as long in element-wise kernels
(RMSNorm, rotary embeddings, SiLU x up, residual adds, and their backwards — each a pass over memory)
as in matrix products; inductor fuses them. Every block has the same code, so one compiled graph (with
a symbolic sequence length, `dynamic=True`) serves all of them and each batch width. Compiling takes
tens of seconds on a laptop CPU, so it pays on long runs and is off by default. Evaluation and
generation (other shapes, a KV cache) stay eager: the compiled call is set on each block for the
duration of `active()` and removed after, so nothing outside training sees it and the modules keep
their parameter names (checkpoints and adapters are unchanged).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import torch
from torch import nn

from .errors import UsageError
from .models import decoder_blocks


class CompiledBlocks:
    """The compiled call of every decoder block of `model`, built once (compilation itself happens at
    the first step, and again only for a shape class it has not seen)."""

    def __init__(self, model: nn.Module, device: torch.device):
        _check_compiler(device)
        _, self.blocks = decoder_blocks(model)
        self.calls = [torch.compile(block._call_impl, dynamic=True) for block in self.blocks]

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Blocks called inside run compiled (as `nn.Module.compile` would set them), eager again after."""
        try:
            for block, call in zip(self.blocks, self.calls):
                block._compiled_call_impl = call
            yield
        finally:
            for block in self.blocks:
                block._compiled_call_impl = None


def compiled_blocks(model: nn.Module, device: torch.device, enabled: bool) -> CompiledBlocks | _NotCompiled:
    """What a training step runs inside: `CompiledBlocks(...).active()` per step when `enabled`."""
    return CompiledBlocks(model, device) if enabled else _NOT_COMPILED


class _NotCompiled:
    """`--compile` off: steps run eager."""

    def active(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


_NOT_COMPILED = _NotCompiled()


def _check_compiler(device: torch.device) -> None:
    """Inductor writes C++ on CPU: without a compiler the first step would fail deep inside torch."""
    if device.type == "cpu" and not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        raise UsageError("--compile on CPU needs a C++ compiler (g++ or clang++) for torch.compile: install one "
                         "(e.g. apt install g++) or drop --compile")
