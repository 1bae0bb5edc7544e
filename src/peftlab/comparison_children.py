"""compare's children: each method (and the base model) trained and evaluated in a fresh process.

A child is a function run in a new interpreter (`multiprocessing`'s spawn context), so its peak
memory is its own and nothing one method loaded survives into the next. It receives its `RunConfig`
and `EvalOptions` as objects and sends back its figures, or the `UsageError` that stopped it; its
output lines appear prefixed with its label. Anything else that kills a child stops the comparison,
which `compare --resume` then continues.
"""

from __future__ import annotations

import io
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from .config import RunConfig
from .errors import UsageError
from .flags import run_argv
from .evaluation import EvalOptions, EvalTarget
from .rundir import CONFIG, RunDir, differing_keys, read_run_config


# ------------------------------------------------------------------ what a method still needs

def check_run_config(run_dir: Path, expected: RunConfig) -> None:
    """An existing run may be kept or continued only with the settings this comparison gives it."""
    if not (run_dir / CONFIG).is_file():
        return
    differing = differing_keys(read_run_config(run_dir), expected)
    if differing:
        raise UsageError(f"{run_dir} was made with other settings ({', '.join(differing)}): rerun with the original "
                         "flags, or use --overwrite or a new --out")


def method_stage(cfg: RunConfig, expected: dict) -> str:
    """What a method still needs: 'done', 'eval' (trained), 'resume' (half-trained, or fewer epochs than
    `cfg` asks for) or 'train'."""
    run = RunDir(cfg.train.out)
    metrics = run.metrics()
    trained = "trainable_params" in metrics and run.adapter.is_dir()
    if trained and len(metrics.get("history") or []) >= cfg.train.epochs:
        return "done" if evaluated(metrics, expected) else "eval"
    return "resume" if (run.path / CONFIG).is_file() else "train"


def evaluated(metrics: dict, expected: dict) -> bool:
    """Eval figures present and made with the expected settings (device aside)."""
    return "quality" in metrics and "test" in (metrics.get("loss") or {}) and made_with(metrics, expected)


def made_with(metrics: dict, expected: dict) -> bool:
    """The eval settings recorded in `metrics` equal `expected` (an `eval_signature`)."""
    recorded = metrics.get("eval") or {}
    return all(recorded.get(k) == v for k, v in expected.items())


# ------------------------------------------------------------------ the children's bodies

def method_child(cfg: RunConfig, stage: str, opts: EvalOptions, nproc: int = 1) -> dict:
    """Train (or resume) one method as far as `stage` says — data-parallel on `nproc` local ranks when
    more than one — then evaluate it into its run directory: its peak memory is measured during
    training, so the evaluation after it cannot inflate it."""
    from .evaluation import evaluate_target, format_table, target_for_run
    from .training import train

    if stage in ("train", "resume"):
        cfg.train.resume = stage == "resume"
        cfg.train.overwrite = stage == "train" and Path(cfg.train.out).exists()
        cfg.train.progress = "lines"  # the child writes to a prefixed stream, not a terminal: no bar
        if nproc > 1:
            train_data_parallel(cfg, nproc)
        else:
            train(cfg)
    device = {"device": cfg.model.device} if cfg.model.device != "auto" else {}
    figures = evaluate_target(target_for_run(cfg.train.out, device), opts)
    print(format_table(figures))
    return figures


def train_data_parallel(cfg: RunConfig, nproc: int) -> None:
    """`torchrun --standalone --nproc_per_node N -m peftlab train FLAGS`: the config reaches the ranks
    as the train flags that rebuild it (`flags.run_argv`); their output is passed on line by line."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               "-m", "peftlab", "train", *run_argv(cfg)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as launcher:
        for line in launcher.stdout:
            print(line, end="")
    if launcher.returncode != 0:
        raise RuntimeError(f"torchrun with {nproc} ranks exited with code {launcher.returncode} (its output is "
                           "above): fix the cause and rerun with --resume")


def baseline_child(cfg: RunConfig, out: Path, opts: EvalOptions) -> dict:
    """The base model with no adapter, scored on `cfg`'s data; figures and samples go to `out`."""
    from .evaluation import evaluate_target, format_table

    figures = evaluate_target(EvalTarget(cfg, None, out), opts, baseline=True)
    print(format_table(figures))
    return figures


# ------------------------------------------------------------------ one fresh process per child

def run_child(label: str, function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)` in a fresh interpreter; returns its result. A child's usage error becomes ours
    (one line, naming the child); any other failure stops the comparison."""
    context = multiprocessing.get_context("spawn")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(writer, label, function, args), name=f"peftlab {label}")
    child.start()
    writer.close()  # ours: recv() then sees EOF if the child dies without answering
    try:
        kind, value = reader.recv()
    except EOFError:
        kind, value = "died", None
    child.join()
    if kind == "usage":
        raise UsageError(f"{label}: {value}")
    if kind != "ok" or child.exitcode != 0:
        raise RuntimeError(f"the {label} process exited with code {child.exitcode} (its output is above): "
                           "fix the cause and rerun with --resume")
    return value


def _child_main(writer, label: str, function: Callable[..., Any], args: tuple) -> None:
    """The child's whole life: prefix its output, run, send back ('ok', result) or ('usage', message)."""
    from transformers.utils import logging as hf_logging

    from .hardware import configure_threads

    hf_logging.disable_progress_bar()  # as the CLI does: one-line output, no per-load bars
    configure_threads()  # a spawned interpreter starts with torch's default count, not the usable cores
    out = sys.stdout
    sys.stdout = sys.stderr = LabelledLines(out, label)
    try:
        result = function(*args)
    except UsageError as exc:
        writer.send(("usage", str(exc)))
    else:
        writer.send(("ok", result))
    finally:
        sys.stdout.flush()
        writer.close()


class LabelledLines(io.TextIOBase):
    """A text stream that writes each complete line to `out` as `[label] line`."""

    def __init__(self, out: TextIO, label: str):
        self.out, self.label, self.pending = out, label, ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.out.write(f"[{self.label}] {line}\n")
        self.out.flush()
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.out.write(f"[{self.label}] {self.pending}\n")
            self.pending = ""
        self.out.flush()

    def isatty(self) -> bool:
        return False
