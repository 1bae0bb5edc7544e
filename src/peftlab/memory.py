"""Peak memory of a phase, measured the way the report says it was.

What "peak memory" means depends on the device, and `PeakMemory.kind` says which one a figure is:

- CUDA: `torch.cuda.max_memory_allocated` since `start()` reset the peak — everything PyTorch's
  caching allocator handed out on that GPU, the model's weights included (not the allocator's
  reserved-but-unused cache, and not the CUDA context).
- CPU: growth of the process's resident set size (RSS) over the RSS at `start()`. The model is
  loaded by then, so the figure is what training adds (activations, gradients, optimizer state),
  not the weights. RSS is sampled every 5 ms from /proc by a daemon thread, so a spike shorter than
  that can be missed.
"""

from __future__ import annotations

import os
import threading

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CUDA_KIND = "peak GPU memory allocated (CUDA, torch.cuda.max_memory_allocated)"
CPU_KIND = "peak RSS growth over the loaded model (CPU)"


def rss_bytes() -> int:
    """This process's resident set size now, in bytes (Linux: /proc/self/statm).

    Elsewhere it falls back to the lifetime high-water mark (`ru_maxrss`), which can only over-state
    a phase's growth: the peak may predate `start()`.
    """
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # not Linux: fall back to the high-water mark (an over-estimate of growth)
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Peak memory from `start()` on: `max_memory_allocated` on CUDA, RSS growth on CPU.

    `kind` is the sentence the report prints beside the figure, so a reader knows which of the two
    was measured. On CPU a background thread samples RSS until `stop()`.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.kind = CUDA_KIND if device.type == "cuda" else CPU_KIND
        self._baseline = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "PeakMemory":
        """Begin measuring: reset CUDA's peak counter, or record the CPU baseline RSS and sample."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._baseline = self._peak = rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        """CPU only: keep the highest RSS seen, every 5 ms, until `stop()`."""
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, rss_bytes())

    def peak_mb(self) -> float:
        """Peak so far in MiB (the measurement keeps running).

        CUDA: allocated bytes at the peak, weights included. CPU: peak RSS minus the RSS at
        `start()`; zero when the phase never grew the process past that baseline.
        """
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        self._peak = max(self._peak, rss_bytes())
        return (self._peak - self._baseline) / 2**20

    def stop(self) -> float:
        """The final peak in MiB (see `peak_mb`); stops the CPU sampling thread."""
        peak = self.peak_mb()
        self._stop.set()
        return peak
