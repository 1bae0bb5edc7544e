"""Gradient checkpointing (`--gradient-checkpointing`): each decoder block keeps only its input for the
backward pass and runs its forward a second time there, trading ~one more forward for the activations
that dominate training memory (attention scores, MLP intermediates: many times the hidden states).

Why peftlab does it itself: transformers' `gradient_checkpointing_enable()` checks `self.training` on
every block, and `AdaptedLM.train()` keeps the frozen model in eval mode (no dropout in what does not
learn), so transformers' switch would never fire. Instead, for the length of one forward, every block's
`forward` is replaced by an instance attribute that runs the class's forward through
`torch.utils.checkpoint.checkpoint(use_reentrant=False)`; the `finally` removes it again. No module is
wrapped, so parameter names — checkpoint keys, the PEFT format — stay what they are.

Non-reentrant checkpointing passes keyword arguments through (transformers' blocks take the mask and
position embeddings as keywords), needs no input that requires grad, and composes with data parallelism.
Its recompute restores the RNG state of the forward (`preserve_rng_state`), so LoRA dropout draws the same
mask twice: losses and gradients equal those of a run without the flag.

A block whose output needs no gradient — frozen weights fed by frozen embeddings, every block before
last-layer's — keeps nothing for the backward pass in the first place, so it runs as it is.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .models import decoder_blocks, swapped_forward


@contextlib.contextmanager
def checkpointed_blocks(model: nn.Module) -> Iterator[None]:
    """While open, every decoder block of `model` that is part of a gradient path runs checkpointed;
    whatever `forward` each block had before is back afterwards, also when the forward raises."""
    _, blocks = decoder_blocks(model)
    with contextlib.ExitStack() as stack:
        for block in blocks:
            stack.enter_context(swapped_forward(block, _checkpointed(block.forward, trainable=_has_trainable(block))))
        yield


def _checkpointed(forward: Callable, trainable: bool) -> Callable:
    """`forward`, checkpointed whenever its output will need a gradient (the block trains, or its input
    carries a gradient path: a soft prompt, LoRA in an earlier block)."""

    @functools.wraps(forward)
    def run(*args, **kwargs):
        if not torch.is_grad_enabled() or not (trainable or _any_needs_grad(args, kwargs)):
            return forward(*args, **kwargs)
        return checkpoint(functools.partial(forward, **kwargs), *args, use_reentrant=False)

    return run


def _has_trainable(block: nn.Module) -> bool:
    return any(p.requires_grad for p in block.parameters())


def _any_needs_grad(args: tuple, kwargs: dict) -> bool:
    return any(isinstance(a, torch.Tensor) and a.requires_grad for a in (*args, *kwargs.values()))
