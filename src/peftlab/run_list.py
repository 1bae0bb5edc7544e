"""`peftlab runs [DIR]`: every run directory below DIR, one line each — what it trained, how far it got,
its figures and whether it finished.

A run is a directory holding a peftlab `config.json` (the four RunConfig sections); the search does
not descend into a run (its adapter/ and checkpoints/ hold no runs), so a `compare` directory lists
each method's run. A run's status, by the first rule that holds:

    finished                 metrics.json holds the training history (train writes it last);
                             "(stopped early at step K)" when early stopping ended it
    failed: MESSAGE          log.jsonl ends in an "error" event (a non-finite loss, ...)
    interrupted at step K    a checkpoint passes its checksums: `train --resume` continues at step K
    failed                   nothing else: no checkpoint, no metrics (killed or failed before the
                             first checkpoint, or still running towards it)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .checkpoint import list_checkpoints, verify
from .config import SECTIONS, RunsConfig
from .errors import UsageError
from .rundir import CHECKPOINTS, CONFIG, LOG, read_metrics


@dataclass
class RunSummary:
    path: str
    method: str | None
    tasks: list[str]
    epochs_done: int
    epochs_planned: int | None
    val_loss: float | None
    metric: str | None          # the primary quality metric's name (None for several tasks: see metric_value)
    metric_value: float | dict | None  # one number, or {task: number} for a multi-task run
    status: str                 # finished / interrupted / failed
    step: int | None            # interrupted: the step a resume continues at; finished: steps trained
    detail: str = ""            # failed: the error the log ends with; finished: "stopped early at step K"

    @property
    def status_text(self) -> str:
        if self.status == "interrupted":
            return f"interrupted at step {self.step}"
        if self.status == "finished":
            return f"finished ({self.detail})" if self.detail else "finished"
        return f"failed: {self.detail}" if self.detail else "failed"


def list_runs(cfg: RunsConfig) -> list[RunSummary]:
    root = Path(cfg.dir)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory: pass the directory your runs are in (peftlab runs DIR)")
    return [summarize(path, root) for path in find_runs(root)]


def find_runs(root: Path) -> list[Path]:
    """Run directories at or below `root`, in path order; a run's own sub-directories are not searched."""
    if _is_run(root):
        return [root]
    found: list[Path] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += find_runs(child)
    return found


def _is_run(path: Path) -> bool:
    raw = _read_json(path / CONFIG)
    return isinstance(raw, dict) and all(isinstance(raw.get(section), dict) for section in SECTIONS)


def _read_json(file: Path):
    try:
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None
    except (OSError, ValueError):
        return None


def summarize(path: Path, root: Path) -> RunSummary:
    config = _read_json(path / CONFIG)
    metrics = read_metrics(path) if (path / "metrics.json").is_file() else {}
    tasks = [t.strip() for t in str(config["data"].get("task", "")).split(",") if t.strip()]
    events = _log(path)
    checkpoint = _newest_state(path)
    status, step, detail = _status(metrics, events, checkpoint)
    history = metrics.get("history") if status == "finished" else None
    epochs_done = len(history) if history is not None else (checkpoint or {}).get("epoch", 0)
    metric, value = _primary_metric(metrics, tasks)
    return RunSummary(
        path=str(path.relative_to(root)) if path != root else str(path), method=config["method"].get("method"),
        tasks=tasks, epochs_done=epochs_done, epochs_planned=config["train"].get("epochs"),
        val_loss=_val_loss(metrics, events), metric=metric, metric_value=value, status=status,
        step=metrics.get("steps") if status == "finished" else step, detail=detail)


def _status(metrics: dict, events: list[dict], checkpoint: dict | None) -> tuple[str, int | None, str]:
    if isinstance(metrics.get("history"), list):
        early = (metrics.get("best") or {}).get("stopped_early")
        return "finished", None, f"stopped early at step {metrics.get('steps')}" if early else ""
    if events and events[-1].get("event") == "error":
        return "failed", events[-1].get("step"), str(events[-1].get("message", "error"))
    if checkpoint is not None:
        return "interrupted", checkpoint.get("step"), ""
    return "failed", None, ""


def _newest_state(path: Path) -> dict | None:
    """state.json of the checkpoint a resume would continue from (the newest that passes its checksums)."""
    for checkpoint in list_checkpoints(path / CHECKPOINTS):
        if verify(checkpoint):
            return _read_json(checkpoint / "state.json")
    return None


def _log(path: Path) -> list[dict]:
    """log.jsonl's records; a line cut by a kill is skipped."""
    file = path / LOG
    if not file.is_file():
        return []
    records = []
    for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return [r for r in records if isinstance(r, dict)]


def _val_loss(metrics: dict, events: list[dict]) -> float | None:
    """The final val loss (metrics.json), else the latest one logged (an unfinished run)."""
    value = (metrics.get("loss") or {}).get("val")
    if value is not None:
        return value
    logged = [e.get("val_loss") for e in events if e.get("event") in ("epoch", "eval")]
    return logged[-1] if logged else None


def _primary_metric(metrics: dict, tasks: list[str]) -> tuple[str | None, float | dict | None]:
    """The task's primary quality metric as `eval` recorded it; for several tasks one value per task."""
    from .data.tasks import get_task

    try:
        names = {task: get_task(task).primary_metric for task in tasks}
    except UsageError:
        return None, None
    if len(tasks) == 1:
        name = names[tasks[0]]
        return name, (metrics.get("quality") or {}).get(name)
    per_task = metrics.get("quality_per_task") or {}
    values = {task: (per_task.get(task) or {}).get(name) for task, name in names.items()}
    return ",".join(names.values()), values if any(v is not None for v in values.values()) else None


# ------------------------------------------------------------------ printing

def format_runs(runs: list[RunSummary]) -> str:
    header = ("RUN", "METHOD", "TASKS", "EPOCHS", "VAL LOSS", "QUALITY", "STATUS")
    rows = [header] + [(r.path, r.method or "—", ",".join(r.tasks), f"{r.epochs_done}/{r.epochs_planned}",
                        _num(r.val_loss), _quality(r), r.status_text) for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows)


def runs_json(runs: list[RunSummary]) -> str:
    return json.dumps([asdict(r) | {"status_text": r.status_text} for r in runs], indent=2)


def _quality(r: RunSummary) -> str:
    if r.metric_value is None:
        return "—"
    if isinstance(r.metric_value, dict):
        return " ".join(f"{task}:{_num(v)}" for task, v in r.metric_value.items())
    return f"{r.metric} {_num(r.metric_value)}"


def _num(value) -> str:
    return "—" if value is None else f"{value:.4f}"
