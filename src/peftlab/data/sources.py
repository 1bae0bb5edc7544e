"""Turn the ``--data`` argument into train/val/test rows with the task's canonical fields.

Why this module exists: every method in the study must see *the same* rows, whatever the user
points at — the built-in samples, one local file, a directory of split files, or a HuggingFace
dataset. So there is exactly one path from "what the user typed" to
``{"train": [...], "val": [...], "test": [...]}``::

    read the source(s) -> check the mapped columns exist -> project rows onto the task's fields
    -> validate values -> carve missing splits (seeded shuffle + ratio) -> drop bad rows -> cap sizes

This module reads the argument and gathers the sources; the file formats live in ``files``, HF
datasets and their presets in ``hf``, and the path from raw rows to splits in ``splits``.

Rules worth knowing:

* Rows keep exactly the task's ``fields``; values are stripped strings. A row whose value is
  missing, not a string, or blank is skipped and counted in ``LoadedData.skipped`` under the split
  it was read as (rows of a single file, or of a train that val/test are carved from, count under
  train) — or, with ``strict=True``, is an error naming its row number (1-based data row within
  its file or HF split: CSV headers and blank JSON lines are not counted).
* One file's usable rows are shuffled with ``random.Random(seed)`` and cut by ``split_ratio``. In
  a directory or an HF dataset, the splits that exist are kept in their order; a missing val/test
  is carved from the shuffled train with the ratio's shares renormalised over train plus the
  missing splits. SQuAD (train + validation only) therefore keeps its official validation set as
  val and gets its test carved from train.
* A split with a positive share gets at least one row whenever the other splits can spare it.
* ``max_train_samples`` / ``max_eval_samples`` keep the first N usable rows of train / of val and
  test, after any shuffle (for builtin data they are passed on, so larger sets are generated).
* Every bad input raises ``UsageError`` with one line naming the problem and the fix.
* Nothing is written anywhere and nothing is unpickled: JSON, CSV and Parquet only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from peftlab.errors import UsageError

from .files import SUPPORTED_EXTENSIONS, read_data_file
from .hf import hf_sources
from .splits import SPLITS, LoadedData, Source, assemble, columns_of
from .tasks import TASK_REGISTRY, KeyPath, Task

_SPLIT_FILE_STEMS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}


# ---------------------------------------------------------------------------------------------
# Public API


def load_data(
    data: str,
    task: str,
    *,
    field_map: dict[str, str] | None = None,
    split_ratio: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    strict: bool = False,
) -> LoadedData:
    """Load ``data`` ("builtin", a file, a directory or "hf:NAME[:CONFIG]") as task rows."""
    spec = _check_task(task)
    ratio = _check_ratio(split_ratio)
    caps = {"train": _check_cap(max_train_samples, "--max-train-samples"),
            "val": _check_cap(max_eval_samples, "--max-eval-samples"),
            "test": _check_cap(max_eval_samples, "--max-eval-samples")}
    paths = _field_paths(spec, field_map)
    if data == "builtin":
        if field_map:
            raise UsageError("field flags (--source-field etc.) apply to your own data, not to "
                             "--data builtin; drop them or point --data at your file")
        sources, origin = _builtin_sources(spec, caps, seed), "builtin"
    elif data.startswith("hf:"):
        sources, origin, paths = hf_sources(data, spec, field_map or {}, paths)
    else:
        sources, origin = _path_sources(data)
    return assemble(sources, origin, spec, paths, ratio, seed, caps, strict)


def field_map_from_flags(
    task: str,
    source_field: str | None = None,
    target_field: str | None = None,
    context_field: str | None = None,
    question_field: str | None = None,
) -> dict[str, str]:
    """Map the CLI column flags onto the task's canonical fields; --source-field always names the first
    field, whichever flag the task gives it (qa's --context-field is its alias)."""
    spec = _check_task(task)
    given = {"--source-field": source_field, "--target-field": target_field,
             "--context-field": context_field, "--question-field": question_field}
    for flag in ("--context-field", "--question-field"):
        if given[flag] and flag not in spec.field_flags.values():
            owners = " or ".join(f"--task {t.name}" for t in TASK_REGISTRY.values() if flag in t.field_flags.values())
            raise UsageError(f"{flag} only applies to {owners}; use --source-field/--target-field for {task}")
    if source_field and context_field and source_field != context_field:
        raise UsageError(f"--source-field {source_field!r} and --context-field {context_field!r} disagree; "
                         f"for {task} they name the same column, pass only one")
    chosen = {name: given[flag] for name, flag in spec.columns}
    chosen[spec.fields[0]] = chosen[spec.fields[0]] or source_field
    return {name: column for name, column in chosen.items() if column}


# ---------------------------------------------------------------------------------------------
# Argument checks


def _check_task(task: str) -> Task:
    """The task named `task`, or fail naming the known tasks."""
    if task not in TASK_REGISTRY:
        raise UsageError(f"unknown task {task!r}; use --task with one of {', '.join(TASK_REGISTRY)}")
    return TASK_REGISTRY[task]


def _check_ratio(ratio: Sequence[float]) -> tuple[float, float, float]:
    """Validate train/val/test fractions: three non-negative numbers summing to 1, train > 0."""
    try:
        values = tuple(float(r) for r in ratio)
    except (TypeError, ValueError):
        values = ()
    ok = (len(values) == 3 and all(math.isfinite(v) and v >= 0 for v in values)
          and abs(sum(values) - 1.0) < 1e-6 and values[0] > 0)
    if not ok:
        raise UsageError(f"bad split ratio {ratio!r}: give three non-negative fractions summing to 1 "
                         "with train > 0, e.g. --split-ratio 0.8,0.1,0.1")
    return values  # type: ignore[return-value]


def _check_cap(value: int | None, flag: str) -> int | None:
    """Validate a max-samples value: None or a positive int."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UsageError(f"{flag} must be a positive whole number (got {value!r}); omit it to keep every row")
    return value


def _field_paths(task: Task, field_map: Mapping[str, str] | None) -> dict[str, KeyPath]:
    """Where each canonical field lives in a raw row: the mapped column, or the field's own name."""
    fields = task.fields
    for name, column in (field_map or {}).items():
        if name not in fields:
            raise UsageError(f"field {name!r} is not a field of task {task.name} (fields: {', '.join(fields)}); "
                             "map columns with --source-field/--target-field")
        if not isinstance(column, str) or not column:
            raise UsageError(f"the column mapped to {name!r} must be a non-empty name; fix "
                             f"{task.field_flags[name]}")
    return {name: ((field_map or {}).get(name, name),) for name in fields}


# ---------------------------------------------------------------------------------------------
# Sources: builtin, files, directories (HuggingFace: peftlab.data.hf)


def _builtin_sources(task: Task, caps: Mapping[str, int | None], seed: int) -> dict[str, Source]:
    """The generated samples of every split; a cap asks the generator for that many rows."""
    sources = {}
    for split in SPLITS:
        rows = task.builtin_split(split, n=caps[split], seed=seed)
        sources[split] = Source(f"builtin {task.name} {split}", columns_of(rows), rows)
    return sources


def _path_sources(data: str) -> tuple[dict[str, Source], str]:
    """A file (train only; the rest is carved) or a directory of split files."""
    path = Path(data).expanduser()
    if path.is_dir():
        return _dir_sources(path), f"dir:{path.resolve()}"
    if not path.exists():
        raise UsageError(f"data not found: {data!r}; pass builtin, hf:NAME[:CONFIG], a "
                         f"{'/'.join(SUPPORTED_EXTENSIONS)} file, or a directory of train/val/test files")
    return {"train": _file_source(path)}, f"file:{path.resolve()}"


def _file_source(path: Path) -> Source:
    """Read one file as a source."""
    rows = read_data_file(path)
    return Source(str(path), columns_of(rows), rows)


def _dir_sources(path: Path) -> dict[str, Source]:
    """Read train.* (required), val.*/validation.* and test.* from a directory."""
    try:
        files = sorted(p for p in path.iterdir() if p.is_file())
    except OSError as exc:
        raise UsageError(f"cannot list data directory {path}: {exc.strerror or exc}; check its permissions") from None
    chosen: dict[str, Path] = {}
    for split, stems in _SPLIT_FILE_STEMS.items():
        matches = [p for p in files if p.stem.lower() in stems and p.suffix.lower() in SUPPORTED_EXTENSIONS]
        if len(matches) > 1:
            raise UsageError(f"{path} has several {split} files ({', '.join(p.name for p in matches)}); keep one")
        if matches:
            chosen[split] = matches[0]
    if "train" not in chosen:
        found = ", ".join(p.name for p in files) or "nothing"
        raise UsageError(f"data directory {path} has no train file (found: {found}); add train.jsonl, "
                         "train.json, train.csv or train.parquet (val/validation and test are optional)")
    return {split: _file_source(p) for split, p in chosen.items()}
