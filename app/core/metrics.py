"""The web app's metrics: battles, votes, stream latency, and the engines' states.

Counters live in this process and restart at zero with it, as Prometheus expects of
counters. Engine states and load times are not counted here: they are read from the
engine directory's status (the supervisor's `GET /status`) when `/metrics` is scraped, so
they are exactly as fresh as the supervisor; `engine_families` turns a status into
metric families and the supervisor's own `/metrics` uses it too.

Events are counted by plain functions that the battle runner (`app/arena/battle.py`) and the
arena session call: `battle_started`, `models_waited`, `battle_finished`, `vote_recorded`.
Model ids appear only as labels of engine metrics, which nginx does not expose publicly:
a voter who could read them would learn which models are loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app.core.prometheus import Family, Registry

if TYPE_CHECKING:
    from app.core.store.records import BattleRecord

log = logging.getLogger(__name__)

PREFIX = "oellm_arena"
ENGINE_STATES = ("loading", "ready", "restarting", "failed", "stopping")
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60)
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600)

REGISTRY = Registry()
BATTLES_STARTED = REGISTRY.counter(
    f"{PREFIX}_battles_started_total", "Battles started (Generate pressed)", ["language"]
)
BATTLES_COMPLETED = REGISTRY.counter(
    f"{PREFIX}_battles_completed_total", "Battles whose two texts completed", ["language"]
)
BATTLES_FAILED = REGISTRY.counter(
    f"{PREFIX}_battles_failed_total",
    "Battles that failed: engines (models not available), stream (a side failed), "
    "cancelled (the voter moved on), internal (a bug)",
    ["language", "reason"],
)
BATTLES_UNLOGGED = REGISTRY.counter(
    f"{PREFIX}_battles_unlogged_total",
    "Battles the battle log could not store (the voter was told; see the app log)",
    ["language"],
)
VOTES = REGISTRY.counter(f"{PREFIX}_votes_total", "Votes stored, by verdict", ["winner"])
VOTES_REFUSED = REGISTRY.counter(
    f"{PREFIX}_votes_refused_total", "Votes refused (the battle already had one, or none)"
)
MODELS_WAIT = REGISTRY.histogram(
    f"{PREFIX}_models_wait_seconds",
    "Time a battle waited for its two models (leases; includes engine loading)",
    WAIT_BUCKETS,
)
STREAM_TTFT = REGISTRY.histogram(
    f"{PREFIX}_stream_first_token_seconds",
    "Request start to first token, per side that produced text",
    TTFT_BUCKETS,
    ["family"],
)
STREAM_DURATION = REGISTRY.histogram(
    f"{PREFIX}_stream_duration_seconds",
    "Request start to last token, per side that produced text",
    DURATION_BUCKETS,
    ["family"],
)


# ---- events -------------------------------------------------------------------------


def battle_started(language: str) -> None:
    BATTLES_STARTED.inc(language=language)


def models_waited(seconds: float) -> None:
    MODELS_WAIT.observe(max(0.0, seconds))


def failure_reason(error: str | None) -> str:
    """The coarse reason of a failed battle, from the error the battle log stores."""
    head = (error or "").split(":", 1)[0].strip()
    if head == "engines":
        return "engines"
    if head in ("a", "b"):
        return "stream"
    if head in ("cancelled", "internal"):
        return head
    return "other"


def observe_stream(family: str, ttft_s: float | None, duration_s: float | None) -> None:
    """One side's stream latency (skipped for a side that produced no token)."""
    if ttft_s is not None:
        STREAM_TTFT.observe(ttft_s, family=family)
        if duration_s is not None:
            STREAM_DURATION.observe(duration_s, family=family)


def battle_finished(record: BattleRecord) -> None:
    """A battle ended and was logged: count its outcome and both sides' latency."""
    if record.status == "completed":
        BATTLES_COMPLETED.inc(language=record.language)
    else:
        BATTLES_FAILED.inc(language=record.language, reason=failure_reason(record.error))
    for family, ttft_ms, duration_ms in (
        (record.family_a, record.ttft_ms_a, record.duration_ms_a),
        (record.family_b, record.ttft_ms_b, record.duration_ms_b),
    ):
        observe_stream(family, _seconds(ttft_ms), _seconds(duration_ms))


def battle_unlogged(language: str) -> None:
    BATTLES_UNLOGGED.inc(language=language)


def vote_recorded(winner: str, accepted: bool) -> None:
    if accepted:
        VOTES.inc(winner=winner)
    else:
        VOTES_REFUSED.inc()


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


# ---- engines, from a status ---------------------------------------------------------


def engine_families(
    status: Mapping[str, Any] | None, prefix: str = PREFIX, with_up: bool = True
) -> list[Family]:
    """Metric families from an engine directory status (None: the directory is unreachable);
    `with_up` adds `<prefix>_engine_directory_up`, 1 if the status could be read."""
    up = Family(f"{prefix}_engine_directory_up", "gauge", "1 if the engine status was read")
    up.add(0.0 if status is None else 1.0)
    state = Family(
        f"{prefix}_engine_state", "gauge", "1 for the engine's current state, 0 for the others"
    )
    load = Family(f"{prefix}_engine_load_seconds", "gauge", "Launch to ready, last load")
    restarts = Family(f"{prefix}_engine_restarts", "gauge", "Restarts of the current engine")
    leases = Family(f"{prefix}_engine_leases", "gauge", "Battles holding the engine now")
    expected = Family(
        f"{prefix}_engine_expected_load_seconds",
        "gauge",
        "Load-time estimate from measured loads (what voters are told)",
    )
    queue = Family(f"{prefix}_queue_length", "gauge", "Battles waiting for room on a GPU")
    families = [*([up] if with_up else []), state, load, restarts, leases, expected, queue]
    if status is None:
        return families
    for slot in status.get("slots") or []:
        gpu = "" if slot.get("gpu") is None else str(slot.get("gpu"))
        for engine in slot.get("engines") or []:
            labels = {"gpu": gpu, "model": str(engine.get("model", ""))}
            current = str(engine.get("state", ""))
            for name in ENGINE_STATES if current in ENGINE_STATES else (*ENGINE_STATES, current):
                state.add(1.0 if name == current else 0.0, **labels, state=name)
            if isinstance(engine.get("load_seconds"), int | float):
                load.add(float(engine["load_seconds"]), **labels)
            if isinstance(engine.get("restarts"), int):
                restarts.add(float(engine["restarts"]), **labels)
            if isinstance(engine.get("leases"), int):
                leases.add(float(engine["leases"]), **labels)
    for model, seconds in sorted((status.get("expected_load_seconds") or {}).items()):
        if isinstance(seconds, int | float):
            expected.add(float(seconds), model=str(model))
    queue.add(float(len(status.get("queue") or [])))
    return families
