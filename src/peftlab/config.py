"""Every knob of every command, in dataclasses — the single source for CLI flags, `config.json` and the API.

A run (`train`) is four sections in `RunConfig`; the other commands have `EvalConfig`,
`GenerateConfig`, `CompareConfig` and `ExportConfig`. A field's `metadata["help"]` becomes its
`--flag` help (`metadata["flag"]`, `"positional"`, `"metavar"`, `"choices"` shape the flag);
`validate()` turns out-of-range values into a one-line `UsageError`. `RunConfig.to_dict()` is what a
run directory records, and `from_dict` is how `--resume` and `compare --from` read it back.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError

METHODS = ("prompt", "lora", "last-layer")
PRECISIONS = ("auto", "fp32", "bf16")
SPLITS = ("train", "val", "test")
BATCH_SIZE = 8  # examples per forward, for every command that batches examples with targets
# Requests decoded together (eval, compare, generate): a decoding step reads every weight once whatever the
# number of rows, so 32 rows cost far less than 4 x 8; outputs do not depend on it (decoding.py).
GEN_BATCH_SIZE = 32

# One learning rate cannot serve all three: a few soft-prompt vectors must travel far from their init,
# LoRA's update starts at zero, and the last block is already trained, so a large step undoes it.
# These sit in each method's usual range; `train` and `compare` use them when no `--lr` is given.
DEFAULT_LR = {"prompt": 3e-2, "lora": 1e-3, "last-layer": 1e-4}


def _opt(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field whose help text travels to argparse."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class ModelConfig:
    model: str = _opt("default", "'default' (embedded SmolLM2-135M-Instruct), a HF id or local dir, "
                                 "or random:gpt2|llama|smollm2|tiny-gpt2|tiny-llama")
    precision: str = _opt("auto", "frozen weights and compute: fp32, bf16, or auto (bf16 where the CPU/GPU runs it "
                                  "natively, else fp32); trainable params stay fp32", choices=PRECISIONS)
    device: str = _opt("auto", "cpu, cuda, cuda:N or auto")
    trust_remote_code: bool = _opt(False, "allow a hub model's own Python code (off: never runs code from files)")

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown --precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")


@dataclass
class DataConfig:
    task: str = _opt("summarize", "summarize, qa or translate; several comma-separated for multi-task prompts")
    data: str = _opt("builtin", "builtin, a .jsonl/.csv/.parquet file, a directory of split files, or hf:NAME[:CONFIG]")
    source_field: str | None = _opt(None, "column holding the source (article / context / Bulgarian source)")
    target_field: str | None = _opt(None, "column holding the target (summary / answer / English target)")
    context_field: str | None = _opt(None, "qa: column holding the context (alias of --source-field)")
    question_field: str | None = _opt(None, "qa: column holding the question")
    split_ratio: str = _opt("0.8,0.1,0.1", "train,val,test fractions when one file holds every split")
    max_length: int = _opt(512, "tokens per example incl. soft prompt; longer sources are truncated, never targets")
    max_train_samples: int | None = _opt(None, "use the first N training examples (builtin: generate N)")
    max_eval_samples: int | None = _opt(None, "use the first N val and test examples (builtin: generate N)")
    loss_on_prompt: bool = _opt(False, "also train on the prompt tokens (default: loss on target tokens only)")
    task_sampling: str = _opt("proportional", "multi-task: proportional (every example once) or uniform "
                                              "(smaller tasks repeated to the largest)", choices=("proportional", "uniform"))
    strict: bool = _opt(False, "fail on the first bad row instead of skipping bad rows with a count")
    data_seed: int | None = _opt(None, "seed of the data split and built-in data (default: --seed); compare --seeds "
                                       "fixes it at the first seed so every seed sees the same split")

    @property
    def tasks(self) -> list[str]:
        return [t.strip() for t in self.task.split(",") if t.strip()]

    @property
    def ratio(self) -> tuple[float, float, float]:
        try:
            parts = tuple(float(x) for x in self.split_ratio.split(","))
        except ValueError:
            parts = ()
        if len(parts) != 3:
            raise UsageError(f"bad --split-ratio {self.split_ratio!r}: give three fractions, e.g. 0.8,0.1,0.1")
        return parts  # type: ignore[return-value]

    def validate(self) -> None:
        from .data.tasks import get_task  # the task registry sits above config: imported when validating

        for task in self.tasks or [""]:
            get_task(task)
        if len(set(self.tasks)) != len(self.tasks):
            raise UsageError(f"--task {self.task!r} names a task twice: list each task once")
        _positive("--max-length", self.max_length)
        for flag, value in (("--max-train-samples", self.max_train_samples), ("--max-eval-samples", self.max_eval_samples)):
            if value is not None:
                _positive(flag, value)
        self.ratio  # noqa: B018 — parses and raises on a malformed ratio


@dataclass
class MethodConfig:
    method: str = _opt("prompt", "prompt, lora or last-layer", choices=METHODS)
    num_prompts: int = _opt(5, "prompt: number of virtual tokens per task")
    prompt_init: str = _opt("text", "prompt: init from the task's words (text), random vocabulary rows (vocab) or random",
                            choices=("text", "vocab", "random"))
    prompt_init_text: str | None = _opt(None, "prompt: init text (default: the task's words)")
    rank: int = _opt(8, "lora: rank r")
    alpha: float = _opt(16.0, "lora: alpha; the update is scaled by alpha / r")
    dropout: float = _opt(0.05, "lora: dropout on the adapter input")
    target_modules: str | None = _opt(None, "lora: comma-separated module names (default: the attention projections)")

    def validate(self, max_length: int | None = None) -> None:
        if self.method not in METHODS:
            raise UsageError(f"unknown method {self.method!r}: use one of {', '.join(METHODS)}")
        _positive("--num-prompts", self.num_prompts)
        if max_length is not None and self.method == "prompt" and self.num_prompts >= max_length:
            raise UsageError(f"--num-prompts {self.num_prompts} leaves no room in --max-length {max_length}: "
                             "lower it or raise --max-length")
        _positive("--rank", self.rank)
        if not 0 < self.alpha < math.inf:
            raise UsageError(f"--alpha must be a finite number > 0, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise UsageError(f"--dropout must be in [0, 1), got {self.dropout}")

    @property
    def targets(self) -> list[str] | None:
        if self.target_modules is None:
            return None
        return [t.strip() for t in self.target_modules.split(",") if t.strip()]


@dataclass
class TrainConfig:
    out: str | None = _opt(None, "run directory (config.json, log.jsonl, metrics.json, adapter/, checkpoints/)")
    epochs: int = _opt(1, "passes over the training set")
    batch_size: int = _opt(BATCH_SIZE, "examples per micro-batch")
    grad_accum: int = _opt(1, "micro-batches per optimizer step")
    lr: float | None = _opt(None, "AdamW learning rate (default: the method's, "
                            + ", ".join(f"{m} {lr:g}" for m, lr in DEFAULT_LR.items()) + "; config.json records it)")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    warmup_steps: int = _opt(0, "linear warmup over this many optimizer steps")
    decay: str = _opt("none", "learning-rate decay after warmup: none or linear (to 0 at the last step)",
                      choices=("none", "linear"))
    max_grad_norm: float | None = _opt(None, "clip the gradient norm to this value")
    seed: int = _opt(0, "seed for init, data order and dropout")
    batch_order: str = _opt("random", "random: a plain shuffle; grouped: each batch holds examples of similar "
                                      "length (less padding, so faster epochs, but in a 3-seed study ~1%% higher "
                                      "val loss at the same epochs). Both are pure functions of seed and epoch",
                            choices=("random", "grouped"))
    packing: bool = _opt(False, "run each micro-batch as one row of its examples end to end, without padding "
                                "(attention stays within each example; the same batches and losses): faster the "
                                "more a batch pads, and what every example begins with runs once. Not with --compile or "
                                "--gradient-checkpointing")
    log_every: int = _opt(10, "log the loss every N optimizer steps")
    save_interval: int = _opt(1, "checkpoint every N epochs (and always at the end)")
    save_every_steps: int | None = _opt(None, "also checkpoint every N optimizer steps")
    keep_checkpoints: int = _opt(2, "how many most recent checkpoints to keep")
    eval_every_steps: int | None = _opt(None, "also compute the val loss every N optimizer steps (it always is at "
                                              "each epoch end)", metavar="N")
    early_stopping_patience: int | None = _opt(None, "stop after K val-loss evaluations in a row without an "
                                                     "improvement of more than --min-delta", metavar="K")
    min_delta: float = _opt(0.0, "the val-loss decrease that counts as an improvement, for early stopping and "
                                 "--keep-best")
    compile: bool = _opt(False, "torch.compile the decoder blocks for training steps: fuses the element-wise work "
                                "(norms, rotary, activations); compiling takes tens of seconds, so it pays on long runs")
    keep_best: bool = _opt(False, "write the weights of the best val loss to adapter/ (default: the last ones)")
    resume: bool = _opt(False, "continue the run in --out from its last good checkpoint")
    overwrite: bool = _opt(False, "replace an existing run directory")
    report_to: str = _opt("tensorboard", "where figures go besides log.jsonl: comma-separated tensorboard (RUN/tb), "
                                         "mlflow, wandb, or none (mlflow and wandb need peftlab[mlflow] / [wandb])")
    progress: str = _opt("auto", "auto: a progress bar on a terminal; lines: a line every --log-every steps with "
                                 "loss, tokens/s and ETA (what compare's children print)", choices=("auto", "lines"))
    gradient_checkpointing: bool = _opt(False, "keep only each block's input for the backward pass and recompute the "
                                               "rest there: far less activation memory for one more forward per "
                                               "step, same losses (a resume may switch it)")
    dist_timeout: float = _opt(300.0, "under torchrun: seconds a rank waits for the others before it fails with "
                                      "a clear error (a dead or hung rank)", metavar="S")
    trunk_cache_mb: float = _opt(1024.0, "last-layer: keep the frozen trunk's hidden states from epoch 1 and reuse "
                                         "them in later epochs; up to this many MB in memory, the rest in RUN/"
                                         "trunk_cache/ (deleted at the end); 0: recompute every epoch", metavar="MB")

    def validate(self) -> None:
        from .tracking import parse_report_to  # one line for an unknown backend or a missing extra

        parse_report_to(self.report_to)
        if not 0 < self.dist_timeout < math.inf:
            raise UsageError(f"--dist-timeout must be a finite number of seconds > 0, got {self.dist_timeout}")
        for flag in ("epochs", "batch_size", "grad_accum", "log_every", "save_interval", "keep_checkpoints"):
            _positive("--" + flag.replace("_", "-"), getattr(self, flag))
        if self.lr is not None and not 0 < self.lr < math.inf:
            raise UsageError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.warmup_steps < 0:
            raise UsageError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise UsageError(f"--max-grad-norm must be > 0, got {self.max_grad_norm}")
        for flag in ("save_every_steps", "eval_every_steps", "early_stopping_patience"):
            if getattr(self, flag) is not None:
                _positive("--" + flag.replace("_", "-"), getattr(self, flag))
        if not 0 <= self.min_delta < math.inf:
            raise UsageError(f"--min-delta must be a finite number >= 0, got {self.min_delta}")
        if self.compile and self.gradient_checkpointing:  # compiled blocks would trace the checkpoint wrapper
            raise UsageError("--compile and --gradient-checkpointing do not combine yet: pick one (compile for "
                             "speed, checkpointing for memory)")
        if self.packing and (self.compile or self.gradient_checkpointing):  # both run or trace the forward again
            raise UsageError(f"--packing does not combine with --{'compile' if self.compile else 'gradient-checkpointing'}"
                             ": pick one")
        if not 0 <= self.trunk_cache_mb < math.inf:
            raise UsageError(f"--trunk-cache-mb must be a finite number >= 0 (0: no cache), got {self.trunk_cache_mb}")
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite contradict each other: pick one")


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "RunConfig":
        self.model.validate()
        self.data.validate()
        self.method.validate(self.data.max_length)
        self.train.validate()
        if len(self.data.tasks) > 1 and self.method.method != "prompt":
            raise UsageError("several tasks at once need --method prompt (one soft prompt per task): "
                             "train lora / last-layer one task at a time")
        return self

    def with_default_lr(self) -> "RunConfig":
        """A copy whose `train.lr` is set: the one given, or the method's `DEFAULT_LR`."""
        cfg = copy.deepcopy(self)
        if cfg.train.lr is None:
            cfg.train.lr = DEFAULT_LR.get(cfg.method.method)
        return cfg

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, dict[str, Any]]) -> "RunConfig":
        parts = {}
        for f in dataclasses.fields(cls):
            sub_cls = f.default_factory  # type: ignore[misc]
            known = {g.name for g in dataclasses.fields(sub_cls)}
            parts[f.name] = sub_cls(**{k: v for k, v in raw.get(f.name, {}).items() if k in known})
        return cls(**parts)


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(RunConfig)}  # type: ignore[misc]


