"""Metrics and health: the exposed families, battle and vote counting, readiness checks."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application

from app.core import metrics
from app.core.metrics import CONTENT_TYPE
from app.core.registry import load_registry
from app.core.store.battle_store import BattleStore
from app.core.store.records import BattleRecord
from app.web.health import CHECKS, ROUTES, readiness
from tgi.supervisor_metrics import SupervisorMetricsHandler


def _record(**changes: Any) -> BattleRecord:
    base = BattleRecord(
        battle_id="b1",
        created_at=datetime.now(UTC),
        language="swe",
        prompt="Det var en gång",
        model_a="MultiSynt/nemotron-cc-swedish-opus",
        model_b="HPLT/hplt2c_swe_checkpoints",
        family_a="multisynt",
        family_b="hplt",
        response_a=" en katt",
        response_b=" en hund",
        ttft_ms_a=120.0,
        ttft_ms_b=300.0,
        duration_ms_a=2500.0,
        duration_ms_b=4000.0,
        tokens_a=112,
        tokens_b=112,
        status="completed",
        session_hash="h",
        source="arena",
    )
    return replace(base, **changes)


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{sample} not in:\n{text}")


def test_battles_votes_and_latency_are_counted_by_outcome() -> None:
    value = metrics.sample_value
    swe_done = value("oellm_arena_battles_completed_total", language="swe")
    ttft_hplt = value("oellm_arena_stream_first_token_seconds_count", family="hplt")
    metrics.battle_finished(_record())
    metrics.battle_finished(
        _record(status="failed", error="engines: no room", ttft_ms_a=None, ttft_ms_b=None)
    )
    metrics.battle_finished(_record(status="failed", error="b: overloaded", ttft_ms_b=None))
    assert value("oellm_arena_battles_completed_total", language="swe") == swe_done + 1
    assert value("oellm_arena_battles_failed_total", language="swe", reason="engines") >= 1
    assert value("oellm_arena_battles_failed_total", language="swe", reason="stream") >= 1
    # The side without tokens gives no latency sample.
    assert value("oellm_arena_stream_first_token_seconds_count", family="hplt") == ttft_hplt + 1
    votes = value("oellm_arena_votes_total", winner="tie")
    metrics.vote_recorded("tie", accepted=True)
    metrics.vote_recorded("tie", accepted=False)
    assert value("oellm_arena_votes_total", winner="tie") == votes + 1
    assert value("oellm_arena_votes_refused_total") >= 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("engines: unavailable", "engines"),
        ("a: stream ended", "stream"),
        ("b: overloaded: 429", "stream"),
        ("cancelled: the voter moved on", "cancelled"),
        ("internal: KeyError: x", "internal"),
        (None, "other"),
    ],
)
def test_failure_reasons(error: str | None, reason: str) -> None:
    assert metrics.failure_reason(error) == reason


STATUS = {
    "slots": [
        {
            "gpu": 0,
            "capacity": 4,
            "memory_used_gb": 16.3,
            "engines": [
                {
                    "model": "m/ready",
                    "state": "ready",
                    "load_seconds": 42.5,
                    "restarts": 1,
                    "leases": 2,
                },
                {"model": "m/odd", "state": "weird", "load_seconds": None, "leases": 0},
            ],
        },
        {"gpu": 1, "capacity": 4, "memory_used_gb": 0, "engines": []},
    ],
    "queue": [{"position": 1}],
    "leases": 2,
    "launches": 3,
    "expected_load_seconds": {"m/ready": 40.0},
}


def test_engine_families_from_a_status_and_from_no_status() -> None:
    text = generate_latest(metrics.EngineStatusCollector(STATUS)).decode()
    assert _value(text, "oellm_arena_engine_directory_up") == 1
    ready = 'oellm_arena_engine_state{gpu="0",model="m/ready",state="ready"}'
    assert _value(text, ready) == 1
    assert _value(text, ready.replace('"ready"}', '"failed"}')) == 0
    assert _value(text, 'oellm_arena_engine_state{gpu="0",model="m/odd",state="weird"}') == 1
    assert _value(text, 'oellm_arena_engine_load_seconds{gpu="0",model="m/ready"}') == 42.5
    assert 'model="m/odd"' not in text.split("engine_load_seconds", 1)[1].split("# HELP")[0]
    assert _value(text, 'oellm_arena_engine_expected_load_seconds{model="m/ready"}') == 40
    assert _value(text, "oellm_arena_queue_length") == 1
    down = generate_latest(metrics.EngineStatusCollector(None)).decode()
    assert _value(down, "oellm_arena_engine_directory_up") == 0
    assert "oellm_arena_engine_state{" not in down


async def test_the_supervisor_metrics_over_http_are_read_at_scrape_time() -> None:
    class FakeSupervisor:
        launches = 3

        def status(self) -> dict[str, Any]:
            return {**STATUS, "launches": self.launches}

    supervisor = FakeSupervisor()
    app = Application([("/metrics", SupervisorMetricsHandler, {"supervisor": supervisor})])
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            scraped = await client.get("/metrics")
            assert scraped.headers["content-type"] == CONTENT_TYPE
            assert scraped.headers["cache-control"] == "no-store"
            text = scraped.text
            assert _value(text, "oellm_arena_supervisor_launches_total") == 3
            assert _value(text, 'oellm_arena_supervisor_gpu_memory_used_gb{gpu="0"}') == 16.3
            engine = '{gpu="0",model="m/ready"}'
            assert _value(text, f"oellm_arena_supervisor_engine_leases{engine}") == 2
            assert "engine_directory_up" not in text
            types = {f.name: f.type for f in text_string_to_metric_families(text)}
            assert types["oellm_arena_supervisor_launches"] == "counter"
            assert types["oellm_arena_supervisor_gpu_engine_capacity"] == "gauge"
            supervisor.launches = 4
            again = (await client.get("/metrics")).text
            assert _value(again, "oellm_arena_supervisor_launches_total") == 4
    finally:
        server.stop()
        await server.close_all_connections()


# The families docs/deploy.md lists, with their types: a rename breaks dashboards and alerts.
DOCUMENTED = {
    "oellm_arena_battles_started": "counter",
    "oellm_arena_battles_completed": "counter",
    "oellm_arena_battles_failed": "counter",
    "oellm_arena_battles_unlogged": "counter",
    "oellm_arena_votes": "counter",
    "oellm_arena_votes_refused": "counter",
    "oellm_arena_models_wait_seconds": "histogram",
    "oellm_arena_stream_first_token_seconds": "histogram",
    "oellm_arena_stream_duration_seconds": "histogram",
    "oellm_arena_engine_directory_up": "gauge",
    "oellm_arena_engine_state": "gauge",
    "oellm_arena_engine_load_seconds": "gauge",
    "oellm_arena_engine_expected_load_seconds": "gauge",
    "oellm_arena_engine_restarts": "gauge",
    "oellm_arena_engine_leases": "gauge",
    "oellm_arena_queue_length": "gauge",
}


def test_the_app_exposes_the_documented_families_and_labels() -> None:
    metrics.battle_started("swe")
    metrics.models_waited(0.3)
    metrics.battle_finished(_record(status="failed", error="b: overloaded"))
    metrics.vote_recorded("tie", accepted=True)
    text = metrics.render(STATUS).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {name: f.type for name, f in families.items()} == DOCUMENTED
    labels = {name: set().union(*(s.labels for s in f.samples)) for name, f in families.items()}
    assert labels["oellm_arena_battles_failed"] == {"language", "reason"}
    assert labels["oellm_arena_votes"] == {"winner"}
    assert labels["oellm_arena_stream_first_token_seconds"] == {"family", "le"}
    assert labels["oellm_arena_engine_state"] == {"gpu", "model", "state"}
    assert labels["oellm_arena_engine_expected_load_seconds"] == {"model"}
    assert "_created" not in text  # no start-time series next to the documented ones
    bucket = 'oellm_arena_models_wait_seconds_bucket{le="0.5"}'
    assert _value(text, bucket) >= 1
    assert _value(text, 'oellm_arena_models_wait_seconds_bucket{le="+Inf"}') >= _value(text, bucket)


# ---- the seams and readiness, with a real store and a fake directory ----------------


@dataclass
class FakeLease:
    endpoints: dict[str, str]


class FakeDirectory:
    def __init__(self, status: dict[str, Any] | None = None) -> None:
        self._status = status

    async def acquire(self, models: list[str], holder: str) -> FakeLease:
        return FakeLease({m: "http://engine" for m in models})

    async def status(self) -> dict[str, Any] | None:
        return self._status


@dataclass
class FakeServices:
    store: BattleStore
    directory: Any
    registry: Any


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with BattleStore(tmp_path / "arena.duckdb") as s:
        yield s


async def test_ready_when_the_log_takes_writes_and_the_supervisor_answers(
    store: BattleStore,
) -> None:
    ok = await readiness(FakeServices(store, FakeDirectory({"slots": []}), None))  # type: ignore[arg-type]
    assert ok["ready"] is True
    assert set(ok["checks"]) == set(CHECKS) == {"database", "engines"}

    down = await readiness(FakeServices(store, FakeDirectory(None), None))  # type: ignore[arg-type]
    assert down["ready"] is False
    assert down["checks"]["database"]["ok"] is True
    assert "supervisor" in down["checks"]["engines"]["error"]


async def test_not_ready_when_the_log_cannot_be_written(
    store: BattleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == store.path else real_access(p, mode)
    )
    report = await readiness(FakeServices(store, FakeDirectory({}), None))  # type: ignore[arg-type]
    assert report["ready"] is False
    assert "not writable" in report["checks"]["database"]["error"]


async def test_a_hanging_check_fails_readiness_in_bounded_time(
    store: BattleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    class HangingDirectory(FakeDirectory):
        async def status(self) -> dict[str, Any] | None:
            await asyncio.Event().wait()
            return None

    monkeypatch.setattr("app.web.health.CHECK_TIMEOUT_S", 0.2)
    report = await readiness(FakeServices(store, HangingDirectory(), None))  # type: ignore[arg-type]
    assert report["checks"]["engines"] == {
        "ok": False,
        "ms": report["checks"]["engines"]["ms"],
        "error": "no answer within 0.2 s",
    }
    assert report["checks"]["database"]["ok"] is True


async def test_the_endpoints_over_http(store: BattleStore) -> None:
    up = FakeServices(store, FakeDirectory(STATUS), load_registry())
    down = FakeServices(store, FakeDirectory(None), load_registry())
    app = Application(
        [route(up) for route in ROUTES]
        + [(f"/down{p}", h, kw) for p, h, kw in (route(down) for route in ROUTES)]
    )
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            live = await client.get("/healthz")
            assert (live.status_code, live.text) == (200, "ok\n")
            assert live.headers["cache-control"] == "no-store"
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            scraped = await client.get("/metrics")
            assert scraped.headers["content-type"] == CONTENT_TYPE
            assert _value(scraped.text, "oellm_arena_engine_directory_up") == 1
            assert "oellm_arena_battles_started_total" in scraped.text
            # Through a proxy (nginx, a Space): not for the public.
            for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
                hidden = await client.get("/metrics", headers={header: "for=198.51.100.7"})
                assert hidden.status_code == 404 and "engine" not in hidden.text

            not_ready = await client.get("/down/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"]["engines"]["ok"] is False
            assert "supervisor" in not_ready.json()["checks"]["engines"]["error"]
            public = await client.get("/down/readyz", headers={"X-Forwarded-For": "1.2.3.4"})
            assert public.status_code == 503
            assert public.json()["checks"]["engines"] == {"ok": False, "ms": ANY}
            assert (await client.get("/down/healthz")).status_code == 200
            scraped = await client.get("/down/metrics")
            assert _value(scraped.text, "oellm_arena_engine_directory_up") == 0
    finally:
        server.stop()
        await server.close_all_connections()
