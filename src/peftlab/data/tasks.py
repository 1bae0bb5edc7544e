"""The three tasks: how a row becomes a prompt and a target, and which quality metric applies.

A prompt is `head + body + tail`: `body` is the long free text (article, context, Bulgarian source),
the only part that is truncated when an example exceeds `--max-length`; head and tail carry the
instruction and the question. The target is one line, so generation stops at end of line or EOS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import UsageError


@dataclass(frozen=True)
class Task:
    name: str
    fields: tuple[str, ...]          # canonical row fields, the target last
    metric_names: tuple[str, ...]    # what `peftlab.metrics.quality` returns for this task
    primary_metric: str
    render: Callable[[dict[str, str]], tuple[str, str, str]]  # row -> (head, body, tail)

    @property
    def target_field(self) -> str:
        return self.fields[-1]

    def target_text(self, row: dict[str, str]) -> str:
        """What the model learns to write after the prompt (leading space: one natural BPE token)."""
        return " " + row[self.target_field].strip()

    def prompt_text(self, row: dict[str, str]) -> str:
        return "".join(self.render(row))


TASK_REGISTRY: dict[str, Task] = {
    "summarize": Task("summarize", ("article", "summary"), ("rouge1", "rouge2", "rougeL"), "rougeL",
                      lambda r: ("Summarize the article in one sentence.\nArticle:", " " + r["article"].strip(),
                                 "\nSummary:")),
    "qa": Task("qa", ("context", "question", "answer"), ("exact_match", "f1"), "f1",
               lambda r: ("Answer the question from the context.\nContext:", " " + r["context"].strip(),
                          f"\nQuestion: {r['question'].strip()}\nAnswer:")),
    "translate": Task("translate", ("source", "target"), ("bleu", "chrf"), "bleu",
                      lambda r: ("Translate Bulgarian to English.\nBulgarian:", " " + r["source"].strip(),
                                 "\nEnglish:")),
}


def get_task(name: str) -> Task:
    if name not in TASK_REGISTRY:
        raise UsageError(f"unknown task {name!r}: use one of {', '.join(TASK_REGISTRY)}")
    return TASK_REGISTRY[name]
