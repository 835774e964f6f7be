"""The supervisor's `GET /metrics`: engine states, load times, leases, queue, launches.

Read from `Supervisor.status()` at scrape time, so the numbers are the ones `/status`
shows and nothing is counted twice; the conversion is `app.core.metrics.engine_families`,
which the web app uses for the same families seen from its side. `GET /health` stays the
supervisor's liveness and readiness check: it answers as soon as the API can take leases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tornado.web import RequestHandler

from app.core.metrics import engine_families
from app.core.prometheus import CONTENT_TYPE, Family, render

if TYPE_CHECKING:
    from tgi.supervisor import Supervisor

PREFIX = "oellm_arena_supervisor"


def supervisor_families(supervisor: Supervisor) -> list[Family]:
    status = supervisor.status()
    launches = Family(
        f"{PREFIX}_launches_total", "counter", "Engine launches, first starts and restarts"
    )
    launches.add(float(status.get("launches") or 0))
    leases = Family(f"{PREFIX}_leases", "gauge", "Leases held by battles now")
    leases.add(float(status.get("leases") or 0))
    memory = Family(f"{PREFIX}_gpu_memory_used_gb", "gauge", "GPU memory held by engines")
    capacity = Family(f"{PREFIX}_gpu_engine_capacity", "gauge", "Engines that fit on the GPU")
    for slot in status.get("slots") or []:
        gpu = str(slot.get("gpu"))
        memory.add(float(slot.get("memory_used_gb") or 0), gpu=gpu)
        capacity.add(float(slot.get("capacity") or 0), gpu=gpu)
    return [*engine_families(status, PREFIX, with_up=False), launches, leases, memory, capacity]


class SupervisorMetricsHandler(RequestHandler):
    def initialize(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.set_header("Cache-Control", "no-store")
        self.finish(render(supervisor_families(self.supervisor)))
