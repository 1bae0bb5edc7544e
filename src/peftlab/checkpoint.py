"""Files that must survive a kill: atomic writes, checksummed checkpoints, last-K retention.

Every file is written to a temporary name, fsynced and renamed, so a reader sees the old file or the
new one, never half of one. A checkpoint is a directory `checkpoints/step-NNNNNNNN-epoch-EEEE/` holding
safetensors (trainable weights, optimizer moments, RNG states) and `state.json`; its `manifest.json`
(sha256 of every file) is written last and checked on load, so a truncated or partial checkpoint is
detected and skipped in favour of the previous good one. Only safetensors and JSON: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"      # a checkpoint being written
TRASH_PREFIX = ".trash-"  # a checkpoint being deleted


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors bytes through `atomic_write_bytes`: temp file, fsync, rename."""
    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    atomic_write_bytes(path, data)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_name(step: int, epoch: int) -> str:
    """`step-00000012-epoch-0002`: sorts in the order checkpoints are written, and the save after an
    epoch's last step (same step, next epoch) gets a name of its own, so no checkpoint is ever
    replaced in place while it is the newest one."""
    return f"step-{step:08d}-epoch-{epoch:04d}"


def write_checkpoint(root: Path, step: int, tensors: dict[str, dict[str, torch.Tensor]], state: dict, keep: int,
                     *, epoch: int = 0) -> Path:
    """Write `root/<checkpoint_name>/` atomically: files in a temp dir, manifest last, then one rename."""
    root.mkdir(parents=True, exist_ok=True)
    _discard_leftovers(root)
    final = root / checkpoint_name(step, epoch)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{final.name}.", dir=root))
    try:
        for name, group in tensors.items():
            atomic_save_tensors(tmp / f"{name}.safetensors", group)
        atomic_write_json(tmp / "state.json", state)
        files = sorted(p.name for p in tmp.iterdir())
        atomic_write_json(tmp / MANIFEST, {name: sha256(tmp / name) for name in files})
        if final.exists():  # only when replaying after a fallback: the old one was corrupt
            _discard(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root, keep)
    return final


def _discard(path: Path) -> None:
    """Rename out of the listing first, then delete: a kill mid-delete never leaves a half checkpoint
    under a real name."""
    trash = Path(tempfile.mkdtemp(prefix=f"{TRASH_PREFIX}{path.name}.", dir=path.parent))
    os.replace(path, trash / path.name)
    shutil.rmtree(trash, ignore_errors=True)


def _discard_leftovers(root: Path) -> None:
    """Temp and trash dirs a killed run left behind (never listed, never loaded) are deleted."""
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith((TMP_PREFIX, TRASH_PREFIX)):
            shutil.rmtree(p, ignore_errors=True)


def _prune(root: Path, keep: int) -> None:
    for old in list_checkpoints(root)[keep:]:
        _discard(old)


def list_checkpoints(root: Path) -> list[Path]:
    """Checkpoint dirs, newest first (temp dirs start with '.' and are never listed)."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-")), reverse=True)


def verify(path: Path) -> bool:
    """True when the manifest lists exactly the files present (state.json among them) and every
    checksum matches: a partial, truncated or tampered checkpoint fails."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        present = {p.name for p in path.iterdir()} - {MANIFEST}
        return (isinstance(manifest, dict) and "state.json" in manifest and set(manifest) == present
                and all(sha256(path / name) == digest for name, digest in manifest.items()))
    except (OSError, ValueError):
        return False


def load_latest(root: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict] | None:
    """The newest checkpoint that passes its checksums; corrupt ones are skipped with a warning."""
    for path in list_checkpoints(root):
        if not verify(path):
            warnings.warn(f"checkpoint {path} is corrupt or partial: skipping it for the previous one", stacklevel=2)
            continue
        state = json.loads((path / "state.json").read_text())
        tensors = {p.stem: load_file(p) for p in path.glob("*.safetensors")}
        return tensors, state
    return None
