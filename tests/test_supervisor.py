"""Slot, lease, LRU and queue logic of the supervisor, with an in-memory fake launcher.

No processes and no sockets: the fake launcher's "engines" become ready after a set load
time, and the fake probe asks the launcher instead of making HTTP calls.

Why this module is long: it is the supervisor's specification, one test per rule of
admission, eviction, leases and restarts, over one fake launcher (which
tests/test_engine_status.py reuses); split, the rules would be read in two places.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import fields

import pytest

from tgi.engine_runner import Lifecycle
from tgi.launchers import EngineProcess
from tgi.load_history import LoadHistory
from tgi.residency import MemoryModel
from tgi.supervisor import (
    AcquireTimeout,
    BadRequest,
    EngineFailed,
    ShuttingDown,
    Supervisor,
    UnknownLease,
    UnknownModel,
)

pytestmark = pytest.mark.timeout(20)

FAMILIES = {
    **{f"ms-{x}": "multisynt" for x in "abcde"},
    **{f"hp-{x}": "hplt" for x in "abcde"},
}


def family_of(model_id: str) -> str:
    return FAMILIES[model_id]


class FakeProcess:
    def __init__(self, model_id: str, port: int, ready_at: float, lines: list[str]) -> None:
        self.model_id = model_id
        self.port = port
        self.ready_at = ready_at
        self.lines = lines
        self.exit_code: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def pid(self) -> int | None:
        return 100_000 + self.port

    @property
    def returncode(self) -> int | None:
        return self.exit_code.result() if self.exit_code.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self.exit_code)

    def log_tail(self, n: int = 20) -> list[str]:
        return self.lines[-n:]

    def exit(self, code: int) -> None:
        if not self.exit_code.done():
            self.exit_code.set_result(code)


class FakeLauncher:
    """Engines that load for `load_s`; `crash` models exit at once, `hang` never get ready,
    `sick` ones stop answering probes once ready."""

    name = "fake"

    def __init__(
        self, load_s: float = 0.05, crash: set[str] | None = None, hang: set[str] | None = None
    ) -> None:
        self.load_s = load_s
        self.crash = crash or set()
        self.hang = hang or set()
        self.sick: set[str] = set()
        self.started: list[str] = []
        self.start_times: list[float] = []
        self.stopped: list[str] = []
        self.by_port: dict[int, FakeProcess] = {}
        self.fractions: dict[str, float] = {}
        self.procs: list[FakeProcess] = []

    async def start(
        self, model_id: str, gpu: int, port: int, *, memory_fraction: float = 1.0
    ) -> EngineProcess:
        loop = asyncio.get_running_loop()
        self.started.append(model_id)
        self.start_times.append(loop.time())
        self.fractions[model_id] = memory_fraction
        ready_at = float("inf") if model_id in self.hang else loop.time() + self.load_s
        lines = [f"{model_id}: line {i}" for i in range(30)]
        proc = FakeProcess(model_id, port, ready_at, lines)
        if model_id in self.crash:
            proc.lines.append("CUDA out of memory")
            loop.call_later(0.01, proc.exit, 1)
        self.by_port[port] = proc
        self.procs.append(proc)
        return proc

    async def stop(self, engine: EngineProcess, grace_s: float) -> None:
        assert isinstance(engine, FakeProcess)
        if engine.returncode is None:
            self.stopped.append(engine.model_id)
        engine.exit(-15)

    async def probe(self, url: str, model_id: str) -> str | None:
        proc = self.by_port.get(int(url.rsplit(":", 1)[1]))
        if proc is None or proc.returncode is not None:
            return "connection refused"
        assert proc.model_id == model_id
        if asyncio.get_running_loop().time() < proc.ready_at:
            return "loading"
        return "no answer" if model_id in self.sick else None

    def process_of(self, model_id: str) -> FakeProcess:
        """The latest process launched for `model_id`."""
        return [p for p in self.procs if p.model_id == model_id][-1]


LIFECYCLE_FIELDS = {f.name for f in fields(Lifecycle)}


def make_supervisor(launcher: FakeLauncher, **kwargs: object) -> Supervisor:
    """A supervisor on the fake launcher; `Lifecycle` fields may be given as keywords."""
    timing: dict = {
        "ready_timeout_s": 5.0,
        "poll_interval_s": 0.01,
        "stop_grace_s": 0.5,
        "health_interval_s": 0.02,
        "max_restarts": 0,
        "backoff_s": 0.01,
        **{k: v for k, v in kwargs.items() if k in LIFECYCLE_FIELDS},
    }
    options: dict = {
        "gpus": 2,
        "models_per_gpu": 2,
        "first_engine_port": 39100,
        "acquire_timeout_s": 5.0,
        "failed_retry_after_s": 0.0,
        **{k: v for k, v in kwargs.items() if k not in LIFECYCLE_FIELDS},
    }
    return Supervisor(
        launcher,
        family_of=family_of,
        probe=launcher.probe,
        lifecycle=Lifecycle(**timing),
        **options,
    )


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
async def sup(launcher: FakeLauncher) -> AsyncIterator[Supervisor]:
    supervisor = make_supervisor(launcher)
    yield supervisor
    await supervisor.shutdown()


def engines(sup: Supervisor) -> dict[str, dict]:
    return {e["model"]: e for slot in sup.status()["slots"] for e in slot["engines"]}


async def use(sup: Supervisor, *models: str) -> None:
    """Acquire and release at once: loads the models and marks them recently used."""
    sup.release((await sup.acquire(list(models), "test")).lease_id)


async def test_acquire_places_one_model_per_slot_and_release(sup: Supervisor) -> None:
    lease = await sup.acquire(["ms-a", "hp-a"], "battle-1")
    assert set(lease.endpoints) == {"ms-a", "hp-a"}
    assert lease.endpoints["ms-a"] != lease.endpoints["hp-a"]
    status = sup.status()
    assert [s["family"] for s in status["slots"]] == ["multisynt", "hplt"]
    assert [e["model"] for e in status["slots"][0]["engines"]] == ["ms-a"]
    assert [e["model"] for e in status["slots"][1]["engines"]] == ["hp-a"]
    for engine in engines(sup).values():
        assert engine["state"] == "ready"
        assert engine["leases"] == 1 and engine["holders"] == ["battle-1"]
        assert engine["load_seconds"] is not None and engine["loading_since"] is not None
    assert status["leases"] == 1 and status["launcher"] == "fake"
    sup.release(lease.lease_id)
    assert all(e["leases"] == 0 for e in engines(sup).values())
    with pytest.raises(UnknownLease):
        sup.release(lease.lease_id)


async def test_one_gpu_puts_everything_in_slot_zero(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, gpus=1)
    try:
        lease = await sup.acquire(["ms-a", "hp-a"], "b")
        assert len(sup.status()["slots"]) == 1
        assert {e["model"] for e in sup.status()["slots"][0]["engines"]} == set(lease.endpoints)
    finally:
        await sup.shutdown()


async def test_unknown_model_and_too_many_models(sup: Supervisor) -> None:
    with pytest.raises(UnknownModel, match="nope/model") as err:
        await sup.acquire(["ms-a", "nope/model"], "b")
    assert err.value.http_status == 404
    with pytest.raises(BadRequest, match="models_per_gpu"):
        await sup.acquire(["ms-a", "ms-b", "ms-c"], "b")
    with pytest.raises(BadRequest):
        await sup.acquire([], "b")


async def test_lru_engine_is_evicted(sup: Supervisor, launcher: FakeLauncher) -> None:
    await use(sup, "ms-a")
    await use(sup, "ms-b")
    await use(sup, "ms-a")  # now ms-b is the least recently used
    await use(sup, "ms-c")
    assert launcher.stopped == ["ms-b"]
    assert set(engines(sup)) == {"ms-a", "ms-c"}
    assert launcher.started == ["ms-a", "ms-b", "ms-c"]


async def test_leased_engine_is_never_evicted(sup: Supervisor, launcher: FakeLauncher) -> None:
    held = await sup.acquire(["ms-a"], "long-battle")  # oldest, but leased
    await use(sup, "ms-b")
    await use(sup, "ms-c")
    await use(sup, "ms-d")
    assert "ms-a" not in launcher.stopped
    assert launcher.stopped == ["ms-b", "ms-c"]
    assert engines(sup)["ms-a"]["state"] == "ready"
    sup.release(held.lease_id)


async def test_request_waits_while_every_engine_is_leased(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, models_per_gpu=1)
    try:
        held = await sup.acquire(["ms-a"], "battle-1")
        waiting = asyncio.create_task(sup.acquire(["ms-b"], "battle-2"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        assert [q["holder"] for q in sup.status()["queue"]] == ["battle-2"]
        assert launcher.stopped == []
        sup.release(held.lease_id)
        lease = await asyncio.wait_for(waiting, 2)
        assert list(lease.endpoints) == ["ms-b"]
        assert launcher.stopped == ["ms-a"]
        assert sup.status()["queue"] == []
    finally:
        await sup.shutdown()


async def test_queue_is_first_come_first_served_per_slot(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, models_per_gpu=1)
    try:
        held = await sup.acquire(["ms-a"], "battle-1")
        order: list[str] = []

        async def battle(model: str, holder: str) -> None:
            lease = await sup.acquire([model], holder)
            order.append(holder)
            await asyncio.sleep(0.05)
            sup.release(lease.lease_id)

        first = asyncio.create_task(battle("ms-b", "battle-2"))
        await asyncio.sleep(0.02)
        # ms-a is resident, but battle-2 waits for this slot first: no overtaking.
        second = asyncio.create_task(battle("ms-a", "battle-3"))
        await asyncio.sleep(0.05)
        assert order == []
        sup.release(held.lease_id)
        await asyncio.wait_for(asyncio.gather(first, second), 3)
        assert order == ["battle-2", "battle-3"]
        # the other slot is never blocked by this one
        await asyncio.wait_for(use(sup, "hp-a"), 1)
    finally:
        await sup.shutdown()


async def test_concurrent_acquires_share_one_load(sup: Supervisor, launcher: FakeLauncher) -> None:
    leases = await asyncio.gather(*(sup.acquire(["ms-a", "hp-a"], f"b{i}") for i in range(5)))
    assert launcher.started.count("ms-a") == 1 and launcher.started.count("hp-a") == 1
    assert len({lease.endpoints["ms-a"] for lease in leases}) == 1
    assert engines(sup)["ms-a"]["leases"] == 5
    for lease in leases:
        sup.release(lease.lease_id)


async def test_acquire_times_out_waiting_for_a_slot(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, models_per_gpu=1)
    try:
        held = await sup.acquire(["ms-a"], "battle-1")
        with pytest.raises(AcquireTimeout, match="ms-b") as err:
            await sup.acquire(["ms-b"], "battle-2", timeout_s=0.1)
        assert err.value.http_status == 504
        assert sup.status()["queue"] == []
        sup.release(held.lease_id)
        await use(sup, "ms-b")  # nothing left behind blocks the slot
    finally:
        await sup.shutdown()


async def test_acquire_times_out_while_loading(launcher: FakeLauncher) -> None:
    launcher.load_s = 1.0
    sup = make_supervisor(launcher)
    try:
        with pytest.raises(AcquireTimeout, match="still loading"):
            await sup.acquire(["ms-a"], "impatient", timeout_s=0.1)
        assert engines(sup)["ms-a"]["state"] == "loading"
        assert engines(sup)["ms-a"]["leases"] == 0  # the reservation was dropped
        lease = await sup.acquire(["ms-a"], "patient")  # the same load continues
        assert launcher.started == ["ms-a"]
        sup.release(lease.lease_id)
    finally:
        await sup.shutdown()


async def test_failed_launch_reports_log_tail_and_can_be_relaunched(launcher: FakeLauncher) -> None:
    launcher.crash = {"ms-a"}
    sup = make_supervisor(launcher)
    try:
        with pytest.raises(EngineFailed, match=r"ms-a.*exited while loading with code 1") as err:
            await sup.acquire(["ms-a", "hp-a"], "battle-1")
        assert err.value.http_status == 503
        assert err.value.log_tail[-1] == "CUDA out of memory"
        assert len(err.value.log_tail) == 20
        failed = engines(sup)["ms-a"]
        assert failed["state"] == "failed" and "code 1" in failed["error"]
        assert failed["log_tail"][-1] == "CUDA out of memory"
        assert engines(sup)["hp-a"]["leases"] == 0
        launcher.crash = set()
        lease = await sup.acquire(["ms-a", "hp-a"], "battle-2")
        assert launcher.started.count("ms-a") == 2
        assert engines(sup)["ms-a"]["state"] == "ready"
        sup.release(lease.lease_id)
    finally:
        await sup.shutdown()


async def test_engine_not_ready_in_time_is_stopped_and_failed(launcher: FakeLauncher) -> None:
    launcher.hang = {"hp-a"}
    sup = make_supervisor(launcher, ready_timeout_s=0.2)
    try:
        with pytest.raises(EngineFailed, match="not ready after"):
            await sup.acquire(["hp-a"], "battle-1")
        assert launcher.stopped == ["hp-a"]
        assert engines(sup)["hp-a"]["state"] == "failed"
    finally:
        await sup.shutdown()


async def test_engine_dying_after_ready_is_recorded(
    sup: Supervisor, launcher: FakeLauncher
) -> None:
    await use(sup, "ms-a")
    proc = next(p for p in launcher.by_port.values() if p.model_id == "ms-a")
    proc.exit(137)
    await asyncio.sleep(0.05)
    engine = engines(sup)["ms-a"]
    assert engine["state"] == "failed" and "unexpectedly with code 137" in engine["error"]
    await use(sup, "ms-a")
    assert engines(sup)["ms-a"]["state"] == "ready"


async def test_prefetch_loads_without_lease(sup: Supervisor, launcher: FakeLauncher) -> None:
    assert sup.prefetch(["ms-a", "hp-a"]) == {"ms-a": "launched", "hp-a": "launched"}
    assert sup.prefetch(["ms-a"]) == {"ms-a": "loading"}
    await asyncio.sleep(0.15)
    assert {e["state"] for e in engines(sup).values()} == {"ready"}
    assert all(e["leases"] == 0 for e in engines(sup).values())
    with pytest.raises(UnknownModel):
        sup.prefetch(["nope"])
    held = [await sup.acquire([m], "b") for m in ("ms-a", "ms-b")]
    assert sup.prefetch(["ms-c"]) == {"ms-c": "busy"}  # no idle engine to make room
    for lease in held:
        sup.release(lease.lease_id)


async def test_shutdown_stops_engines_and_fails_waiters(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, models_per_gpu=1)
    await sup.acquire(["ms-a", "hp-a"], "battle-1")
    waiting = asyncio.create_task(sup.acquire(["ms-b"], "battle-2"))
    await asyncio.sleep(0.05)
    await sup.shutdown()
    with pytest.raises(ShuttingDown):
        await waiting
    assert sorted(launcher.stopped) == ["hp-a", "ms-a"]
    assert all(p.returncode is not None for p in launcher.by_port.values())
    with pytest.raises(ShuttingDown):
        await sup.acquire(["ms-a"], "late")


async def until(predicate: Callable[[], object], what: str, timeout_s: float = 5.0) -> None:
    """Poll `predicate` until it is true, failing after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


