"""Turn the ``--data`` argument into train/val/test rows with the task's canonical fields.

Why this module exists: every method in the study must see *the same* rows, whatever the user
points at — the built-in samples, one local file, a directory of split files, or a HuggingFace
dataset. So there is exactly one path from "what the user typed" to
``{"train": [...], "val": [...], "test": [...]}``::

    read the source(s) -> check the mapped columns exist -> project rows onto the task's fields
    -> validate values -> carve missing splits (seeded shuffle + ratio) -> drop bad rows -> cap sizes

Rules worth knowing:

* Rows keep exactly ``TASK_FIELDS[task]``; values are stripped strings. A row whose value is
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

import csv
import io
import json
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from peftlab.errors import UsageError

TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "summarize": ("article", "summary"),
    "qa": ("context", "question", "answer"),
    "translate": ("source", "target"),
}
SPLITS = ("train", "val", "test")
SUPPORTED_EXTENSIONS = (".jsonl", ".json", ".csv", ".parquet")

# The CLI flag that maps each canonical field to a user column (named in "missing field" errors).
_FIELD_FLAGS: dict[str, dict[str, str]] = {
    "summarize": {"article": "--source-field", "summary": "--target-field"},
    "qa": {"context": "--context-field", "question": "--question-field", "answer": "--target-field"},
    "translate": {"source": "--source-field", "target": "--target-field"},
}
_SPLIT_FILE_STEMS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}
_HF_SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}
_CSV_FIELD_LIMIT = 2**31 - 1  # news articles overflow csv's 128 KiB default

KeyPath = tuple[str | int, ...]  # where a value lives in a raw row: ("answers", "text", 0)


@dataclass
class LoadedData:
    """The three splits of one task, where they came from, and how many bad rows were dropped."""

    splits: dict[str, list[dict[str, str]]]
    origin: str
    skipped: dict[str, int]


@dataclass(frozen=True)
class HFPreset:
    """How to read one classic HF dataset: its hub name, default config and where each field is."""

    hf_name: str
    task: str
    config: str | None
    paths: Mapping[str, KeyPath]


_CNN = HFPreset("abisee/cnn_dailymail", "summarize", "3.0.0",
                {"article": ("article",), "summary": ("highlights",)})
_SQUAD = HFPreset("rajpurkar/squad", "qa", None,
                  {"context": ("context",), "question": ("question",), "answer": ("answers", "text", 0)})
_OPUS = HFPreset("Helsinki-NLP/opus-100", "translate", "bg-en",
                 {"source": ("translation", "bg"), "target": ("translation", "en")})
HF_PRESETS: dict[str, HFPreset] = {
    "cnn_dailymail": _CNN, "abisee/cnn_dailymail": _CNN,
    "squad": _SQUAD, "rajpurkar/squad": _SQUAD,
    "opus100": _OPUS, "opus-100": _OPUS, "Helsinki-NLP/opus-100": _OPUS,
}


class _Bad(NamedTuple):
    """Stands in for a row that failed validation; carries the reason for error messages."""

    reason: str


@dataclass
class _Source:
    """Raw rows of one split as read: a label for messages, the columns seen, the rows."""

    label: str
    columns: list[str]
    rows: Iterable[dict[str, Any]]


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
    _check_task(task)
    ratio = _check_ratio(split_ratio)
    caps = {"train": _check_cap(max_train_samples, "--max-train-samples"),
            "val": _check_cap(max_eval_samples, "--max-eval-samples"),
            "test": _check_cap(max_eval_samples, "--max-eval-samples")}
    paths = _field_paths(task, field_map)
    if data == "builtin":
        if field_map:
            raise UsageError("field flags (--source-field etc.) apply to your own data, not to "
                             "--data builtin; drop them or point --data at your file")
        sources, origin = _builtin_sources(task, caps, seed), "builtin"
    elif data.startswith("hf:"):
        sources, origin, paths = _hf_sources(data, task, field_map or {}, paths)
    else:
        sources, origin = _path_sources(data)
    return _assemble(sources, origin, task, paths, ratio, seed, caps, strict)


def field_map_from_flags(
    task: str,
    source_field: str | None = None,
    target_field: str | None = None,
    context_field: str | None = None,
    question_field: str | None = None,
) -> dict[str, str]:
    """Map the CLI column flags onto the task's canonical fields (source = first, target = last)."""
    fields = _check_task(task)
    if task != "qa" and (context_field or question_field):
        flag = "--context-field" if context_field else "--question-field"
        raise UsageError(f"{flag} only applies to --task qa; use --source-field/--target-field for {task}")
    if source_field and context_field and source_field != context_field:
        raise UsageError(f"--source-field {source_field!r} and --context-field {context_field!r} disagree; "
                         "for qa they name the same column, pass only one")
    chosen = {fields[0]: source_field or context_field, fields[-1]: target_field}
    if task == "qa":
        chosen["question"] = question_field
    return {name: column for name, column in chosen.items() if column}


