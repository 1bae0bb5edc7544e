"""compare's statistics: which seeds a study trains, and each method's figures over its seeds.

With `--seeds`, every method is trained once per seed (init, data order and dropout follow the seed)
into DIR/runs/<method>/seed<k>/, an ordinary run directory each; the data split stays fixed at the
first seed (`DataConfig.data_seed`), so the seeds differ in training only and the test examples are
the same for every run. A method's record in results.json then holds the mean of every figure, `ci`
(the half-width of its 95% t-interval over seeds, same shape), `seeds` and `per_seed` (each run's
own figures), so the report shows "mean ± half-width" and the hand computation can be redone.

Over test examples, `example_uncertainty` bootstraps (1000 resamples, seed 0) each method's quality
metric and the paired differences the report's sentences rest on, from the generations in each
run's samples.jsonl. ROUGE/EM/F1 resample per-example scores; BLEU/chrF are corpus metrics and are
recomputed on each resample, as sacrebleu's own paired bootstrap does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Callable
from pathlib import Path

from .data.tasks import Task
from .errors import UsageError
from .rundir import SAMPLES
from .stats import aggregate, bootstrap_ci


def parse_seeds(text: str | None, first: int) -> list[int] | None:
    """'3' -> [first, first+1, first+2]; '0,4,7' -> [0, 4, 7]; None -> None (one run per method in
    DIR/runs/<method>/, as without seeds)."""
    if text is None:
        return None
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ValueError(text)
            return list(range(first, first + count))
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"bad --seeds {text!r}: give a count (--seeds 3) or a list (--seeds 0,1,2)") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r} names a seed twice or none: list each seed once")
    return seeds


def seed_record(per_seed: dict[int, dict]) -> dict:
    """One method's figures over its seeds: the means where the single-run figures were, `ci` with
    the 95% half-widths, `seeds`, and `per_seed` (str(seed) -> that run's figures)."""
    runs = list(per_seed.values())
    mean, half = aggregate(runs)
    return mean | {"ci": _drop_empty(half), "seeds": list(per_seed),
                   "per_seed": {str(seed): figures for seed, figures in per_seed.items()}}


def _drop_empty(tree):
    """The half-width tree without the branches that hold no interval (None leaves)."""
    if isinstance(tree, dict):
        kept = {k: v for k, v in ((k, _drop_empty(v)) for k, v in tree.items()) if v not in (None, {}, [])}
        return kept
    if isinstance(tree, list):
        return tree if any(v not in (None, {}) for v in tree) else None
    return tree


# ------------------------------------------------------------------ uncertainty over test examples

RESAMPLES, BOOTSTRAP_SEED = 1000, 0


def read_generations(run_dir: Path, key: str) -> tuple[list[str], list[str]] | None:
    """(references, generations) from a run's samples.jsonl; None when it has none."""
    file = Path(run_dir) / SAMPLES
    if not file.is_file():
        return None
    rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["reference"] for r in rows], [r.get(key) or "" for r in rows]


def example_uncertainty(task: Task, metric: str, method_dirs: dict[str, list[Path]], base_dir: Path) -> dict | None:
    """Bootstrap 95% intervals over the test examples: each run's metric (`per_run`, in seed order),
    each method's (pooled over its seeds: the mean of the seeds' figures on each resample), each method minus the base model, and the best
    method minus the runner-up — paired: both sides of a difference are scored on the same resample.
    None when some run has no generations, or the runs were scored on different examples."""
    sides = {name: [read_generations(d, "generation") for d in dirs] for name, dirs in method_dirs.items()}
    sides[BASE] = [read_generations(base_dir, "base_generation")]
    if any(g is None for gens in sides.values() for g in gens):
        return None
    references = sides[BASE][0][0]
    if not references or any(refs != references for gens in sides.values() for refs, _ in gens):
        return None
    stats = {name: _pooled(task, metric, [g for _, g in gens], references) for name, gens in sides.items()}
    n, everything = len(references), list(range(len(references)))
    point = {name: stat(everything) for name, stat in stats.items()}
    record = {"metric": metric, "examples": n, "resamples": RESAMPLES, "seed": BOOTSTRAP_SEED,
              "intervals": {name: _ci(stat, n) for name, stat in stats.items()},
              "per_run": {name: [_ci(task.statistic(g, references, metric), n) for _, g in gens]
                          for name, gens in sides.items() if name != BASE},
              "vs_base": {name: _difference(stats[name], stats[BASE], n) for name in method_dirs}}
    ranked = sorted(method_dirs, key=lambda name: point[name], reverse=True)
    if len(ranked) >= 2:
        best, runner_up = ranked[:2]
        record["best_vs_runner_up"] = {"best": best, "runner_up": runner_up,
                                       **_difference(stats[best], stats[runner_up], n)}
    return record


