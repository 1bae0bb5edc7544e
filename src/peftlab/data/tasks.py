"""Every task as one object: its fields and column flags, prompt, request labels, prompt-init words,
generation budget and stop rule, quality metric, HF preset and built-in generator.

A prompt is `head + body + tail`: `body` is the long free text (article, context, Bulgarian source),
the only part that is truncated when an example exceeds `--max-length`; head and tail carry the
instruction and the question. The target is one line, so generation stops at end of line or EOS.

Nothing outside a task's definition below branches on a task's name: code asks `get_task(name)` for
the object and reads its attributes. Adding a task is one `Task(...)` plus its generator in
`peftlab.data.builtin`, passed to `register_task`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import scores
from ..errors import UsageError
from .builtin import Row, generate_split
from .builtin.qa import qa_row
from .builtin.summarize import summarize_row
from .builtin.translate import translate_row

KeyPath = tuple[str | int, ...]  # where a value lives in a raw row: ("answers", "text", 0)
Metric = Callable[[list[str], list[str]], dict[str, float]]


@dataclass(frozen=True)
class HFPreset:
    """How to read one classic HF dataset: its hub name, other names it goes by, default config and
    where each of the task's fields is in a raw row."""

    hf_name: str
    aliases: tuple[str, ...]
    config: str | None
    paths: Mapping[str, KeyPath]


@dataclass(frozen=True, eq=False)
class Task:
    """Everything peftlab knows about one task. Compared by identity (`eq=False`): there is one object
    per task, held by the registry, and its functions and preset mapping are not hashable values."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (canonical row field, CLI flag naming its column), target last
    render: Callable[[Row], tuple[str, str, str]]  # row -> (head, body, tail)
    labels: tuple[str, ...]  # the labels of the input fields in a `generate --text` request; first optional
    init_text: str           # prompt tuning's default init words (--prompt-init text)
    max_new_tokens: int      # generation budget: long enough for the one-line target
    metric: Metric           # (predictions, references) -> {name: 0-100 score}
    metric_names: tuple[str, ...]  # the keys `metric` returns
    primary_metric: str      # the one the compare report ranks methods by
    make_row: Callable[[random.Random], Row] | None = None  # the built-in generator (None: bring --data)
    hf_preset: HFPreset | None = None
    stop_at_newline: bool = True  # the target is one line: decoding stops at a newline token or EOS
    never_empty: bool = False  # every reference says something: eval decodes at least one non-blank token
    example_metric: Callable[[list[str], list[str]], list[dict[str, float]]] | None = None  # per example, where
    # `metric` is their mean (the bootstrap then resamples scores); None: a corpus metric (BLEU)

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.fields) - 1:
            raise ValueError(f"task {self.name!r} needs one request label per input field {self.input_fields}")
        if self.primary_metric not in self.metric_names:
            raise ValueError(f"task {self.name!r}: primary metric {self.primary_metric!r} is not one of its "
                             f"metric names {self.metric_names}")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def input_fields(self) -> tuple[str, ...]:
        """The fields a request supplies: everything but the target."""
        return self.fields[:-1]

    @property
    def target_field(self) -> str:
        return self.fields[-1]

    @property
    def field_flags(self) -> dict[str, str]:
        """Canonical field -> the CLI flag that maps a user column onto it (named in errors)."""
        return dict(self.columns)

    def target_text(self, row: Row) -> str:
        """What the model learns to write after the prompt (leading space: one natural BPE token)."""
        return " " + row[self.target_field].strip()

    def prompt_text(self, row: Row) -> str:
        return "".join(self.render(row))

    def score(self, predictions: list[str], references: list[str]) -> dict[str, float]:
        """The task's quality metrics of `predictions` against `references` (all on 0-100)."""
        scores.check_pairs(predictions, references)
        return self.metric(predictions, references)

    def statistic(self, predictions: list[str], references: list[str], metric: str):
        """`indices -> metric` on that resample of the examples: a mean of per-example scores where the
        metric is one (computed once), else the corpus metric recomputed (BLEU, chrF)."""
        scores.check_pairs(predictions, references)
        if self.example_metric is not None:
            each = [s[metric] for s in self.example_metric(predictions, references)]
            return lambda idx: sum(each[i] for i in idx) / len(idx)
        return lambda idx: self.metric([predictions[i] for i in idx], [references[i] for i in idx])[metric]

    def builtin_split(self, split: str, n: int | None = None, seed: int = 0) -> list[Row]:
        """The task's generated rows of `split` (see `peftlab.data.builtin`)."""
        if self.make_row is None:
            raise UsageError(f"task {self.name} has no built-in data: point --data at your own file")
        return generate_split(self.name, self.make_row, self.fields[0], split, n, seed)


