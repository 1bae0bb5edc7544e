"""bench/generation.py end to end on a tiny random Llama: both cases (prompt, LoRA) time PEFT's
`generate` and peftlab's eval path on the same requests, and their checks pass (peftlab == PEFT on
unpadded rows; every ablation, plain matmuls instead of prepacked weights included, == peftlab on every
row)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[1]


def test_both_cases_time_every_side_and_pass_their_checks():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "generation.py"), "--model", "random:tiny-llama",
                           "--tasks", "summarize,qa", "--per-task", "5", "--max-new-tokens", "4", "--repeats", "1",
                           "--ref-batch-size", "2", "--ablations"],
                          capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "CPU capability" in out and "fp32" in out and "load average" in out
    for case in ("prompt (20 virtual)", "LoRA r=8"):
        assert f"| {case} | PEFT generate | 2 + 2 + 1 + 2 + 2 + 1 rows |" in out
        assert f"| {case} | peftlab | 5 + 5 rows |" in out
        assert f"| {case} | peftlab, batch 2 |" in out
        assert f"| {case} | peftlab, no prepacking | 5 + 5 rows |" in out  # a CPU in fp32
    assert "| prompt (20 virtual) | peftlab, no prefix cache |" in out
    assert out.count("\nok    ") == 9 and "FAIL" not in out