BASE = "base model"


def _pooled(task: Task, metric: str, generations: list[list[str]], references: list[str]) -> Callable:
    each = [task.statistic(g, references, metric) for g in generations]
    return lambda idx: sum(stat(idx) for stat in each) / len(each)


def _ci(statistic: Callable, n: int) -> list[float]:
    return list(bootstrap_ci(statistic, n, resamples=RESAMPLES, seed=BOOTSTRAP_SEED))


def _difference(a: Callable, b: Callable, n: int) -> dict:
    """a − b on all examples, and its paired bootstrap interval (same resamples for both)."""
    return {"difference": a(list(range(n))) - b(list(range(n))), "ci": _ci(lambda idx: a(idx) - b(idx), n)}


# ------------------------------------------------------------------ cost

def training_flops(figures: dict, backprop_through_frozen: bool) -> float | None:
    """Estimated training FLOPs of one run, by the usual matmul count per token (Kaplan et al.): the
    forward costs 2 FLOPs per parameter, the backward 4 per trained parameter (gradients of activations
    and of weights) and 2 per frozen parameter the gradient passes through (activations only) — all
    frozen ones for prompt tuning and LoRA, none for last-layer (the trained block is on top; its LM
    head is ignored). Per token: 2N + 4T + 2F or 2N + 4T; times the non-pad tokens trained on.
    Attention's own score matmuls and the evaluation are not counted."""
    total, trained, tokens = (figures.get(k) for k in ("total_params", "trainable_params", "train_tokens"))
    if not all(isinstance(v, (int, float)) for v in (total, trained, tokens)):
        return None
    frozen = total - trained if backprop_through_frozen else 0
    return float(tokens * (2 * total + 4 * trained + 2 * frozen))


# ------------------------------------------------------------------ reproducibility stamp

def sha256_json(value) -> str:
    """A digest of JSON-able data, independent of dict order."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_stamp(rows: dict[str, list[dict]], tasks: list[str]) -> dict:
    """sha256 of each split's rows as every run read them, and of each task's built-in generator output
    (its first 16 test rows, seed 0: the fingerprint tests/test_builtin_pins.py pins), so two reports
    can tell whether they saw the same data and the same generator."""
    from .data.tasks import get_task

    generators = {t: sha256_json(get_task(t).builtin_split("test", 16, 0)) for t in tasks
                  if get_task(t).make_row is not None}
    return {"splits_sha256": {split: sha256_json(split_rows) for split, split_rows in rows.items()},
            "builtin_generator_sha256": generators}


def package_versions() -> dict[str, str | None]:
    """The versions the environment block does not already list: the adapter format and the scorers."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in ("peft", "sacrebleu", "rouge-score", "safetensors", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def command_line(cfg) -> str:
    """The `peftlab compare` command that gives this study: every setting that differs from its
    default, as its flag (flags given at their default value are left out: same study; --resume and
    --overwrite say how it was run, not what it is)."""
    from .config import CompareConfig

    words = ["peftlab", "compare"]
    for owner, default in _flag_owners(cfg, CompareConfig()):
        for f in dataclasses.fields(owner):
            value = getattr(owner, f.name)
            if f.name in ("run", "quality", "resume", "overwrite") or value == getattr(default, f.name):
                continue
            flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
            words += [flag] if value is True else [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def _flag_owners(cfg, default):
    """(config part, its default) for the compare config, its quality options and each run section."""
    yield cfg, default
    yield cfg.quality, default.quality
    for section in ("model", "data", "method", "train"):
        yield getattr(cfg.run, section), getattr(default.run, section)
