"""Loss and task quality of a trained run, of any PEFT adapter, or of the base model with no adapter.

- Loss: mean cross-entropy per target token on train, val and test, with training's masking
  (`split_loss`), using the final weights in eval mode. It replaces the `loss` that training wrote
  (whose train figure is a running mean over the last epoch); `history` keeps the per-epoch figures.
- Quality: generate on one split (batched greedy decoding with a KV cache, or beam search) and score
  with the task's own metric (`Task.score`: ROUGE-1/2/L, SQuAD EM/F1, BLEU/chrF, ...).
- `baseline`: the same figures for the base model with no adapter, so the gain is visible.

Everything is computed before anything is written; then `metrics.json` is merged (`loss`, `quality`,
`eval_time_s`, ...) and `samples.jsonl` (inputs, references, generations) is replaced atomically.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .adapted import AdaptedLM
from .config import RunConfig
from .data.collate import Example
from .errors import UsageError
from .pipeline import length_sorted_batches, make_batch

SPLITS = ("train", "val", "test")
SAMPLES = "samples.jsonl"


@torch.no_grad()
def split_loss(adapted: AdaptedLM, examples: list[Example], *, batch_size: int, pad_id: int) -> dict:
    """{"loss": mean over all target tokens, "per_task": {task: mean}, "tokens": count}."""
    was_training = adapted.training
    adapted.eval()
    n_tasks = len(adapted.tasks)
    sums = torch.zeros(n_tasks, dtype=torch.float64)
    counts = torch.zeros(n_tasks, dtype=torch.float64)
    for indices in length_sorted_batches(examples, batch_size):
        batch = make_batch(examples, indices, pad_id, adapted.device)
        with adapted.autocast():
            losses, rows, _ = adapted.loss_terms(batch)
        tasks = batch.task_ids[rows].cpu()
        sums.index_add_(0, tasks, losses.double().cpu())
        counts.index_add_(0, tasks, torch.ones_like(tasks, dtype=torch.float64))
    adapted.train(was_training)
    total = counts.sum().item()
    per_task = {t: (sums[i] / counts[i]).item() for i, t in enumerate(adapted.tasks) if counts[i] > 0}
    return {"loss": (sums.sum() / total).item() if total else None, "per_task": per_task, "tokens": int(total)}


@dataclass
class EvalOptions:
    """How quality is measured; recorded beside the figures so a comparison can tell stale ones."""

    split: str = "test"
    max_new_tokens: int | None = None  # None: each task's own `Task.max_new_tokens`
    num_beams: int = 1                 # 1: greedy; more: beam search
    baseline: bool = False             # also score the base model with no adapter

    def validate(self) -> "EvalOptions":
        if self.split not in SPLITS:
            raise UsageError(f"unknown --split {self.split!r}: use one of {', '.join(SPLITS)}")
        for flag, value in (("--max-new-tokens", self.max_new_tokens), ("--num-beams", self.num_beams)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UsageError(f"{flag} must be a positive integer, got {value}")
        return self

    def tokens_for(self, task: str) -> int:
        from .data.tasks import get_task

        return self.max_new_tokens or get_task(task).max_new_tokens


def eval_signature(cfg: RunConfig, opts: EvalOptions) -> dict:
    """What the figures depend on besides the weights: equal signatures give comparable figures. The
    precision is the resolved one: "auto" on two machines may be two precisions."""
    from .hardware import resolve_precision
    from .models import resolve_device

    precision = resolve_precision(cfg.model.precision, resolve_device(cfg.model.device), warn=None)
    return {"model": cfg.model.model, "precision": precision, "data": dataclasses.asdict(cfg.data),
            "seed": cfg.train.seed, "batch_size": cfg.train.batch_size, "split": opts.split,
            "max_new_tokens": {t: opts.tokens_for(t) for t in cfg.data.tasks}, "num_beams": opts.num_beams}


# ------------------------------------------------------------------ scoring one model

def all_losses(p) -> tuple[dict, dict]:
    """({split: loss}, {split: {task: loss}}) of `p.adapted` as it is now, on every split."""
    losses, per_task = {}, {}
    for split in SPLITS:
        out = split_loss(p.adapted, p.examples[split], batch_size=p.cfg.train.batch_size, pad_id=p.pad_id)
        losses[split], per_task[split] = out["loss"], out["per_task"]
    return losses, per_task


def split_quality(p, opts: EvalOptions) -> tuple[dict, dict, list[str]]:
    """(quality over all tasks, quality per task, generations in row order) on `opts.split`. Each task
    is generated with its own token budget; the tasks' metric names differ, so one flat dict holds all."""
    from .data.tasks import get_task
    from .generate import generate_for_rows

    rows = p.rows[opts.split]
    if not rows:
        raise UsageError(f"the {opts.split} split is empty: choose another --split or give more data")
    generations = [""] * len(rows)
    per_task: dict[str, dict] = {}
    for task in p.adapted.tasks:
        spec = get_task(task)
        index = [i for i, r in enumerate(rows) if r["task"] == task]
        if not index:
            continue
        texts = generate_for_rows(p.adapted, p.loaded.tokenizer, [rows[i] for i in index],
                                  max_length=p.cfg.data.max_length, max_new_tokens=opts.tokens_for(task),
                                  batch_size=p.cfg.train.batch_size, num_beams=opts.num_beams)
        for i, text in zip(index, texts):
            generations[i] = text
        per_task[task] = spec.score(texts, [rows[i][spec.target_field] for i in index])
    flat = {name: value for scores in per_task.values() for name, value in scores.items()}
    return flat, per_task, generations


