"""The supervisor's record of one engine: its state, port, leases, timings and last output.

One `Engine` per model placed in a slot. It survives restarts (same port, same URL, so a
lease handed out before a crash stays valid; only if another process has bound the port
meanwhile does the relaunch move to a free one) and is replaced only when the model is
launched afresh after eviction or after it was given up as `failed`.

States: `pending` (a scheduler such as Slurm has not started it: no GPU free yet),
`loading` (launched, not ready yet), `ready`, `restarting` (it crashed or stopped
answering; waiting out the backoff before the next launch), `failed` (given up; the error
and the last log lines say why) and `stopping` (evicted or shut down). Engines that can
sleep (vLLM's sleep mode, `tgi.sleep_control`) also go `falling_asleep` (evicted; its GPU
memory is being freed), `asleep` (the process lives, holding host memory, not GPU
memory) and `waking` (a request needs it: back on the GPU in about a second).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tgi.launchers import ScheduledEngine

if TYPE_CHECKING:
    from tgi.launchers import EngineProcess

LOG_TAIL_LINES = 20  # shown in /status and in errors


class EngineState(StrEnum):
    PENDING = "pending"  # a scheduler (Slurm) has not started it yet: no GPU free
    LOADING = "loading"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPING = "stopping"
    FALLING_ASLEEP = "falling_asleep"
    ASLEEP = "asleep"
    WAKING = "waking"


# Holding (or about to hold) GPU memory. An engine falling asleep is not: the placement
# that evicted it already counts its memory as free, and waits for the sleep to finish.
RESIDENT_STATES = (
    EngineState.PENDING,
    EngineState.LOADING,
    EngineState.READY,
    EngineState.RESTARTING,
    EngineState.WAKING,
)
SLEEPING_STATES = (EngineState.FALLING_ASLEEP, EngineState.ASLEEP)


@dataclass(eq=False)
class Engine:
    """One model served on one GPU slot, across its restarts."""

    model_id: str
    gpu: int
    port: int
    url: str
    memory_gb: float = 0.0
    memory_fraction: float = 1.0  # the share of the GPU the engine is told it may use
    host_memory_gb: float = 0.0  # host memory it holds asleep (its weights at level 1)
    state: EngineState = EngineState.LOADING
    process: EngineProcess | None = None
    leases: dict[str, str] = field(default_factory=dict)  # lease id -> holder
    loading_since: float | None = None  # wall time the current launch started
    load_seconds: float | None = None  # launch to ready, last successful launch
    load_started: float | None = None  # monotonic: a scheduled engine's start on its node
    ready_since: float | None = None
    last_used: float = field(default_factory=time.time)
    error: str | None = None  # why it failed for good
    last_error: str | None = None  # why it last crashed (restarted since)
    failed_at: float | None = None
    final_log: list[str] | None = None  # the output of the last failed launch
    restarts: int = 0
    failures: int = 0  # consecutive failures, reset once it stays up long enough
    retry_at: float | None = None  # while restarting: when the next launch starts
    healthy: bool = True
    health_failures: int = 0
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # ready, failed or stopping
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    asleep_since: float | None = None
    sleeps: int = 0  # times put to sleep
    transition: asyncio.Task[None] | None = None  # falling asleep or waking

    @property
    def resident(self) -> bool:
        """Holds (or is about to hold) its share of the GPU's memory."""
        return self.state in RESIDENT_STATES

    @property
    def sleeping(self) -> bool:
        """Asleep or falling asleep: its process lives, holding host memory."""
        return self.state in SLEEPING_STATES

    def log_tail(self, n: int = LOG_TAIL_LINES) -> list[str]:
        if self.final_log is not None:
            return self.final_log[-n:]
        return self.process.log_tail(n) if self.process else []

    def elapsed(self, now: float) -> float | None:
        """Seconds into the current launch or wake (0 while it waits for the GPU to be
        freed)."""
        if self.state not in (EngineState.LOADING, EngineState.WAKING):
            return None
        return max(0.0, now - self.loading_since) if self.loading_since else 0.0

    def progress(self, expected_s: float, now: float) -> float | None:
        """Loading progress in [0, 1] from the expected load time; None when not loading."""
        if self.state is EngineState.READY:
            return 1.0
        if self.state in (EngineState.RESTARTING, EngineState.PENDING):
            return 0.0
        elapsed = self.elapsed(now)
        if elapsed is None:
            return None
        return round(min(0.99, elapsed / max(expected_s, 0.1)), 3)

    def as_status(self, expected_load_s: float, now: float) -> dict[str, Any]:
        elapsed = self.elapsed(now)
        eta = max(0.0, expected_load_s - elapsed) if elapsed is not None else None
        if self.state is EngineState.RESTARTING and self.retry_at is not None:
            eta = max(0.0, self.retry_at - now) + expected_load_s
        show_log = self.state in (EngineState.FAILED, EngineState.RESTARTING)
        waiting = None
        if self.state is EngineState.PENDING and isinstance(self.process, ScheduledEngine):
            waiting = self.process.waiting()
        return {
            "model": self.model_id,
            "state": str(self.state),
            "url": self.url,
            "port": self.port,
            "pid": self.process.pid if self.process else None,
            "memory_gb": self.memory_gb,
            "host_memory_gb": self.host_memory_gb if self.sleeping else 0.0,
            "asleep_since": self.asleep_since if self.state is EngineState.ASLEEP else None,
            "sleeps": self.sleeps,
            "leases": len(self.leases),
            "holders": sorted(set(self.leases.values())),
            "loading_since": self.loading_since,
            "loading_elapsed_s": round(elapsed, 2) if elapsed is not None else None,
            "load_seconds": self.load_seconds,
            "expected_load_seconds": round(expected_load_s, 2),
            "progress": self.progress(expected_load_s, now),
            "eta_seconds": round(eta, 1) if eta is not None else None,
            "last_used": self.last_used,
            "healthy": self.healthy,
            "restarts": self.restarts,
            "retry_at": self.retry_at if self.state is EngineState.RESTARTING else None,
            "error": self.error,
            "last_error": self.last_error,
            "log_tail": self.log_tail() if show_log else [],
            "waiting": waiting,  # pending: {"job_id", "reason", "queue_position"}
        }