def section_of(name: str) -> str | None:
    """The RunConfig section holding field `name` (field names are unique across sections)."""
    return next((s for s, cls in SECTIONS.items() if name in {f.name for f in dataclasses.fields(cls)}), None)


def set_fields(cfg: RunConfig, settings: dict[str, Any]) -> RunConfig:
    """Lay settings named like their flags (`{"rank": 4, "device": "cpu"}`) over `cfg`, as flags lay over
    the defaults or a saved run's config; an unknown name is a UsageError."""
    for name, value in settings.items():
        section = section_of(name)
        if section is None:
            raise UsageError(f"no run setting {name!r}: use a field of ModelConfig, DataConfig, MethodConfig or "
                             "TrainConfig")
        setattr(getattr(cfg, section), name, value)
    return cfg


# ------------------------------------------------------------------ the other commands

@dataclass
class QualityConfig:
    """How quality is measured (eval and compare); recorded beside the figures."""

    split: str = _opt("test", "split to generate on for quality")
    max_new_tokens: int | None = _opt(None, "tokens to generate at most (default per task: summarize 48, qa 16, "
                                            "translate 64)", metavar="N")
    num_beams: int = _opt(1, "beam search with K beams (default: 1, greedy)", metavar="K")
    min_new_tokens: int | None = _opt(None, "non-blank tokens a generation says before it may stop (default: 1 for "
                                            "tasks whose answers are never empty, i.e. all built-in ones; 0: off)",
                                      metavar="N")
    gen_batch_size: int = _opt(GEN_BATCH_SIZE, "requests decoded together (outputs do not depend on it; the KV cache "
                                               "grows with it: lower it when memory is short)", metavar="N")

    def validate(self) -> None:
        if self.split not in SPLITS:
            raise UsageError(f"unknown --split {self.split!r}: use one of {', '.join(SPLITS)}")
        if self.min_new_tokens is not None and (isinstance(self.min_new_tokens, bool) or self.min_new_tokens < 0):
            raise UsageError(f"--min-new-tokens must be an integer >= 0, got {self.min_new_tokens}")
        for flag, value in (("--max-new-tokens", self.max_new_tokens), ("--num-beams", self.num_beams),
                            ("--gen-batch-size", self.gen_batch_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UsageError(f"{flag} must be a positive integer, got {value}")


# The train settings eval uses: batches, and the seed of the data split.
EVAL_TRAIN_FIELDS = ("batch_size", "seed")


@dataclass
class EvalConfig:
    """`eval RUN`, `eval --adapter DIR` or `eval --baseline`. `settings` are RunConfig fields by flag
    name (model, data, batch_size, seed) laid over the run's own config, or over the defaults."""

    run: str | None = _opt(None, "a run directory; its figures are written back into it", positional=True)
    adapter: str | None = _opt(None, "evaluate any PEFT adapter directory on --model, with --task/--data")
    baseline: bool = _opt(False, "also score the base model with no adapter (alone: only the base model)")
    out: str | None = _opt(None, "with --adapter or --baseline alone: write metrics.json and samples.jsonl here")
    quality: QualityConfig = field(default_factory=QualityConfig)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerateConfig:
    """`generate`: one streamed --text, or --input JSONL requests -> --output JSONL (or stdout)."""

    run: str | None = _opt(None, "a run directory (the --out of train)", positional=True)
    adapter: str | None = _opt(None, "a PEFT adapter directory (LoRA / prompt tuning, or peftlab last-layer) "
                                     "instead of a run")
    model: str | None = _opt(None, "with --adapter: its base model (default 'default'; a HF id or dir, random:...)")
    task: str | None = _opt(None, "the task of --text (required when the run serves several tasks); the default "
                                  "task of --input lines without one")
    text: str | None = _opt(None, "the task's input in its own words: summarize: the article; qa: 'Context: ... "
                                  "Question: ...'; translate: the Bulgarian text; or a JSON object of the fields")
    input: str | None = _opt(None, 'JSONL requests, one {"task": ..., "text": ...} per line', metavar="FILE")
    output: str | None = _opt(None, "JSONL answers: each request plus \"output\" (default: stdout)", metavar="FILE")
    raw: bool = _opt(False, "feed the text as-is (no template, no special tokens) and stop only at EOS, as "
                            "PeftModel.generate does")
    max_new_tokens: int = _opt(64, "tokens to generate at most", metavar="N")
    batch_size: int = _opt(GEN_BATCH_SIZE, "requests decoded together (outputs do not depend on it)", metavar="N")
    max_length: int | None = _opt(None, "prompt tokens incl. soft prompt; longer inputs are cut as in training "
                                        "(default: the run's)", metavar="N")
    no_prefix_cache: bool = _opt(False, "recompute the soft prompt's and the task instruction's keys/values for "
                                        "every batch (the uncached path; same tokens)")
    device: str | None = _opt(None, "cpu, cuda, cuda:N or auto (default: the run's)")
    precision: str | None = _opt(None, "default: the run's (auto with --adapter: bf16 where native, else fp32)",
                                 choices=PRECISIONS)
    trust_remote_code: bool = _opt(False, "allow the base model's own Python code")

    def validate(self) -> None:
        """Contradictory or missing settings fail before anything loads."""
        if bool(self.run) == bool(self.adapter):
            raise UsageError("pass a run directory (peftlab generate RUN) or --adapter DIR, exactly one of them")
        if self.model and not self.adapter:
            raise UsageError("--model only goes with --adapter DIR: a run already names its model")
        if (self.text is None) == (self.input is None):
            raise UsageError("pass --text TEXT for one request or --input FILE.jsonl for many, exactly one of them")
        if self.output and not self.input:
            raise UsageError("--output goes with --input: a single --text is printed as it is generated")
        if self.output and not Path(self.output).resolve().parent.is_dir():
            raise UsageError(f"--output {self.output}: its directory does not exist; create it first")
        for flag, value in (("--max-new-tokens", self.max_new_tokens), ("--batch-size", self.batch_size),
                            ("--max-length", self.max_length)):
            if value is not None and value < 1:
                raise UsageError(f"{flag} must be a positive integer, got {value}")


@dataclass
class CompareConfig:
    """`compare`: every method trained and evaluated with the shared settings `run` (its method, lr and
    out are set per method), the base model evaluated once; or `from_dir` rendered again."""

    methods: str | None = _opt(None, "comma-separated subset of prompt,lora,last-layer (default: all three)")
    lr: str | None = _opt(None, "one rate for every method, or per method: prompt=0.03,lora=0.001,"
                                "last-layer=0.0001 (default: those three)", metavar="LR")
    seeds: str | None = _opt(None, "train each method several times: N (seeds --seed .. --seed+N-1) or a list "
                                   "0,1,2; figures become mean ± 95%% t-interval; the data split stays at the "
                                   "first seed", metavar="N|LIST")
    lr_search: bool = _opt(False, "first pick each method's learning rate by validation loss on a short log-spaced "
                                  "grid around its rate (see --lr-grid-points, --lr-search-fraction)")
    lr_grid_points: int = _opt(3, "lr search: rates from a tenth to ten times each method's rate", metavar="N")
    lr_search_fraction: float = _opt(0.5, "lr search: share of the training examples each grid run trains on",
                                     metavar="F")
    out: str | None = _opt(None, "comparison directory: runs/<method>/, baseline/, results.json, report.md/html")
    from_dir: str | None = _opt(None, "render DIR/results.json again (into --out, default DIR) without retraining",
                                flag="--from", metavar="DIR")
    nproc_per_node: int = _opt(1, "train each method data-parallel on N local processes (torchrun --standalone; "
                                  "--batch-size is per process)", metavar="N")
    quality: QualityConfig = field(default_factory=QualityConfig)
    run: RunConfig = field(default_factory=RunConfig)


@dataclass
class ExportConfig:
    """`export --merged`: RUN's (or ADAPTER-on-MODEL's) model with the adapter folded in, written to OUT."""

    run: str | None = _opt(None, "a run directory (leave out with --adapter)", positional=True, metavar="RUN")
    out: str | None = _opt(None, "the output directory", positional=True, nargs=None, metavar="OUT")
    merged: bool = _opt(False, "fold the adapter into the weights (required)")
    adapter: str | None = _opt(None, "a PEFT LoRA adapter directory (or a peftlab last-layer one) instead of a run")
    model: str | None = _opt(None, "with --adapter: its base model ('default', a HF id or dir, random:...)")
    overwrite: bool = _opt(False, "replace an existing OUT")
    trust_remote_code: bool = _opt(False, "allow the base model's own Python code")
    precision: str = _opt("auto", "dtype of the saved weights (the merge itself runs in fp32); auto: bf16 where this "
                                  "machine runs bf16 natively, else fp32", choices=PRECISIONS)

    def validate(self) -> None:
        if not self.merged:
            raise UsageError("export writes merged models only: pass --merged (the PEFT adapter itself is "
                             "RUN/adapter)")
        if not self.out or (self.run is None) == (self.adapter is None):
            raise UsageError("give RUN OUT, or OUT alone with --adapter DIR --model M")


@dataclass
class EnvConfig:
    """`env`: what a bug report needs about this machine and installation."""

    json: bool = _opt(False, "print it as JSON")


@dataclass
class RunsConfig:
    """`runs`: one line per run directory found below `dir` (see `run_list.py` for the status rule)."""

    dir: str = _opt("runs", "where to look for runs, recursively (default: runs)", positional=True, metavar="DIR")
    json: bool = _opt(False, "print a JSON list instead of the table")


def _positive(flag: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        raise UsageError(f"{flag} must be a positive integer, got {value}")
