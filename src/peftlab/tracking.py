"""Where a run's figures go besides log.jsonl: TensorBoard (default), MLflow, W&B, and progress lines.

`--report-to tensorboard,mlflow,wandb,none` picks the backends. Each is a `Tracker` with one small
interface (`scalars`, `params`, `close`); training writes through one `Tracking` object that fans out
to them, so a multi-process run guards a single object (`open_tracking(..., enabled=is_main)`). The tags
are fixed names, the same for every method, so `tensorboard --logdir DIR` overlays a comparison's runs:

    train/loss  train/lr  train/grad_norm  train/tokens_per_s      every --log-every optimizer steps
    epoch/train_loss  epoch/val_loss  epoch/peak_memory_mb         at each epoch's last step
    epoch/train_loss/<task>  epoch/val_loss/<task>                 multi-task runs
    eval/loss/<split>  eval/quality/<metric>                       when eval scores the run

Every figure's x is the optimizer step. A resumed run reopens TensorBoard with `purge_step`, so the
points after the checkpoint it resumes from are dropped, as log.jsonl drops its lines. MLflow and W&B
continue the run they started (its id is kept in RUN/tracking.json).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

from .errors import UsageError

BACKENDS = ("tensorboard", "mlflow", "wandb", "none")
TB_DIR, IDS = "tb", "tracking.json"
# backend -> (module it needs, what to install)
NEEDS = {"tensorboard": ("tensorboard", "pip install tensorboard"),
         "mlflow": ("mlflow", "pip install 'peftlab[mlflow]'"),
         "wandb": ("wandb", "pip install 'peftlab[wandb]'")}


def parse_report_to(text: str) -> list[str]:
    """'tensorboard,mlflow' -> the backends, checked: an unknown name or a missing extra is one line,
    before anything is written."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        raise UsageError(f"unknown --report-to {','.join(unknown) or repr(text)}: use a comma-separated subset of "
                         f"{','.join(BACKENDS[:-1])}, or none")
    if "none" in names and len(names) > 1:
        raise UsageError(f"--report-to {text}: 'none' goes alone")
    names = [n for n in dict.fromkeys(names) if n != "none"]
    for name in names:
        module, install = NEEDS[name]
        if importlib.util.find_spec(module) is None:
            raise UsageError(f"--report-to {name} needs the {module} package: {install}")
    return names


class Tracker:
    """One backend: scalars at an optimizer step, the run's settings once, close at the end."""

    def scalars(self, values: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def params(self, params: dict[str, Any]) -> None:
        """The run's settings (`section.field` -> value)."""

    def close(self) -> None:
        """Flush everything to disk."""


def _wait_for_a_new_second(tb_dir: Path) -> None:
    """TensorBoard reads a directory's event files in name order, and a name is
    `events.out.tfevents.<second>.<host>.<pid>.<counter>`: two files opened in the same second by one
    process sort by the counter as text ('10' before '9'), which would replay a resumed run's points
    before the ones it continues. Waiting for the next second (only then, at most 1 s) keeps the order."""
    seconds = (f.name.split(".")[3] for f in tb_dir.glob("events.out.tfevents.*"))
    newest = max((int(s) for s in seconds if s.isdigit()), default=None)
    while newest is not None and int(time.time()) <= newest:
        time.sleep(0.05)


class TensorBoardTracker(Tracker):
    """TensorBoard's own event files in RUN/tb (`torch.utils.tensorboard.SummaryWriter`)."""

    def __init__(self, run_dir: Path, purge_step: int | None):
        from torch.utils.tensorboard import SummaryWriter

        _wait_for_a_new_second(Path(run_dir) / TB_DIR)
        # flushed every 10 s (not 120): `tensorboard --logdir` is how a user watches a long run
        self.writer = SummaryWriter(str(Path(run_dir) / TB_DIR), purge_step=purge_step, flush_secs=10)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, global_step=step)

    def params(self, params: dict[str, Any]) -> None:
        table = "\n".join(f"| {k} | {v} |" for k, v in params.items())
        self.writer.add_text("config", "| setting | value |\n|---|---|\n" + table, global_step=0)

    def close(self) -> None:
        self.writer.close()


