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

import sys
import types

__version__ = "0.1.0"

_EXPORTS = {
    "RunConfig": "config", "ModelConfig": "config", "DataConfig": "config", "MethodConfig": "config",
    "TrainConfig": "config", "EvalConfig": "config", "GenerateConfig": "config", "CompareConfig": "config",
    "ExportConfig": "config", "QualityConfig": "config", "load_model": "models", "apply_method": "methods",
    "load_run": "runs", "load_adapter_dir": "runs", "UsageError": "errors", "RunDir": "rundir",
}
# The command functions share their names with modules (peftlab.train, peftlab.generate, ...): importing
# such a module sets the package attribute to the module, so these names are resolved on every access.
_COMMANDS = {"train": "train", "evaluate": "evaluate", "generate": "generate_cmd", "compare": "compare",
             "export": "commands"}
__all__ = sorted(_EXPORTS.keys() | _COMMANDS.keys())


def _load(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)


class _Package(types.ModuleType):
    """`peftlab.train` is always the train function, even after `peftlab.train` the module was imported
    (import it as `from peftlab.train import ...` or `importlib.import_module("peftlab.train")`)."""

    def __getattribute__(self, name: str):
        if name in _COMMANDS:
            return _load(_COMMANDS[name], name)
        return super().__getattribute__(name)


def __getattr__(name: str):
    if name in _EXPORTS:
        return _load(_EXPORTS[name], name)
    raise AttributeError(f"module 'peftlab' has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