def apply_preset(rows: Iterable[dict[str, Any]], preset: HFPreset) -> list[dict[str, Any]]:
    """Project raw rows onto the preset's canonical fields; values are not validated here."""
    return [_project(row, preset.paths) for row in rows]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Read one .jsonl/.json/.csv/.parquet file into a non-empty list of dicts."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise UsageError(f"unsupported data file '{path.name}'; use one of {', '.join(SUPPORTED_EXTENSIONS)}")
    rows = reader(path)
    if not rows:
        raise UsageError(f"data file {path} is empty (no data rows); add rows or point --data elsewhere")
    return rows


# ---------------------------------------------------------------------------------------------
# Argument checks


def _check_task(task: str) -> tuple[str, ...]:
    """Return the task's fields, or fail naming the known tasks."""
    if task not in TASK_FIELDS:
        raise UsageError(f"unknown task {task!r}; use --task with one of {', '.join(TASK_FIELDS)}")
    return TASK_FIELDS[task]


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


def _field_paths(task: str, field_map: Mapping[str, str] | None) -> dict[str, KeyPath]:
    """Where each canonical field lives in a raw row: the mapped column, or the field's own name."""
    fields = TASK_FIELDS[task]
    for name, column in (field_map or {}).items():
        if name not in fields:
            raise UsageError(f"field {name!r} is not a field of task {task} (fields: {', '.join(fields)}); "
                             "map columns with --source-field/--target-field")
        if not isinstance(column, str) or not column:
            raise UsageError(f"the column mapped to {name!r} must be a non-empty name; fix "
                             f"{_FIELD_FLAGS[task][name]}")
    return {name: ((field_map or {}).get(name, name),) for name in fields}


# ---------------------------------------------------------------------------------------------
# Sources: builtin, files, directories, HuggingFace


def _builtin_sources(task: str, caps: Mapping[str, int | None], seed: int) -> dict[str, _Source]:
    """The generated samples of every split; a cap asks the generator for that many rows."""
    from peftlab.data.samples import builtin_split  # lazy: samples may import this module

    sources = {}
    for split in SPLITS:
        rows = builtin_split(task, split, n=caps[split], seed=seed)
        sources[split] = _Source(f"builtin {task} {split}", _columns(rows), rows)
    return sources


def _path_sources(data: str) -> tuple[dict[str, _Source], str]:
    """A file (train only; the rest is carved) or a directory of split files."""
    path = Path(data).expanduser()
    if path.is_dir():
        return _dir_sources(path), f"dir:{path.resolve()}"
    if not path.exists():
        raise UsageError(f"data not found: {data!r}; pass builtin, hf:NAME[:CONFIG], a "
                         f"{'/'.join(SUPPORTED_EXTENSIONS)} file, or a directory of train/val/test files")
    return {"train": _file_source(path)}, f"file:{path.resolve()}"


