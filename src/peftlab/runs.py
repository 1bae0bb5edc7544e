"""Loading a model back: a run directory's (its layout and config are `rundir`'s) or any PEFT adapter's."""

from __future__ import annotations

from pathlib import Path


from .errors import UsageError
from .methods import apply_method, get_method, is_adapter_dir, load_adapter, method_config_for, recorded_task
from .methods.peft_format import CONFIG
from .rundir import adapter_dir, read_run_config


def load_run(run_dir: str | Path, *, device: str | None = None, precision: str | None = None):
    """(config, LoadedModel, AdaptedLM with the run's trained weights) — no data is read. The config's
    precision comes back resolved for this machine (a run saved with "auto" may differ elsewhere)."""
    from .hardware import resolve_precision
    from .models import load_model, resolve_device

    cfg = read_run_config(run_dir)
    if device:
        cfg.model.device = device
    if precision:
        cfg.model.precision = precision
    cfg.model.precision = resolve_precision(cfg.model.precision, resolve_device(cfg.model.device))
    loaded = load_model(cfg.model.model, device=resolve_device(cfg.model.device), precision=cfg.model.precision,
                        trust_remote_code=cfg.model.trust_remote_code, seed=cfg.train.seed)
    adapted = apply_method(loaded, cfg.method, cfg.data.tasks, seed=cfg.train.seed)
    load_adapter(adapted, adapter_dir(run_dir))
    adapted.eval()
    return cfg, loaded, adapted


def adapter_tasks(adapter: Path, task: str | None) -> tuple[list[str], list[Path]]:
    """The tasks an adapter directory serves and each one's PEFT directory: a multi-task prompt run
    keeps one sub-directory per task; a single adapter serves `task` (or the task it was trained on)."""
    adapter = Path(adapter)
    if not is_adapter_dir(adapter):
        subdirs = sorted(p for p in adapter.iterdir() if (p / CONFIG).is_file()) if adapter.is_dir() else []
        if not subdirs:
            raise UsageError(f"{adapter} holds no adapter_config.json: point --adapter at a PEFT adapter directory")
        return _known_tasks([p.name for p in subdirs]), subdirs
    chosen = task or recorded_task(adapter) or "summarize"
    return _known_tasks([chosen]), [adapter]


def _known_tasks(tasks: list[str]) -> list[str]:
    """Task names read from files (metadata, directory names) are used only if they are known tasks."""
    from .data.tasks import get_task

    for name in tasks:
        get_task(name)
    return tasks


def load_adapter_dir(adapter: str | Path, model: str, *, task: str | None = None, device: str = "auto",
                     precision: str = "fp32", trust_remote_code: bool = False):
    """(LoadedModel, AdaptedLM) for any PEFT LoRA / prompt-tuning adapter (or a peftlab last-layer one)
    on base `model` — peftlab's own runs and adapters made with PEFT alike. `precision` is a resolved
    one (fp32 or bf16): callers resolve "auto" themselves, since they also run the model."""
    from .models import load_model, resolve_device

    tasks, dirs = adapter_tasks(Path(adapter), task)
    method_cfg = method_config_for(dirs[0])
    loaded = load_model(model, device=resolve_device(device), precision=precision, trust_remote_code=trust_remote_code)
    get_method(method_cfg.method).check_fits(loaded.model, method_cfg, model)
    adapted = apply_method(loaded, method_cfg, tasks)
    load_adapter(adapted, Path(adapter))
    adapted.eval()
    return loaded, adapted