def score(p, opts: EvalOptions) -> tuple[dict, list[str]]:
    """Every eval figure of `p.adapted`, and its generations; `eval_time_s` covers losses and generation."""
    started = time.perf_counter()
    losses, loss_per_task = all_losses(p)
    flat, per_task, generations = split_quality(p, opts)
    figures = {"loss": losses, "loss_per_task": loss_per_task, "quality": flat, "quality_per_task": per_task,
               "eval_time_s": time.perf_counter() - started}
    return figures, generations


# ------------------------------------------------------------------ what to evaluate

@dataclass
class EvalTarget:
    """A config to evaluate on, the adapter to load into its method (None: base model only), and where
    the figures go (None: nowhere, only printed)."""

    cfg: RunConfig
    adapter: Path | None
    out: Path | None


def choose_target(run: str | None, adapter: str | None, task: str | None, baseline: bool, out: str | None,
                  apply_flags: Callable[[RunConfig], RunConfig]) -> EvalTarget:
    """`eval RUN`, `eval --adapter DIR` or `eval --baseline` alone; `apply_flags` lays the user's flags
    over a config (the run's own, or the defaults)."""
    if run and adapter:
        raise UsageError("give a RUN directory or --adapter DIR, not both")
    if run:
        if out:
            raise UsageError(f"the figures of a run go into the run itself: drop --out "
                             f"(or use --adapter {run}/adapter)")
        return target_for_run(run, apply_flags)
    cfg = apply_flags(RunConfig())
    if adapter:
        return target_for_adapter(adapter, cfg, task is not None, out)
    if baseline:
        return EvalTarget(cfg, None, Path(out) if out else None)
    raise UsageError("nothing to evaluate: give a RUN directory, --adapter DIR (with --model), or --baseline")


def target_for_run(run_dir: str | Path, apply_flags: Callable[[RunConfig], RunConfig]) -> EvalTarget:
    """A run directory: its own config (flags may change device, precision, data and sizes; not the
    model or the task it was trained on) and its adapter; figures go back into the run."""
    from .runs import adapter_dir, read_run_config

    saved = read_run_config(run_dir)
    cfg = apply_flags(copy.deepcopy(saved))
    for flag, section, key in (("--model", "model", "model"), ("--task", "data", "task")):
        ours, theirs = getattr(getattr(cfg, section), key), getattr(getattr(saved, section), key)
        if ours != theirs:
            raise UsageError(f"{run_dir} was trained with {flag} {theirs}: drop {flag}, or evaluate its adapter "
                             f"elsewhere with --adapter {Path(run_dir) / 'adapter'} {flag} {ours}")
    return EvalTarget(cfg, adapter_dir(run_dir), Path(run_dir))


def target_for_adapter(adapter: str | Path, cfg: RunConfig, task_given: bool, out: str | None) -> EvalTarget:
    """Any PEFT adapter directory (or a peftlab last-layer one) on `cfg.model`: its method settings come
    from its config; the tasks are the ones it serves (one, or one sub-directory each)."""
    from .methods import method_config_for
    from .runs import adapter_tasks

    tasks, dirs = adapter_tasks(Path(adapter), cfg.data.task if task_given else None)
    if task_given and set(cfg.data.tasks) != set(tasks):
        raise UsageError(f"{adapter} serves {','.join(tasks)}, not --task {cfg.data.task}: pass --task "
                         f"{','.join(tasks)} or leave it out")
    cfg.data.task = ",".join(tasks)
    cfg.method = method_config_for(dirs[0])
    return EvalTarget(cfg, Path(adapter), Path(out) if out else None)


