"""Sleeping engines: the supervisor's part of vLLM's sleep mode (docs/supervisor.md).

An engine that can sleep (`sleep_level` 1 or 2) is put to sleep when LRU eviction picks
it, instead of stopped: its GPU memory is freed, its process, CUDA context and port stay,
and it holds host memory (its weights at level 1). A request for it wakes it in about a
second. The sleepers' host memory stays within a budget: making room stops the oldest
sleeper. An engine that fails to fall asleep is stopped; one that fails to wake is killed
and relaunched by its runner; one whose process ends asleep is forgotten. `prewarm` loads
every model once so that voters only ever wait for wakes.

A mixin of `tgi.supervisor.Supervisor`: these steps change slots and engines in the same
no-await sections as admission does, through the supervisor's own `_evict`, `_spawn` and
`_pump`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from tgi.engine import SLEEPING_STATES, Engine, EngineState
from tgi.engine_runner import Lifecycle
from tgi.launchers import Launcher
from tgi.load_history import LoadHistory
from tgi.residency import BYTES_PER_PARAM, params_billion
from tgi.sleep_control import LEVEL2_HOST_GB, SleepControl
from tgi.slots import Slot

log = logging.getLogger("tgi.supervisor")


class SleepingEngines:
    """What `Supervisor` needs to put engines to sleep and wake them (see the module)."""

    # Provided by the supervisor.
    slots: list[Slot]
    launcher: Launcher
    lifecycle: Lifecycle
    _closing: bool
    sleep_level: int
    sleeper: SleepControl | None
    host_memory_gb: float
    wakes: LoadHistory
    prewarmed: dict[str, int]
    slot_for: Callable[[str], Slot]
    prefetch: Callable[[list[str]], dict[str, str]]
    _evict: Callable[[Slot, Engine, str], None]
    _spawn: Callable[[Awaitable[None], str], asyncio.Task[None]]
    _pump: Callable[[], None]
    _release_ports: Callable[[], None]

    async def prewarm(self, models: list[str], retry_s: float = 0.5) -> None:
        """Load every one of `models` once, one at a time per GPU, and let LRU eviction
        put each to sleep as the next needs its room: afterwards no voter waits for a
        cold start, only for a wake. Uses `prefetch`, so voters' requests go first (a
        busy slot is retried after `retry_s`); progress is in `/status` ("prewarm")."""
        by_slot: dict[int, list[str]] = {}
        for model in dict.fromkeys(models):
            by_slot.setdefault(self.slot_for(model).gpu, []).append(model)
        self.prewarmed = {"total": sum(map(len, by_slot.values())), "done": 0, "failed": 0}
        log.info("prewarm: loading %d models once each", self.prewarmed["total"])

        async def one_slot(queue: list[str]) -> None:
            for model in queue:
                while not self._closing:
                    outcome = self.prefetch([model]).get(model)
                    if outcome != "busy":
                        break
                    await asyncio.sleep(retry_s)
                engine = self.slot_for(model).engines.get(model)
                if engine is not None:
                    await engine.settled.wait()
                if self._closing:
                    return
                ok = engine is not None and engine.state in (
                    EngineState.READY,
                    *SLEEPING_STATES,
                )
                self.prewarmed["done" if ok else "failed"] += 1

        await asyncio.gather(*(one_slot(q) for q in by_slot.values()))
        log.info(
            "prewarm: done (%d loaded, %d failed)",
            self.prewarmed["done"],
            self.prewarmed["failed"],
        )

    def _host_gb(self, model_id: str) -> float:
        """Host memory `model_id` holds asleep: its bf16 weights at level 1."""
        if self.sleep_level == 1:
            return round(params_billion(model_id) * BYTES_PER_PARAM, 2)
        return LEVEL2_HOST_GB if self.sleep_level == 2 else 0.0

    def _host_used_gb(self) -> float:
        return sum(e.host_memory_gb for s in self.slots for e in s.sleeping())

    def _may_sleep(self, engine: Engine) -> bool:
        """Only a ready engine sleeps (one still loading or waking is stopped), and only
        one whose host memory can fit the budget at all."""
        return (
            self.sleep_level > 0
            and not self._closing
            and engine.state is EngineState.READY
            and engine.process is not None
            and engine.host_memory_gb <= self.host_memory_gb
        )

    def _put_to_sleep(self, slot: Slot, engine: Engine) -> None:
        """Free `engine`'s GPU memory by putting it to sleep; the oldest sleepers are
        stopped first if the host memory budget needs room."""
        sleepers = sorted(
            ((s, e) for s in self.slots for e in s.sleeping()),
            key=lambda pair: pair[1].asleep_since or pair[1].last_used,
        )
        used = self._host_used_gb()
        for owner, sleeper in sleepers:
            if used + engine.host_memory_gb <= self.host_memory_gb + 1e-9:
                break
            used -= sleeper.host_memory_gb
            self._evict(owner, sleeper, "host memory")
        log.info(
            "slot %d: putting %s to sleep (level %d)", slot.gpu, engine.model_id, self.sleep_level
        )
        engine.state = EngineState.FALLING_ASLEEP
        engine.settled.set()
        engine.transition = self._spawn(self._fall_asleep(slot, engine), f"sleep {engine.model_id}")

    async def _fall_asleep(self, slot: Slot, engine: Engine) -> None:
        assert self.sleeper is not None
        started = time.monotonic()
        why = await self.sleeper.sleep(engine.url, self.sleep_level)
        if engine.state is not EngineState.FALLING_ASLEEP:
            return  # stopped meanwhile (shutdown, host memory)
        if why is None:
            engine.state = EngineState.ASLEEP
            engine.asleep_since = time.time()
            engine.sleeps += 1
            log.info(
                "slot %d: %s asleep after %.2f s",
                slot.gpu,
                engine.model_id,
                time.monotonic() - started,
            )
        else:
            log.warning(
                "slot %d: %s did not fall asleep (%s); stopping it", slot.gpu, engine.model_id, why
            )
            self._evict(slot, engine, "did not fall asleep")
        self._pump()

    def _wake(self, slot: Slot, engine: Engine, pending: list[asyncio.Task[None]]) -> None:
        """Wake `engine` once the GPU memory in `pending` is free; requests wait on its
        `settled`, so concurrent ones share this one wake."""
        log.info("slot %d: waking %s", slot.gpu, engine.model_id)
        engine.state = EngineState.WAKING
        engine.settled.clear()
        engine.loading_since = time.time()
        engine.asleep_since = None
        engine.transition = self._spawn(
            self._wake_up(slot, engine, list(pending)), f"wake {engine.model_id}"
        )

    async def _wake_up(self, slot: Slot, engine: Engine, pending: list[asyncio.Task[None]]) -> None:
        assert self.sleeper is not None
        await asyncio.gather(*pending, return_exceptions=True)
        started = time.monotonic()
        waking = engine.state is EngineState.WAKING
        why = await self.sleeper.wake(engine.url, self.sleep_level) if waking else None
        if engine.state is not EngineState.WAKING:
            return  # stopped meanwhile
        if why is None:
            seconds = time.monotonic() - started
            engine.state = EngineState.READY
            engine.settled.set()
            self.wakes.record(engine.model_id, seconds)
            log.info("slot %d: %s awake after %.2f s", slot.gpu, engine.model_id, seconds)
        else:
            # Its process is alive but unusable: the runner sees it exit and relaunches it.
            log.warning(
                "slot %d: %s did not wake (%s); restarting it", slot.gpu, engine.model_id, why
            )
            engine.state = EngineState.RESTARTING
            if engine.process is not None:
                await self.launcher.stop(engine.process, self.lifecycle.stop_grace_s)
        self._pump()

    def _lost_sleeper(self, engine: Engine, why: str) -> None:
        """A sleeping engine's process ended: forget it (the next request launches it)."""
        slot = self.slot_for(engine.model_id)
        log.warning("slot %d: %s %s while asleep; forgetting it", slot.gpu, engine.model_id, why)
        if slot.engines.get(engine.model_id) is engine:
            del slot.engines[engine.model_id]
        engine.state = EngineState.STOPPING
        engine.stop_requested.set()
        self._release_ports()
        self._pump()