# --- restarts, health, failures -------------------------------------------------------------


async def test_crashed_engine_is_restarted_on_the_same_url(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, max_restarts=2, backoff_s=0.05)
    try:
        lease = await sup.acquire(["ms-a"], "battle-1")
        first = launcher.process_of("ms-a")
        first.exit(137)
        await until(lambda: engines(sup)["ms-a"]["state"] == "restarting", "restarting")
        engine = engines(sup)["ms-a"]
        assert "unexpectedly with code 137" in engine["last_error"]
        assert engine["log_tail"][-1] == "ms-a: line 29" and engine["retry_at"] is not None
        await until(lambda: engines(sup)["ms-a"]["state"] == "ready", "ready again")
        engine = engines(sup)["ms-a"]
        assert engine["restarts"] == 1 and engine["url"] == lease.endpoints["ms-a"]
        assert launcher.process_of("ms-a") is not first
        assert engine["leases"] == 1  # the battle's lease survived the restart
        sup.release(lease.lease_id)
        assert sup.status()["launches"] == 2
    finally:
        await sup.shutdown()


async def test_relaunch_moves_off_a_port_another_process_took(
    launcher: FakeLauncher, caplog: pytest.LogCaptureFixture
) -> None:
    sup = make_supervisor(launcher, max_restarts=2, backoff_s=0.2)
    try:
        lease = await sup.acquire(["ms-a"], "battle-1")
        old_url = lease.endpoints["ms-a"]
        old_port = int(old_url.rsplit(":", 1)[1])
        sup.release(lease.lease_id)
        with socket.socket() as squatter:  # e.g. an outgoing connection given that port
            squatter.bind(("127.0.0.1", old_port))
            squatter.listen()
            launcher.process_of("ms-a").exit(137)
            await until(lambda: engines(sup)["ms-a"]["state"] == "restarting", "restarting")
            await until(lambda: engines(sup)["ms-a"]["state"] == "ready", "ready again")
        engine = engines(sup)["ms-a"]
        assert engine["restarts"] == 1 and engine["url"] != old_url
        new_port = int(engine["url"].rsplit(":", 1)[1])
        assert launcher.by_port[new_port] is launcher.process_of("ms-a")
        assert f"port {old_port} of ms-a is taken by another process" in caplog.text
        again = await sup.acquire(["ms-a"], "battle-2")
        assert again.endpoints["ms-a"] == engine["url"]  # new battles get the new URL
        sup.release(again.lease_id)
    finally:
        await sup.shutdown()


