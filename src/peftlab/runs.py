"""Loading a model back: a run directory's (its layout and config are `rundir`'s) or any PEFT adapter's."""

from __future__ import annotations

from pathlib import Path

from .adapters import load_into
from .config import MethodConfig
from .errors import UsageError
from .rundir import adapter_dir, read_run_config


def load_run(run_dir: str | Path, *, device: str | None = None, precision: str | None = None):
    """(config, LoadedModel, AdaptedLM with the run's trained weights) — no data is read."""
    from .methods import apply_method
    from .models import load_model, resolve_device

    cfg = read_run_config(run_dir)
    if device:
        cfg.model.device = device
    if precision:
        cfg.model.precision = precision
    loaded = load_model(cfg.model.model, device=resolve_device(cfg.model.device), precision=cfg.model.precision,
                        trust_remote_code=cfg.model.trust_remote_code, seed=cfg.train.seed)
    adapted = apply_method(loaded, cfg.method, cfg.data.tasks, seed=cfg.train.seed)
    load_into(adapted, adapter_dir(run_dir))
    adapted.eval()
    return cfg, loaded, adapted


def adapter_tasks(adapter: Path, task: str | None) -> tuple[list[str], list[Path]]:
    """The tasks an adapter directory serves and each one's PEFT directory: a multi-task prompt run
    keeps one sub-directory per task; a single adapter serves `task` (or the task it was trained on)."""
    from .adapters import CONFIG, LAST_LAYER_CONFIG, trained_task

    adapter = Path(adapter)
    if not (adapter / CONFIG).is_file() and not (adapter / LAST_LAYER_CONFIG).is_file():
        subdirs = sorted(p for p in adapter.iterdir() if (p / CONFIG).is_file()) if adapter.is_dir() else []
        if not subdirs:
            raise UsageError(f"{adapter} holds no adapter_config.json: point --adapter at a PEFT adapter directory")
        return _known_tasks([p.name for p in subdirs]), subdirs
    chosen = task or trained_task(adapter) or "summarize"
    return _known_tasks([chosen]), [adapter]


def _known_tasks(tasks: list[str]) -> list[str]:
    """Task names read from files (metadata, directory names) are used only if they are known tasks."""
    from .data.tasks import get_task

    for name in tasks:
        get_task(name)
    return tasks


def method_config_for(adapter: Path) -> MethodConfig:
    """The MethodConfig that rebuilds an adapter's modules, from its (type-checked) config."""
    from .adapters import adapter_method, lora_settings, read_adapter_config

    config = read_adapter_config(adapter)
    method = adapter_method(config)
    if method == "prompt":
        from .adapters import _field

        return MethodConfig(method="prompt", num_prompts=_field(config, "num_virtual_tokens", int, lo=1, hi=4096))
    if method == "lora":
        s = lora_settings(adapter)
        return MethodConfig(method="lora", rank=s["rank"], alpha=s["alpha"], dropout=s["dropout"],
                            target_modules=",".join(s["targets"]))
    return MethodConfig(method="last-layer")


def load_adapter_dir(adapter: str | Path, model: str, *, task: str | None = None, device: str = "auto",
                     precision: str = "fp32", trust_remote_code: bool = False):
    """(LoadedModel, AdaptedLM) for any PEFT LoRA / prompt-tuning adapter (or a peftlab last-layer one)
    on base `model` — peftlab's own runs and adapters made with PEFT alike."""
    from .adapters import load_into
    from .methods import apply_method
    from .models import load_model, resolve_device

    tasks, dirs = adapter_tasks(Path(adapter), task)
    method_cfg = method_config_for(dirs[0])
    loaded = load_model(model, device=resolve_device(device), precision=precision, trust_remote_code=trust_remote_code)
    if method_cfg.method == "lora":
        _check_targets(loaded.model, method_cfg.targets, model)
    adapted = apply_method(loaded, method_cfg, tasks)
    load_into(adapted, Path(adapter))
    adapted.eval()
    return loaded, adapted


def _check_targets(model, targets: list[str], model_name: str) -> None:
    """At least one module an adapter targets must exist in the base model, as PEFT requires; the
    tensor-by-tensor check in `load_lora_weights` then catches any other mismatch."""
    from .methods.lora import matches

    if not any(matches(name, targets) for name, _ in model.named_modules()):
        raise UsageError(f"the adapter targets {', '.join(targets)}, which {model_name} does not have: "
                         "use the base model the adapter was trained on")