@contextlib.contextmanager
def _file_store_allowed(uri: str):
    """MLflow 3 keeps its file store but asks for MLFLOW_ALLOW_FILE_STORE; peftlab's default store is
    a local mlruns/ directory, so it allows it for its own calls only (the environment is restored)."""
    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    if uri.startswith("file:") and before is None:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if uri.startswith("file:") and before is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def mlflow_uri() -> str:
    """$MLFLOW_TRACKING_URI when the user set one, else ./mlruns as a file store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or Path("mlruns").resolve().as_uri()


class MlflowTracker(Tracker):
    """One MLflow run per peftlab run, in experiment 'peftlab'; a resume or an eval continues it."""

    def __init__(self, run_dir: Path, run_id: str | None):
        from mlflow.tracking import MlflowClient

        self.uri = mlflow_uri()
        with _file_store_allowed(self.uri):
            self.client = MlflowClient(self.uri)
            if run_id is None:
                found = self.client.get_experiment_by_name("peftlab")
                experiment = found.experiment_id if found else self.client.create_experiment("peftlab")
                run_id = self.client.create_run(experiment, run_name=Path(run_dir).resolve().name,
                                                tags={"peftlab.run_dir": str(Path(run_dir).resolve())}).info.run_id
        self.run_id = run_id

    def scalars(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        with _file_store_allowed(self.uri):
            self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in values.items()])

    def params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        with _file_store_allowed(self.uri):
            existing = self.client.get_run(self.run_id).data.params
            new = [Param(k, str(v)) for k, v in params.items() if k not in existing]  # params are write-once
            if new:
                self.client.log_batch(self.run_id, params=new)

    def close(self) -> None:
        with _file_store_allowed(self.uri):
            self.client.set_terminated(self.run_id)


class WandbTracker(Tracker):
    """A W&B run, offline (files under RUN/wandb) unless the user is logged in or set WANDB_MODE."""

    def __init__(self, run_dir: Path, run_id: str | None):
        import wandb

        logged_in = bool(os.environ.get("WANDB_API_KEY")) or _netrc_has("api.wandb.ai")
        mode = os.environ.get("WANDB_MODE") or ("online" if logged_in else "offline")
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "peftlab"), dir=str(run_dir), mode=mode,
                              name=Path(run_dir).resolve().name, id=run_id, resume="allow", reinit=True)
        self.run_id = self.run.id

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.run.log(dict(values), step=step)

    def params(self, params: dict[str, Any]) -> None:
        self.run.config.update(params, allow_val_change=True)

    def close(self) -> None:
        self.run.finish()


def _netrc_has(host: str) -> bool:
    import netrc

    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


class ProgressLines(Tracker):
    """`step 12/40 loss 0.6100 230 tok/s ETA 1m05s`: a progress bar for a stream that is not a terminal
    (compare's children, logs); printed on each step figure, with the ETA from wall time so far."""

    def __init__(self, write=print):
        self.write, self.total, self.started, self.first = write, 0, time.perf_counter(), 0

    def plan(self, total: int, done: int) -> None:
        self.total, self.first, self.started = total, done, time.perf_counter()

    def scalars(self, values: dict[str, float], step: int) -> None:
        if "train/loss" not in values:
            return
        per_step = (time.perf_counter() - self.started) / max(step - self.first, 1)
        eta = _duration(per_step * max(self.total - step, 0))
        self.write(f"step {step}/{self.total} loss {values['train/loss']:.4f} "
                   f"{values.get('train/tokens_per_s', 0):.0f} tok/s ETA {eta}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


class Tracking:
    """Every backend of a run behind one object: the figures training and eval produce, as tags."""

    def __init__(self, trackers: list[Tracker]):
        self.trackers = trackers

    def plan(self, total_steps: int, done: int) -> None:
        for tracker in self.trackers:
            if isinstance(tracker, ProgressLines):
                tracker.plan(total_steps, done)

    def log_step(self, record: dict) -> None:
        """A log.jsonl step record: loss, lr, grad norm, tokens/s at its optimizer step."""
        values = {f"train/{k}": record[k] for k in ("loss", "lr", "grad_norm", "tokens_per_s") if k in record}
        self._scalars(values, record["step"])

    def log_epoch(self, record: dict, step: int) -> None:
        """A log.jsonl epoch record, at the epoch's last optimizer step."""
        values = {f"epoch/{k}": record[k] for k in ("train_loss", "val_loss", "peak_memory_mb")
                  if record.get(k) is not None}
        for key in ("train_loss", "val_loss"):
            values |= {f"epoch/{key}/{task}": v for task, v in (record.get(f"{key}_per_task") or {}).items()
                       if v is not None}
        self._scalars(values, step)

    def log_eval(self, figures: dict, step: int) -> None:
        """eval's loss per split and quality metrics, at the run's last step."""
        values = {f"eval/loss/{split}": v for split, v in (figures.get("loss") or {}).items() if v is not None}
        values |= {f"eval/quality/{k}": v for k, v in (figures.get("quality") or {}).items() if v is not None}
        self._scalars(values, step)

    def params(self, params: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.params(params)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()

    def _scalars(self, values: dict[str, float], step: int) -> None:
        for tracker in self.trackers:
            tracker.scalars(values, step)


def open_tracking(report_to: str, run_dir: Path, *, resume_step: int | None = None, progress: bool = False,
                  enabled: bool = True, write=print) -> Tracking:
    """The run's backends. `resume_step`: the step a resumed run continues after (TensorBoard drops its
    later points); `progress`: also print progress lines; `enabled`: False on every process but the one
    that writes (nothing is opened)."""
    if not enabled:
        return Tracking([])
    run_dir = Path(run_dir)
    ids = _read_ids(run_dir)
    trackers: list[Tracker] = [ProgressLines(write)] if progress else []
    for name in parse_report_to(report_to):
        if name == "tensorboard":
            trackers.append(TensorBoardTracker(run_dir, None if resume_step is None else resume_step + 1))
        elif name == "mlflow":
            trackers.append(MlflowTracker(run_dir, ids.get("mlflow")))
            ids["mlflow"] = trackers[-1].run_id
        else:
            trackers.append(WandbTracker(run_dir, ids.get("wandb")))
            ids["wandb"] = trackers[-1].run_id
    if ids:
        (run_dir / IDS).write_text(json.dumps(ids, indent=2) + "\n", encoding="utf-8")
    return Tracking(trackers)


def _read_ids(run_dir: Path) -> dict[str, str]:
    file = run_dir / IDS
    try:
        raw = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    except ValueError:
        raw = {}
    return {k: v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}


def flat_params(config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """config.json's sections as `section.field` -> value, for trackers that take flat params."""
    return {f"{section}.{key}": value for section, values in config.items() if isinstance(values, dict)
            for key, value in values.items()}


def record_eval(run_dir: Path, report_to: str, figures: dict, step: int) -> None:
    """eval's figures into the run's own trackers (not the progress lines)."""
    tracking = open_tracking(report_to, run_dir)
    try:
        tracking.log_eval(figures, step)
    finally:
        tracking.close()


NO_TRACKING = Tracking([])  # what a loop writes to when nothing is tracked (and on non-writing ranks)