async def test_repeated_failure_backs_off_then_fails(launcher: FakeLauncher) -> None:
    launcher.crash = {"ms-a"}
    sup = make_supervisor(launcher, max_restarts=2, backoff_s=0.05, failed_retry_after_s=30)
    try:
        with pytest.raises(EngineFailed, match="gave up after 2 restarts") as err:
            await sup.acquire(["ms-a"], "battle-1")
        assert "exited while loading with code 1" in str(err.value)
        assert err.value.log_tail[-1] == "CUDA out of memory"
        assert launcher.started == ["ms-a"] * 3
        t = launcher.start_times
        assert t[2] - t[1] > 1.5 * (t[1] - t[0]) > 0.07  # 0.05 s, then 0.1 s: it doubles
        # Asked again at once: refused without a fourth launch, with the same reason.
        with pytest.raises(EngineFailed, match="tried again 30 s after") as again:
            await sup.acquire(["ms-a", "hp-a"], "battle-2")
        assert again.value.log_tail[-1] == "CUDA out of memory"
        assert sup.prefetch(["ms-a"]) == {"ms-a": "failed"}
        assert launcher.started.count("ms-a") == 3 and "hp-a" not in launcher.started
    finally:
        await sup.shutdown()


async def test_engine_that_stops_answering_is_restarted(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, max_restarts=1, unhealthy_after=2)
    try:
        await use(sup, "ms-a")
        launcher.sick = {"ms-a"}
        await until(lambda: "ms-a" in launcher.stopped, "the unhealthy engine to be stopped")
        launcher.sick = set()
        await until(lambda: engines(sup)["ms-a"]["state"] == "ready", "ready again")
        engine = engines(sup)["ms-a"]
        assert engine["restarts"] == 1 and engine["healthy"] is True
        assert "stopped answering health checks (no answer)" in engine["last_error"]
    finally:
        await sup.shutdown()


