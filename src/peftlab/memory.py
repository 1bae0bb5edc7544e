"""Peak memory of a phase, measured the way the report says it was.

CUDA: `torch.cuda.max_memory_allocated` (everything the caching allocator handed out, weights
included). CPU: peak resident set size growth over the RSS at `start()` — the model is loaded by
then, so the figure is what training adds — sampled every 5 ms from /proc by a daemon thread.
"""

from __future__ import annotations

import os
import threading

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # not Linux: fall back to the high-water mark (an over-estimate of growth)
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    def __init__(self, device: torch.device):
        self.device = device
        self.kind = ("peak GPU memory allocated (CUDA, torch.cuda.max_memory_allocated)" if device.type == "cuda"
                     else "peak RSS growth over the loaded model (CPU)")
        self._baseline = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._baseline = self._peak = rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, rss_bytes())

    def peak_mb(self) -> float:
        """Peak so far in MiB (the measurement keeps running)."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        self._peak = max(self._peak, rss_bytes())
        return (self._peak - self._baseline) / 2**20

    def stop(self) -> float:
        peak = self.peak_mb()
        self._stop.set()
        return peak
