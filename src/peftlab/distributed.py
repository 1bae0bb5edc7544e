"""Data parallelism under `torchrun` (or `accelerate launch`, which sets the same environment): ranks,
the process group, and the few collectives a PEFT run needs.

Why no DistributedDataParallel wrapper: only the trainable parameters carry gradients (a soft prompt,
LoRA's matrices, one block), and the step must equal one process with the global batch. So each rank
backpropagates its slice of every global micro-batch with the loss divided by the GLOBAL target-token
count, and after the last micro-batch of an accumulation group the trainable gradients are summed
over ranks in one flat all-reduce (`sum_gradients`) — what DDP's bucketed all-reduce does, with
`no_sync` on the earlier micro-batches. Frozen weights have no gradients and are never sent.

Outside a launcher (no RANK/WORLD_SIZE in the environment) every function here is the identity: one
process is a world of one, with no process group and no communication.

The process group is torch.distributed's own global state; nothing else is kept here.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist

from .errors import UsageError

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class RankLost(UsageError):
    """Another rank died or stopped answering: this rank cannot go on alone."""


def launched() -> bool:
    """True when a launcher (torchrun, accelerate launch, srun + torchrun) started this process as a rank."""
    return all(v in os.environ for v in LAUNCH_VARS)


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def backend() -> str | None:
    """The process group's backend ("nccl", "gloo"), None outside torchrun: recorded with a run's figures."""
    return dist.get_backend() if active() else None


def is_main() -> bool:
    """Rank 0 alone writes logs, checkpoints, metrics, the adapter and prints."""
    return rank() == 0


def backend_for(device: str) -> str:
    """NCCL when the ranks compute on CUDA (one GPU per local rank), gloo on CPU."""
    on_cuda = device != "cpu" and torch.cuda.is_available()
    return "nccl" if on_cuda else "gloo"


@contextmanager
def session(device: str, timeout_s: float, out: str | None = None) -> Iterator[None]:
    """Join the process group when launched as a rank (else do nothing) and leave it at the end. A
    collective that waits longer than `timeout_s` for a dead or hung rank fails instead of hanging, and
    becomes one line naming what happened and how to continue (`RankLost`)."""
    if not launched() or active():
        yield
        return
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))  # "cuda" now means this rank's GPU
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    previous = signal.signal(signal.SIGTERM, _stopped_by_launcher(out))
    try:
        yield
    except (dist.DistError, RuntimeError) as exc:
        if not _is_comm_error(exc):
            raise
        raise RankLost(_lost_message(exc, timeout_s, out)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if active():
            dist.destroy_process_group()


def _is_comm_error(exc: BaseException) -> bool:
    """NCCL raises DistError; gloo a plain RuntimeError whose message starts with its source path
    (`[.../gloo/transport/tcp/pair.cc:537] Read error ...: Connection reset by peer`)."""
    text = str(exc).lower()
    return isinstance(exc, dist.DistError) or "gloo/" in text or "nccl" in text or "processgroup" in text


def _lost_message(exc: BaseException, timeout_s: float, out: str | None) -> str:
    first = re.sub(r"^\[[^\]]*\]\s*", "", str(exc).strip().split("\n")[0]).split(". ")[0][:120] or type(exc).__name__
    return (f"rank {rank()} of {world_size()} lost the other ranks ({first}): a rank died or did not answer "
            f"within --dist-timeout {timeout_s:g} s; {_advice(out)}")


def _advice(out: str | None) -> str:
    """What to do next: a training run continues from its last checkpoint; anything else runs again."""
    if out:
        return f"the last checkpoint in {out} stays loadable: restart the same torchrun command with --resume"
    return "run the same torchrun command again"


def _stopped_by_launcher(out: str | None):
    """torchrun stops the surviving ranks with SIGTERM when one fails (or when it is itself stopped):
    say so in one line and exit."""
    def handler(signum, frame):
        print(f"peftlab: error: rank {rank()} of {world_size()} stopped by the launcher (another rank failed, or "
              f"the job was cancelled); {_advice(out)}", file=sys.stderr, flush=True)
        os._exit(1)  # a collective may be blocked in C++: leave now, the launcher reports the failure
    return handler


def barrier() -> None:
    if active():
        dist.barrier()


def rank_seed(seed: int) -> int:
    """Rank 0 keeps the run's seed (one process is rank 0 of one); other ranks draw their own dropout."""
    return seed if rank() == 0 else seed * 1_000_003 + rank()


