"""The supervisor: owns the GPU slots and the engines resident in them, hands out leases.

One slot per GPU (slot 0 serves the MultiSynt side, slot 1 the HPLT side; with one GPU
everything shares slot 0). A slot keeps as many engines resident as their memory shares
fit (`tgi.residency`), one engine per model on its own port. `acquire` returns the URLs
of ready engines under a lease; an engine with an active lease is never stopped, so a
battle can always finish streaming. Loading a model that is not resident evicts the least
recently used engines without leases; when those do not make room, the request waits.

Admission is all-or-nothing and first-come-first-served per slot: a request reserves every
engine it needs in one step (no await in between), so two battles can never each hold half
of what the other needs, and a request that cannot be placed blocks later requests on the
same slot, so a language change cannot be starved by a stream of battles on the old one.
Concurrent requests for a model share its one load.

Engines that can sleep (`sleep_level` 1 or 2: vLLM's sleep mode, `tgi.sleep_control`) are
put to sleep when evicted instead of stopped, as long as the sleepers' host memory fits
its budget (the oldest sleeper is stopped to make room); a request for a sleeping model
wakes it (one wake, however many requests wait), in about a second instead of a launch.
An engine that fails to fall asleep is stopped; one that fails to wake is restarted.

Engines are launched, probed, health-checked and restarted by `tgi.engine_runner`; leases
expire unless renewed (`tgi.leases`); load times are measured (`tgi.load_history`) for the
estimates in `/status`; engine ports are claimed machine-wide (`tgi.ports`). The HTTP API
is `tgi.supervisor_http`, the service built from settings `tgi.service`; run it with
`oellm-arena supervisor --host H --port P`.

Why this module is long: admission (the queue, the placement plan, eviction and the port
of each engine) must read and change slots, engines and leases in one step with no await
in between, so it stays in one class; what could move out has (runner, leases, residency,
ports, history).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core.inference.probe import HttpProbe
from tgi.engine import Engine, EngineState
from tgi.engine_runner import EngineRunner, Lifecycle, Probe
from tgi.errors import (
    AcquireTimeout,
    BadRequest,
    EngineFailed,
    ShuttingDown,
    SupervisorError,  # noqa: F401  (re-exported for callers)
    UnknownLease,
    UnknownModel,
)
from tgi.launchers import Launcher
from tgi.leases import Lease, LeaseBook
from tgi.load_history import LoadHistory
from tgi.ports import EnginePorts, port_is_free
from tgi.residency import MemoryModel, choose_victims
from tgi.sleep_control import SleepControl
from tgi.sleepers import SleepingEngines
from tgi.slots import SLOT_OF_FAMILY, Slot, family_lookup

log = logging.getLogger("tgi.supervisor")


@dataclass(eq=False)
class _Request:
    models: list[str]
    holder: str
    slots: dict[str, Slot]
    ttl_s: float | None = None
    lease_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    waiting_since: float = field(default_factory=time.time)
    admitted_at: float | None = None
    passed_over: bool = False  # a pump found no room for it: it queued
    admitted: asyncio.Future[list[Engine]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


# A plan: per slot, the models to launch and the engines to evict first.
_Plan = list[tuple[Slot, list[str], list[Engine]]]


class Supervisor(SleepingEngines):
    """Slots, engines and leases. All methods run on one event loop; none blocks it.
    Sleeping engines: `tgi.sleepers`."""

    def __init__(
        self,
        launcher: Launcher,
        *,
        gpus: int = 2,
        models_per_gpu: int | None = None,
        memory: MemoryModel | None = None,
        lifecycle: Lifecycle | None = None,
        first_engine_port: int = 8700,
        acquire_timeout_s: float = 600.0,
        lease_ttl_s: float = 300.0,
        failed_retry_after_s: float = 60.0,
        history: LoadHistory | None = None,
        family_of: Callable[[str], str] | None = None,
        probe: Probe | None = None,
        host: str = "127.0.0.1",
        port_claims_dir: Path | None = None,
        sleep_level: int = 0,
        sleeper: SleepControl | None = None,
        host_memory_gb: float = 0.0,
        wakes: LoadHistory | None = None,
    ) -> None:
        """`family_of` maps a model id to its family (default: the built-in registry);
        `port_claims_dir` is where engine ports are claimed (default: the directory every
        supervisor on the machine shares, `tgi.ports.default_claims_dir`). With
        `sleep_level` 1 or 2 and a `sleeper`, evicted engines sleep within
        `host_memory_gb` of host memory; `wakes` keeps their wake times."""
        memory = memory or MemoryModel()
        if models_per_gpu is not None:
            memory = replace(memory, max_engines=models_per_gpu)
        self.launcher = launcher
        self.memory = memory
        self.lifecycle = lifecycle or Lifecycle()
        self.ports = EnginePorts(host, first_engine_port, port_claims_dir)
        self.acquire_timeout_s = acquire_timeout_s
        self.failed_retry_after_s = failed_retry_after_s
        self.history = history or LoadHistory()
        self.family_of = family_of or family_lookup()
        self.host = host
        self._http_probe = HttpProbe() if probe is None else None
        self.probe: Probe = probe or self._http_probe  # type: ignore[assignment]
        self.runner = EngineRunner(
            launcher, self.probe, self.lifecycle, self._pump, self._loaded, self._keep_or_move_port
        )
        families = ["multisynt", "hplt"] if gpus > 1 else ["multisynt+hplt"]
        if gpus > 2:
            log.warning("%d GPUs configured; only slots 0 and 1 are used", gpus)
        self.slots = [Slot(i, fam) for i, fam in enumerate(families)]
        self.leases = LeaseBook(lease_ttl_s, self._expired)
        self._queue: list[_Request] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.sleep_level = sleep_level if sleeper is not None else 0
        self.sleeper = sleeper
        self.host_memory_gb = host_memory_gb
        self.wakes = wakes or LoadHistory(default_s=1.0)
        self.runner.on_lost_sleeper = self._lost_sleeper
        self.prewarmed: dict[str, int] = {"total": 0, "done": 0, "failed": 0}

    # --- public API --------------------------------------------------------------------

    def slot_for(self, model_id: str) -> Slot:
        try:
            family = self.family_of(model_id)
        except KeyError:
            raise UnknownModel(f"model {model_id!r} is not in the registry") from None
        return self.slots[SLOT_OF_FAMILY.get(family, 0) if len(self.slots) > 1 else 0]

    async def acquire(
        self,
        models: list[str],
        holder: str,
        timeout_s: float | None = None,
        ttl_s: float | None = None,
    ) -> Lease:
        """Wait until every model is ready; lease them to `holder`. See the module docs."""
        if self._closing:
            raise ShuttingDown("the supervisor is shutting down")
        models = list(dict.fromkeys(models))
        if not models:
            raise BadRequest("no models requested")
        req = _Request(models, holder, {m: self.slot_for(m) for m in models}, ttl_s)
        self._check(req)
        timeout = timeout_s if timeout_s is not None else self.acquire_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._queue.append(req)
        self._pump()
        try:
            engines = await asyncio.wait_for(asyncio.shield(req.admitted), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            self._abandon(req)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise AcquireTimeout(
                f"no room for {', '.join(models)} within {timeout:.0f} s: "
                "every resident engine is in use"
            ) from None
        try:
            await asyncio.wait_for(_settled(engines), max(deadline - loop.time(), 0.0))
        except (TimeoutError, asyncio.CancelledError) as exc:
            self._drop(req.lease_id, engines)
            if isinstance(exc, asyncio.CancelledError):
                raise
            loading = [e.model_id for e in engines if e.state is not EngineState.READY]
            raise AcquireTimeout(
                f"{', '.join(loading)} still loading after {timeout:.0f} s"
            ) from None
        if self._closing:
            self._drop(req.lease_id, engines)
            raise ShuttingDown("the supervisor is shutting down")
        for engine in engines:
            if engine.state is not EngineState.READY:
                self._drop(req.lease_id, engines)
                raise EngineFailed(
                    f"engine for {engine.model_id} failed: {engine.error or engine.state}",
                    log_tail=engine.log_tail(),
                )
        endpoints = {e.model_id: e.url for e in engines}
        # The wait for room: zero when there was room at once, however long launching took.
        waited = (req.admitted_at or req.waiting_since) - req.waiting_since
        queued_s = waited if req.passed_over else 0.0
        lease = self.leases.add(req.lease_id, holder, endpoints, ttl_s, queued_s)
        log.info("lease %s acquired by %s for %s", lease.lease_id, holder, models)
        return lease

    def release(self, lease_id: str) -> None:
        """End a lease; its engines become evictable once no other lease holds them."""
        lease = self.leases.pop(lease_id)
        if lease is None:
            raise UnknownLease(f"no active lease {lease_id!r} (released, or expired)")
        self._drop(lease_id, self._engines_of(lease.endpoints))
        log.info("lease %s released by %s", lease_id, lease.holder)

    def renew(self, lease_id: str, ttl_s: float | None = None) -> Lease:
        """Push a lease's expiry `ttl_s` (default: the configured TTL) into the future."""
        lease = self.leases.renew(lease_id, ttl_s)
        if lease is None:
            raise UnknownLease(f"no active lease {lease_id!r} (released, or expired)")
        return lease

    def prefetch(self, models: list[str]) -> dict[str, str]:
        """Start loading `models` without a lease; returns at once with what happened."""
        if self._closing:
            raise ShuttingDown("the supervisor is shutting down")
        targets = {m: self.slot_for(m) for m in dict.fromkeys(models)}
        blocked = {s.gpu for r in self._queue for s in r.slots.values()}
        outcome: dict[str, str] = {}
        for model, slot in targets.items():
            engine = slot.engines.get(model)
            if engine is not None and engine.resident:
                outcome[model] = str(engine.state)
                continue
            if self._recently_failed(engine) or self.memory.check_fits(slot.gpu, [model]):
                outcome[model] = "failed" if engine is not None else "too_big"
                continue
            plan = None if slot.gpu in blocked else self._plan({model: slot}, set(targets))
            if plan is None:
                outcome[model] = "busy"
                continue
            self._place(plan)
            outcome[model] = "launched"
        return outcome

    def status(self) -> dict[str, Any]:
        now = time.time()
        return {
            "now": now,
            "slots": [
                slot.status(self.memory, self.history, now, self.wakes) for slot in self.slots
            ],
            "queue": [
                {
                    "position": i + 1,
                    "holder": r.holder,
                    "models": r.models,
                    "waiting_since": r.waiting_since,
                    "waited_s": round(now - r.waiting_since, 2),
                }
                for i, r in enumerate(self._queue)
            ],
            "leases": len(self.leases),
            "lease_ttl_s": self.leases.ttl_s,
            "expected_load_seconds": self.history.measured(),
            "typical_load_seconds": self.history.estimate(""),
            "launcher": self.launcher.name,
            "launches": self.runner.launches,
            "sleep_level": self.sleep_level,
            "host_memory_gb": round(self.host_memory_gb, 2),
            "host_memory_used_gb": round(self._host_used_gb(), 2),
            "expected_wake_seconds": self.wakes.measured(),
            "prewarm": dict(self.prewarmed),
        }

    async def shutdown(self) -> None:
        """Fail waiting requests and stop every engine; returns when all have exited."""
        self._closing = True
        for req in self._queue:
            if not req.admitted.done():
                req.admitted.set_exception(ShuttingDown("the supervisor is shutting down"))
        self._queue.clear()
        self.leases.clear()
        for slot in self.slots:
            for engine in list(slot.engines.values()):
                if engine.resident or engine.sleeping:
                    self._evict(slot, engine, "shutdown")
                else:
                    engine.stop_requested.set()
        stops = [e.task for s in self.slots for e in s.stopping if e.task is not None]
        await asyncio.gather(*self._tasks, *stops, return_exceptions=True)
        self.ports.close()
        if self._http_probe is not None:
            await self._http_probe.aclose()
        close = getattr(self.sleeper, "aclose", None)
        if close is not None:
            await close()

    # --- admission ---------------------------------------------------------------------

    def _check(self, req: _Request) -> None:
        """Refuse at once what can never fit, and models that failed a moment ago."""
        for slot in set(req.slots.values()):
            why = self.memory.check_fits(slot.gpu, [m for m, s in req.slots.items() if s is slot])
            if why:
                raise BadRequest(why)
        for model, slot in req.slots.items():
            engine = slot.engines.get(model)
            if engine is not None and self._recently_failed(engine):
                raise EngineFailed(
                    f"engine for {model} failed {time.time() - (engine.failed_at or 0):.0f} s "
                    f"ago: {engine.error}; it is tried again {self.failed_retry_after_s:.0f} s "
                    "after the failure",
                    log_tail=engine.log_tail(),
                )

    def _recently_failed(self, engine: Engine | None) -> bool:
        if engine is None or engine.state is not EngineState.FAILED:
            return False
        return time.time() - (engine.failed_at or 0.0) < self.failed_retry_after_s

    def _pump(self) -> None:
        """Admit queued requests in order; a request that cannot be placed blocks its slots."""
        if self._closing:
            return
        blocked: set[int] = set()
        for req in list(self._queue):
            gpus = {s.gpu for s in req.slots.values()}
            plan = None if gpus & blocked else self._plan(req.slots, set(req.models))
            if plan is None:
                blocked |= gpus
                req.passed_over = True
                continue
            self._queue.remove(req)
            req.admitted_at = time.time()
            self._place(plan)
            engines = [req.slots[m].engines[m] for m in req.models]
            for engine in engines:
                engine.leases[req.lease_id] = req.holder
                engine.last_used = time.time()
            req.admitted.set_result(engines)

    def _plan(self, wanted: dict[str, Slot], keep: set[str]) -> _Plan | None:
        """What to launch and evict so that `wanted` is resident; None if it cannot be now."""
        plan: _Plan = []
        for slot in dict.fromkeys(wanted.values()):
            missing = [m for m, s in wanted.items() if s is slot and not slot.has(m)]
            if not missing:
                continue
            victims = choose_victims(
                slot.resident(),
                [self.memory.model_gb(m) for m in missing],
                keep,
                self.memory.capacity_gb(slot.gpu),
                self.memory.max_engines,
            )
            if victims is None:
                return None
            plan.append((slot, missing, victims))
        return plan

    def _place(self, plan: _Plan) -> None:
        for slot, _, victims in plan:
            for victim in victims:
                self._evict(slot, victim, "LRU")
        for slot, models, _ in plan:
            # The GPU memory of evicted engines must be free before the next model loads:
            # those stopping, and those falling asleep.
            pending = [e.task for e in slot.stopping if e.task is not None]
            pending += [e.transition for e in slot.sleeping() if e.transition is not None]
            for model in models:
                asleep = slot.engines.get(model)
                if asleep is not None and asleep.state is EngineState.ASLEEP:
                    self._wake(slot, asleep, pending)
                    continue
                port = self._free_port()
                engine = Engine(
                    model,
                    slot.gpu,
                    port,
                    f"http://{self.host}:{port}",
                    memory_gb=self.memory.model_gb(model),
                    memory_fraction=self.memory.fraction(model, slot.gpu),
                    host_memory_gb=self._host_gb(model),
                )
                slot.engines[model] = engine
                engine.task = self._spawn(self.runner.run(engine, pending), f"engine {model}")

    def _abandon(self, req: _Request) -> None:
        """A request gave up (timeout, cancelled): leave the queue or undo its reservation."""
        if req in self._queue:
            self._queue.remove(req)
            self._pump()
        elif req.admitted.done() and not req.admitted.exception():
            self._drop(req.lease_id, req.admitted.result())

    def _drop(self, lease_id: str, engines: Iterable[Engine | None]) -> None:
        for engine in engines:
            if engine is not None and engine.leases.pop(lease_id, None) is not None:
                engine.last_used = time.time()
        self._pump()

    def _engines_of(self, models: Iterable[str]) -> list[Engine | None]:
        return [self.slot_for(m).engines.get(m) for m in models]

    def _expired(self, lease: Lease) -> None:
        self._drop(lease.lease_id, self._engines_of(lease.endpoints))

    def _loaded(self, engine: Engine, seconds: float) -> None:
        self.history.record(engine.model_id, seconds)

    # --- engines -----------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _keep_or_move_port(self, engine: Engine) -> None:
        """An engine keeps its port across relaunches (leases hold its URL), unless another
        process bound it meanwhile (the kernel hands ports to outgoing connections too):
        then it moves to a free port rather than fail on "address in use" until given up."""
        if port_is_free(self.host, engine.port):
            return
        taken = engine.port
        engine.port = self._free_port()
        engine.url = f"http://{self.host}:{engine.port}"
        self._release_ports()
        log.warning(
            "slot %d: port %d of %s is taken by another process; launching it on port %d",
            engine.gpu,
            taken,
            engine.model_id,
            engine.port,
        )

    def _free_port(self) -> int:
        self._release_ports()
        return self.ports.claim()

    def _release_ports(self) -> None:
        """Let go of the claims on ports no engine holds any more (stopped, replaced, moved)."""
        self.ports.keep_only({e.port for s in self.slots for e in s.all_engines()})

    def _evict(self, slot: Slot, engine: Engine, why: str) -> None:
        if why == "LRU" and self._may_sleep(engine):
            self._put_to_sleep(slot, engine)
            return
        verb = "evicting" if why == "LRU" else "stopping"
        log.info("slot %d: %s %s (%s)", slot.gpu, verb, engine.model_id, why)
        if slot.engines.get(engine.model_id) is engine:
            del slot.engines[engine.model_id]
        engine.state = EngineState.STOPPING
        engine.stop_requested.set()
        engine.settled.set()
        slot.stopping.append(engine)
        run_task = engine.task
        engine.task = self._spawn(self._stop(slot, engine, run_task), f"stop {engine.model_id}")

    async def _stop(self, slot: Slot, engine: Engine, run_task: asyncio.Task[None] | None) -> None:
        try:
            await self.runner.stop(engine, run_task)
        finally:
            with contextlib.suppress(ValueError):
                slot.stopping.remove(engine)
            self._release_ports()
            log.info("slot %d: %s stopped", slot.gpu, engine.model_id)
            self._pump()


async def _settled(engines: list[Engine]) -> None:
    """Until no engine is loading or restarting (a crash between two waits counts too)."""
    while True:
        waiting = [e for e in engines if not e.settled.is_set()]
        if not waiting:
            return
        await waiting[0].settled.wait()
