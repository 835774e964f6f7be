"""How much memory each GPU has, for the residency model (`tgi.residency.MemoryModel`).

An explicit `supervisor.gpu_memory_gb` always wins. Unset, launchers that run engines on
this machine's GPUs (tgi, vllm, command) ask `nvidia-smi` for every GPU's `memory.total`;
the stand-in (no GPU) and Slurm (the GPUs are on other nodes) use `DEFAULT_GB`, as does a
machine without a working nvidia-smi, with a log line that says so.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable

from app.core.settings import Settings

log = logging.getLogger("tgi.supervisor")

DEFAULT_GB = 80.0
QUERY = ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"]
LOCAL_GPU_LAUNCHERS = ("tgi", "vllm", "command")

Runner = Callable[[list[str]], str]


def _run(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=20).stdout


def query_gpu_memory_gb(run: Runner = _run) -> list[float] | None:
    """Every GPU's total memory in GB (nvidia-smi reports MiB), or None with the reason
    logged when nvidia-smi is missing, fails or prints something else."""
    try:
        out = run(QUERY)
    except FileNotFoundError:
        log.warning("nvidia-smi not found: GPU memory taken as %.0f GB per GPU", DEFAULT_GB)
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed (%s): GPU memory taken as %.0f GB", exc, DEFAULT_GB)
        return None
    try:
        sizes = [round(float(line) / 1024, 1) for line in out.split() if line.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        log.warning("nvidia-smi said %r: GPU memory taken as %.0f GB", out.strip(), DEFAULT_GB)
        return None
    return sizes


def gpu_memory_gb(settings: Settings, run: Runner = _run) -> float | list[float]:
    """The memory per GPU the supervisor plans with (see the module docs)."""
    sup = settings.supervisor
    if sup.gpu_memory_gb is not None:
        return sup.gpu_memory_gb
    if sup.launcher not in LOCAL_GPU_LAUNCHERS:
        return DEFAULT_GB
    sizes = query_gpu_memory_gb(run)
    if sizes is None:
        return DEFAULT_GB
    log.info("GPU memory from nvidia-smi: %s GB", ", ".join(f"{s:g}" for s in sizes))
    return sizes
