"""The one pipeline from raw rows to a task's splits: columns -> canonical rows -> carve -> keep.

`peftlab.data.sources` gathers the raw `Source`s (built-in, files, a directory, an HF dataset); this
module checks the mapped columns exist, projects rows onto the task's fields, validates values,
carves missing splits (seeded shuffle + ratio), drops bad rows and caps sizes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from peftlab.errors import UsageError

from .tasks import KeyPath, Task

SPLITS = ("train", "val", "test")


@dataclass
class LoadedData:
    """The three splits of one task, where they came from, and how many bad rows were dropped."""

    splits: dict[str, list[dict[str, str]]]
    origin: str
    skipped: dict[str, int]


class _Bad(NamedTuple):
    """Stands in for a row that failed validation; carries the reason for error messages."""

    reason: str


@dataclass
class Source:
    """Raw rows of one split as read: a label for messages, the columns seen, the rows."""

    label: str
    columns: list[str]
    rows: Iterable[dict[str, Any]]


def assemble(sources: dict[str, Source], origin: str, task: Task, paths: Mapping[str, KeyPath],
             ratio: tuple[float, float, float], seed: int, caps: Mapping[str, int | None],
             strict: bool) -> LoadedData:
    """Turn raw sources into LoadedData: validate, carve missing splits, drop bad rows, cap."""
    for source in sources.values():
        _check_columns(source, task, paths)
    items: dict[str, Iterable[dict[str, str] | _Bad]] = {
        split: _canonical(source, task, paths, strict) for split, source in sources.items()}
    missing = [split for split in SPLITS if split not in sources]
    if missing:
        train = list(items["train"])
        bad = [item for item in train if isinstance(item, _Bad)]
        items.update(_carve([item for item in train if not isinstance(item, _Bad)], missing, ratio, seed))
        items["train"] = [*bad, *items["train"]]  # bad rows first: _keep counts them all under train
        origin += f" ({_carve_note(missing, ratio, seed)})"
    splits: dict[str, list[dict[str, str]]] = {}
    skipped: dict[str, int] = {}
    for split in SPLITS:
        label = sources[split].label if split in sources else f"{sources['train'].label} (carved)"
        splits[split], skipped[split] = _keep(items[split], caps[split], split, label, task)
    return LoadedData(splits=splits, origin=origin, skipped=skipped)


def _check_columns(source: Source, task: Task, paths: Mapping[str, KeyPath]) -> None:
    """Fail if a field's column appears in no row, naming the columns that do exist and the flag."""
    present = set(source.columns)
    for name in task.fields:
        column = paths[name][0]
        if column not in present:
            shown = ", ".join(map(str, source.columns[:20])) + (", ..." if len(source.columns) > 20 else "")
            raise UsageError(f"{source.label} has no column {column!r} for {task.name} field {name!r} "
                             f"(columns: {shown or 'none'}); map one with {task.field_flags[name]} COLUMN")


def _canonical(source: Source, task: Task, paths: Mapping[str, KeyPath],
               strict: bool) -> Iterator[dict[str, str] | _Bad]:
    """Yield each row as stripped canonical strings, or a _Bad marker (an error when strict)."""
    for number, row in enumerate(source.rows, 1):
        values = project(row, paths)
        problem = _first_problem(values, task.fields)
        if problem is None:
            yield {name: values[name].strip() for name in task.fields}
            continue
        name, what = problem
        column = ".".join(map(str, paths[name]))
        reason = f"row {number} of {source.label}: field {name!r} (column {column!r}) is {what}"
        if strict:
            raise UsageError(f"{reason}; fix that row, or run without --strict to skip such rows")
        yield _Bad(reason)


def project(row: Mapping[str, Any], paths: Mapping[str, KeyPath]) -> dict[str, Any]:
    """Pick each field's raw value out of a row by its key path (None where the path is absent)."""
    out = {}
    for name, path in paths.items():
        value: Any = row
        for key in path:
            if isinstance(key, int) and isinstance(value, (list, tuple)) and -len(value) <= key < len(value):
                value = value[key]
            elif isinstance(key, str) and isinstance(value, Mapping) and key in value:
                value = value[key]
            else:
                value = None
                break
        out[name] = value
    return out


def _first_problem(values: Mapping[str, Any], fields: Sequence[str]) -> tuple[str, str] | None:
    """The first field whose value is unusable and why (missing, not a string, empty), or None."""
    for name in fields:
        value = values[name]
        if value is None:
            return name, "missing"
        if not isinstance(value, str):
            return name, f"not a string ({type(value).__name__})"
        if not value.strip():
            return name, "empty"
    return None


def _carve(train: list[Any], missing: Sequence[str], ratio: tuple[float, float, float],
           seed: int) -> dict[str, list[Any]]:
    """Shuffle train and cut the missing splits from it, with shares renormalised over those splits."""
    shares = [ratio[i] if i == 0 or SPLITS[i] in missing else 0.0 for i in range(3)]
    total = sum(shares)
    parts = _split_rows(train, tuple(s / total for s in shares), seed)
    return {"train": parts[0], **{split: parts[i] for i, split in enumerate(SPLITS) if split in missing}}


def _split_rows(rows: list[Any], shares: Sequence[float], seed: int) -> tuple[list[Any], list[Any], list[Any]]:
    """Seeded shuffle, then train/val/test by shares; a positive share gets >= 1 row if train keeps one."""
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    n = len(shuffled)
    counts = [math.floor(n * share + 0.5) for share in shares[1:]]
    for i, share in enumerate(shares[1:]):
        if share > 0 and counts[i] == 0 and n - sum(counts) > 1:
            counts[i] = 1
    n_train = n - sum(counts)
    return shuffled[:n_train], shuffled[n_train:n_train + counts[0]], shuffled[n_train + counts[0]:]


def _keep(items: Iterable[dict[str, str] | _Bad], cap: int | None, split: str, label: str,
          task: Task) -> tuple[list[dict[str, str]], int]:
    """Collect the first ``cap`` good rows, counting bad ones; an empty result is an error."""
    rows: list[dict[str, str]] = []
    skipped, first_bad = 0, ""
    for item in items:
        if isinstance(item, _Bad):
            skipped, first_bad = skipped + 1, first_bad or item.reason
            continue
        rows.append(item)
        if cap is not None and len(rows) >= cap:
            break  # stop before pulling more: lazy sources are not read further
    if not rows:
        if skipped:
            raise UsageError(f"split {split!r} from {label} has no usable rows ({skipped} skipped; first: "
                             f"{first_bad}); fix the data or map other columns with {flags_hint(task)}")
        raise UsageError(f"split {split!r} from {label} is empty; add rows, or give it a larger share "
                         "with --split-ratio")
    return rows, skipped


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key that appears in any row, in order of first appearance."""
    return list(dict.fromkeys(key for row in rows for key in row))


def _carve_note(missing: Sequence[str], ratio: tuple[float, float, float], seed: int) -> str:
    """Describe how missing splits were made, for LoadedData.origin."""
    how = f"split {'/'.join(f'{r:g}' for r in ratio)}, seed {seed}"
    return how if list(missing) == ["val", "test"] else f"{' and '.join(missing)} carved from train, {how}"


def flags_hint(task: Task) -> str:
    """The task's column flags, e.g. "--source-field/--target-field"."""
    return "/".join(task.field_flags.values())
