"""The web app's metrics: battles, votes, stream latency, and the engines' states.

Counters and histograms are `prometheus_client` metrics in this module's own registry
(`REGISTRY`, not the library's global one, so nothing else lands in `/metrics` and tests can
read it); they live in this process and restart at zero with it, as Prometheus expects.
Engine states and load times are not counted here: they are read from the engine
directory's status (the supervisor's `GET /status`) when `/metrics` is scraped, so they are
exactly as fresh as the supervisor; `EngineStatusCollector` turns a status into metric
families and the supervisor's own `/metrics` uses it too.

Events are counted by plain functions that the battle runner (`app/arena/battle.py`) and the
arena session call: `battle_started`, `models_waited`, `battle_finished`, `vote_recorded`.
Model ids appear only as labels of engine metrics, which nginx does not expose publicly:
a voter who could read them would learn which models are loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.core.store.records import BattleRecord

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what `generate_latest` writes
PREFIX = "oellm_arena"
ENGINE_STATES = ("pending", "loading", "ready", "restarting", "failed", "stopping")
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60)
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600)

# No `<name>_created` series (a start timestamp per counter and label set): in the text
# format they are extra gauges that would double the series docs/deploy.md lists, and
# Prometheus detects counter resets without them. The switch is process-wide; the web
# app and the supervisor are the only users of prometheus_client in their processes.
disable_created_metrics()

REGISTRY = CollectorRegistry()
BATTLES_STARTED = Counter(
    f"{PREFIX}_battles_started_total",
    "Battles started (Generate pressed)",
    ["language"],
    registry=REGISTRY,
)
BATTLES_COMPLETED = Counter(
    f"{PREFIX}_battles_completed_total",
    "Battles whose two texts completed",
    ["language"],
    registry=REGISTRY,
)
BATTLES_FAILED = Counter(
    f"{PREFIX}_battles_failed_total",
    "Battles that failed: engines (models not available), stream (a side failed), "
    "cancelled (the voter moved on), internal (a bug)",
    ["language", "reason"],
    registry=REGISTRY,
)
BATTLES_UNLOGGED = Counter(
    f"{PREFIX}_battles_unlogged_total",
    "Battles the battle log could not store (the voter was told; see the app log)",
    ["language"],
    registry=REGISTRY,
)
VOTES = Counter(f"{PREFIX}_votes_total", "Votes stored, by verdict", ["winner"], registry=REGISTRY)
VOTES_REFUSED = Counter(
    f"{PREFIX}_votes_refused_total",
    "Votes refused (the battle already had one, or none)",
    registry=REGISTRY,
)
MODELS_WAIT = Histogram(
    f"{PREFIX}_models_wait_seconds",
    "Time a battle waited for its two models (leases; includes engine loading)",
    buckets=WAIT_BUCKETS,
    registry=REGISTRY,
)
STREAM_TTFT = Histogram(
    f"{PREFIX}_stream_first_token_seconds",
    "Request start to first token, per side that produced text",
    ["family"],
    buckets=TTFT_BUCKETS,
    registry=REGISTRY,
)
STREAM_DURATION = Histogram(
    f"{PREFIX}_stream_duration_seconds",
    "Request start to last token, per side that produced text",
    ["family"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)


def render(status: Mapping[str, Any] | None) -> bytes:
    """The web app's `/metrics` (text format 0.0.4): this process's counters and
    histograms, then the engine families of `status` (None: the directory is unreachable)."""
    return generate_latest(REGISTRY) + generate_latest(EngineStatusCollector(status))


def sample_value(name: str, **labels: str) -> float:
    """The current value of sample `name` with `labels` (0 before the first event)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- events -------------------------------------------------------------------------


def battle_started(language: str) -> None:
    BATTLES_STARTED.labels(language=language).inc()


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
        STREAM_TTFT.labels(family=family).observe(ttft_s)
        if duration_s is not None:
            STREAM_DURATION.labels(family=family).observe(duration_s)


