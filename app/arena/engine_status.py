"""The state of a battle's models, read from the supervisor's `/status`.

A voter picks a language, not a model: the page must say "Loading the Finnish models,
about 40 s" and keep `Generate` disabled until both models of the coming battle are
ready, without ever naming them (the battle is blind). `battle_readiness` turns a
`/status` document (the supervisor's, or `RemoteDirectory.status()` of the same shape)
and the battle's model ids into a small `Readiness` value; `app.arena.round_prep` words it
in the voter's interface language. `StatusPoller` fetches `/status` for every session of
the server process at most once per interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.arena.engines import EngineDirectory

State = Literal[
    "ready",
    "waking",
    "loading",
    "restarting",
    "queued",
    "waiting_gpu",
    "not_loaded",
    "failed",
    "unknown",
]

# When the two models of a battle differ, the voter hears about the one that is furthest
# from ready: a failure first, then waiting in line, then loading, then waking (a sleeping
# engine back on the GPU in about a second).
_PRIORITY: dict[State, int] = {
    "failed": 8,
    "unknown": 7,
    "queued": 6,
    "waiting_gpu": 5,  # a scheduler (Slurm) has not started the engine: no GPU free yet
    "not_loaded": 4,
    "restarting": 3,
    "loading": 2,
    "waking": 1,
    "ready": 0,
}
_ENGINE_STATES = {
    "ready": "ready",
    "waking": "waking",
    "loading": "loading",
    "restarting": "restarting",
    "pending": "waiting_gpu",
}
_ASLEEP = ("asleep", "falling_asleep")


@dataclass(frozen=True)
class Readiness:
    """The voter-facing state of one battle's models (never their names)."""

    state: State
    ready: bool = False  # `Generate` may be enabled
    progress: float | None = None  # 0..1 while loading
    eta_s: float | None = None  # seconds until ready, estimated
    queue_position: int | None = None  # 1 = next in line


def battle_readiness(status: Mapping[str, Any] | None, models: Sequence[str]) -> Readiness:
    """The state of `models` (a battle's pair) in `status`."""
    if status is None:
        return Readiness("unknown")
    if status.get("launcher") == "static":
        return Readiness("ready", True, 1.0, 0.0)
    engines = [e for slot in status.get("slots") or [] for e in slot.get("engines") or []]
    per_model = [_model_state(status, engines, m) for m in models]
    state = max((s for s, _, _ in per_model), key=_PRIORITY.__getitem__, default="unknown")
    progress = min((p for _, p, _ in per_model if p is not None), default=None)
    etas = [eta for _, _, eta in per_model if eta is not None]
    eta = max(etas) if etas else None
    if state == "ready":
        return Readiness("ready", True, 1.0, 0.0)
    if state == "failed":
        return Readiness("failed")
    if state == "queued":
        position = _queue_position(status.get("queue") or [], models)
        return Readiness("queued", progress=0.0, queue_position=position)
    if state == "waiting_gpu":
        position = _gpu_queue_position(engines, models)
        return Readiness("waiting_gpu", progress=0.0, queue_position=position)
    if state == "not_loaded":
        return Readiness("not_loaded", progress=0.0, eta_s=eta)
    if state in ("restarting", "loading", "waking"):
        return Readiness(state, progress=progress, eta_s=eta)
    return Readiness("unknown")


def resident_models(status: Mapping[str, Any] | None) -> set[str]:
    """Models with an engine ready, loading or waking: `loaded` for
    `app.arena.matchmaking`."""
    if status is None:
        return set()
    return {
        e["model"]
        for slot in status.get("slots") or []
        for e in slot.get("engines") or []
        if e.get("state") in ("ready", "loading", "waking") and "model" in e
    }


def _model_state(
    status: Mapping[str, Any], engines: Iterable[Mapping[str, Any]], model: str
) -> tuple[State, float | None, float | None]:
    """(state, progress, eta) of one model; its best engine counts (replicas, restarts)."""
    mine = [e for e in engines if e.get("model") == model and e.get("state") != "stopping"]
    for wanted in ("ready", "waking", "loading", "restarting", "pending"):
        found = [e for e in mine if e.get("state") == wanted]
        if found:
            best = min(found, key=lambda e: e.get("eta_seconds") or 0.0)
            return _ENGINE_STATES[wanted], best.get("progress"), best.get("eta_seconds")  # type: ignore[return-value]
    if any(model in (q.get("models") or []) for q in status.get("queue") or []):
        return "queued", 0.0, None
    if mine and all(e.get("state") == "failed" for e in mine):
        return "failed", None, None
    if any(e.get("state") in _ASLEEP for e in mine):  # a request wakes it: its wake time
        wake = (status.get("expected_wake_seconds") or {}).get(model)
        return "not_loaded", 0.0, wake if wake is not None else 1.0
    if mine:
        return "unknown", None, None
    expected = (status.get("expected_load_seconds") or {}).get(model)
    if expected is None:
        expected = status.get("typical_load_seconds")
    return "not_loaded", 0.0, expected


def _gpu_queue_position(engines: Iterable[Mapping[str, Any]], models: Sequence[str]) -> int | None:
    """The furthest place in the scheduler's queue among the battle's pending engines."""
    positions = [
        int((e.get("waiting") or {}).get("queue_position") or 0)
        for e in engines
        if e.get("model") in models and e.get("state") == "pending"
    ]
    return max(positions) if positions and min(positions) > 0 else None


def _queue_position(queue: Sequence[Mapping[str, Any]], models: Sequence[str]) -> int | None:
    for i, entry in enumerate(queue):
        if set(entry.get("models") or []) & set(models):
            return int(entry.get("position") or i + 1)
    return None


class StatusPoller:
    """`/status` for every session of one server process, fetched at most once per
    `interval_s` however many voters are waiting (keep one in `pn.state.cache`)."""

    def __init__(self, directory: EngineDirectory, interval_s: float = 1.0) -> None:
        self.directory = directory
        self.interval_s = interval_s
        self._status: dict[str, Any] | None = None
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        loop = asyncio.get_running_loop()
        return self._fetched_at is not None and loop.time() - self._fetched_at < self.interval_s

    async def latest(self) -> dict[str, Any] | None:
        """The last `/status`, fetched now if older than the interval (None: unavailable)."""
        if self._fresh():
            return self._status
        async with self._lock:  # one fetch in flight; the others wait and reuse it
            if not self._fresh():
                self._status = await self.directory.status()
                self._fetched_at = asyncio.get_running_loop().time()
        return self._status
