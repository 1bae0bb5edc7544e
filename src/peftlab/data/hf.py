"""HuggingFace datasets (`--data hf:NAME[:CONFIG]`): load one, and read the classic ones by their preset.

A task's `HFPreset` (its `hf_preset`) names the hub dataset, its default config and where each field
lives in a raw row, so `hf:squad` works with no column flags. The optional `datasets` package is
imported only when hf: data is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from peftlab.errors import UsageError

from .files import one_line
from .splits import Source, flags_hint, project
from .tasks import TASK_REGISTRY, HFPreset, KeyPath, Task

_HF_SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}


def find_preset(name: str) -> tuple[Task, HFPreset] | None:
    """The registered task whose HF preset goes by `name` (any case), and that preset."""
    for task in TASK_REGISTRY.values():
        preset = task.hf_preset
        if preset is not None and name.lower() in {n.lower() for n in (preset.hf_name, *preset.aliases)}:
            return task, preset
    return None


def apply_preset(rows: Iterable[dict[str, Any]], preset: HFPreset) -> list[dict[str, Any]]:
    """Project raw rows onto the preset's canonical fields; values are not validated here."""
    return [project(row, preset.paths) for row in rows]


def hf_sources(data: str, task: Task, field_map: Mapping[str, str],
               paths: dict[str, KeyPath]) -> tuple[dict[str, Source], str, dict[str, KeyPath]]:
    """Load hf:NAME[:CONFIG]; a preset for the task supplies location, config and field paths."""
    name, config = _parse_hf(data)
    found = find_preset(name)
    if found is not None:
        owner, preset = found
        if owner is not task and not field_map:
            raise UsageError(f"hf:{name} is a {owner.name} dataset; run it with --task {owner.name}, or map "
                             f"its columns with {flags_hint(task)}")
        name, config = preset.hf_name, config or preset.config
        if owner is task:
            paths = {**preset.paths, **{f: (c,) for f, c in field_map.items()}}
    origin = f"hf:{name}" + (f":{config}" if config else "")
    splits = _load_hf_splits(name, config, origin)
    sources = {split: Source(f"{origin}[{hf_split}]", list(ds.column_names), ds)
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
        raise UsageError(f"cannot load {origin}: {one_line(exc)}; check the name and config, your "
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
