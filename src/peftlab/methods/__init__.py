"""Apply a method by name: `apply_method(loaded, method_config, tasks)` -> `AdaptedLM`.

Every method starts from a fully frozen model and marks exactly what it trains; trainable parameters
are fp32 whatever precision the frozen weights use.
"""

from __future__ import annotations

from ..adapted import AdaptedLM
from ..config import MethodConfig
from ..errors import UsageError
from . import last_layer, lora, prompt_tuning


def apply_method(loaded, cfg: MethodConfig, tasks: list[str], seed: int = 0) -> AdaptedLM:
    import torch

    torch.manual_seed(seed)  # LoRA's Kaiming init draws from the global RNG, as loralib's does
    model = loaded.model
    if cfg.method == "prompt":
        prompts = prompt_tuning.apply(model, loaded.tokenizer, tasks, cfg.num_prompts, cfg.prompt_init,
                                      cfg.prompt_init_text, seed)
        return AdaptedLM(model, "prompt", tasks, prompts=prompts)
    if cfg.method == "lora":
        names = lora.apply(model, cfg.rank, cfg.alpha, cfg.dropout, cfg.targets)
        return AdaptedLM(model, "lora", tasks, trainable_modules=[model.get_submodule(n) for n in names])
    if cfg.method == "last-layer":
        block = last_layer.apply(model)
        return AdaptedLM(model, "last-layer", tasks, trainable_modules=[model.get_submodule(block)])
    raise UsageError(f"unknown method {cfg.method!r}: use prompt, lora or last-layer")
