"""Sleeping engines, over real stand-in engine processes speaking vLLM's sleep routes.

The supervisor runs in-process with the real stand-in launcher and the real HTTP sleep
control; one engine fits per GPU, so every language change evicts. Checked: eviction
puts the engine to sleep (same process, no GPU memory counted); a request wakes it
without a launch; concurrent requests share one wake; sleepers' host memory stays within
the budget, the oldest sleeper stopped first; an engine that does not wake is restarted;
shutdown leaves no process, asleep or awake.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.conftest import free_port
from tgi.engine_runner import Lifecycle
from tgi.launchers import StandinLauncher
from tgi.residency import MemoryModel
from tgi.sleep_control import HttpSleepControl
from tgi.supervisor import Supervisor

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

SWE, FIN, DAN = (f"HPLT/hplt2c_{c}_checkpoints" for c in ("swe", "fin", "dan"))
WEIGHTS_GB = 4.3  # 2.15B parameters in bf16: what each holds asleep at level 1


def sleepy_args(wake_s: float = 0.2) -> list[str]:
    return ["--sleep-mode", "--sleep-s", "0", "--wake-s-level1", str(wake_s)]


def supervisor(
    *,
    host_gb: float = 100.0,
    wake_s: float = 0.2,
    sleep_timeout_s: float = 10.0,
    level: int = 1,
) -> Supervisor:
    args = [*sleepy_args(wake_s), "--wake-s-level2", str(wake_s)]
    return Supervisor(
        StandinLauncher(token_interval_s=0, startup_delay_s=0.1, extra_args=args),
        gpus=2,
        memory=MemoryModel(gpu_memory_gb=20.0),  # 18 GB for engines: one 16.3 GB engine
        lifecycle=Lifecycle(poll_interval_s=0.05, stop_grace_s=5, backoff_s=0.1),
        first_engine_port=free_port(),
        sleep_level=level,
        sleeper=HttpSleepControl(timeout_s=sleep_timeout_s),
        host_memory_gb=host_gb,
    )


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Supervisor]]:
    made: list[Supervisor] = []

    def build(**kwargs: float) -> Supervisor:
        made.append(supervisor(**kwargs))
        return made[-1]

    yield build
    for sup in made:
        await sup.shutdown()


def engine(sup: Supervisor, model: str) -> dict:
    for slot in sup.status()["slots"]:
        for e in slot["engines"]:
            if e["model"] == model and e["state"] != "stopping":
                return e
    return {}


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)
    assert predicate(), what


async def play(sup: Supervisor, *models: str, holder: str = "battle") -> None:
    lease = await sup.acquire(list(models), holder, timeout_s=30)
    sup.release(lease.lease_id)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def asleep_on_the_engine(url: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        return bool((await client.get(f"{url}/is_sleeping")).json()["is_sleeping"])


async def test_evicted_engines_sleep_and_wake_without_a_launch(make: Callable) -> None:
    sup = make()
    await play(sup, SWE)
    swe = engine(sup, SWE)
    await play(sup, FIN)  # one engine per GPU: Swedish is evicted, to sleep
    await until(lambda: engine(sup, SWE).get("state") == "asleep", "Swedish asleep")
    asleep = engine(sup, SWE)
    assert asleep["pid"] == swe["pid"] and alive(swe["pid"])  # the same process
    assert asleep["host_memory_gb"] == WEIGHTS_GB
    assert await asleep_on_the_engine(swe["url"])
    status = sup.status()
    assert status["slots"][1]["memory_used_gb"] == engine(sup, FIN)["memory_gb"]
    assert status["host_memory_used_gb"] == WEIGHTS_GB
    launches = sup.runner.launches

    await play(sup, SWE)  # woken, not launched: Finnish goes to sleep in its place
    assert sup.runner.launches == launches
    assert engine(sup, SWE)["state"] == "ready" and engine(sup, SWE)["pid"] == swe["pid"]
    assert not await asleep_on_the_engine(swe["url"])
    await until(lambda: engine(sup, FIN).get("state") == "asleep", "Finnish asleep")
    assert sup.status()["expected_wake_seconds"][SWE] >= 0.2


async def test_level_2_wakes_with_the_weights_reloaded(make: Callable) -> None:
    sup = make(level=2)
    await play(sup, SWE)
    await play(sup, FIN)
    await until(lambda: engine(sup, SWE).get("state") == "asleep", "Swedish asleep")
    assert engine(sup, SWE)["host_memory_gb"] == 0.5  # level 2 keeps only buffers
    lease = await sup.acquire([SWE], "battle", 30)
    url = lease.endpoints[SWE]
    async with httpx.AsyncClient(timeout=5) as client:
        stats = (await client.get(f"{url}/standin/faults")).json()
        body = {"inputs": "Stockholm är", "parameters": {"max_new_tokens": 4}}
        generated = await client.post(f"{url}/generate", json=body)
    assert (stats["wakes"], stats["reloads"], stats["weights_lost"]) == (1, 1, False)
    assert generated.status_code == 200  # not from empty weights
    sup.release(lease.lease_id)


async def test_concurrent_requests_share_one_wake(make: Callable) -> None:
    sup = make(wake_s=0.5)
    await play(sup, SWE)
    await play(sup, FIN)
    await until(lambda: engine(sup, SWE).get("state") == "asleep", "Swedish asleep")
    leases = await asyncio.gather(*(sup.acquire([SWE], f"voter-{i}", 30) for i in range(4)))
    async with httpx.AsyncClient(timeout=5) as client:
        stats = (await client.get(f"{leases[0].endpoints[SWE]}/standin/faults")).json()
    assert stats["wakes"] == 1 and stats["sleeps"] == 1
    for lease in leases:
        sup.release(lease.lease_id)


async def test_the_host_memory_budget_stops_the_oldest_sleeper(make: Callable) -> None:
    sup = make(host_gb=WEIGHTS_GB * 1.5)  # room for one sleeper
    await play(sup, SWE)
    swe_pid = engine(sup, SWE)["pid"]
    await play(sup, FIN)
    await until(lambda: engine(sup, SWE).get("state") == "asleep", "Swedish asleep")
    await play(sup, DAN)  # Finnish must sleep: Swedish, the older sleeper, is stopped
    await until(lambda: engine(sup, FIN).get("state") == "asleep", "Finnish asleep")
    await until(lambda: not alive(swe_pid), "the Swedish engine's process to end")
    assert engine(sup, SWE) == {}
    assert sup.status()["host_memory_used_gb"] <= WEIGHTS_GB * 1.5
    launches = sup.runner.launches
    await play(sup, SWE)  # stopped, so launched afresh
    assert sup.runner.launches == launches + 1


async def test_an_engine_that_does_not_wake_is_restarted(make: Callable) -> None:
    sup = make(wake_s=30.0, sleep_timeout_s=1.0)  # the wake outlasts the supervisor's patience
    await play(sup, SWE)
    first_pid = engine(sup, SWE)["pid"]
    await play(sup, FIN)
    await until(lambda: engine(sup, SWE).get("state") == "asleep", "Swedish asleep")
    launches = sup.runner.launches
    await play(sup, SWE)  # the wake times out: killed and relaunched, the battle still plays
    assert sup.runner.launches == launches + 1
    assert engine(sup, SWE)["state"] == "ready" and engine(sup, SWE)["pid"] != first_pid
    assert not alive(first_pid)


async def test_shutdown_leaves_no_engine(make: Callable) -> None:
    sup = make()
    await play(sup, SWE)
    await play(sup, FIN)
    await play(sup, DAN)
    await until(lambda: engine(sup, FIN).get("state") == "asleep", "Finnish asleep")
    pids = [e["pid"] for s in sup.status()["slots"] for e in s["engines"] if e["pid"]]
    assert len(pids) == 3  # two asleep, one awake
    await sup.shutdown()
    assert not any(alive(pid) for pid in pids)
