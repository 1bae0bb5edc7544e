"""`peftlab compare`: the study in one command — what each method costs and what it buys on a task.

Every method is trained and evaluated on the same data, seed, epochs and batch size, each method in
its own fresh process (`comparison_children`: `train` then `evaluate`, called as functions), so its peak
memory is its own; the base model is evaluated once, also in its own process. The parent only
collects the figures the children wrote.

    DIR/runs/<method>/   an ordinary run directory: config.json, metrics.json (train + eval), samples.jsonl
                         (with --seeds: DIR/runs/<method>/seed<k>/, one per seed; see comparison_study)
    DIR/lr-search/       with --lr-search: the grid runs (comparison_search)
    DIR/baseline/        `eval --baseline` of the base model: metrics.json, samples.jsonl
    DIR/results.json     every figure of the report; `compare --from DIR` renders it again
    DIR/report.md, report.html, *.png

`--resume` continues an interrupted comparison: a method whose run holds its eval figures is not
retrained, a finished training is only evaluated, a half-trained one (or one given more `--epochs`)
continues with `train --resume`. Every existing run is first checked against the configuration this
command would give it, by the run directory's own rule (`rundir.differing_keys`: the comparison may
have moved, epochs may grow), so figures made with other settings are never mixed in silently.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .comparison_search import SEARCH_DIR, lr_grid, search_config, search_method
from .comparison_study import command_line, data_stamp, package_versions, example_uncertainty, parse_seeds, seed_record, training_flops
from .comparison_children import baseline_child, check_run_config, made_with, method_child, method_stage, run_child
from .config import DEFAULT_LR, METHODS, CompareConfig, RunConfig
from .errors import UsageError
from .evaluation import EvalOptions, eval_signature
from .hardware import environment
from .rundir import read_metrics

RESULTS = "results.json"
OWN_ENTRIES = ("runs", "baseline", RESULTS, "report.md", "report.html",
               "loss.png", "memory.png", "time.png", "params.png", "quality.png", SEARCH_DIR, "lr_search.png", "cost.png")


@dataclass
class CompareSpec:
    """One comparison: the shared config (every train flag), the methods and their learning rates."""

    base: RunConfig
    methods: list[str]
    lrs: dict[str, float]
    out: Path
    opts: EvalOptions = field(default_factory=EvalOptions)
    resume: bool = False
    overwrite: bool = False
    seeds: list[int] | None = None  # --seeds: one run per seed in runs/<method>/seed<k>/ (comparison_study)
    lr_search: dict | None = None  # --lr-search: {"points": N, "fraction": F} (comparison_search)
    command: str | None = None  # the command line that gives this study (reproducibility stamp)
    nproc: int = 1  # ranks each method trains on (torchrun --standalone); 1: in the child itself

    @classmethod
    def from_config(cls, cfg: CompareConfig) -> "CompareSpec":
        if not cfg.out:
            raise UsageError("no comparison directory: pass --out DIR (or --from DIR to render one again)")
        methods = parse_methods(cfg.methods)
        return cls(copy.deepcopy(cfg.run), methods, parse_lr(cfg.lr, methods), Path(cfg.out).resolve(),
                   EvalOptions(**dataclasses.asdict(cfg.quality)), resume=bool(cfg.run.train.resume),
                   overwrite=bool(cfg.run.train.overwrite),
                   seeds=parse_seeds(cfg.seeds, cfg.run.train.seed),
                   lr_search={"points": cfg.lr_grid_points, "fraction": cfg.lr_search_fraction}
                   if cfg.lr_search else None, command=command_line(cfg), nproc=cfg.nproc_per_node)

    def run_config(self, method: str, seed: int | None = None) -> RunConfig:
        """The exact config of one method's run: the shared one plus method, learning rate and directory
        (with seeds: that seed, the first seed's data split, and runs/<method>/seed<k>)."""
        cfg = self._with_split_seed(copy.deepcopy(self.base))
        cfg.method.method = method
        cfg.train.lr = self.lrs[method]
        cfg.train.out = str(self.out / "runs" / method)
        if seed is not None:
            cfg.train.seed, cfg.train.out = seed, str(self.out / "runs" / method / f"seed{seed}")
        cfg.train.resume = cfg.train.overwrite = False
        return cfg

    def run_configs(self, method: str) -> list[RunConfig]:
        """Every run of one method: one, or one per seed."""
        return [self.run_config(method, seed) for seed in (self.seeds or [None])]

    def _with_split_seed(self, cfg: RunConfig) -> RunConfig:
        if self.seeds and cfg.data.data_seed is None:
            cfg.data.data_seed = self.seeds[0]
        return cfg

    def baseline_config(self) -> RunConfig:
        """The base model's evaluation: the shared model and data, batch size and split seed."""
        cfg = RunConfig(model=copy.deepcopy(self.base.model), data=copy.deepcopy(self.base.data))
        cfg.train.batch_size, cfg.train.seed = self.base.train.batch_size, self.base.train.seed
        return self._with_split_seed(cfg)

    def validate(self) -> "CompareSpec":
        """Every method's config and the eval options, before anything runs or is written."""
        self.opts.validate()
        for method in self.methods:
            for cfg in self.run_configs(method):
                cfg.validate()
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite contradict each other: pick one")
        if self.lr_search:
            search_config(self.base, lr_grid(1.0, self.lr_search["points"])[0], self.lr_search["fraction"], 1, self.out)
        if isinstance(self.nproc, bool) or not isinstance(self.nproc, int) or self.nproc < 1:
            raise UsageError(f"--nproc-per-node must be a positive integer, got {self.nproc}")
        return self


# ------------------------------------------------------------------ parsing the compare flags

def parse_methods(text: str | None) -> list[str]:
    """'prompt,lora' -> ['prompt', 'lora']; every method by default."""
    methods = [m.strip() for m in (text or ",".join(METHODS)).split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UsageError(f"unknown --methods {','.join(unknown) or repr(text)}: use a comma-separated subset of "
                         f"{','.join(METHODS)}")
    if len(set(methods)) != len(methods):
        raise UsageError(f"--methods {text!r} names a method twice: list each method once")
    return methods


def parse_lr(text: str | None, methods: list[str]) -> dict[str, float]:
    """`--lr 0.001` for every method, `--lr prompt=0.03,lora=0.001` per method (the rest keep
    DEFAULT_LR), or nothing: DEFAULT_LR."""
    lrs = {m: DEFAULT_LR[m] for m in methods}
    if text is None:
        return lrs
    try:
        if "=" not in text:
            return {m: _lr_value(text) for m in methods}
        for part in text.split(","):
            name, value = (s.strip() for s in part.split("=", 1))
            if name not in METHODS:
                raise ValueError(name)
            lrs[name] = _lr_value(value)
    except ValueError:
        raise UsageError(f"bad --lr {text!r}: give one rate (--lr 0.001) or one per method "
                         "(--lr prompt=0.03,lora=0.001,last-layer=0.0001)") from None
    return {m: lrs[m] for m in methods}


def _lr_value(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


# ------------------------------------------------------------------ the comparison directory

def check_dir(spec: CompareSpec) -> None:
    """Same rules as a run directory: an existing comparison is continued only with --resume and
    replaced only with --overwrite (which removes only what compare writes)."""
    out = spec.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: choose a directory path")
    ours = [out / name for name in OWN_ENTRIES if (out / name).exists()]
    if spec.resume and not ours:
        raise UsageError(f"--resume but {out} holds no comparison: drop --resume to start one")
    if ours and not (spec.resume or spec.overwrite):
        raise UsageError(f"{out} already holds a comparison: pass --resume to continue it or --overwrite to replace it")


def check_runs(spec: CompareSpec) -> None:
    """On --resume, every existing run must have been made with the settings it would get now."""
    if spec.resume:
        for method in spec.methods:
            for cfg in spec.run_configs(method):
                check_run_config(Path(cfg.train.out), cfg)


def clear_dir(out: Path) -> None:
    for name in OWN_ENTRIES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def run_method(spec: CompareSpec, method: str, announce=print) -> None:
    """Train (or resume) and evaluate each run of one method as far as it still needs, each in one
    fresh process."""
    for cfg in spec.run_configs(method):
        stage = method_stage(cfg, eval_signature(cfg, spec.opts))
        label = f"{method} seed {cfg.train.seed}" if spec.seeds else method
        announce(f"peftlab compare: {label} (lr {cfg.train.lr:g}) — {_STAGE_TEXT[stage]}")
        if stage != "done":
            started = time.perf_counter()
            figures = run_child(label, method_child, cfg, stage, spec.opts, spec.nproc)
            announce(finished_line(label, figures, time.perf_counter() - started))


def finished_line(label: str, figures: dict, elapsed_s: float) -> str:
    """One line per finished run: its time and headline figures."""
    loss = (figures.get("loss") or {}).get("test")
    quality = ", ".join(f"{k} {v:.2f}" for k, v in (figures.get("quality") or {}).items())
    return f"peftlab compare: {label} finished in {elapsed_s:.0f} s — test loss {_num(loss, '.4f')}" + \
        (f", {quality}" if quality else "")


_STAGE_TEXT = {"done": "already trained and evaluated, kept", "eval": "already trained, evaluating",
               "resume": "resuming its training", "train": "training"}


def run_lr_search(spec: CompareSpec, train_size: int, announce=print) -> dict:
    """Every method's grid (first seed), then its chosen rate into `spec.lrs`; what the report shows."""
    methods = {}
    for method in spec.methods:
        methods[method] = search_method(spec.run_configs(method)[0], points=spec.lr_search["points"],
                                        fraction=spec.lr_search["fraction"], train_size=train_size, out=spec.out,
                                        resume=spec.resume, announce=announce)
        spec.lrs[method] = methods[method]["chosen"]
    cost = sum(g["train_time_s"] or 0 for m in methods.values() for g in m["grid"])
    return spec.lr_search | {"methods": methods, "runs": sum(len(m["grid"]) for m in methods.values()),
                             "train_time_s": cost}


def run_baseline(spec: CompareSpec, announce=print) -> None:
    """The base model with no adapter, evaluated once on the same data and settings."""
    out, cfg = spec.out / "baseline", spec.baseline_config()
    metrics = read_metrics(out)
    if metrics.get("baseline") and made_with(metrics, eval_signature(cfg, spec.opts)):
        announce("peftlab compare: base model — already evaluated, kept")
        return
    announce("peftlab compare: base model — evaluating (no adapter)")
    run_child("base model", baseline_child, cfg, out, spec.opts)


# ------------------------------------------------------------------ results

METHOD_KEYS = ("trainable_params", "total_params", "trainable_pct", "loss", "loss_per_task", "history",
               "epoch_time_s", "epoch_times_s", "train_tokens_per_s", "peak_memory_mb", "quality",
               "quality_per_task", "generations", "eval_time_s")


def collect(spec: CompareSpec) -> dict:
    """results.json: every figure the report shows, read back from what the children wrote."""
    from .data.tasks import get_task

    runs = {m: [read_metrics(cfg.train.out) for cfg in spec.run_configs(m)] for m in spec.methods}
    base = read_metrics(spec.out / "baseline").get("baseline") or {}
    first = runs[spec.methods[0]][0]
    data = first.get("data") or {}
    tasks = spec.base.data.tasks
    return {
        "task": spec.base.data.task,
        "primary_metric": get_task(tasks[0]).primary_metric if len(tasks) == 1 else None,
        "config": config_record(spec),
        "environment": environment(first.get("device") or "cpu", first.get("precision") or spec.base.model.precision,
                                   spec.base.model.precision),
        "model": {"name": spec.base.model.model, "label": base.get("model") or first.get("model"),
                  "total_params": base.get("total_params"),
                  "untrained": base.get("untrained", first.get("untrained_model"))},
        "data": {"origin": _origin(data.get("origin")), "sizes": data.get("sizes")},
        "memory_kind": first.get("memory_kind"),
        "baseline": {k: base.get(k) for k in ("loss", "loss_per_task", "quality", "quality_per_task", "generations",
                                                   "eval_time_s")},
        "methods": {m: _method_record(spec, m, runs[m]) | {"lr": spec.lrs[m]} for m in spec.methods},
        "uncertainty": _uncertainty(spec),
    }


def _uncertainty(spec: CompareSpec) -> dict | None:
    """Bootstrap intervals over test examples (one task only: the report ranks by its primary metric)."""
    from .data.tasks import get_task

    if len(spec.base.data.tasks) != 1:
        return None
    task = get_task(spec.base.data.tasks[0])
    dirs = {m: [Path(cfg.train.out) for cfg in spec.run_configs(m)] for m in spec.methods}
    return example_uncertainty(task, task.primary_metric, dirs, spec.out / "baseline")


def _method_record(spec: CompareSpec, method: str, runs: list[dict]) -> dict:
    """One method's figures: its run's, or with seeds their means, intervals and per-seed figures;
    each run's estimated training FLOPs and total training time beside them."""
    from .methods import get_method

    through = get_method(method).backprop_through_frozen
    figures = [{k: run.get(k) for k in METHOD_KEYS}
               | {"train_flops": training_flops(run, through), "train_time_s": sum(run.get("epoch_times_s") or [])}
               for run in runs]
    return seed_record(dict(zip(spec.seeds, figures))) if spec.seeds else figures[0]


def _origin(origin) -> str | None:
    if isinstance(origin, dict):
        return origin[next(iter(origin))] if len(origin) == 1 else "; ".join(f"{t}: {o}" for t, o in origin.items())
    return origin


def config_record(spec: CompareSpec) -> dict:
    """The exact configuration: every shared setting, each method's learning rate, and how quality was
    measured (bookkeeping fields such as checkpointing and the run directory are left out)."""
    skip = {"out", "resume", "overwrite", "log_every", "save_interval", "save_every_steps", "keep_checkpoints",
            "method", "lr", "report_to", "progress"}
    record = {"methods": ",".join(spec.methods), "lr": spec.lrs} | ({"seeds": spec.seeds} if spec.seeds else {})
    record |= {"lr_search": spec.lr_search} if spec.lr_search else {}
    for section in ("model", "data", "method", "train"):
        part = getattr(spec.base, section)
        record |= {f.name: getattr(part, f.name) for f in dataclasses.fields(part) if f.name not in skip}
    decoding = "greedy" if spec.opts.num_beams == 1 else f"beam search, {spec.opts.num_beams} beams"
    if spec.nproc > 1:  # each method trained data-parallel: --batch-size is per rank
        record |= {"nproc_per_node": spec.nproc, "global_batch_size": spec.nproc * spec.base.train.batch_size * spec.base.train.grad_accum}
    return record | {"quality_split": spec.opts.split, "decoding": decoding,
                     "max_new_tokens": {t: spec.opts.tokens_for(t) for t in spec.base.data.tasks},
                     "min_new_tokens": {t: spec.opts.min_tokens_for(t) for t in spec.base.data.tasks}}


# ------------------------------------------------------------------ the command

def compare(cfg: CompareConfig, announce=print) -> dict:
    """The `compare` command: run the comparison `cfg` describes (or, with `from_dir`, render one again);
    returns results.json's content."""
    if cfg.from_dir:
        _check_from_alone(cfg)
        return rerender(cfg.from_dir, cfg.out, announce)
    return run_compare(CompareSpec.from_config(cfg), announce)


def _check_from_alone(cfg: CompareConfig) -> None:
    """`--from` re-renders what exists: a setting given with it would silently do nothing."""
    ours, defaults = _leaves(dataclasses.asdict(cfg)), _leaves(dataclasses.asdict(CompareConfig()))
    extra = sorted(path[-1] for path, value in ours.items()
                   if value != defaults[path] and path[-1] not in ("out", "from_dir"))
    if extra:
        raise UsageError(f"--from renders an existing comparison again: drop --{extra[0].replace('_', '-')}")


def _leaves(nested: dict, path: tuple = ()) -> dict[tuple, object]:
    """{"a": {"b": 1}, "c": 2} -> {("a", "b"): 1, ("c",): 2}."""
    flat: dict[tuple, object] = {}
    for key, value in nested.items():
        flat |= _leaves(value, path + (key,)) if isinstance(value, dict) else {path + (key,): value}
    return flat


def run_compare(spec: CompareSpec, announce=print) -> dict:
    """Train and evaluate every method, evaluate the base model, write results.json and the report."""
    from .checkpoint import atomic_write_bytes
    from .pipeline import read_rows
    from .report import render_report

    spec.validate()
    check_dir(spec)
    rows, _ = read_rows(spec.run_configs(spec.methods[0])[0])  # a bad --data fails here, before anything is written
    if spec.overwrite:
        clear_dir(spec.out)
    started = time.perf_counter()
    search = run_lr_search(spec, len(rows["train"]), announce) if spec.lr_search else None
    check_runs(spec)
    for method in spec.methods:
        run_method(spec, method, announce)
    run_baseline(spec, announce)
    results = collect(spec) | ({"lr_search": search} if search else {})
    results["reproducibility"] = {"command": spec.command, "study_wall_time_s": time.perf_counter() - started,
                                  "versions": package_versions()} | data_stamp(rows, spec.base.data.tasks)
    # not atomic_write_json: it sorts keys, and the report lists methods in the order they were given
    atomic_write_bytes(spec.out / RESULTS, (json.dumps(results, indent=2) + "\n").encode("utf-8"))
    paths = render_report(results, spec.out)
    announce(summary(results, time.perf_counter() - started, paths))
    return results


def rerender(from_dir: str | Path, out: str | Path | None = None, announce=print) -> dict:
    """Render the report of a finished comparison again from its results.json; nothing is retrained."""
    from .report import render_report

    file = Path(from_dir) / RESULTS
    if not file.is_file():
        raise UsageError(f"{from_dir} holds no {RESULTS}: finish the comparison with compare --resume --out {from_dir}")
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{file} is not valid JSON ({exc}): rerun compare --resume --out {from_dir}") from None
    paths = render_report(results, Path(out or from_dir))
    announce(f"peftlab compare: report written to {paths['report.md']} and {paths['report.html']}")
    return results


def summary(results: dict, elapsed_s: float, paths: dict[str, Path]) -> str:
    """A few lines for the terminal: each method's headline figures and where the report is."""
    metric = results.get("primary_metric")
    lines = [f"peftlab compare: {', '.join(results['methods'])} on {results['task']} — {elapsed_s:.0f} s"]
    rows = [(m, r) for m, r in results["methods"].items()] + [("base model", results.get("baseline") or {})]
    for name, r in rows:
        quality = (r.get("quality") or {}).get(metric) if metric else None
        line = f"  {name:<12} test loss {_num((r.get('loss') or {}).get('test'), '.4f')}  " \
               f"{metric or 'quality'} {_num(quality, '.2f')}"
        if name != "base model":
            line += f"  {_num(r.get('epoch_time_s'), '.1f')} s/epoch  peak {_num(r.get('peak_memory_mb'), '.0f')} MB"
        lines.append(line)
    lines.append(f"  report: {paths['report.md']} (and {paths['report.html'].name}); figures: "
                 f"{paths['report.md'].parent / RESULTS}")
    return "\n".join(lines)


def _num(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)

