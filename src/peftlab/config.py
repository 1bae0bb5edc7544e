"""Every knob of a run, in four dataclasses — the single source for CLI flags, `config.json` and the API.

A field's `metadata["help"]` becomes its `--flag` help; `validate()` turns out-of-range values into a
one-line `UsageError`. `RunConfig.to_dict()` is what a run directory records, and `from_dict` is
how `--resume` and `compare --from` read it back.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

METHODS = ("prompt", "lora", "last-layer")
PRECISIONS = ("auto", "fp32", "bf16")


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
    batch_size: int = _opt(8, "examples per micro-batch")
    grad_accum: int = _opt(1, "micro-batches per optimizer step")
    lr: float = _opt(5e-5, "AdamW learning rate")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    warmup_steps: int = _opt(0, "linear warmup over this many optimizer steps")
    decay: str = _opt("none", "learning-rate decay after warmup: none or linear (to 0 at the last step)",
                      choices=("none", "linear"))
    max_grad_norm: float | None = _opt(None, "clip the gradient norm to this value")
    seed: int = _opt(0, "seed for init, data order and dropout")
    log_every: int = _opt(10, "log the loss every N optimizer steps")
    save_interval: int = _opt(1, "checkpoint every N epochs (and always at the end)")
    save_every_steps: int | None = _opt(None, "also checkpoint every N optimizer steps")
    keep_checkpoints: int = _opt(2, "how many most recent checkpoints to keep")
    resume: bool = _opt(False, "continue the run in --out from its last good checkpoint")
    overwrite: bool = _opt(False, "replace an existing run directory")

    def validate(self) -> None:
        for flag in ("epochs", "batch_size", "grad_accum", "log_every", "save_interval", "keep_checkpoints"):
            _positive("--" + flag.replace("_", "-"), getattr(self, flag))
        if not 0 < self.lr < math.inf:
            raise UsageError(f"--lr must be a finite number > 0, got {self.lr}")
        if self.warmup_steps < 0:
            raise UsageError(f"--warmup-steps must be >= 0, got {self.warmup_steps}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise UsageError(f"--max-grad-norm must be > 0, got {self.max_grad_norm}")
        if self.save_every_steps is not None:
            _positive("--save-every-steps", self.save_every_steps)
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


def _positive(flag: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        raise UsageError(f"{flag} must be a positive integer, got {value}")
