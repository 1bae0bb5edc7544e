"""What this machine can do, asked rather than assumed: native bf16, the cores we may use, a stamp.

Why it matters: bf16 halves memory traffic and, where the CPU has AVX512-BF16 or AMX (or the GPU has
bf16 tensor cores), runs matmuls several times faster than fp32. On a CPU without them — AVX2-only
cloud machines, most laptops — torch emulates bf16 and a matmul runs ~100× *slower* than in fp32. So
`--precision auto` (the default) asks torch what the hardware has and picks bf16 only where it is
native; an explicit `--precision bf16` on such a CPU still runs, with a one-line warning.

Threads: torch's default intra-op thread count ignores the process's CPU affinity and container
quota; with more threads than cores, OpenMP workers spin against each other and training slows
tenfold. `configure_threads` sets the count to the cores this process may use (`OMP_NUM_THREADS`
wins when set).
"""

from __future__ import annotations

import math
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import torch

from .config import PRECISIONS
from .errors import UsageError

BF16_CPU_SLOWDOWN = "~10-100x slower than fp32"  # measured: 0.3-1.6 vs 89-147 GFLOP/s on AVX2 (issue 9)


@dataclass(frozen=True)
class Hardware:
    """The facts precision and threads are chosen from; `describe()` is the banner's wording."""

    device_type: str          # "cpu" or "cuda"
    device_name: str          # the CPU model or the GPU name
    cpu_capability: str       # torch's kernel level: "AVX2", "AVX512", "DEFAULT", ...
    native_bf16: bool         # bf16 matmuls run in hardware on this device

    def describe(self) -> str:
        bf16 = "native bf16" if self.native_bf16 else "no native bf16"
        if self.device_type == "cuda":
            return f"{self.device_name} ({bf16})"
        return f"CPU {self.cpu_capability} ({bf16})"


def cpu_native_bf16() -> bool:
    """AVX512-BF16 or AMX tiles, as torch reports them; oneDNN's `_is_mkldnn_bf16_supported` alone is
    not enough, since it also says yes to plain AVX512, where bf16 is emulated."""
    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(bool(probe()) for probe in probes if probe is not None)


def probe(device: torch.device) -> Hardware:
    """The hardware behind `device` (a resolved torch.device)."""
    capability = torch.backends.cpu.get_cpu_capability()
    if device.type == "cuda":
        return Hardware("cuda", torch.cuda.get_device_name(device), capability, bool(torch.cuda.is_bf16_supported()))
    return Hardware("cpu", cpu_name(), capability, cpu_native_bf16())


def resolve_precision(requested: str, device: torch.device, warn: TextIO | None | bool = True) -> str:
    """'auto' -> bf16 where bf16 is native on `device`, else fp32. An explicit bf16 where it is not
    native is honoured with a one-line warning on `warn` (True: the current sys.stderr, looked up at
    the call so a compare child's labelled stream gets it; None: silent)."""
    if requested not in PRECISIONS:
        raise UsageError(f"unknown --precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if device.type == "meta":  # shapes only (parameter counting): nothing runs
        return "fp32" if requested == "auto" else requested
    hardware = probe(device)
    if requested == "auto":
        return "bf16" if hardware.native_bf16 else "fp32"
    if requested == "bf16" and not hardware.native_bf16 and warn is not None:
        warn = sys.stderr if warn is True else warn
        print(f"peftlab: warning: --precision bf16 on {hardware.describe()}: bf16 is emulated here, "
              f"{BF16_CPU_SLOWDOWN}; use --precision fp32 (or auto)", file=warn)
    return requested


def precision_text(requested: str, resolved: str) -> str:
    """'fp32 (auto)' or 'bf16' — the resolved precision, and that it was chosen automatically."""
    return f"{resolved} (auto)" if requested == "auto" else resolved


# ------------------------------------------------------------------ threads

def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_cpu_quota() -> int | None:
    """`cpu.max` of cgroup v2 ("200000 100000" -> 2 cores); None without a quota."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def thread_count() -> int:
    """OMP_NUM_THREADS when it is a positive integer (the user's word), else the usable cores."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return usable_cores()


def configure_threads() -> int:
    """Set torch's intra-op threads for this process (a command's entry point calls it once)."""
    threads = thread_count()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


# ------------------------------------------------------------------ the stamp on every figure

def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str, precision: str, requested: str | None = None) -> dict:
    """Versions and hardware the figures were measured on (results.json, reports, `peftlab env`)."""
    import transformers

    from . import __version__

    resolved = torch.device(device) if device.startswith("cuda") and torch.cuda.is_available() else torch.device("cpu")
    hardware = probe(resolved)
    return {"peftlab": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "platform": platform.platform(), "device": device,
            "device_name": hardware.device_name, "cpu_capability": hardware.cpu_capability,
            "native_bf16": hardware.native_bf16, "cpu_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "precision": precision, "precision_requested": requested or precision}


def env_report() -> dict:
    """Everything a bug report needs, without loading a model (`peftlab env`)."""
    from .models import cache_dir, embedded_status

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    hardware = probe(device)
    return {**environment(str(device), resolve_precision("auto", device, warn=None), "auto"),
            "peft": _version_of("peft"), "cuda_available": torch.cuda.is_available(),
            "cpu_native_bf16": cpu_native_bf16(), "hardware": asdict(hardware),
            "threads_chosen": thread_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "cache_dir": str(cache_dir()), "embedded_model": embedded_status()}


def _version_of(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def format_env(report: dict) -> str:
    """`key: value` lines, the order a reader scans a bug report in."""
    keys = ("peftlab", "torch", "transformers", "peft", "python", "platform", "device", "device_name",
            "cpu_capability", "cpu_native_bf16", "cuda_available", "precision", "cpu_threads", "threads_chosen",
            "omp_num_threads", "cpu_count", "cache_dir", "embedded_model")
    labels = {"precision": "precision auto resolves to", "cpu_threads": "torch threads now",
              "threads_chosen": "threads peftlab uses", "cpu_native_bf16": "native bf16 (CPU)"}
    return "\n".join(f"{labels.get(k, k.replace('_', ' '))}: {_yes_no(report.get(k))}" for k in keys)


def _yes_no(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value is None else str(value)
