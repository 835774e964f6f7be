"""The supervisor's `GET /metrics`: engine states, load times, leases, queue, launches.

Read from `Supervisor.status()` at scrape time, so the numbers are the ones `/status`
shows and nothing is counted twice: `SupervisorCollector` is a prometheus_client collector
that reads the status once per scrape and yields the engine families of
`app.core.metrics.EngineStatusCollector` (the web app shows the same families from its
side) plus the supervisor's own. `GET /health` stays the supervisor's liveness and
readiness check: it answers as soon as the API can take leases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from tornado.web import RequestHandler

from app.core.metrics import CONTENT_TYPE, EngineStatusCollector

if TYPE_CHECKING:
    from tgi.supervisor import Supervisor

PREFIX = "oellm_arena_supervisor"


class SupervisorCollector(Collector):
    """The supervisor's metric families, from one `status()` per scrape."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        status = self.supervisor.status()
        yield from EngineStatusCollector(status, PREFIX, with_up=False).collect()
        yield CounterMetricFamily(
            f"{PREFIX}_launches_total",
            "Engine launches, first starts and restarts",
            value=float(status.get("launches") or 0),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_leases", "Leases held by battles now", value=float(status.get("leases") or 0)
        )
        memory = GaugeMetricFamily(
            f"{PREFIX}_gpu_memory_used_gb", "GPU memory held by engines", labels=["gpu"]
        )
        capacity = GaugeMetricFamily(
            f"{PREFIX}_gpu_engine_capacity", "Engines that fit on the GPU", labels=["gpu"]
        )
        for slot in status.get("slots") or []:
            gpu = str(slot.get("gpu"))
            memory.add_metric([gpu], float(slot.get("memory_used_gb") or 0))
            capacity.add_metric([gpu], float(slot.get("capacity") or 0))
        yield from (memory, capacity)


class SupervisorMetricsHandler(RequestHandler):
    def initialize(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(generate_latest(SupervisorCollector(self.supervisor)))
