"""Peak memory on CPU: the figure is RSS growth since `start()`, labelled as such for the report."""

from __future__ import annotations

import mmap

import torch

from peftlab.memory import PeakMemory, rss_bytes


def test_cpu_kind_names_rss_growth():
    # results.json and the report print this sentence verbatim beside the figure
    assert PeakMemory(torch.device("cpu")).kind == "peak RSS growth over the loaded model (CPU)"


def test_cpu_peak_is_growth_over_the_start_baseline():
    memory = PeakMemory(torch.device("cpu")).start()
    assert memory.peak_mb() >= 0.0  # the baseline is subtracted: nothing loaded before counts
    # 64 MiB of fresh anonymous pages, touched so they are resident. Not a tensor: malloc may hand a tensor
    # blocks an earlier test freed and glibc kept resident, which is no growth at all (seen after generation).
    block = mmap.mmap(-1, 64 * 2**20)
    block.write(b"\1" * len(block))
    grown = memory.stop()
    block.close()
    assert 48.0 <= grown < 1024.0
    assert rss_bytes() > 0