async def test_unhealthy_engine_is_not_stopped_while_leased(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, max_restarts=1, unhealthy_after=2)
    try:
        lease = await sup.acquire(["ms-a"], "streaming-battle")
        launcher.sick = {"ms-a"}
        engine = sup.slots[0].engines["ms-a"]
        await until(lambda: engine.health_failures >= 6, "several failed health checks")
        assert launcher.stopped == [] and engine.state.value == "ready"
        assert engines(sup)["ms-a"]["healthy"] is False
        sup.release(lease.lease_id)
        await until(lambda: launcher.stopped == ["ms-a"], "the restart once released")
    finally:
        await sup.shutdown()


# --- leases ----------------------------------------------------------------------------------


async def test_lease_expires_so_a_crashed_app_cannot_pin_engines(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, models_per_gpu=1, lease_ttl_s=0.2)
    try:
        held = await sup.acquire(["ms-a"], "crashed-app")  # never released
        assert held.expires_at - held.acquired_at == pytest.approx(0.2)
        lease = await sup.acquire(["ms-b"], "battle-2", timeout_s=3)
        assert launcher.stopped == ["ms-a"]
        assert lease.queued_s > 0.1  # waited for the expiry
        with pytest.raises(UnknownLease, match="expired"):
            sup.release(held.lease_id)
        sup.release(lease.lease_id)
    finally:
        await sup.shutdown()


