"""peftlab: fine-tune a frozen causal LM with soft prompts, LoRA or its last layer, and measure honestly
which one pays off.

The Python API — every command is a function of its config dataclass:

    from peftlab import RunConfig, train, load_run
    cfg = RunConfig()
    cfg.method.method, cfg.data.task, cfg.train.out = "lora", "qa", "runs/qa-lora"
    metrics = train(cfg)                       # writes runs/qa-lora/{config,metrics}.json, adapter/, ...
    cfg, loaded, adapted = load_run("runs/qa-lora")

    from peftlab import EvalConfig, GenerateConfig, evaluate, generate
    figures = evaluate(EvalConfig(run="runs/qa-lora", baseline=True))
    answers = generate(GenerateConfig(run="runs/qa-lora", input="requests.jsonl", output="answers.jsonl"))
    # likewise compare(CompareConfig(...)) and export(ExportConfig(...))

    from peftlab import load_model, apply_method, MethodConfig
    loaded = load_model("default")             # embedded SmolLM2-135M-Instruct, frozen
    adapted = apply_method(loaded, MethodConfig(method="prompt"), ["summarize"])

Names are imported lazily so `import peftlab` stays cheap.
"""

__version__ = "0.1.0"

# Each command is a function of its config dataclass; its module is named for the activity
# (`peftlab.training`, `peftlab.generation`, ...), so `peftlab.train` is always the function.
_EXPORTS = {
    "RunConfig": "config", "ModelConfig": "config", "DataConfig": "config", "MethodConfig": "config",
    "TrainConfig": "config", "EvalConfig": "config", "GenerateConfig": "config", "CompareConfig": "config",
    "ExportConfig": "config", "QualityConfig": "config", "load_model": "models", "apply_method": "methods",
    "load_run": "runs", "load_adapter_dir": "runs", "UsageError": "errors", "RunDir": "rundir",
    "train": "training", "evaluate": "evaluation", "generate": "generation", "compare": "comparison",
    "export": "commands",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Names load on first use, so `import peftlab` (and `peftlab --help`) stays cheap."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'peftlab' has no attribute {name!r}")
