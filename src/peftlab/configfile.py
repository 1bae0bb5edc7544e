"""Config files: a command's config dataclass written out as YAML (or JSON), read back with checks.

`train --config study.yaml` reads the same nested sections a run's `config.json` holds (`model:`,
`data:`, `method:`, `train:`), so a run's own config.json repeats it; `compare` takes those sections
beside its own keys (`methods:`, `lr:`, `quality:`, ...), `eval` and `generate` their own fields. The
file replaces the defaults; flags given on the command line replace the file (`cli.from_args`). Every
key is checked against the dataclass, at every level: an unknown one names the closest valid key, a
value of the wrong type names the expected type, each as one UsageError line naming the file.
Only `yaml.safe_load` and `json` read the file: no tags, no code.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path
from typing import Any, Collection

from .config import CompareConfig, RunConfig
from .errors import UsageError
from .flags import scalar_type

IGNORED = {"resolved"}  # what a run's config.json records about its machine: an output, not a setting


def read_config_file(cls: type, path: str | Path, settings_keys: Collection[str] = ()) -> Any:
    """An instance of command config `cls` from the file at `path`; fields the file leaves out keep
    their defaults. `settings_keys`: the run settings a `settings:` mapping may name (eval)."""
    raw = _load(Path(path))
    if cls is CompareConfig:  # a compare file holds the run's sections beside its own keys
        run = {k: raw.pop(k) for k in list(raw) if k in _fields(RunConfig)}
        if run:
            raw["run"] = run
    raw = {k: v for k, v in raw.items() if k not in IGNORED}
    return _build(cls, raw, Path(path), "", tuple(settings_keys))


def config_to_dict(cfg: Any) -> dict:
    """The plain mapping a config file holds for `cfg` (the inverse of `read_config_file`)."""
    raw = dataclasses.asdict(cfg)
    if isinstance(cfg, CompareConfig):
        raw = {k: v for k, v in raw.items() if k != "run"} | raw["run"]
    return raw


def dump_yaml(cfg: Any) -> str:
    import yaml

    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True)


def _load(path: Path) -> dict:
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except ValueError as exc:  # json.JSONDecodeError
        raise UsageError(f"--config {path} is not valid JSON ({exc}): fix the file") from None
    except Exception as exc:  # yaml.YAMLError and its subclasses
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--config {path} is not valid YAML ({first}): fix the file") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UsageError(f"--config {path} must hold a mapping of settings, not a {type(raw).__name__}")
    return raw


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _build(cls: type, raw: Any, path: Path, where: str, settings_keys: tuple[str, ...]) -> Any:
    """`cls(**raw)` with every key and value checked; `where` is the dotted position, for messages."""
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: '{where.rstrip('.')}' must be a mapping of settings, got {raw!r}")
    fields = _fields(cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise UsageError(f"{path}: unknown key '{where}{key}'{_hint(cls, str(key))}")
        f = fields[key]
        if dataclasses.is_dataclass(f.default_factory):
            values[key] = _build(f.default_factory, value, path, f"{where}{key}.", settings_keys)
        elif key == "settings":
            values[key] = _settings(value, path, f"{where}{key}", settings_keys)
        else:
            values[key] = _check_type(f, value, path, f"{where}{key}")
    return cls(**values)


def _hint(cls: type, key: str) -> str:
    """Where `key` belongs when it is a field of a nested section, else the closest valid key."""
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.default_factory) and key in _fields(f.default_factory):
            return f": it belongs under '{f.name}:'"
    close = difflib.get_close_matches(key, list(_fields(cls)), n=1, cutoff=0.0)
    return f": did you mean '{close[0]}'?" if close else ""


def _settings(value: Any, path: Path, where: str, allowed: tuple[str, ...]) -> dict:
    """eval's `settings:`: run settings by field name, each one the command takes."""
    from .config import SECTIONS, section_of

    if not isinstance(value, dict):
        raise UsageError(f"{path}: '{where}' must be a mapping of run settings, got {value!r}")
    checked = {}
    for key, item in value.items():
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.0)
            raise UsageError(f"{path}: unknown key '{where}.{key}'" + (f": did you mean '{close[0]}'?" if close else ""))
        checked[key] = _check_type(_fields(SECTIONS[section_of(key)])[key], item, path, f"{where}.{key}")
    return checked


def _check_type(f: dataclasses.Field, value: Any, path: Path, where: str) -> Any:
    """`value` as field `f`'s type: ints and numeric strings pass for floats, numbers for strings (YAML
    reads compare's `lr: 0.001` as a number); anything else of the wrong type is an error."""
    annotation = str(f.type)
    optional = "None" in annotation
    kind = scalar_type(annotation)
    if value is None and optional:
        return None
    if kind is None:  # a non-scalar field (none today besides the nested ones): taken as given
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str):  # YAML 1.1 reads `lr: 1e-3` (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        if "choices" in f.metadata and value not in f.metadata["choices"]:
            raise UsageError(f"{path}: '{where}' is {value!r}: use one of {', '.join(f.metadata['choices'])}")
        return value
    expected = kind.__name__ + (" or null" if optional else "")
    raise UsageError(f"{path}: '{where}' must be {expected}, got {value!r} ({type(value).__name__})")
