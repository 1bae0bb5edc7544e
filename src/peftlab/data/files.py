"""Data file readers: .jsonl/.json, .csv and .parquet files -> a list of dicts, one per row.

Every unreadable input is a one-line `UsageError` naming the file and the fix. Nothing is unpickled:
JSON, CSV and Parquet only.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from peftlab.errors import UsageError

SUPPORTED_EXTENSIONS = (".jsonl", ".json", ".csv", ".parquet")
_CSV_FIELD_LIMIT = 2**31 - 1  # news articles overflow csv's 128 KiB default


def read_data_file(path: Path) -> list[dict[str, Any]]:
    """Read one .jsonl/.json/.csv/.parquet file into a non-empty list of dicts."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise UsageError(f"unsupported data file '{path.name}'; use one of {', '.join(SUPPORTED_EXTENSIONS)}")
    rows = reader(path)
    if not rows:
        raise UsageError(f"data file {path} is empty (no data rows); add rows or point --data elsewhere")
    return rows


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
        raise UsageError(f"cannot read {path} as Parquet ({one_line(exc)}); check that it is a Parquet file") from None
    return table.to_pylist()


_READERS = {".jsonl": _read_json, ".json": _read_json, ".csv": _read_csv, ".parquet": _read_parquet}


def one_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message (or its type), at most 300 characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]
