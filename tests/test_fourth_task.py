"""A fourth task, defined here and nowhere else, trains and evaluates through the normal code paths.

The proof that a task lives in one place: `reverse` (write a short word list backwards, scored by
exact match) is one `Task` plus its generator, registered by this test only, and `train`, `eval` and
request parsing all work on it with no edit anywhere in peftlab.
"""

from __future__ import annotations

import json
import random

import pytest

from conftest import make_config
from peftlab.cli import main
from peftlab.data.tasks import TASK_REGISTRY, Task, get_task, register_task, task_names
from peftlab.errors import UsageError
from peftlab.requests import parse_text
from peftlab.training import train

WORDS = ("red", "blue", "cat", "dog", "sun", "moon", "tree", "lake", "bird", "fish", "salt", "rain")


def reverse_row(rng: random.Random) -> dict[str, str]:
    words = rng.sample(WORDS, 3)
    return {"words": " ".join(words), "reversed": " ".join(reversed(words))}


def exact_match(predictions: list[str], references: list[str]) -> dict[str, float]:
    hits = sum(p.strip() == r.strip() for p, r in zip(predictions, references))
    return {"exact_match": 100.0 * hits / len(predictions)}


REVERSE = Task(
    name="reverse",
    columns=(("words", "--source-field"), ("reversed", "--target-field")),
    render=lambda r: ("Write the words in reverse order.\nWords:", " " + r["words"].strip(), "\nReversed:"),
    labels=("Words:",),
    init_text="reverse backwards order",
    max_new_tokens=6,
    metric=exact_match, metric_names=("exact_match",), primary_metric="exact_match",
    make_row=reverse_row,
)


@pytest.fixture
def reverse_task():
    register_task(REVERSE)
    yield REVERSE
    del TASK_REGISTRY[REVERSE.name]


def test_registry_knows_the_new_task_only_while_registered(reverse_task):
    assert get_task("reverse") is reverse_task and task_names()[-1] == "reverse"
    with pytest.raises(ValueError, match="already registered"):
        register_task(Task(**{**reverse_task.__dict__}))


def test_unknown_task_error_lists_the_registered_tasks():
    with pytest.raises(UsageError, match="unknown task 'reverse': use one of summarize, qa, translate$"):
        get_task("reverse")


def test_request_text_is_parsed_by_the_task_labels(reverse_task):
    assert parse_text(reverse_task, "Words: cat dog sun") == {"words": "cat dog sun"}
    assert parse_text(reverse_task, '{"words": "a b"}') == {"words": "a b"}


def test_fourth_task_trains_and_evaluates(reverse_task, tmp_path, one_thread):
    cfg = make_config(tmp_path, task="reverse", method="prompt", max_train_samples=16, max_eval_samples=4)
    history = train(cfg, announce=lambda *_: None)
    assert history is not None
    run = tmp_path / "run"
    assert main(["eval", str(run), "--baseline"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["loss"]) == {"train", "val", "test"}
    assert all(isinstance(metrics["loss"][s], float) for s in ("train", "val", "test"))
    assert set(metrics["quality"]) == {"exact_match"} and 0.0 <= metrics["quality"]["exact_match"] <= 100.0
    assert set(metrics["quality_per_task"]) == {"reverse"}
    assert metrics["eval"]["max_new_tokens"] == {"reverse": 6}  # the task's own generation budget
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4 and all(len(s["reference"].split()) == 3 for s in samples)