async def test_renewed_lease_keeps_its_engines(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, models_per_gpu=1, lease_ttl_s=0.2)
    try:
        held = await sup.acquire(["ms-a"], "long-battle")
        renewed = sup.renew(held.lease_id, ttl_s=10)
        assert renewed.expires_at > held.acquired_at + 9
        with pytest.raises(AcquireTimeout):
            await sup.acquire(["ms-b"], "battle-2", timeout_s=0.5)
        assert launcher.stopped == []
        with pytest.raises(UnknownLease):
            sup.renew("nope")
        sup.release(held.lease_id)
    finally:
        await sup.shutdown()


# --- residency by memory ----------------------------------------------------------------------


def memory(**kwargs: object) -> MemoryModel:
    options: dict = {"gpu_memory_gb": 40.0, "reserve_gb": 0.0, "headroom_gb": 0.0, **kwargs}
    return MemoryModel(**options)


async def test_as_many_engines_stay_resident_as_memory_allows(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, models_per_gpu=None, memory=memory(overrides={"*": 10}))
    try:
        for model in ("ms-a", "ms-b", "ms-c", "ms-d", "ms-a"):
            await use(sup, model)
        assert launcher.stopped == [] and launcher.started.count("ms-a") == 1
        assert launcher.fractions["ms-a"] == 0.25
        slot = sup.status()["slots"][0]
        assert slot["memory_used_gb"] == 40 and slot["capacity"] == 4
        await use(sup, "ms-e")  # full: the least recently used goes
        assert launcher.stopped == ["ms-b"]
    finally:
        await sup.shutdown()