def battle_finished(record: BattleRecord) -> None:
    """A battle ended and was logged: count its outcome and both sides' latency."""
    if record.status == "completed":
        BATTLES_COMPLETED.labels(language=record.language).inc()
    else:
        BATTLES_FAILED.labels(record.language, failure_reason(record.error)).inc()
    for family, ttft_ms, duration_ms in (
        (record.family_a, record.ttft_ms_a, record.duration_ms_a),
        (record.family_b, record.ttft_ms_b, record.duration_ms_b),
    ):
        observe_stream(family, _seconds(ttft_ms), _seconds(duration_ms))


def battle_unlogged(language: str) -> None:
    BATTLES_UNLOGGED.labels(language=language).inc()


def vote_recorded(winner: str, accepted: bool) -> None:
    if accepted:
        VOTES.labels(winner=winner).inc()
    else:
        VOTES_REFUSED.inc()


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


# ---- engines, from a status ---------------------------------------------------------


class EngineStatusCollector(Collector):
    """The engine families of one engine directory status (None: the directory is
    unreachable), as gauges; `with_up` adds `<prefix>_engine_directory_up`, 1 if the status
    could be read. The caller reads the status once per scrape (the web app awaits it, the
    supervisor asks itself), so every family shows the same moment."""

    def __init__(
        self, status: Mapping[str, Any] | None, prefix: str = PREFIX, with_up: bool = True
    ) -> None:
        self.status = status
        self.prefix = prefix
        self.with_up = with_up

    def collect(self) -> Iterator[Metric]:
        status, prefix = self.status, self.prefix
        if self.with_up:
            yield GaugeMetricFamily(
                f"{prefix}_engine_directory_up",
                "1 if the engine status was read",
                value=0.0 if status is None else 1.0,
            )
        per_engine = ["gpu", "model"]
        state = GaugeMetricFamily(
            f"{prefix}_engine_state",
            "1 for the engine's current state, 0 for the others",
            labels=[*per_engine, "state"],
        )
        load = GaugeMetricFamily(
            f"{prefix}_engine_load_seconds", "Launch to ready, last load", labels=per_engine
        )
        restarts = GaugeMetricFamily(
            f"{prefix}_engine_restarts", "Restarts of the current engine", labels=per_engine
        )
        leases = GaugeMetricFamily(
            f"{prefix}_engine_leases", "Battles holding the engine now", labels=per_engine
        )
        expected = GaugeMetricFamily(
            f"{prefix}_engine_expected_load_seconds",
            "Load-time estimate from measured loads (what voters are told)",
            labels=["model"],
        )
        queue = GaugeMetricFamily(
            f"{prefix}_queue_length", "Battles waiting for room on a GPU", labels=[]
        )
        for slot in (status or {}).get("slots") or []:
            gpu = "" if slot.get("gpu") is None else str(slot.get("gpu"))
            for engine in slot.get("engines") or []:
                labels = [gpu, str(engine.get("model", ""))]
                current = str(engine.get("state", ""))
                names = ENGINE_STATES if current in ENGINE_STATES else (*ENGINE_STATES, current)
                for name in names:
                    state.add_metric([*labels, name], 1.0 if name == current else 0.0)
                if isinstance(engine.get("load_seconds"), int | float):
                    load.add_metric(labels, float(engine["load_seconds"]))
                if isinstance(engine.get("restarts"), int):
                    restarts.add_metric(labels, float(engine["restarts"]))
                if isinstance(engine.get("leases"), int):
                    leases.add_metric(labels, float(engine["leases"]))
        if status is not None:
            for model, seconds in sorted((status.get("expected_load_seconds") or {}).items()):
                if isinstance(seconds, int | float):
                    expected.add_metric([str(model)], float(seconds))
            queue.add_metric([], float(len(status.get("queue") or [])))
        yield from (state, load, restarts, leases, expected, queue)