SUMMARIZE = Task(
    name="summarize",
    columns=(("article", "--source-field"), ("summary", "--target-field")),
    render=lambda r: ("Summarize the article in one sentence.\nArticle:", " " + r["article"].strip(), "\nSummary:"),
    labels=("Article:",),
    init_text="summarize shorten distill short",
    max_new_tokens=48,  # built-in summaries are ~30 tokens
    metric=scores.rouge, metric_names=("rouge1", "rouge2", "rougeL"), primary_metric="rougeL",
    example_metric=scores.rouge_examples,
    make_row=summarize_row, never_empty=True,
    hf_preset=HFPreset("abisee/cnn_dailymail", ("cnn_dailymail",), "3.0.0",
                       {"article": ("article",), "summary": ("highlights",)}),
)
QA = Task(
    name="qa",
    columns=(("context", "--context-field"), ("question", "--question-field"), ("answer", "--target-field")),
    render=lambda r: ("Answer the question from the context.\nContext:", " " + r["context"].strip(),
                      f"\nQuestion: {r['question'].strip()}\nAnswer:"),
    labels=("Context:", "Question:"),
    init_text="question answer help result",
    max_new_tokens=16,  # answers are a few words
    metric=scores.squad, metric_names=("exact_match", "f1"), primary_metric="f1",
    example_metric=scores.squad_examples,
    make_row=qa_row, never_empty=True,
    hf_preset=HFPreset("rajpurkar/squad", ("squad",), None,
                       {"context": ("context",), "question": ("question",), "answer": ("answers", "text", 0)}),
)
TRANSLATE = Task(
    name="translate",
    columns=(("source", "--source-field"), ("target", "--target-field")),
    render=lambda r: ("Translate Bulgarian to English.\nBulgarian:", " " + r["source"].strip(), "\nEnglish:"),
    labels=("Bulgarian:",),
    init_text="bulgarian english translation translate_bg_en",
    max_new_tokens=64,
    metric=scores.translation, metric_names=("bleu", "chrf"), primary_metric="bleu",
    make_row=translate_row, never_empty=True,
    hf_preset=HFPreset("Helsinki-NLP/opus-100", ("opus100", "opus-100"), "bg-en",
                       {"source": ("translation", "bg"), "target": ("translation", "en")}),
)

TASK_REGISTRY: dict[str, Task] = {task.name: task for task in (SUMMARIZE, QA, TRANSLATE)}


def get_task(name: str) -> Task:
    if name not in TASK_REGISTRY:
        raise UsageError(f"unknown task {name!r}: use one of {', '.join(TASK_REGISTRY)}")
    return TASK_REGISTRY[name]


def task_names() -> tuple[str, ...]:
    return tuple(TASK_REGISTRY)


def register_task(task: Task) -> Task:
    """Make `task` known by its name (a plugin or a test adds a task this way); names are unique."""
    if task.name in TASK_REGISTRY and TASK_REGISTRY[task.name] is not task:
        raise ValueError(f"a task named {task.name!r} is already registered")
    TASK_REGISTRY[task.name] = task
    return task


def builtin_split(task: str, split: str, n: int | None = None, seed: int = 0) -> list[Row]:
    """`get_task(task).builtin_split(split, n, seed)`: the built-in rows of a task named by string."""
    return get_task(task).builtin_split(split, n, seed)
