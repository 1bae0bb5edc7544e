"""`peftlab compare`: the study in one command — what each method costs and what it buys on a task.

Every method is trained and evaluated on the same data, seed, epochs and batch size, each method in
its own fresh process (`peftlab train`, then `peftlab eval`, run in turn by `python -m peftlab.compare`),
so its peak memory is its own; the base model is evaluated once, also in its own process. The parent
only collects the figures the children wrote.

    DIR/runs/<method>/   an ordinary run directory: config.json, metrics.json (train + eval), samples.jsonl
    DIR/baseline/        `eval --baseline` of the base model: metrics.json, samples.jsonl
    DIR/results.json     every figure of the report; `compare --from DIR` renders it again
    DIR/report.md, report.html, *.png

`--resume` continues an interrupted comparison: a method whose run holds its eval figures is not
retrained, a finished training is only evaluated, a half-trained one continues with `train --resume`.
Every existing run is first checked against the configuration this command would give it, so figures
made with other settings are never mixed in silently.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import METHODS, DataConfig, ModelConfig, RunConfig
from .errors import UsageError
from .evaluate import EvalOptions, eval_signature
from .hardware import environment

# One learning rate cannot serve all three: a few soft-prompt vectors must travel far from their init,
# LoRA's update starts at zero, and the last block is already trained, so a large step undoes it.
# These sit in each method's usual range; `--lr` overrides them and results.json records what ran.
DEFAULT_LR = {"prompt": 3e-2, "lora": 1e-3, "last-layer": 1e-4}
RESULTS = "results.json"
OWN_ENTRIES = ("runs", "baseline", RESULTS, "report.md", "report.html",
               "loss.png", "memory.png", "time.png", "params.png", "quality.png")
# Settings that may differ between an existing run and this command without changing its figures' meaning.
FREE_KEYS = {("train", "out"), ("train", "resume"), ("train", "overwrite"), ("model", "device")}
# The flags `eval --baseline` takes from the shared config: model, data, batch size and the split seed.
EVAL_FIELDS = ({f.name for f in dataclasses.fields(ModelConfig)} | {f.name for f in dataclasses.fields(DataConfig)}
               | {"batch_size", "seed"})


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

    def run_config(self, method: str) -> RunConfig:
        """The exact config of one method's run: the shared one plus method, learning rate and directory."""
        cfg = copy.deepcopy(self.base)
        cfg.method.method = method
        cfg.train.lr = self.lrs[method]
        cfg.train.out = str(self.out / "runs" / method)
        cfg.train.resume = cfg.train.overwrite = False
        return cfg

    def validate(self) -> "CompareSpec":
        """Every method's config and the eval options, before anything runs or is written."""
        self.opts.validate()
        for method in self.methods:
            self.run_config(method).validate()
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite contradict each other: pick one")
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


def to_flags(cfg: RunConfig, names: set[str] | None = None) -> list[str]:
    """The CLI flags that rebuild `cfg` from the defaults (every field that differs from its default),
    limited to `names` when given — how a child process gets exactly the parent's settings."""
    flags: list[str] = []
    defaults = RunConfig()
    for section in ("model", "data", "method", "train"):
        for f in dataclasses.fields(getattr(cfg, section)):
            value = getattr(getattr(cfg, section), f.name)
            if (names is not None and f.name not in names) or value == getattr(getattr(defaults, section), f.name):
                continue
            flag = "--" + f.name.replace("_", "-")  # --flag=value: a value may start with "-"
            flags.append(flag if value is True else f"{flag}={repr(value) if isinstance(value, float) else value}")
    return flags


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
    if spec.resume:
        for method in spec.methods:
            _check_run_config(out / "runs" / method, spec.run_config(method))


def _check_run_config(run_dir: Path, expected: RunConfig) -> None:
    from .runs import read_run_config

    if not (run_dir / "config.json").is_file():
        return
    saved, wanted = read_run_config(run_dir).to_dict(), expected.to_dict()
    differing = [f"{s}.{k}" for s, values in wanted.items() for k, v in values.items()
                 if (s, k) not in FREE_KEYS and saved.get(s, {}).get(k) != v]
    if differing:
        raise UsageError(f"{run_dir} was made with other settings ({', '.join(differing)}): rerun with the original "
                         "flags, or use --overwrite or a new --out")


def clear_dir(out: Path) -> None:
    for name in OWN_ENTRIES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def read_metrics(path: Path) -> dict:
    file = path / "metrics.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def method_stage(run_dir: Path, expected: dict) -> str:
    """What a method still needs: 'done', 'eval' (trained), 'resume' (half-trained) or 'train'."""
    metrics = read_metrics(run_dir)
    if "trainable_params" in metrics and (run_dir / "adapter").is_dir():
        return "done" if _evaluated(metrics, expected) else "eval"
    return "resume" if (run_dir / "config.json").is_file() else "train"


def _evaluated(metrics: dict, expected: dict) -> bool:
    """Eval figures present and made with the expected settings (device aside)."""
    recorded = metrics.get("eval") or {}
    return ("quality" in metrics and "test" in (metrics.get("loss") or {})
            and all(recorded.get(k) == v for k, v in expected.items()))


# ------------------------------------------------------------------ children

AND = "::"  # separates the peftlab commands one child runs in turn


