"""The training recipe, top to bottom: prepare -> open the run directory (`rundir.RunDir`) -> fit -> save.

What a resume needs lives in `train_state` (TrainState and the checkpoints); the order of examples and
the learning rate are pure functions in `schedule`; under torchrun, `distributed` cuts each global
batch into per-rank slices and sums the trainable gradients.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from . import distributed
from .compiling import compiled_blocks
from .config import RunConfig
from .data.collate import make_batch
from .early_stopping import stopper_for
from .errors import UsageError
from .hardware import precision_text, probe
from .loss import split_loss
from .memory import PeakMemory
from .models import count_params
from .pipeline import Prepared, prepare
from .rundir import RunDir
from .schedule import cut, epoch_batches, epoch_order, lr_at
from .train_state import TrainState, restore_checkpoint, save_checkpoint
from .tracking import NO_TRACKING, Tracking, flat_params, open_tracking
from .trunk_cache import NO_CACHE, NoCache, TrunkCache, open_trunk_cache


# ------------------------------------------------------------------ the loop

def train(cfg: RunConfig, *, announce=print) -> dict:
    """Train one method per `cfg` (without a learning rate: the method's default, which config.json
    records); returns (and writes) the run's metrics."""
    cfg = cfg.with_default_lr().validate()
    announce = announce if distributed.is_main() else _silent
    run = RunDir(cfg.train.out).for_rank(distributed.is_main())
    run.check(cfg)
    p = prepare(cfg)
    _check_nonempty(p)
    precision_before = run.resolved().get("precision") if cfg.train.resume else None
    _check_same_world(run, cfg)
    distributed.barrier()  # every rank has read the directory before rank 0 writes into it
    run.start(cfg, resolved_settings(p))
    trainable = p.adapted.named_trainable()
    distributed.broadcast_params(list(trainable.values()))
    optimizer = torch.optim.AdamW(list(trainable.values()), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    state = restore_checkpoint(run, p, optimizer) if cfg.train.resume else None
    if state is not None:
        _warn_if_precision_changed(precision_before, p, announce)
    if state is None:  # a new run, or a resume killed before its first checkpoint: start from step 0
        state = TrainState()
        run.truncate_log(0)
        torch.manual_seed(distributed.rank_seed(cfg.train.seed))
    announce(_banner(p, state))
    tracking = open_tracking(cfg.train.report_to, run.path, resume_step=state.step if cfg.train.resume else None,
                             progress=cfg.train.progress == "lines", write=announce, enabled=distributed.is_main())
    tracking.params(flat_params(cfg.to_dict()))
    memory = PeakMemory(p.device).start()
    try:
        with open_trunk_cache(p, run) as cache:
            fit(p, run, optimizer, state, memory, announce, tracking, cache)
        return finish(p, run, state, memory.stop(), memory.kind)
    except UsageError as exc:  # e.g. a non-finite loss: `peftlab runs` shows the run as failed, and why
        run.log({"event": "error", "step": state.step, "message": str(exc)})
        raise
    finally:
        tracking.close()


def fit(p: Prepared, run: RunDir, optimizer, state: TrainState, memory: PeakMemory, announce,
        tracking: Tracking = NO_TRACKING, cache: TrunkCache | NoCache = NO_CACHE) -> None:
    t = p.cfg.train
    sizes = [sum(1 for r in p.rows["train"] if r["task"] == task) for task in p.adapted.tasks]
    per_step = t.batch_size * distributed.world_size()  # the global micro-batch: every rank's slice of it
    lengths = [len(e.input_ids) for e in p.examples["train"]]
    batches_per_epoch = math.ceil(len(epoch_order(sizes, t.seed, 0, p.cfg.data.task_sampling)) / per_step)
    total_steps = t.epochs * math.ceil(batches_per_epoch / t.grad_accum)
    tracking.plan(total_steps, state.step)
    p.adapted.train()
    compiled = compiled_blocks(p.adapted.model, p.device, t.compile)
    for epoch in range(state.epoch, t.epochs):
        steps = epoch_batches(sizes, lengths, per_step * t.grad_accum, t.seed, epoch, p.cfg.data.task_sampling,
                              grouped=t.batch_order == "grouped")
        batches = [micro for step in steps for micro in cut(step, per_step)]  # micro-batches
        bar = _progress(len(batches), state.batch, epoch) if t.progress == "auto" and distributed.is_main() else None
        while state.batch < len(batches) and not stopper_for(t, state.stopping).should_stop:
            group = batches[state.batch: state.batch + t.grad_accum]
            started = time.perf_counter()
            with compiled.active():
                loss = train_step(p, optimizer, group, lr_at(state.step, total_steps, t), state, cache)
            elapsed = time.perf_counter() - started
            state.epoch_time_s += elapsed
            state.train_time_s += elapsed
            state.batch += len(group)
            state.step += 1
            _after_step(p, run, optimizer, state, loss, bar, announce, tracking)
        if bar is not None:
            bar.close()
        if state.batch < len(batches):  # stopped early inside the epoch
            break
        end_epoch(p, run, optimizer, state, memory, announce, tracking)


def train_step(p: Prepared, optimizer, group: list[list[int]], lr: float, state: TrainState,
               cache: TrunkCache | NoCache = NO_CACHE) -> float:
    """One optimizer step over `grad_accum` global micro-batches; the loss is the mean over the whole
    group's target tokens (on every rank: each takes its slice, `distributed.my_slice`), so accumulation
    and data parallelism both give the gradient of one big batch. The trainable gradients are summed
    over ranks once, after the last micro-batch (DDP's `no_sync` on the others). `cache` replays the
    frozen trunk's output for micro-batches it holds (last-layer's later epochs)."""
    examples = p.examples["train"]
    tokens = sum(examples[i].target_tokens for idx in group for i in idx)
    sums = StepSums(len(p.adapted.tasks))
    for idx in group:
        mine = distributed.my_slice(idx, p.cfg.train.batch_size)
        if not mine:  # the last, short global batch left this rank nothing: it adds zeros
            continue
        batch = make_batch(examples, mine, p.pad_id, p.device)
        with cache.step(mine, batch.attention_mask):
            with p.adapted.autocast(), p.adapted.checkpointing(p.cfg.train.gradient_checkpointing):
                losses, rows, _ = p.adapted.loss_terms(batch, packed=p.cfg.train.packing, trim=not (
                    p.cfg.train.compile or p.cfg.train.gradient_checkpointing))
            (losses.sum() / max(tokens, 1)).backward()
        sums.add(batch, losses.detach(), rows)
    params = optimizer.param_groups[0]["params"]
    distributed.sum_gradients(params)
    step_sum = sums.add_to(state)
    norm = state.grad_norm = _grad_norm(params, p.cfg.train.max_grad_norm)
    if not (math.isfinite(step_sum) and math.isfinite(norm)):  # stop before the weights are poisoned
        raise UsageError(f"the {'loss' if not math.isfinite(step_sum) else 'gradient'} became non-finite at step "
                         f"{state.step + 1} (epoch {state.epoch + 1}): lower --lr or set --max-grad-norm and start "
                         f"again with --overwrite; the checkpoints of earlier steps are kept")
    optimizer.param_groups[0]["lr"] = lr
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return step_sum / max(tokens, 1)


def _grad_norm(params: list[torch.Tensor], max_norm: float | None) -> float:
    """The total gradient norm, after clipping it to `max_norm` when that is set. A finite loss can
    still give an infinite gradient: checking only the loss would let one step write NaN weights into
    the next checkpoint."""
    if max_norm:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    norms = [q.grad.detach().norm() for q in params if q.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0


class StepSums:
    """One step's loss sums and token counts on this rank, as one float64 vector so that a single
    all-reduce makes them the step's global figures: [loss, targets, loss per task (K), targets per task
    (K), input tokens per rank (W)]."""

    def __init__(self, n_tasks: int):
        self.k, self.w = n_tasks, distributed.world_size()
        self.values = torch.zeros(2 + 2 * n_tasks + self.w, dtype=torch.float64)

    def add(self, batch, losses: torch.Tensor, rows: torch.Tensor) -> None:
        task_ids = batch.task_ids[rows].cpu()
        self.values[0] += losses.sum().item()
        self.values[1] += losses.numel()
        self.values[2:2 + self.k].index_add_(0, task_ids, losses.double().cpu())
        self.values[2 + self.k:2 + 2 * self.k].index_add_(0, task_ids, torch.ones(len(task_ids), dtype=torch.float64))
        self.values[2 + 2 * self.k + distributed.rank()] += int(batch.attention_mask.sum())

    def add_to(self, state: TrainState) -> float:
        """Sum over ranks, add to the epoch's running figures; returns the step's loss sum."""
        v = distributed.sum_over_ranks(self.values).tolist()
        state.epoch_loss_sum += v[0]
        state.epoch_tokens += int(v[1])
        for task_id in range(self.k):
            if v[2 + self.k + task_id]:
                sums = state.epoch_task_sums.setdefault(str(task_id), [0.0, 0])
                sums[0] += v[2 + task_id]
                sums[1] += int(v[2 + self.k + task_id])
        per_rank = [int(x) for x in v[2 + 2 * self.k:]]
        state.rank_tokens = [a + b for a, b in zip(state.rank_tokens or [0] * self.w, per_rank)]
        state.seen_tokens += sum(per_rank)
        return v[0]


def _after_step(p: Prepared, run: RunDir, optimizer, state: TrainState, loss: float, bar, announce,
                tracking: Tracking = NO_TRACKING) -> None:
    t = p.cfg.train
    if bar is not None:
        bar.update(t.grad_accum)
        bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{state.seen_tokens / max(state.train_time_s, 1e-9):.0f}")
    if state.step % t.log_every == 0:
        line = f"Epoch: {state.epoch + 1} | Step: {state.step} | Loss: {loss:.4f}"
        if t.progress != "lines":  # lines: the tracker's progress line says it, with tokens/s and ETA
            (bar.write if bar is not None else announce)(line)
        record = {"event": "step", "epoch": state.epoch + 1, "step": state.step, "loss": loss,
                  "lr": optimizer.param_groups[0]["lr"], "grad_norm": state.grad_norm}
        run.log(record)  # timings stay out of the log: a resumed run's log equals an uninterrupted one's
        tracking.log_step(record | {"tokens_per_s": state.seen_tokens / max(state.train_time_s, 1e-9)})
    stop = bool(t.eval_every_steps) and state.step % t.eval_every_steps == 0 and \
        _evaluate_mid_epoch(p, run, state, bar.write if bar is not None else announce)
    if (t.save_every_steps and state.step % t.save_every_steps == 0) or stop:
        save_checkpoint(run, p, optimizer, state)


def _evaluate_mid_epoch(p: Prepared, run: RunDir, state: TrainState, announce) -> bool:
    """--eval-every-steps: the val loss now, logged as an "eval" event; True when early stopping fires."""
    val = split_loss(p.adapted, p.examples["val"], batch_size=p.cfg.train.batch_size, pad_id=p.pad_id)
    run.log({"event": "eval", "epoch": state.epoch + 1, "step": state.step, "val_loss": val["loss"]})
    announce(f"Epoch: {state.epoch + 1} | Step: {state.step} | val loss {_fmt(val['loss'])}")
    return _observe(p, state, val["loss"], announce)


def _observe(p: Prepared, state: TrainState, val_loss: float | None, announce) -> bool:
    """Count one evaluation for early stopping and --keep-best; True when training should stop."""
    stopper = stopper_for(p.cfg.train, state.stopping)
    counted = stopper.evaluations
    if stopper.observe(val_loss, step=state.step, epoch=state.epoch + 1) and p.cfg.train.keep_best:
        state.best_weights = {n: w.detach().clone() for n, w in p.adapted.named_trainable().items()}
    state.stopping = stopper.progress()
    if stopper.should_stop and stopper.evaluations > counted:
        announce(f"early stopping at step {state.step}: no val-loss improvement in {stopper.patience} evaluations "
                 f"(best {_fmt(stopper.best_loss)} at step {stopper.best_step})")
    return stopper.should_stop


def end_epoch(p: Prepared, run: RunDir, optimizer, state: TrainState, memory: PeakMemory, announce,
              tracking: Tracking = NO_TRACKING) -> None:
    t = p.cfg.train
    val = split_loss(p.adapted, p.examples["val"], batch_size=t.batch_size, pad_id=p.pad_id)
    train_loss = state.epoch_loss_sum / max(state.epoch_tokens, 1)
    per_task = {p.adapted.tasks[int(k)]: s / max(n, 1) for k, (s, n) in sorted(state.epoch_task_sums.items())}
    record = {"epoch": state.epoch + 1, "train_loss": train_loss, "val_loss": val["loss"],
              "time_s": state.epoch_time_s, "peak_memory_mb": max(distributed.gather(memory.peak_mb()))}
    if len(p.adapted.tasks) > 1:
        record |= {"train_loss_per_task": per_task, "val_loss_per_task": val["per_task"]}
    state.history.append(record)
    run.log({"event": "epoch", **record})
    tracking.log_epoch(record, state.step)
    announce(f"Epoch: {state.epoch + 1} | train loss {train_loss:.4f} | val loss {_fmt(val['loss'])} | "
             f"{state.epoch_time_s:.1f} s")
    for task in per_task if len(p.adapted.tasks) > 1 else ():
        announce(f"  {task}: train loss {per_task[task]:.4f} | val loss {_fmt(val['per_task'].get(task))}")
    stop = _observe(p, state, val["loss"], announce)
    state.epoch += 1
    state.batch = 0
    state.epoch_loss_sum, state.epoch_tokens, state.epoch_task_sums, state.epoch_time_s = 0.0, 0, {}, 0.0
    if state.epoch % t.save_interval == 0 or state.epoch == t.epochs or stop:
        save_checkpoint(run, p, optimizer, state)


def finish(p: Prepared, run: RunDir, state: TrainState, peak_mb: float, memory_kind: str) -> dict:
    from .cards import write_card
    from .methods import save_adapter

    if p.cfg.train.keep_best and state.best_weights is not None:
        with torch.no_grad():  # the run is over: its adapter/ holds the best evaluation's weights
            for name, param in p.adapted.named_trainable().items():
                param.copy_(state.best_weights[name])
    peaks = distributed.gather(peak_mb)
    if distributed.is_main():
        save_adapter(p.adapted, run.adapter, p.loaded.path, p.cfg.method)
    trainable, total = count_params(p.adapted)
    last = state.history[-1] if state.history else {}
    metrics = {
        "method": p.cfg.method.method, "tasks": p.adapted.tasks, "model": p.loaded.label,
        "untrained_model": p.loaded.untrained, "trainable_params": trainable, "total_params": total,
        "trainable_pct": 100 * trainable / total,
        "loss": {"train": last.get("train_loss"), "val": last.get("val_loss")},
        "epoch_time_s": sum(h["time_s"] for h in state.history) / max(len(state.history), 1),
        "epoch_times_s": [h["time_s"] for h in state.history], "history": state.history,
        "peak_memory_mb": max(peaks), "peak_memory_mb_per_rank": peaks, "memory_kind": memory_kind,
        "train_tokens_per_s": state.seen_tokens / max(state.train_time_s, 1e-9), "train_tokens": state.seen_tokens,
        "train_tokens_per_s_per_rank": [n / max(state.train_time_s, 1e-9) for n in state.rank_tokens],
        "data": p.data_info, "device": str(p.device), "precision": p.cfg.model.precision,
        "precision_requested": p.precision_requested, "hardware": resolved_settings(p),
        "steps": state.step, "best": stopper_for(p.cfg.train, state.stopping).summary(),
        "adapter_weights": "best" if p.cfg.train.keep_best else "last",
    }
    run.merge_metrics(metrics)
    if distributed.is_main():
        write_card(run.path)
    return metrics


def _warn_if_precision_changed(before: str | None, p: Prepared, announce) -> None:
    """A run started with "auto" on a bf16 machine and resumed on an AVX2 one continues in fp32: it
    still finishes, but it is no longer the run the first epochs belonged to, so say so."""
    if before and before != p.cfg.model.precision:
        announce(f"peftlab: warning: this run trained in {before} so far and continues in {p.cfg.model.precision} "
                 f"on this machine ({probe(p.device).describe()}): its figures mix both precisions")


def _check_same_world(run: RunDir, cfg: RunConfig) -> None:
    """The data order per rank and the size of each update depend on the number of ranks: a run
    continues only with the number it started with."""
    before = run.resolved().get("world_size", 1) if cfg.train.resume else None
    if before is not None and before != distributed.world_size():
        raise UsageError(f"{cfg.train.out} trained on {before} rank(s) so far, this is {distributed.world_size()}: "
                         f"resume it with torchrun --nproc_per_node {before} (or 1 process for 1), or start a new --out")


def _silent(*_args) -> None:
    """What ranks other than 0 print."""


def _check_nonempty(p: Prepared) -> None:
    for split in ("train", "val"):
        if not p.examples[split]:
            raise UsageError(f"the {split} split is empty: give more data or change --split-ratio")


def resolved_settings(p: Prepared) -> dict:
    """What "auto" and the defaults became on this machine: recorded so every figure has its context."""
    hardware = probe(p.device)
    return {"precision": p.cfg.model.precision, "precision_requested": p.precision_requested,
            "device": str(p.device), "device_name": hardware.device_name, "cpu_capability": hardware.cpu_capability,
            "native_bf16": hardware.native_bf16, "threads": torch.get_num_threads(),
            "world_size": distributed.world_size(), "backend": distributed.backend(),
            "global_batch_size": p.cfg.train.batch_size * p.cfg.train.grad_accum * distributed.world_size()}


def _banner(p: Prepared, state: TrainState) -> str:
    trainable, total = count_params(p.adapted)
    sizes = p.data_info["sizes"]
    resumed = f" — resuming at epoch {state.epoch + 1}, step {state.step}" if state.step else ""
    truncated = sum(p.data_info["truncated"].values())
    skipped = sum(n for per_split in p.data_info["skipped"].values() for n in per_split.values())
    return (f"peftlab: {p.cfg.method.method} on {','.join(p.adapted.tasks)} | model {p.loaded.label} | "
            f"trainable {trainable:,} of {total:,} ({100 * trainable / total:.4f}%) | "
            f"data train {sizes['train']} val {sizes['val']} test {sizes['test']} "
            f"({truncated} truncated to --max-length, {skipped} bad rows skipped) | "
            f"{p.device} {precision_text(p.precision_requested, p.cfg.model.precision)} on "
            f"{probe(p.device).describe()}, {torch.get_num_threads()} threads | {distributed.world_size()} rank(s) x "
            f"batch {p.cfg.train.batch_size} x accum {p.cfg.train.grad_accum} = global batch "
            f"{resolved_settings(p)['global_batch_size']}{resumed}")


def _progress(total: int, done: int, epoch: int):
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=f"epoch {epoch + 1}", unit="batch", leave=False)


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4f}"