async def test_a_big_model_evicts_as_many_as_needed(launcher: FakeLauncher) -> None:
    sizes = {"ms-a": 30, "*": 10}
    sup = make_supervisor(launcher, models_per_gpu=None, memory=memory(overrides=sizes))
    try:
        for model in ("ms-b", "ms-c", "ms-d"):
            await use(sup, model)
        await use(sup, "ms-a")
        assert launcher.stopped == ["ms-b", "ms-c"]
        assert {e["model"] for e in sup.status()["slots"][0]["engines"]} == {"ms-a", "ms-d"}
        with pytest.raises(BadRequest, match=r"need 50\.0 GB on GPU 0, which has 40\.0 GB"):
            await sup.acquire(["ms-a", "ms-b", "ms-c"], "too-big")
    finally:
        await sup.shutdown()


# --- status: load estimates, progress, the queue ----------------------------------------------


async def test_status_reports_progress_and_measured_load_times(launcher: FakeLauncher) -> None:
    launcher.load_s = 0.3
    sup = make_supervisor(launcher, history=LoadHistory(default_s=0.6))
    try:
        assert sup.status()["typical_load_seconds"] == 0.6
        waiting = asyncio.create_task(sup.acquire(["ms-a"], "b1"))
        await until(lambda: "ms-a" in launcher.started, "the launch")
        engine = engines(sup)["ms-a"]
        assert engine["state"] == "loading" and engine["expected_load_seconds"] == 0.6
        assert 0 <= engine["progress"] < 1 and 0 < engine["eta_seconds"] <= 0.6
        sup.release((await waiting).lease_id)
        engine = engines(sup)["ms-a"]
        assert engine["progress"] == 1.0 and 0.3 <= engine["load_seconds"] < 0.6
        status = sup.status()
        assert status["expected_load_seconds"] == {"ms-a": engine["load_seconds"]}
        assert status["typical_load_seconds"] == engine["load_seconds"]
        assert engine["expected_load_seconds"] == engine["load_seconds"]
    finally:
        await sup.shutdown()


async def test_status_lists_the_queue_in_order(launcher: FakeLauncher) -> None:
    sup = make_supervisor(launcher, models_per_gpu=1)
    try:
        held = await sup.acquire(["ms-a"], "battle-1")
        second = asyncio.create_task(sup.acquire(["ms-b", "hp-b"], "battle-2"))
        third = asyncio.create_task(sup.acquire(["ms-c"], "battle-3"))
        await until(lambda: len(sup.status()["queue"]) == 2, "two queued requests")
        queue = sup.status()["queue"]
        assert [(q["position"], q["holder"]) for q in queue] == [(1, "battle-2"), (2, "battle-3")]
        assert queue[0]["models"] == ["ms-b", "hp-b"] and queue[0]["waited_s"] >= 0
        sup.release(held.lease_id)
        sup.release((await second).lease_id)
        sup.release((await third).lease_id)
    finally:
        await sup.shutdown()
