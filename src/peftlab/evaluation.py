"""Loss and task quality of a trained run, of any PEFT adapter, or of the base model with no adapter.

- Loss: mean cross-entropy per target token on train, val and test, with training's masking
  (`loss.split_loss`), using the final weights in eval mode. It replaces the `loss` that training wrote
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
import time
from dataclasses import dataclass
from pathlib import Path

from .config import EVAL_TRAIN_FIELDS, SPLITS, EvalConfig, QualityConfig, RunConfig, section_of, set_fields
from .distributed import is_main
from .errors import UsageError
from .loss import split_loss
from .rundir import adapter_dir, merge_metrics, read_run_config, write_samples


class EvalOptions(QualityConfig):
    """`QualityConfig` with each task's token budget; recorded beside the figures so a comparison can
    tell stale ones."""

    def tokens_for(self, task: str) -> int:
        from .data.tasks import get_task

        return self.max_new_tokens or get_task(task).max_new_tokens

    def min_tokens_for(self, task: str) -> int:
        """Non-blank tokens before a generation may stop: the flag, else 1 where answers are never empty."""
        from .data.tasks import get_task

        if self.min_new_tokens is not None:
            return self.min_new_tokens
        return 1 if get_task(task).never_empty else 0


def eval_signature(cfg: RunConfig, opts: EvalOptions) -> dict:
    """What the figures depend on besides the weights: equal signatures give comparable figures. The
    precision is the resolved one: "auto" on two machines may be two precisions. `gen_batch_size` is
    not in it: no generated token depends on the batch (tests/test_generation_speedpath.py)."""
    from .hardware import resolve_precision
    from .models import resolve_device

    precision = resolve_precision(cfg.model.precision, resolve_device(cfg.model.device), warn=None)
    return {"model": cfg.model.model, "precision": precision, "data": dataclasses.asdict(cfg.data),
            "seed": cfg.train.seed, "batch_size": cfg.train.batch_size, "split": opts.split,
            "max_new_tokens": {t: opts.tokens_for(t) for t in cfg.data.tasks}, "num_beams": opts.num_beams,
            "min_new_tokens": {t: opts.min_tokens_for(t) for t in cfg.data.tasks}}


# ------------------------------------------------------------------ scoring one model

def all_losses(p) -> tuple[dict, dict]:
    """({split: loss}, {split: {task: loss}}) of `p.adapted` as it is now, on every split."""
    losses, per_task = {}, {}
    for split in SPLITS:
        out = split_loss(p.adapted, p.examples[split], batch_size=p.cfg.train.batch_size, pad_id=p.pad_id)
        losses[split], per_task[split] = out["loss"], out["per_task"]
    return losses, per_task


def split_quality(p, opts: EvalOptions) -> tuple[dict, dict, list[str], dict]:
    """(quality over all tasks, quality per task, generations in row order, degenerate-output counts) on
    `opts.split`. Each task is generated with its own token budget; the tasks' metric names differ, so
    one flat dict holds all."""
    from .data.tasks import get_task
    from .decoding import generate_for_rows

    rows = p.rows[opts.split]
    if not rows:
        raise UsageError(f"the {opts.split} split is empty: choose another --split or give more data")
    generations = [""] * len(rows)
    per_task: dict[str, dict] = {}
    counts = {"examples": 0, "empty": 0, "truncated": 0}
    for task in p.adapted.tasks:
        spec = get_task(task)
        index = [i for i, r in enumerate(rows) if r["task"] == task]
        if not index:
            continue
        budget = opts.tokens_for(task)
        texts, lengths = generate_for_rows(p.adapted, p.loaded.tokenizer, [rows[i] for i in index],
                                           max_length=p.cfg.data.max_length, max_new_tokens=budget,
                                           batch_size=opts.gen_batch_size, num_beams=opts.num_beams,
                                           min_new_tokens=opts.min_tokens_for(task))
        counts = add_counts(counts, degenerate_counts(texts, lengths, budget))
        for i, text in zip(index, texts):
            generations[i] = text
        per_task[task] = spec.score(texts, [rows[i][spec.target_field] for i in index])
    flat = {name: value for scores in per_task.values() for name, value in scores.items()}
    return flat, per_task, generations, counts


def degenerate_counts(texts: list[str], lengths: list[int], budget: int) -> dict[str, int]:
    """How many generations are empty (nothing but blanks before the stop) and how many were cut off
    at the token budget: figures that hide in a mean score unless they are counted."""
    return {"examples": len(texts), "empty": sum(not t.strip() for t in texts),
            "truncated": sum(n >= budget for n in lengths)}


def add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a | b}


def score(p, opts: EvalOptions) -> tuple[dict, list[str]]:
    """Every eval figure of `p.adapted`, and its generations; `eval_time_s` covers losses and generation."""
    started = time.perf_counter()
    losses, loss_per_task = all_losses(p)
    flat, per_task, generations, counts = split_quality(p, opts)
    figures = {"loss": losses, "loss_per_task": loss_per_task, "quality": flat, "quality_per_task": per_task,
               "generations": counts, "eval_time_s": time.perf_counter() - started}
    return figures, generations


# ------------------------------------------------------------------ what to evaluate

@dataclass
class EvalTarget:
    """A config to evaluate on, the adapter to load into its method (None: base model only), and where
    the figures go (None: nowhere, only printed)."""

    cfg: RunConfig
    adapter: Path | None
    out: Path | None


def choose_target(cfg: EvalConfig) -> EvalTarget:
    """`eval RUN`, `eval --adapter DIR` or `eval --baseline` alone; `cfg.settings` lie over a config
    (the run's own, or the defaults)."""
    if cfg.run and cfg.adapter:
        raise UsageError("give a RUN directory or --adapter DIR, not both")
    _check_settings(cfg.settings)
    if cfg.run:
        if cfg.out:
            raise UsageError(f"the figures of a run go into the run itself: drop --out "
                             f"(or use --adapter {cfg.run}/adapter)")
        return target_for_run(cfg.run, cfg.settings)
    run_cfg = set_fields(RunConfig(), cfg.settings)
    if cfg.adapter:
        return target_for_adapter(cfg.adapter, run_cfg, "task" in cfg.settings, cfg.out)
    if cfg.baseline:
        return EvalTarget(run_cfg, None, Path(cfg.out) if cfg.out else None)
    raise UsageError("nothing to evaluate: give a RUN directory, --adapter DIR (with --model), or --baseline")


def _check_settings(settings: dict) -> None:
    """eval changes the model and the data, and the batch size and split seed; nothing of the method."""
    for name in settings:
        if section_of(name) not in ("model", "data") and name not in EVAL_TRAIN_FIELDS:
            raise UsageError(f"eval takes no setting {name!r}: give model, data, batch_size or seed settings")


def target_for_run(run_dir: str | Path, settings: dict) -> EvalTarget:
    """A run directory: its own config (settings may change device, precision, data and sizes; not the
    model or the task it was trained on) and its adapter; figures go back into the run."""
    saved = read_run_config(run_dir)
    cfg = set_fields(copy.deepcopy(saved), settings)
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

def evaluate(cfg: EvalConfig, announce=print) -> dict:
    """The `eval` command: score what `cfg` names, write the figures where they belong, return them."""
    target = choose_target(cfg)
    return evaluate_target(target, EvalOptions(**dataclasses.asdict(cfg.quality)), baseline=cfg.baseline,
                           announce=announce)


def evaluate_target(target: EvalTarget, opts: EvalOptions, *, baseline: bool = False, announce=print) -> dict:
    """Score the adapter (if any) and, with `baseline` or no adapter, the base model; write the
    figures to `target.out` (if any) and return them. The base model goes first, from a fresh load,
    because LoRA and last-layer change the loaded model in place."""
    opts.validate()
    target.cfg.validate()
    figures: dict = {}
    base_samples: list[dict] = []
    samples: list[dict] = []
    if baseline or target.adapter is None:
        announce("peftlab: evaluating the base model (no adapter)")
        figures, base_samples = _score_base(target.cfg, opts)
    if target.adapter is not None:
        announce(f"peftlab: evaluating the {target.cfg.method.method} adapter in {target.adapter}")
        adapter_figures, samples = _score_adapter(target.cfg, target.adapter, opts)
        figures |= adapter_figures
    for row, base in zip(samples, base_samples):
        row["base_generation"] = base["base_generation"]
    if target.out is not None and is_main():  # under torchrun every rank holds the gathered figures; one writes
        write_eval(target.out, figures, samples or base_samples)
        if target.adapter is not None and target.adapter == target.out / "adapter":
            _refresh_run(target, figures)
    return figures


def _refresh_run(target: EvalTarget, figures: dict) -> None:
    """A run's eval figures also go to its trackers (at its last step) and into its model card."""
    from .cards import write_card
    from .rundir import read_metrics
    from .tracking import record_eval

    record_eval(target.out, target.cfg.train.report_to, figures, read_metrics(target.out).get("steps", 0))
    write_card(target.out)


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
    Path(out).mkdir(parents=True, exist_ok=True)
    merge_metrics(out, figures)
    write_samples(out, samples)


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