# ------------------------------------------------------------------ the eval command

def evaluate(target: EvalTarget, opts: EvalOptions, announce=print) -> dict:
    """Score the adapter (if any) and, with `opts.baseline` or no adapter, the base model; write the
    figures to `target.out` (if any) and return them. The base model goes first, from a fresh load,
    because LoRA and last-layer change the loaded model in place."""
    opts.validate()
    target.cfg.validate()
    figures: dict = {}
    base_samples: list[dict] = []
    samples: list[dict] = []
    if opts.baseline or target.adapter is None:
        announce("peftlab: evaluating the base model (no adapter)")
        figures, base_samples = _score_base(target.cfg, opts)
    if target.adapter is not None:
        announce(f"peftlab: evaluating the {target.cfg.method.method} adapter in {target.adapter}")
        adapter_figures, samples = _score_adapter(target.cfg, target.adapter, opts)
        figures |= adapter_figures
    for row, base in zip(samples, base_samples):
        row["base_generation"] = base["base_generation"]
    if target.out is not None:
        write_eval(target.out, figures, samples or base_samples)
    return figures


def _score_base(cfg: RunConfig, opts: EvalOptions) -> tuple[dict, list[dict]]:
    """{"baseline": figures + model size and label, "eval": settings} and the base model's samples."""
    from .models import count_params
    from .pipeline import prepare

    p = prepare(cfg, base_only=True)
    figures, generations = score(p, opts)
    figures |= {"total_params": count_params(p.adapted)[1], "model": p.loaded.label, "untrained": p.loaded.untrained}
    samples = _samples(p.rows[opts.split], opts.split, generations, "base_generation")
    return {"baseline": figures, "eval": _eval_record(p, opts)}, samples


def _score_adapter(cfg: RunConfig, adapter: Path, opts: EvalOptions) -> tuple[dict, list[dict]]:
    """The adapter's figures (loss, quality, eval_time_s, ...) and its samples."""
    from .methods import load_adapter
    from .pipeline import prepare

    p = prepare(cfg)
    load_adapter(p.adapted, adapter)
    figures, generations = score(p, opts)
    samples = _samples(p.rows[opts.split], opts.split, generations, "generation")
    return figures | {"eval": _eval_record(p, opts)}, samples


def _eval_record(p, opts: EvalOptions) -> dict:
    return eval_signature(p.cfg, opts) | {"examples": len(p.rows[opts.split]), "device": str(p.device)}


def _samples(rows: list[dict], split: str, generations: list[str], key: str) -> list[dict]:
    """One readable record per generated row: what the model saw, what it should say, what it said."""
    from .data.tasks import get_task

    records = []
    for row, text in zip(rows, generations):
        task = get_task(row["task"])
        records.append({"split": split, "task": task.name, "input": task.prompt_text(row),
                        "reference": row[task.target_field], key: text})
    return records


def write_eval(out: Path, figures: dict, samples: list[dict]) -> None:
    """Merge the figures into out/metrics.json (shared with train) and replace out/samples.jsonl."""
    from .checkpoint import atomic_write_bytes
    from .train import merge_metrics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    merge_metrics(out, figures)
    lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    atomic_write_bytes(out / SAMPLES, lines.encode("utf-8"))


# ------------------------------------------------------------------ printing

def format_table(figures: dict) -> str:
    """One table for every task evaluated: loss per split and quality, adapter and base-model rows."""
    models = [(name, f) for name, f in (("adapter", figures), ("base model", figures.get("baseline")))
              if f and "quality_per_task" in f]
    tasks = list(dict.fromkeys(t for _, f in models for t in f["quality_per_task"]))
    metrics = list(dict.fromkeys(m for _, f in models for q in f["quality_per_task"].values() for m in q))
    rows = [["task", "model", "loss train", "loss val", "loss test", *metrics]]
    for task in tasks:
        for name, f in models:
            loss = [_cell(f["loss_per_task"][split].get(task), ".4f") for split in SPLITS]
            quality = f["quality_per_task"].get(task, {})
            rows.append([task, name, *loss, *(_cell(quality.get(m), ".2f") for m in metrics)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _cell(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)
