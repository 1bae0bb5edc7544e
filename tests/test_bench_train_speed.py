"""bench/train_speed.py end to end on a tiny random Llama: every method has its four sides (reference
padded to --max-length, reference padded per batch, peftlab train as it ships — the reference's
batches —, peftlab train on length-grouped batches); on the same batches the step-1 losses agree — the reference
(PEFT + a hand-written loop) and peftlab compute the same loss — and grouping pads less. With --rounds 2
every side runs twice and the table gives the medians. The optional packed side (--packing: the same
batches without padding) runs for every method, and prompt's and last-layer's agree at step 1 too; its ablation without
the shared prefix gives the packed side's losses at every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[1]


def test_sides_on_the_same_batches_agree_at_step_1_and_grouping_pads_less(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "train_speed.py"), "--model", "random:tiny-llama",
                           "--steps", "2", "--max-length", "160", "--matmul-size", "256", "--rounds", "2",
                           "--sides", "ref-fixed,ref-dynamic,peftlab,peftlab-grouped,peftlab-packed,peftlab-packed-unshared",
                           "--out-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    [result] = tmp_path.glob("*.json")
    table = (tmp_path / f"{result.stem}.md").read_text()
    assert table.count("| peftlab |") == 3 and table.count("| peftlab-grouped |") == 3
    assert table.count("| peftlab-packed |") == table.count("| peftlab-packed-unshared |") == 3
    assert "| spread |" in table and "- rounds: 2 (medians)" in table
    methods = json.loads(result.read_text())["methods"]
    assert set(methods) == {"prompt", "lora", "last-layer"}
    for method, sides in methods.items():
        assert set(sides) == {"ref-fixed", "ref-dynamic", "peftlab", "peftlab-grouped", "peftlab-packed",
                              "peftlab-packed-unshared"}, method
        same_draws = ("ref-fixed", "ref-dynamic", "peftlab") + (("peftlab-packed",) if method != "lora" else ())
        firsts = [sides[s]["losses"][0] for s in same_draws]  # packed LoRA draws its dropout over other rows
        assert max(firsts) - min(firsts) < 1e-4, (method, firsts)
        # computing the shared prefix once changes no loss (LoRA's dropout: the same draws)
        for shared, unshared in zip(sides["peftlab-packed"]["losses"], sides["peftlab-packed-unshared"]["losses"]):
            assert shared == pytest.approx(unshared, abs=1e-4), method
        for side in sides.values():
            assert len(side["losses"]) == 2 and side["tokens"] > 0 and side["tokens_per_s"] > 0
            rounds = [r["tokens_per_s"] for r in side["rounds"]]
            assert len(rounds) == 2 and side["tokens_per_s"] == pytest.approx(sum(rounds) / 2)  # median of two
        # the same real tokens on every side: the same examples (prompt's are 5 shorter: its soft prompt)
        assert len({side["tokens"] for side in sides.values()}) == 1, method
        positions = sides["ref-fixed"]["positions"]
        assert sides["ref-fixed"]["tokens"] <= positions["grouped"] <= positions["random"] < positions["fixed"]


def bench_module(name: str):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_the_table_of_a_two_epoch_run_reads_its_steady_state_against_each_reference():
    """The H100 run's stored figures give back its printed table, later-epoch ratios included (the
    steady state past the GPU's per-shape warm-up: peftlab's LoRA epoch 2 against the references')."""
    train_speed = bench_module("train_speed")
    stem = ROOT / "bench" / "results" / "vm-20261124T120151"
    table = train_speed.make_table(json.loads(stem.with_suffix(".json").read_text())["methods"])
    assert table in stem.with_suffix(".md").read_text()
    lora = next(line for line in table.splitlines() if line.startswith("| lora | peftlab |")).split(" | ")
    assert lora[train_speed.COLUMNS.index("later epochs × ref-fixed / ref-dynamic")] == "1.02 / 1.16"


def test_profile_step_profiles_both_sides_on_the_same_batches(capsys):
    profile_step = bench_module("profile_step")
    assert profile_step.main(["--method", "lora", "--model", "random:tiny-llama", "--warmup", "1",
                              "--profile-steps", "1", "--rows", "5", "--max-length", "96"]) == 0
    out = capsys.readouterr().out
    for side in ("peftlab", "reference (dynamic pad)"):
        section = out.split(f"## {side}: ")[1].split("## ")[0]
        assert float(section.split(" ms per step")[0]) > 0 and "aten::" in section, side
