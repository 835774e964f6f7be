"""Engines a scheduler places (Slurm jobs), in the supervisor core with a fake launcher:
the `pending` state and what it shows, the URL the job reports, and which clock runs.

In-memory like tests/test_supervisor.py (whose fake launcher this extends): a scheduled
process has no URL until the test "starts the job"; then its URL is a node's, not the one
the supervisor assigned.
"""

from __future__ import annotations

import asyncio

import pytest

from app.arena.engine_status import battle_readiness
from tests.test_supervisor import FakeLauncher, FakeProcess, engines, make_supervisor, until
from tgi.launchers import EngineProcess, ScheduledEngine

pytestmark = pytest.mark.timeout(20)


class FakeJob(FakeProcess):
    """A job: pending until `run()`, then at `http://node-7:<port + 1000>`."""

    position = 3

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.running = False

    def endpoint(self) -> str | None:
        return f"http://node-7:{self.port + 1000}" if self.running else None

    def waiting(self) -> dict[str, object] | None:
        if self.running:
            return None
        return {"job_id": self.pid, "reason": "Resources", "queue_position": self.position}

    def run(self, load_s: float) -> None:
        self.running = True
        self.ready_at = asyncio.get_running_loop().time() + load_s


class FakeScheduler(FakeLauncher):
    name = "fake-slurm"

    async def start(
        self, model_id: str, gpu: int, port: int, *, memory_fraction: float = 1.0
    ) -> EngineProcess:
        plain = await super().start(model_id, gpu, port, memory_fraction=memory_fraction)
        assert isinstance(plain, FakeProcess)
        job = FakeJob(model_id, port, float("inf"), plain.lines)
        self.by_port[port + 1000] = job  # the probe finds it only at the node's URL
        self.procs[-1] = job
        return job


async def test_a_pending_job_is_shown_and_its_reported_url_is_used() -> None:
    launcher = FakeScheduler()
    assert isinstance(FakeJob("m", 1, 0.0, []), ScheduledEngine)
    sup = make_supervisor(launcher, ready_timeout_s=0.3)
    try:
        acquire = asyncio.create_task(sup.acquire(["ms-a", "hp-a"], "battle-1"))
        await until(lambda: len(launcher.procs) == 2, "both jobs submitted")
        await until(lambda: {e["state"] for e in engines(sup).values()} == {"pending"}, "pending")
        status = sup.status()
        engine = engines(sup)["ms-a"]
        assert engine["waiting"] == {
            "job_id": launcher.process_of("ms-a").pid,
            "reason": "Resources",
            "queue_position": 3,
        }
        assert engine["progress"] == 0.0 and engine["eta_seconds"] is None
        readiness = battle_readiness(status, ["ms-a", "hp-a"])
        assert (readiness.state, readiness.queue_position) == ("waiting_gpu", 3)
        # Pending longer than ready_timeout_s: waiting for a GPU is not loading.
        await asyncio.sleep(0.5)
        assert {e["state"] for e in engines(sup).values()} == {"pending"}
        for model in ("ms-a", "hp-a"):
            launcher.process_of(model).run(load_s=0.1)  # type: ignore[attr-defined]
        lease = await asyncio.wait_for(acquire, 5)
        port = {m: launcher.process_of(m).port for m in ("ms-a", "hp-a")}
        assert lease.endpoints == {m: f"http://node-7:{p + 1000}" for m, p in port.items()}
        for engine in engines(sup).values():
            assert engine["state"] == "ready" and engine["waiting"] is None
            assert engine["url"].startswith("http://node-7:")
            # Measured from the job's start (about 0.1 s, less the supervisor's poll), not
            # from its submission: the 0.5 s pending do not count.
            assert 0.0 < engine["load_seconds"] < 0.4
        sup.release(lease.lease_id)
    finally:
        await sup.shutdown()
    assert sorted(launcher.stopped) == ["hp-a", "ms-a"]


async def test_a_job_ended_while_pending_is_relaunched() -> None:
    launcher = FakeScheduler()
    sup = make_supervisor(launcher, max_restarts=2, backoff_s=0.05)
    try:
        sup.prefetch(["ms-a"])
        await until(lambda: engines(sup).get("ms-a", {}).get("state") == "pending", "pending")
        first = launcher.process_of("ms-a")
        first.exit(1)  # cancelled from outside before it ever ran
        await until(lambda: launcher.process_of("ms-a") is not first, "a new job")
        await until(lambda: engines(sup)["ms-a"]["state"] == "pending", "pending again")
        assert engines(sup)["ms-a"]["restarts"] == 1
        assert "exited while loading with code 1" in engines(sup)["ms-a"]["last_error"]
    finally:
        await sup.shutdown()
