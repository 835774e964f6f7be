"""Which engines fit on a GPU, and which to evict to make room: residency by memory.

Every engine gets a fixed share of its GPU's memory (it is told so at launch: TGI's
`--cuda-memory-fraction`, vLLM's `--gpu-memory-utilization`), so the supervisor can keep
as many models resident per GPU as their shares fit, and returning to a recent language
costs nothing.

A model's share is, in order: a configured size (`model_memory_gb`, by model id or glob
pattern), else an estimate from its size: bf16 weights (2 bytes per parameter) plus a
headroom for the KV cache, CUDA graphs and the runtime. The models here are ~2.15B
parameters (4.3 GB of weights), so the default is about 16 GB: four engines on an 80 GB
GPU, each with room for a few dozen full 2048-token sequences at once.

Eviction takes the least recently used engines without leases, never one the request
itself needs, and only as many as needed; if even that does not make room, the request
waits (`choose_victims` answers None).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tgi.engine import Engine

BYTES_PER_PARAM = 2  # bf16
DEFAULT_PARAMS_B = 2.15  # HPLT 2.0 and MultiSynt models are ~2.15B Llama-style models
# A size token of its own (`2B-1TT`, `Llama-3.1-8B`), not part of a word (`tower9b`).
_SIZE_IN_NAME = re.compile(r"(?:^|[-_])(\d+(?:\.\d+)?)[Bb](?=$|[-_])")


def params_billion(model_id: str) -> float:
    """Parameters in billions, from a size in the name (`2B-1TT-...`) or the family default."""
    match = _SIZE_IN_NAME.search(model_id.rsplit("/", 1)[-1])
    return float(match.group(1)) if match else DEFAULT_PARAMS_B


@dataclass(frozen=True)
class MemoryModel:
    """GPU capacities and model sizes, in GB."""

    gpu_memory_gb: float | Sequence[float] = 80.0
    reserve_gb: float = 2.0  # per GPU, never handed to engines (driver, fragmentation)
    headroom_gb: float = 12.0  # per engine, on top of the weights
    overrides: Mapping[str, float] = field(default_factory=dict)  # model id or glob -> GB
    max_engines: int | None = None  # an extra cap per GPU (`models_per_gpu`)

    def total_gb(self, gpu: int) -> float:
        if isinstance(self.gpu_memory_gb, int | float):
            return float(self.gpu_memory_gb)
        sizes = list(self.gpu_memory_gb)
        return float(sizes[gpu] if gpu < len(sizes) else sizes[-1])

    def capacity_gb(self, gpu: int) -> float:
        """What engines on `gpu` may use together."""
        return max(0.0, self.total_gb(gpu) - self.reserve_gb)

    def model_gb(self, model_id: str) -> float:
        if model_id in self.overrides:
            return float(self.overrides[model_id])
        for pattern, size in self.overrides.items():
            if fnmatch.fnmatchcase(model_id, pattern):
                return float(size)
        return round(params_billion(model_id) * BYTES_PER_PARAM + self.headroom_gb, 2)

    def fraction(self, model_id: str, gpu: int) -> float:
        """The engine's share of the whole GPU, rounded down to 0.01 (at least 0.01)."""
        share = self.model_gb(model_id) / max(self.total_gb(gpu), 1e-9)
        return min(1.0, max(0.01, math.floor(share * 100) / 100))

    def engines_fitting(self, gpu: int, model_gb: float | None = None) -> int:
        """How many engines of `model_gb` (default: a default-sized model) fit on `gpu`."""
        size = model_gb or self.model_gb("")
        count = int(self.capacity_gb(gpu) // size) if size > 0 else 0
        return count if self.max_engines is None else min(count, self.max_engines)

    def check_fits(self, gpu: int, models: Sequence[str]) -> str | None:
        """Why `models` can never be resident together on `gpu`; None if they can."""
        need = sum(self.model_gb(m) for m in models)
        if need > self.capacity_gb(gpu) + 1e-9:
            return (
                f"{', '.join(models)} need {need:.1f} GB on GPU {gpu}, which has "
                f"{self.capacity_gb(gpu):.1f} GB for engines (gpu_memory_gb - reserve)"
            )
        if self.max_engines is not None and len(models) > self.max_engines:
            return (
                f"{len(models)} models requested on GPU {gpu}, which holds "
                f"{self.max_engines} (models_per_gpu)"
            )
        return None


def choose_victims(
    resident: Sequence[Engine],
    need_gb: Sequence[float],
    keep: set[str],
    capacity_gb: float,
    max_engines: int | None,
) -> list[Engine] | None:
    """The engines to evict, least recently used first, so that `need_gb` fits.

    Only engines without leases and not in `keep` may go. An empty list: it fits as is.
    None: it does not fit even after evicting every candidate (wait for leases to end).
    """
    used = sum(e.memory_gb for e in resident)
    count = len(resident)

    def fits() -> bool:
        memory_ok = used + sum(need_gb) <= capacity_gb + 1e-9
        return memory_ok and (max_engines is None or count + len(need_gb) <= max_engines)

    candidates = sorted(
        (e for e in resident if not e.leases and e.model_id not in keep),
        key=lambda e: e.last_used,
    )
    victims: list[Engine] = []
    for engine in candidates:
        if fits():
            break
        victims.append(engine)
        used -= engine.memory_gb
        count -= 1
    return victims if fits() else None