def _file_source(path: Path) -> _Source:
    """Read one file as a source."""
    rows = read_rows(path)
    return _Source(str(path), _columns(rows), rows)


def _dir_sources(path: Path) -> dict[str, _Source]:
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


def _hf_sources(data: str, task: str, field_map: Mapping[str, str],
                paths: dict[str, KeyPath]) -> tuple[dict[str, _Source], str, dict[str, KeyPath]]:
    """Load hf:NAME[:CONFIG]; a preset for the task supplies location, config and field paths."""
    name, config = _parse_hf(data)
    preset = next((p for key, p in HF_PRESETS.items() if key.lower() == name.lower()), None)
    if preset is not None and preset.task != task and not field_map:
        raise UsageError(f"hf:{name} is a {preset.task} dataset; run it with --task {preset.task}, or map "
                         f"its columns with {_flags_hint(task)}")
    if preset is not None:
        name, config = preset.hf_name, config or preset.config
        if preset.task == task:
            paths = {**preset.paths, **{f: (c,) for f, c in field_map.items()}}
    origin = f"hf:{name}" + (f":{config}" if config else "")
    splits = _load_hf_splits(name, config, origin)
    sources = {split: _Source(f"{origin}[{hf_split}]", list(ds.column_names), ds)
               for split, (hf_split, ds) in splits.items()}
    return sources, origin, paths


def _parse_hf(data: str) -> tuple[str, str | None]:
    """Split "hf:NAME[:CONFIG]" into its name and optional config."""
    name, _, config = data[len("hf:"):].partition(":")
    if not name.strip():
        raise UsageError(f"{data!r} names no dataset; write hf:NAME[:CONFIG], e.g. hf:squad or hf:opus100:bg-en")
    return name.strip(), config.strip() or None


def _load_hf_splits(name: str, config: str | None, origin: str) -> dict[str, tuple[str, Any]]:
    """Call ``datasets.load_dataset`` and map its splits to ours: split -> (hf split name, dataset)."""
    try:
        import datasets  # optional extra: imported only when hf: data is asked for
    except ImportError:
        raise UsageError("hf: data needs the optional 'datasets' package: pip install 'peftlab[hf]'") from None
    try:
        loaded = datasets.load_dataset(name, config)
    except Exception as exc:  # datasets raises many types (network, hub, config); all mean "cannot load"
        raise UsageError(f"cannot load {origin}: {_one_line(exc)}; check the name and config, your "
                         "network, or use a cached copy (HF_DATASETS_OFFLINE=1)") from exc
    splits: dict[str, tuple[str, Any]] = {}
    for hf_split, ds in loaded.items():
        ours = _HF_SPLITS.get(hf_split)
        if ours is not None and ours not in splits:
            splits[ours] = (hf_split, ds)
    if "train" not in splits:
        raise UsageError(f"{origin} has no train split (splits: {', '.join(loaded) or 'none'}); use a dataset "
                         "with one, or download it into a directory of train/val/test files")
    return splits


# ---------------------------------------------------------------------------------------------
# File readers: one per format, each returning a list of dicts


def _read_text(path: Path) -> str:
    """Read a file as UTF-8 (a BOM is fine); unreadable or non-UTF-8 files are usage errors."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read data file {path}: {exc.strerror or exc}; "
                         "check the path and its permissions") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"data file {path} is not valid UTF-8 (line {line}, byte {exc.start}); "
                         "re-save it as UTF-8") from None


def _read_json(path: Path) -> list[dict[str, Any]]:
    """JSON lines (.jsonl/.json), or a .json file holding one list of objects."""
    text = _read_text(path)
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        return _json_list(text, path)
    rows = []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines(): U+2028 may sit in strings
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"line {number} of {path} is not valid JSON ({exc.msg}); write one JSON object "
                             "per line (or a .json file holding a list of objects)") from None
        if not isinstance(obj, dict):
            raise UsageError(f"line {number} of {path} is a JSON {type(obj).__name__}, not an object; "
                             "write one JSON object per line")
        rows.append(obj)
    return rows


def _json_list(text: str, path: Path) -> list[dict[str, Any]]:
    """Parse a .json file that holds a list of objects."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); fix it, or write "
                         "one JSON object per line") from None
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise UsageError(f"item {number} of the list in {path} is a JSON {type(item).__name__}, not an "
                             "object; the list must hold one object per row")
    return items


