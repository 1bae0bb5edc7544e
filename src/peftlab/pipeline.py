"""Setup shared by train, eval and compare: config -> data -> model -> method, in that order.

Data is read and checked before the model loads, so a bad file fails in a second, and nothing is
written by any of it: a run directory is only touched once everything here has succeeded.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from .adapted import AdaptedLM
from .config import RunConfig
from .data.collate import Example, encode
from .data.sources import field_map_from_flags, load_data
from .data.tasks import get_task
from .errors import UsageError
from .hardware import resolve_precision
from .methods import BASE, get_method
from .models import LoadedModel, load_model, resolve_device

SPLITS = ("train", "val", "test")


@dataclass
class Prepared:
    cfg: RunConfig                               # as asked, except model.precision: the resolved fp32 / bf16
    loaded: LoadedModel
    adapted: AdaptedLM
    device: torch.device
    rows: dict[str, list[dict[str, str]]]        # split -> raw rows (with a "task" key) for generation
    examples: dict[str, list[Example]]           # split -> encoded examples, all tasks
    data_info: dict = field(default_factory=dict)
    precision_requested: str = "fp32"            # what the user asked for ("auto" by default)

    @property
    def pad_id(self) -> int:
        return self.loaded.tokenizer.pad_token_id


def read_rows(cfg: RunConfig) -> tuple[dict[str, list[dict[str, str]]], dict]:
    """Every task's rows per split, each row tagged with its task; plus what to report about them."""
    rows: dict[str, list[dict[str, str]]] = {s: [] for s in SPLITS}
    info: dict = {"origin": {}, "skipped": {}}
    d = cfg.data
    for task in d.tasks:
        fields = field_map_from_flags(task, d.source_field, d.target_field, d.context_field, d.question_field)
        loaded = load_data(_data_for(d.data, task), task, field_map=fields, split_ratio=d.ratio, seed=split_seed(cfg),
                           max_train_samples=d.max_train_samples, max_eval_samples=d.max_eval_samples, strict=d.strict)
        info["origin"][task] = loaded.origin
        info["skipped"][task] = loaded.skipped
        for split in SPLITS:
            rows[split] += [dict(r, task=task) for r in loaded.splits[split]]
    return rows, info


def split_seed(cfg: RunConfig) -> int:
    """The seed of the data split: `--data-seed`, else the run's `--seed`."""
    return cfg.train.seed if cfg.data.data_seed is None else cfg.data.data_seed


def _data_for(data: str, task: str) -> str:
    """`--data qa=a.jsonl,summarize=b.jsonl` gives each task its own source; plain `--data X` serves all."""
    if "=" not in data:
        return data
    pairs = dict(part.split("=", 1) for part in data.split(",") if "=" in part)
    if task not in pairs:
        raise UsageError(f"--data names no source for task {task!r}: add {task}=PATH")
    return pairs[task]


def encode_rows(rows: dict[str, list[dict[str, str]]], tasks: list[str], tokenizer, cfg: RunConfig,
                num_virtual: int) -> tuple[dict[str, list[Example]], dict[str, int]]:
    examples: dict[str, list[Example]] = {}
    truncated: dict[str, int] = {}
    for split, split_rows in rows.items():
        examples[split] = [encode(r, get_task(r["task"]), tokenizer, max_length=cfg.data.max_length,
                                  num_virtual=num_virtual, task_id=tasks.index(r["task"]),
                                  loss_on_prompt=cfg.data.loss_on_prompt) for r in split_rows]
        truncated[split] = sum(e.truncated for e in examples[split])
    return examples, truncated


def prepare(cfg: RunConfig, *, base_only: bool = False) -> Prepared:
    """Validate, read data, load the model, apply the method — nothing is written. `base_only` applies
    no method: the base model as it ships, the baseline that `eval --baseline` scores (method "base")."""
    cfg.validate()
    device = resolve_device(cfg.model.device)
    requested = cfg.model.precision
    cfg = copy.deepcopy(cfg)  # the caller's config keeps its request ("auto"); ours holds what runs
    cfg.model.precision = resolve_precision(requested, device)
    rows, info = read_rows(cfg)
    loaded = load_model(cfg.model.model, device=device, precision=cfg.model.precision,
                        trust_remote_code=cfg.model.trust_remote_code, seed=cfg.train.seed)
    _check_context(loaded, cfg.data.max_length)
    method = BASE if base_only else get_method(cfg.method.method)
    examples, info["truncated"] = encode_rows(rows, cfg.data.tasks, loaded.tokenizer, cfg,
                                              method.num_virtual(cfg.method))
    adapted = method.apply(loaded, cfg.method, cfg.data.tasks, torch.Generator().manual_seed(cfg.train.seed))
    info["sizes"] = {s: len(v) for s, v in examples.items()}
    return Prepared(cfg, loaded, adapted, device, rows, examples, info, precision_requested=requested)


def _check_context(loaded: LoadedModel, max_length: int) -> None:
    config = loaded.model.config
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if context and max_length > context:
        raise UsageError(f"--max-length {max_length} exceeds the model's context of {context} tokens: "
                         f"use --max-length {context} or less")
