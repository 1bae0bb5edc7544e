"""Every command as a Python function of its config, and what the CLI prints for each.

    train(RunConfig)           -> metrics          peftlab.training
    evaluate(EvalConfig)       -> figures          peftlab.evaluation
    generate(GenerateConfig)   -> generated texts  peftlab.generation
    compare(CompareConfig)     -> results.json     peftlab.comparison
    export(ExportConfig)       -> summary          here
    params(RunConfig)          -> counts           here
    list_runs(RunsConfig)      -> run summaries    peftlab.run_list

`from peftlab import generate` (and the others) gives these functions. The modules are imported when
a command runs, so `peftlab --help` stays fast.
"""

from __future__ import annotations

import json
from typing import Callable

from .config import CompareConfig, EnvConfig, EvalConfig, ExportConfig, GenerateConfig, RunConfig, RunsConfig


def export(cfg: ExportConfig) -> dict:
    """The `export --merged` command: write the merged model; returns a summary of what was written."""
    from .merged_export import export_merged

    cfg.validate()
    return export_merged(cfg.out, run=cfg.run, adapter=cfg.adapter, model=cfg.model, overwrite=cfg.overwrite,
                         trust_remote_code=cfg.trust_remote_code, precision=cfg.precision)


def params(cfg: RunConfig) -> dict:
    """The `params` command: trainable and total parameters of `cfg`'s method on its model, without
    loading weights for a random architecture (counting needs shapes, not values)."""
    from .methods import apply_method
    from .models import count_params, load_model

    cfg.model.validate()
    cfg.data.validate()
    cfg.method.validate()
    device = "meta" if cfg.model.model.startswith("random:") else "cpu"
    loaded = load_model(cfg.model.model, device=device, precision="fp32", trust_remote_code=cfg.model.trust_remote_code)
    adapted = apply_method(loaded, cfg.method, cfg.data.tasks)
    trainable, total = count_params(adapted)
    return {"trainable": trainable, "total": total, "trainable_pct": 100 * trainable / total,
            "method": cfg.method.method, "model": loaded.label, "untrained": loaded.untrained}


# ------------------------------------------------------------------ the CLI's view: run, print, exit code

def _print_json(value: dict) -> None:
    print(json.dumps(value, indent=2))


def console_train(cfg: RunConfig) -> int:
    from .distributed import is_main, session
    from .training import train

    with session(cfg.model.device, cfg.train.dist_timeout, cfg.train.out):  # a rank under torchrun: join the others
        metrics, main = train(cfg), is_main()
    if not main:
        return 0
    _print_json({k: metrics[k] for k in ("trainable_params", "total_params", "loss", "epoch_time_s",
                                          "peak_memory_mb", "train_tokens_per_s")})
    return 0


def console_eval(cfg: EvalConfig) -> int:
    from .distributed import is_main, session
    from .evaluation import evaluate, format_table

    device = cfg.settings.get("device", "auto")
    with session(device, cfg.settings.get("dist_timeout", 300.0)):  # under torchrun: sharded, rank 0 writes
        figures = evaluate(cfg, announce=print if is_main() else lambda *_: None)
        main = is_main()
    if main:
        print(format_table(figures))
    return 0


def console_generate(cfg: GenerateConfig) -> int:
    from .generation import generate

    generate(cfg)  # prints its own output: streamed text or JSONL answers
    return 0


def console_compare(cfg: CompareConfig) -> int:
    from .comparison import compare

    compare(cfg)  # prints progress, a summary and where the report is
    return 0


def console_export(cfg: ExportConfig) -> int:
    _print_json(export(cfg))
    return 0


def console_params(cfg: RunConfig) -> int:
    _print_json(params(cfg))
    return 0


def console_env(cfg: EnvConfig) -> int:
    from .hardware import env_report, format_env

    report = env_report()
    print(json.dumps(report, indent=2) if cfg.json else format_env(report))
    return 0


def console_runs(cfg: RunsConfig) -> int:
    from .run_list import format_runs, list_runs, runs_json

    runs = list_runs(cfg)
    print(runs_json(runs) if cfg.json else format_runs(runs) if runs else f"no runs below {cfg.dir}")
    return 0


CONSOLE: dict[str, Callable[..., int]] = {
    "train": console_train, "params": console_params, "export": console_export, "generate": console_generate,
    "eval": console_eval, "compare": console_compare, "env": console_env, "runs": console_runs,
}