def _read_csv(path: Path) -> list[dict[str, Any]]:
    """CSV with a header row; a short row's missing cells become None (and the row is skipped later)."""
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    old_limit = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        return [{k: v for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as exc:
        raise UsageError(f"{path} is not valid CSV (line {reader.line_num}: {exc}); fix that line") from None
    finally:
        csv.field_size_limit(old_limit)


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    """Parquet via pyarrow; nested struct/list columns become dicts/lists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise UsageError(f"cannot read {path} as Parquet ({_one_line(exc)}); check that it is a Parquet file") from None
    return table.to_pylist()


_READERS = {".jsonl": _read_json, ".json": _read_json, ".csv": _read_csv, ".parquet": _read_parquet}


# ---------------------------------------------------------------------------------------------
# The one pipeline: columns -> canonical rows -> carve -> keep


def _assemble(sources: dict[str, _Source], origin: str, task: str, paths: Mapping[str, KeyPath],
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


def _check_columns(source: _Source, task: str, paths: Mapping[str, KeyPath]) -> None:
    """Fail if a field's column appears in no row, naming the columns that do exist and the flag."""
    present = set(source.columns)
    for name in TASK_FIELDS[task]:
        column = paths[name][0]
        if column not in present:
            shown = ", ".join(map(str, source.columns[:20])) + (", ..." if len(source.columns) > 20 else "")
            raise UsageError(f"{source.label} has no column {column!r} for {task} field {name!r} "
                             f"(columns: {shown or 'none'}); map one with {_FIELD_FLAGS[task][name]} COLUMN")


def _canonical(source: _Source, task: str, paths: Mapping[str, KeyPath],
               strict: bool) -> Iterator[dict[str, str] | _Bad]:
    """Yield each row as stripped canonical strings, or a _Bad marker (an error when strict)."""
    for number, row in enumerate(source.rows, 1):
        values = _project(row, paths)
        problem = _first_problem(values, TASK_FIELDS[task])
        if problem is None:
            yield {name: values[name].strip() for name in TASK_FIELDS[task]}
            continue
        name, what = problem
        column = ".".join(map(str, paths[name]))
        reason = f"row {number} of {source.label}: field {name!r} (column {column!r}) is {what}"
        if strict:
            raise UsageError(f"{reason}; fix that row, or run without --strict to skip such rows")
        yield _Bad(reason)


def _project(row: Mapping[str, Any], paths: Mapping[str, KeyPath]) -> dict[str, Any]:
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
          task: str) -> tuple[list[dict[str, str]], int]:
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
                             f"{first_bad}); fix the data or map other columns with {_flags_hint(task)}")
        raise UsageError(f"split {split!r} from {label} is empty; add rows, or give it a larger share "
                         "with --split-ratio")
    return rows, skipped


# ---------------------------------------------------------------------------------------------
# Small helpers


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key that appears in any row, in order of first appearance."""
    return list(dict.fromkeys(key for row in rows for key in row))


def _carve_note(missing: Sequence[str], ratio: tuple[float, float, float], seed: int) -> str:
    """Describe how missing splits were made, for LoadedData.origin."""
    how = f"split {'/'.join(f'{r:g}' for r in ratio)}, seed {seed}"
    return how if list(missing) == ["val", "test"] else f"{' and '.join(missing)} carved from train, {how}"


def _flags_hint(task: str) -> str:
    """The task's column flags, e.g. "--source-field/--target-field"."""
    return "/".join(_FIELD_FLAGS[task].values())


def _one_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message (or its type), at most 300 characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]