def my_slice(indices: list[int], per_rank: int) -> list[int]:
    """This rank's part of a global micro-batch of up to `per_rank * world_size()` examples: contiguous
    slices in rank order, so the last, short batch leaves later ranks with fewer (or no) examples and
    no example is dropped or counted twice."""
    start = rank() * per_rank
    return indices[start:start + per_rank]


def my_turns(count: int) -> list[int]:
    """Which of `count` equal jobs (evaluation batches) this rank does: every world_size()-th one."""
    return list(range(rank(), count, world_size()))


def _comm_device(tensor: torch.Tensor) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum over ranks, on the tensor's own device (identity on one process)."""
    if not active():
        return tensor
    moved = tensor.to(_comm_device(tensor))
    dist.all_reduce(moved, op=dist.ReduceOp.SUM)
    return moved.to(tensor.device)


def sum_gradients(params: list[torch.Tensor]) -> None:
    """Sum the trainable parameters' gradients over ranks in one flat all-reduce (the frozen weights
    have none and are never sent). A parameter no rank touched (a task's prompt absent from the whole
    step) keeps `grad=None`, as in one process, so AdamW leaves it alone."""
    if not active():
        return
    flat = [q.grad.reshape(-1) if q.grad is not None else torch.zeros(q.numel(), device=q.device, dtype=q.dtype)
            for q in params]
    touched = torch.tensor([float(q.grad is not None) for q in params], device=params[0].device, dtype=params[0].dtype)
    total = sum_over_ranks(torch.cat(flat + [touched]))
    offset = 0
    for i, q in enumerate(params):
        q.grad = total[offset:offset + q.numel()].view_as(q).clone() if total[-len(params) + i] > 0 else None
        offset += q.numel()


def broadcast_params(params: list[torch.Tensor]) -> None:
    """Every rank starts from rank 0's trainable weights (as DDP does when it wraps a model)."""
    if not active():
        return
    with torch.no_grad():
        for q in params:
            moved = q.detach().to(_comm_device(q))
            dist.broadcast(moved, src=0)
            q.copy_(moved.to(q.device))


def gather(value: Any) -> list[Any]:
    """One picklable value per rank, in rank order, on every rank ([value] on one process). For small
    things: texts, figures, RNG states — never weights."""
    if not active():
        return [value]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


# ------------------------------------------------------------------ RNG state, one per rank

def rng_state() -> dict[str, torch.Tensor]:
    """This process's RNG states: the CPU one, and the CUDA one of this rank's own GPU (all GPUs when
    alone: a single process may have drawn on any of them)."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        if active():
            state["cuda"] = torch.cuda.get_rng_state()
        else:
            state |= {f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    return state


def gathered_rng_states() -> dict[str, torch.Tensor]:
    """Every rank's RNG states, for rank 0 to save: rank 0's under their plain names (so a one-process
    checkpoint is unchanged), rank r's as `rank{r}.NAME`."""
    states = gather(rng_state())
    return states[0] | {f"rank{r}.{k}": v for r, s in enumerate(states[1:], 1) for k, v in s.items()}


def restore_rng_state(saved: dict[str, torch.Tensor]) -> None:
    """Set this rank's RNG states from a checkpoint's `gathered_rng_states`."""
    prefix = f"rank{rank()}." if rank() else ""
    mine = {k.removeprefix(prefix): v for k, v in saved.items() if k.startswith(prefix) and (prefix or "." not in k)}
    torch.set_rng_state(mine["cpu"])
    if torch.cuda.is_available():
        if "cuda" in mine:
            torch.cuda.set_rng_state(mine["cuda"])
        cuda = [mine[k] for k in sorted(mine) if k.startswith("cuda") and k != "cuda"]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
