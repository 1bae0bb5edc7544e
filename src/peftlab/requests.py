"""Generation requests: a task's input in its own words -> the training prompt; JSONL in, JSONL out.

A request is a task name plus text. The text is the task's input as a person writes it, parsed into
the task's fields and rendered with the same template as training (`Task.render` via `encode`), so a
trained run sees exactly the prompt it learned on:

- summarize: the article (an optional leading "Article:" is dropped)
- qa:        "Context: ... Question: ..." (the last "Question:" splits the two; "Context:" is optional)
- translate: the Bulgarian sentence (an optional leading "Bulgarian:" is dropped)
- any task:  a JSON object with the task's input fields, e.g. {"context": "...", "question": "..."}

`--raw` skips all of that: the text is tokenized as-is (no template, no special tokens) and decoding
stops only at EOS, which is what `PeftModel.generate` does, so the two compare token for token.
Requests of different tasks share batches; the command is `generation.generate`, the decoding loop
itself lives in `peftlab.decoding`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .data.collate import IGNORE, Example, encode
from .data.tasks import Task, get_task
from .errors import UsageError


def parse_text(task: Task, text: str | dict) -> dict[str, str]:
    """The task's input fields from a request's text (or JSON object); see the module docstring."""
    if isinstance(text, str) and text.lstrip().startswith("{"):
        try:
            text = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"the text starts with '{{' but is not a JSON object ({exc}): fix the JSON") from None
    if isinstance(text, dict):
        return _fields_from_object(task, text)
    if not isinstance(text, str):
        raise UsageError(f"a request's text must be a string or a JSON object, got {type(text).__name__}")
    return dict(zip(task.input_fields, _split_labelled(task, text)))


def _fields_from_object(task: Task, obj: dict[str, Any]) -> dict[str, str]:
    fields = {}
    for name in task.input_fields:
        value = obj.get(name)
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"a {task.name} request needs a non-empty string field {name!r}: give "
                             f"{', '.join(task.input_fields)}")
        fields[name] = value.strip()
    return fields


def _split_labelled(task: Task, text: str) -> list[str]:
    """Cut text at the task's labels, last label first (a label inside the context cannot cut early)."""
    labels = task.labels
    example = " ".join(f"{label} ..." for label in labels)
    parts: list[str] = []
    rest = text
    for label in reversed(labels[1:]):
        rest, found, tail = rest.rpartition(label)
        if not found:
            raise UsageError(f"a {task.name} text needs {label!r}: write {example!r} or a JSON object")
        parts.insert(0, tail.strip())
    parts.insert(0, rest.strip().removeprefix(labels[0]).strip())
    if not all(parts):
        raise UsageError(f"a {task.name} text has an empty part: write {example!r} with text after each label")
    return parts


def resolve_task(tasks: list[str], requested: str | None) -> str:
    """The task a request runs: the one asked for, or the run's only task."""
    if requested is None:
        if len(tasks) == 1:
            return tasks[0]
        raise UsageError(f"this run serves several tasks ({', '.join(tasks)}): pass --task with one of them "
                         "(or a \"task\" in each request)")
    if not isinstance(requested, str) or requested not in tasks:
        raise UsageError(f"this run has no task {requested!r}: use one of {', '.join(tasks)}")
    return requested


def request_example(task: str, text: str | dict, adapted, tokenizer, *, max_length: int, raw: bool) -> Example:
    """The encoded prompt of one request, exactly as training encodes that task's rows."""
    task_id = adapted.tasks.index(task)
    if raw:
        if not isinstance(text, str) or not text:
            raise UsageError("--raw needs the text as a non-empty string: pass the exact prompt")
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) + adapted.num_virtual > max_length:
            raise UsageError(f"the --raw text is {len(ids)} tokens (+{adapted.num_virtual} virtual) but --max-length "
                             f"is {max_length}: shorten it or raise --max-length")
        return Example(ids, [IGNORE] * len(ids), len(ids), task_id, False)
    spec = get_task(task)
    row = parse_text(spec, text) | {spec.target_field: ""}
    full = encode(row, spec, tokenizer, max_length=max_length, num_virtual=adapted.num_virtual, task_id=task_id)
    prompt = full.input_ids[:full.prompt_len]  # drop the empty target `encode` adds
    return Example(prompt, [IGNORE] * len(prompt), len(prompt), task_id, full.truncated)


@dataclass
class Request:
    record: dict[str, Any]  # what the user sent; the answer is this plus "output"
    task: str
    example: Example


def read_requests(path: str, tasks: list[str], default_task: str | None, build) -> list[Request]:
    """Every non-blank line of a JSONL file as a request; a bad line is an error naming its number."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --input {path} ({exc}): pass a UTF-8 JSONL file") from None
    requests = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise UsageError(f"{path} line {number}: not valid JSON ({exc}): write one JSON object per line") from None
            try:
                requests.append(_request(record, tasks, default_task, build))
            except UsageError as exc:
                raise UsageError(f"{path} line {number}: {exc}") from None
    if not requests:
        raise UsageError(f"--input {path} holds no requests: write one JSON object per line")
    return requests


def _request(record: Any, tasks: list[str], default_task: str | None, build) -> Request:
    if not isinstance(record, dict) or "text" not in record:
        raise UsageError('each line must be a JSON object like {"task": "qa", "text": "..."}')
    task = resolve_task(tasks, record.get("task", default_task))
    return Request(record, task, build(task, record["text"]))


def write_answers(requests: list[Request], outputs: list[str], out: TextIO) -> None:
    for request, output in zip(requests, outputs):
        out.write(json.dumps({**request.record, "task": request.task, "output": output}, ensure_ascii=False) + "\n")


class Streamer:
    """Prints one request's text as it is decoded: each step decodes the ids so far (BPE pieces only
    make sense together) and prints what was added; a half-decoded character waits for the next step."""

    def __init__(self, tokenizer, out: TextIO | None = None):
        self.tokenizer, self.out, self.shown = tokenizer, out or sys.stdout, ""

    def __call__(self, ids_so_far: list[list[int]]) -> None:
        text = self.tokenizer.decode(ids_so_far[0], skip_special_tokens=True).strip()
        if text.startswith(self.shown) and not text.endswith("\ufffd"):
            self._show(text)

    def finish(self, final: str) -> None:
        self._show(final if final.startswith(self.shown) else self.shown)
        self.out.write("\n")
        self.out.flush()

    def _show(self, text: str) -> None:
        self.out.write(text[len(self.shown):])
        self.out.flush()
        self.shown = text