def run_child(commands: list[list[str]], label: str) -> None:
    """Run peftlab commands in turn in one fresh interpreter (`python -m peftlab.compare`), echoing its
    output prefixed with `label`. A child's usage error becomes ours (one line); any other failure
    stops the comparison, which `--resume` then continues."""
    argv = [sys.executable, "-m", "peftlab.compare"]
    for command in commands:
        argv += [*command, AND]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    error = None
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as child:
        for line in child.stdout:
            if line.startswith("peftlab: error: "):
                error = line.removeprefix("peftlab: error: ").strip()
            else:
                print(f"[{label}] {line}", end="", flush=True)
    if child.returncode == 2 and error:
        raise UsageError(f"{label}: {error}")
    if child.returncode != 0:
        raise RuntimeError(f"the {label} process exited with code {child.returncode} (its output is above): "
                           "fix the cause and rerun with --resume")


def child_main(argv: list[str]) -> int:
    """The child: each `AND`-separated peftlab command through the ordinary CLI, stopping at a failure."""
    from .cli import main

    command: list[str] = []
    for arg in [*argv, AND]:
        if arg != AND:
            command.append(arg)
            continue
        code = main(command) if command else 0
        if code:
            return code
        command = []
    return 0


def eval_flags(opts: EvalOptions) -> list[str]:
    flags = ["--split", opts.split, "--num-beams", str(opts.num_beams)]
    return flags + (["--max-new-tokens", str(opts.max_new_tokens)] if opts.max_new_tokens else [])


def run_method(spec: CompareSpec, method: str, announce=print) -> None:
    """Train (or resume) and evaluate one method as far as it still needs, in one fresh process: its
    peak memory is measured during training, so the evaluation after it cannot inflate it."""
    cfg = spec.run_config(method)
    run_dir = Path(cfg.train.out)
    stage = method_stage(run_dir, eval_signature(cfg, spec.opts))
    announce(f"peftlab compare: {method} (lr {cfg.train.lr:g}) — {_STAGE_TEXT[stage]}")
    if stage == "done":
        return
    commands = []
    if stage in ("train", "resume"):
        extra = ["--resume"] if stage == "resume" else (["--overwrite"] if run_dir.exists() else [])
        commands.append(["train", *to_flags(cfg), *extra])
    device = ["--device", cfg.model.device] if cfg.model.device != "auto" else []
    commands.append(["eval", str(run_dir), *device, *eval_flags(spec.opts)])
    run_child(commands, method)


_STAGE_TEXT = {"done": "already trained and evaluated, kept", "eval": "already trained, evaluating",
               "resume": "resuming its training", "train": "training"}


def run_baseline(spec: CompareSpec, announce=print) -> None:
    """The base model with no adapter, evaluated once on the same data and settings."""
    out = spec.out / "baseline"
    metrics = read_metrics(out)
    wanted = eval_signature(spec.base, spec.opts)
    if metrics.get("baseline") and all((metrics.get("eval") or {}).get(k) == v for k, v in wanted.items()):
        announce("peftlab compare: base model — already evaluated, kept")
        return
    announce("peftlab compare: base model — evaluating (no adapter)")
    run_child([["eval", "--baseline", "--out", str(out), *to_flags(spec.base, EVAL_FIELDS), *eval_flags(spec.opts)]],
              "base model")


# ------------------------------------------------------------------ results

METHOD_KEYS = ("trainable_params", "total_params", "trainable_pct", "loss", "loss_per_task", "history",
               "epoch_time_s", "epoch_times_s", "train_tokens_per_s", "peak_memory_mb", "quality",
               "quality_per_task", "eval_time_s")


def collect(spec: CompareSpec) -> dict:
    """results.json: every figure the report shows, read back from what the children wrote."""
    from .data.tasks import get_task

    runs = {m: read_metrics(spec.out / "runs" / m) for m in spec.methods}
    base = read_metrics(spec.out / "baseline").get("baseline") or {}
    first = runs[spec.methods[0]]
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
        "baseline": {k: base.get(k) for k in ("loss", "loss_per_task", "quality", "quality_per_task", "eval_time_s")},
        "methods": {m: {k: runs[m].get(k) for k in METHOD_KEYS} | {"lr": spec.lrs[m]} for m in spec.methods},
    }


def _origin(origin) -> str | None:
    if isinstance(origin, dict):
        return origin[next(iter(origin))] if len(origin) == 1 else "; ".join(f"{t}: {o}" for t, o in origin.items())
    return origin


def config_record(spec: CompareSpec) -> dict:
    """The exact configuration: every shared setting, each method's learning rate, and how quality was
    measured (bookkeeping fields such as checkpointing and the run directory are left out)."""
    skip = {"out", "resume", "overwrite", "log_every", "save_interval", "save_every_steps", "keep_checkpoints",
            "method", "lr"}
    record = {"methods": ",".join(spec.methods), "lr": spec.lrs}
    for section in ("model", "data", "method", "train"):
        part = getattr(spec.base, section)
        record |= {f.name: getattr(part, f.name) for f in dataclasses.fields(part) if f.name not in skip}
    decoding = "greedy" if spec.opts.num_beams == 1 else f"beam search, {spec.opts.num_beams} beams"
    return record | {"quality_split": spec.opts.split, "decoding": decoding,
                     "max_new_tokens": {t: spec.opts.tokens_for(t) for t in spec.base.data.tasks}}


# ------------------------------------------------------------------ the command

def run_compare(spec: CompareSpec, announce=print) -> dict:
    """Train and evaluate every method, evaluate the base model, write results.json and the report."""
    from .checkpoint import atomic_write_bytes
    from .pipeline import read_rows
    from .report import render_report

    spec.validate()
    check_dir(spec)
    read_rows(spec.run_config(spec.methods[0]))  # a bad --data fails here, before anything is written
    if spec.overwrite:
        clear_dir(spec.out)
    started = time.perf_counter()
    for method in spec.methods:
        run_method(spec, method, announce)
    run_baseline(spec, announce)
    results = collect(spec)
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


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
