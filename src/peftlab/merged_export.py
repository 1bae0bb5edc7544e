"""`peftlab export --merged`: a standalone HuggingFace model with the adapter folded into its weights.

Each method merges itself (`Method.merged`): LoRA folds `alpha/r * B A` into W and unwraps its layers,
so the saved keys are the base model's plain names; last-layer saves the model as it stands; prompt
tuning cannot be merged (a soft prompt is an input, not a weight change), which is refused in one line
before any model loads — serve its PEFT adapter directory with `PeftModel.from_pretrained` instead.

The source is a run directory or any PEFT adapter plus its base model (the same loader eval and
generate use). The model is merged in fp32 on the CPU and written with `save_pretrained` (safetensors)
plus its tokenizer into a temporary sibling directory that is renamed into place, so OUT is either
absent, the old one, or complete. An existing OUT is replaced only with `overwrite=True`, and never
when it holds the source itself.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from torch import nn

from .errors import UsageError
from .methods import adapter_method, get_method


def export_merged(out: str | Path, *, run: str | Path | None = None, adapter: str | Path | None = None,
                  model: str | None = None, overwrite: bool = False, trust_remote_code: bool = False,
                  precision: str = "auto") -> dict:
    """Write RUN's (or ADAPTER-on-MODEL's) merged model to `out`; returns a summary for the CLI. The
    merge is computed in fp32; the weights are saved in `precision` (auto: bf16 where this machine
    runs bf16 natively, else fp32)."""
    import torch

    from . import runs
    from .hardware import resolve_precision

    out = Path(out)
    if (run is None) == (adapter is None):
        raise UsageError("export needs either a run directory or --adapter DIR --model M, not both")
    if adapter is not None and not model:
        raise UsageError("--adapter needs --model: the base model the adapter was trained on")
    if run is not None and model:
        raise UsageError("--model goes with --adapter; a run directory already names its base model")
    source = Path(run if run is not None else adapter)
    _check_out(out, source, overwrite)
    saved_precision = resolve_precision(precision, torch.device("cpu"), warn=None)

    if run is not None:
        method = get_method(runs.read_run_config(run).method.method)
        adapter_path = runs.adapter_dir(run)
    else:
        adapter_path = source
        _, dirs = runs.adapter_tasks(source, None)
        method, _ = adapter_method(dirs[0])
    method.check_mergeable(adapter_path)

    if run is not None:
        _, loaded, adapted = runs.load_run(run, device="cpu", precision="fp32")
    else:
        loaded, adapted = runs.load_adapter_dir(adapter, model, device="cpu", precision="fp32",
                                                trust_remote_code=trust_remote_code)
    merged = merge_into_base(adapted).to(torch.bfloat16 if saved_precision == "bf16" else torch.float32)
    _write_dir(out, overwrite, lambda tmp: _save(merged, loaded.tokenizer, tmp))
    return {"out": str(out), "method": method.name, "model": loaded.label, "source": str(source),
            "precision": saved_precision, "files": sorted(p.name for p in out.iterdir())}


def merge_into_base(adapted) -> nn.Module:
    """The plain transformers model of `adapted` with its trained part folded in (consumes `adapted`)."""
    model = adapted.method.merged(adapted)
    model.requires_grad_(False)
    return model.eval()


def _save(model: nn.Module, tokenizer, path: Path) -> None:
    kwargs = {"safe_serialization": True} if "safe_serialization" in inspect.signature(model.save_pretrained).parameters else {}
    model.save_pretrained(path, **kwargs)  # transformers 5 writes safetensors only; 4.x is told to
    tokenizer.save_pretrained(path)
    pickled = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl"))
    if pickled:  # a transformers that ignored the request; never ship pickles
        raise RuntimeError(f"save_pretrained wrote pickle files {pickled}; refusing to export them")


def _check_out(out: Path, source: Path, overwrite: bool) -> None:
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise UsageError(f"{out} already exists: pass --overwrite to replace it, or choose another OUT")
        src, dst = source.resolve(), out.resolve()
        if src == dst or dst in src.parents:
            raise UsageError(f"{out} holds the source {source}: --overwrite would delete it; choose another OUT")


def _write_dir(out: Path, overwrite: bool, write) -> None:
    """`write(tmp)` into a sibling temp dir, then rename it to `out` (replacing an old one only if allowed)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the model from other users
        write(tmp)
        if out.exists() or out.is_symlink():
            if not overwrite:
                raise UsageError(f"{out} appeared while exporting: pass --overwrite to replace it")
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old, out)
                raise
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
