"""Decoding's matmuls with weights prepacked for oneDNN: CPU, fp32, no autograd.

A decoding step multiplies a few rows (one per request still decoding) by every weight of the model.
At so few rows the matmul library spends much of each call re-laying the weight out for its kernel
(packing it), every call, every step. oneDNN lays a weight out once (`mkldnn._reorder_linear_weight`)
and then multiplies any number of rows by it (`mkldnn._linear_pointwise`), which is what PyTorch's
own compiler does for frozen weights on a CPU. What it buys is measured by `bench/generation.py
--ablations` (the "no prepacking" side; bench/README.md).

`prepacked_linears(model)` gives every `nn.Linear` of the model that forward while open, for calls of
at most `PACKED_ROWS` rows (the decoding steps; the prefill keeps the library's path). A weight is
packed the first time it is used (so only what generation reads is packed, and LoRA's merged copies,
which stand in for a layer's weight through `functional_call`, are packed as what they are) and the
packs are dropped on exit, their memory handed back to the OS: they are valid only while the weights
do not change, which generation guarantees and training does not — a forward with autograd on, or in
any other dtype or device, takes the layer's own path. The packs are a second copy of the weights they hold (513 MiB for
SmolLM2-135M), so the context stays off when that copy would not fit in half the memory available.

The results are the matmul's to fp32 rounding (another kernel, another summation order), as between
batch sizes; greedy tokens are the same (tests/test_prepacked.py, bench/generation.py's checks).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .models import swapped_forward


class Packs:
    """The packed weights of one `prepacked_linears` context, by `id` of the weight (each weight is held
    beside its pack, so no id is reused while the context is open)."""

    def __init__(self):
        self._packed: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.calls = 0  # forwards that ran packed: lets a caller (a test, a benchmark) see it worked

    def clear(self) -> None:
        self._packed.clear()

    def of(self, weight: torch.Tensor) -> torch.Tensor:
        if id(weight) not in self._packed:
            self._packed[id(weight)] = (weight, torch.ops.mkldnn._reorder_linear_weight(weight))
        return self._packed[id(weight)][1]

    def linear(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        self.calls += 1
        return torch.ops.mkldnn._linear_pointwise(x, self.of(weight), bias, "none", [], "")


def supported(model: nn.Module) -> bool:
    """fp32 weights on the CPU, and this PyTorch build's oneDNN linear ops work (they are internal to
    PyTorch: a build without them, or where they fail, decodes with the layers' own forward)."""
    weight = next(model.parameters())
    return weight.device.type == "cpu" and weight.dtype == torch.float32 and _onednn_linear_works()


@lru_cache(maxsize=None)
def _onednn_linear_works() -> bool:
    """One small packed matmul, checked against `F.linear`, once per process."""
    try:
        weight, x = torch.arange(12.0).view(3, 4), torch.ones(2, 4)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight)
        out = torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")
        return bool(torch.equal(out, F.linear(x, weight)))
    except (AttributeError, RuntimeError):
        return False


def fits(model: nn.Module) -> bool:
    """A copy of every linear weight fits in half of the memory available now."""
    size = sum(m.weight.numel() * m.weight.element_size() for m in _linear_layers(model))
    available = available_bytes()
    return available is None or size <= available // 2


def available_bytes() -> int | None:
    """Memory available to a new allocation without swapping (Linux: MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            return next((int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")), None)
    except OSError:
        return None


@contextlib.contextmanager
def prepacked_linears(model: nn.Module, enabled: bool = True) -> Iterator[Packs | None]:
    """While open, `model`'s `nn.Linear` layers multiply through oneDNN with prepacked weights when
    autograd is off and the input is fp32 on the CPU; yields the `Packs` (None when it stays off: not
    `enabled`, not `supported`, or it does not `fits`). Every layer's own forward is back after."""
    if not (enabled and supported(model) and fits(model)):
        yield None
        return
    packs = Packs()
    try:
        with contextlib.ExitStack() as stack:
            for layer in _linear_layers(model):
                stack.enter_context(swapped_forward(layer, _packed_forward(layer, packs)))
            yield packs
    finally:
        packs.clear()
        _return_freed_memory()


def _linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The layers that run packed (plain `nn.Linear`s; a subclass may compute something else)."""
    return [m for m in model.modules() if type(m) is nn.Linear]


def _return_freed_memory() -> None:
    """Hand the freed packs back to the OS (glibc's `malloc_trim`). glibc keeps freed blocks of their size
    in the process, so without it the process stayed ~470 MiB larger after generating with SmolLM2-135M
    (its packs are 513 MiB), and later phases measured their RSS growth against that slack. No-op where
    the C library is not glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


PACKED_ROWS = 128  # up to this many rows per call a packed weight wins (decoding steps); the prefill's
                  # hundreds of rows are compute-bound, and there the library's own path did better (bench/README.md)


def _packed_forward(layer: nn.Linear, packs: Packs):
    full = layer.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        weight = layer.weight  # the layer's own, or what `functional_call` put in its place (LoRA's merged copy)
        if (torch.is_grad_enabled() or x.shape[:-1].numel() > PACKED_ROWS or x.dtype != torch.float32
                or x.device.type != "cpu" or weight.dtype != x.dtype):
            return full(x)
        return packs.linear(x, weight, layer.bias)

    return forward
