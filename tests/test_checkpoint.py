"""Files that survive a kill: atomic writes, checksummed checkpoints that are skipped when damaged,
last-K retention — and nothing but safetensors and JSON on disk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from peftlab import checkpoint
from peftlab.checkpoint import (
    MANIFEST,
    atomic_save_tensors,
    atomic_write_json,
    checkpoint_name,
    list_checkpoints,
    load_latest,
    verify,
    write_checkpoint,
)
from safetensors.torch import load_file


def tensors(value: float) -> dict[str, dict[str, torch.Tensor]]:
    return {"trainable": {"w": torch.full((64, 64), value)}, "optimizer": {"w::exp_avg": torch.zeros(64, 64)},
            "rng": {"cpu": torch.get_rng_state()}}


def write(root: Path, step: int, epoch: int = 0, keep: int = 5) -> Path:
    return write_checkpoint(root, step, tensors(float(step)), {"step": step, "epoch": epoch}, keep, epoch=epoch)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------------------- atomic writes


def test_atomic_write_json_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "b": [1.5]})
    assert json.loads(target.read_text()) == {"a": 2, "b": [1.5]}
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_failed_write_keeps_the_old_file_intact(tmp_path, monkeypatch, fail_at):
    """A write that dies before its rename (a kill, a full disk) leaves the previous file as it was."""
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"epoch": 1})
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.os, fail_at, boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"epoch": 2})
    with pytest.raises(OSError, match="disk full"):
        atomic_save_tensors(tmp_path / "w.safetensors", {"w": torch.ones(3)})
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert not (tmp_path / "w.safetensors").exists()
    assert leftovers(tmp_path) == []


def test_atomic_save_tensors_roundtrip(tmp_path):
    atomic_save_tensors(tmp_path / "w.safetensors", {"w": torch.arange(6.0).view(2, 3)}, metadata={"format": "pt"})
    assert torch.equal(load_file(tmp_path / "w.safetensors")["w"], torch.arange(6.0).view(2, 3))
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------- checkpoints


def test_checkpoint_roundtrip_with_manifest(tmp_path):
    path = write(tmp_path, 3, epoch=1)
    assert path.name == "step-00000003-epoch-0001"
    manifest = json.loads((path / MANIFEST).read_text())
    assert sorted(manifest) == ["optimizer.safetensors", "rng.safetensors", "state.json", "trainable.safetensors"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in manifest.values())
    loaded, state = load_latest(tmp_path)
    assert state == {"step": 3, "epoch": 1}
    assert torch.equal(loaded["trainable"]["w"], torch.full((64, 64), 3.0))
    assert torch.equal(loaded["rng"]["cpu"], torch.get_rng_state())
    assert leftovers(tmp_path) == []


def test_names_sort_in_the_order_they_are_written():
    """The save after an epoch's last step (same step, next epoch) sorts after that step's own save."""
    written = [(5, 0), (6, 0), (6, 1), (7, 1), (12, 1), (12, 2), (100, 9)]
    names = [checkpoint_name(step, epoch) for step, epoch in written]
    assert names == sorted(names) and len(set(names)) == len(names)


def test_only_the_last_k_are_kept(tmp_path):
    for step in range(1, 8):
        write(tmp_path, step, keep=3)
    assert [p.name for p in list_checkpoints(tmp_path)] == [checkpoint_name(s, 0) for s in (7, 6, 5)]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("damage", ["truncated mid-file", "bit flipped", "manifest missing", "file missing",
                                    "extra file", "manifest not an object", "manifest not json", "empty dir"])
def test_damaged_newest_checkpoint_is_skipped_for_the_previous_one(tmp_path, damage):
    write(tmp_path, 1)
    newest = write(tmp_path, 2)
    weights = newest / "trainable.safetensors"
    data = weights.read_bytes()
    if damage == "truncated mid-file":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "bit flipped":
        weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "manifest missing":  # killed before the manifest was written
        (newest / MANIFEST).unlink()
    elif damage == "file missing":
        (newest / "optimizer.safetensors").unlink()
    elif damage == "extra file":
        (newest / "optimizer.pt").write_bytes(b"\x80\x04pickle")
    elif damage == "manifest not an object":
        (newest / MANIFEST).write_text("[]")
    elif damage == "manifest not json":
        (newest / MANIFEST).write_bytes(b"\xff{")
    else:
        for p in newest.iterdir():
            p.unlink()
    assert not verify(newest)
    with pytest.warns(UserWarning, match=f"{newest.name} is corrupt or partial: skipping it for the previous one"):
        _, state = load_latest(tmp_path)
    assert state["step"] == 1


def test_no_good_checkpoint_means_none(tmp_path):
    assert load_latest(tmp_path / "missing") is None
    only = write(tmp_path, 1)
    (only / "state.json").write_text("{}")
    with pytest.warns(UserWarning):
        assert load_latest(tmp_path) is None


def test_kill_while_writing_leaves_previous_checkpoint_and_is_cleaned_up(tmp_path, monkeypatch):
    """Dying before the final rename leaves a dot-named temp dir that is never listed or loaded; the
    next write removes it."""
    write(tmp_path, 1)
    real = checkpoint.atomic_write_json

    def die_at_manifest(path, obj):
        if Path(path).name == MANIFEST:
            raise KeyboardInterrupt  # anything: SIGKILL cannot be caught, so the cleanup may not run
        real(path, obj)

    monkeypatch.setattr(checkpoint, "atomic_write_json", die_at_manifest)
    monkeypatch.setattr(checkpoint.shutil, "rmtree", lambda *a, **k: None)  # as if killed: no cleanup
    with pytest.raises(KeyboardInterrupt):
        write(tmp_path, 2)
    monkeypatch.undo()
    assert leftovers(tmp_path)  # the half-written dir is still there...
    assert [p.name for p in list_checkpoints(tmp_path)] == [checkpoint_name(1, 0)]  # ...but never listed
    assert load_latest(tmp_path)[1]["step"] == 1
    write(tmp_path, 2)
    assert leftovers(tmp_path) == []


def test_rewriting_a_checkpoint_name_replaces_it(tmp_path):
    """A resume that fell back past a corrupt checkpoint writes that name again: the new one wins."""
    write(tmp_path, 1)
    bad = write(tmp_path, 2)
    (bad / "trainable.safetensors").write_bytes(b"junk")
    write_checkpoint(tmp_path, 2, tensors(42.0), {"step": 2, "epoch": 0}, 5)
    loaded, state = load_latest(tmp_path)
    assert state["step"] == 2 and loaded["trainable"]["w"][0, 0].item() == 42.0
    assert leftovers(tmp_path) == []


def test_package_never_unpickles():
    """Only safetensors and JSON are read: no torch.load, pickle or numpy object loading in peftlab."""
    root = Path(checkpoint.__file__).parent
    pattern = re.compile(r"torch\.load\(|import (c?pickle|dill|joblib)|pickle\.loads?\(|allow_pickle\s*=\s*True|"
                         r"use_safetensors\s*=\s*False")
    offenders = [f"{p.relative_to(root)}:{n}" for p in root.rglob("*.py")
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []
