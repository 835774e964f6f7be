"""The supervisor: owns the GPU slots and the engines resident in them, hands out leases.

One slot per GPU (slot 0 serves the MultiSynt side, slot 1 the HPLT side; with one GPU
everything shares slot 0). A slot keeps up to `models_per_gpu` engines resident, one engine
process per model on its own port. `acquire` returns the URLs of ready engines under a
lease; an engine with an active lease is never stopped, so a battle can always finish
streaming. Loading a model that is not resident evicts the least recently used engine
without leases; when every resident engine is leased, the request waits its turn.

Admission is all-or-nothing and first-come-first-served per slot: a request reserves every
engine it needs in one step (no await in between), so two battles can never each hold half
of what the other needs, and a request that cannot be placed blocks later requests on the
same slot, so a language change cannot be starved by a stream of battles on the old one.

Readiness is polled over HTTP the same way for the stand-in and for real TGI
(`tgi.launchers.HttpProbe`). The HTTP API is `tgi.supervisor_api`; run the service with
`python -m tgi.supervisor --host H --port P`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from tgi.launchers import (
    LOG_TAIL_LINES,
    Engine,
    EngineState,
    HttpProbe,
    Launcher,
    port_is_free,
)

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger("tgi.supervisor")

SLOT_OF_FAMILY = {"multisynt": 0, "hplt": 1}

Probe = Callable[[str, str], Awaitable[str | None]]
"""`probe(url, model_id)`: None when the engine is ready, else why not (for messages)."""


class SupervisorError(Exception):
    """Base of every error the supervisor reports; `kind` and `http_status` are stable."""

    kind: ClassVar[str] = "supervisor_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, log_tail: list[str] | None = None) -> None:
        super().__init__(message)
        self.log_tail = log_tail or []


class BadRequest(SupervisorError):
    kind = "bad_request"
    http_status = 400


class UnknownModel(SupervisorError):
    kind = "unknown_model"
    http_status = 404


class UnknownLease(SupervisorError):
    kind = "unknown_lease"
    http_status = 404


class EngineFailed(SupervisorError):
    """The engine for a requested model failed to start or died; `log_tail` says why."""

    kind = "engine_failed"
    http_status = 503


class ShuttingDown(SupervisorError):
    kind = "shutting_down"
    http_status = 503


class AcquireTimeout(SupervisorError):
    kind = "timeout"
    http_status = 504


@dataclass(eq=False)
class Slot:
    gpu: int
    family: str
    engines: dict[str, Engine] = field(default_factory=dict)  # resident or failed, by model
    stopping: list[Engine] = field(default_factory=list)

    def resident(self) -> list[Engine]:
        return [e for e in self.engines.values() if e.resident]


@dataclass(frozen=True)
class Lease:
    lease_id: str
    holder: str
    endpoints: dict[str, str]
    acquired_at: float


@dataclass(eq=False)
class _Request:
    models: list[str]
    holder: str
    slots: dict[str, Slot]
    lease_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    waiting_since: float = field(default_factory=time.time)
    admitted: asyncio.Future[list[Engine]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def registry_family(model_id: str) -> str:
    """The model's family from the registry; KeyError for a model it does not list."""
    from app.registry import load_registry

    return load_registry().contender(model_id).family


class Supervisor:
    """Slots, engines and leases. All methods run on one event loop; none blocks it."""

    def __init__(
        self,
        launcher: Launcher,
        *,
        gpus: int = 2,
        models_per_gpu: int = 3,
        first_engine_port: int = 8700,
        ready_timeout_s: float = 900.0,
        acquire_timeout_s: float = 600.0,
        family_of: Callable[[str], str] = registry_family,
        probe: Probe | None = None,
        host: str = "127.0.0.1",
        poll_interval_s: float = 0.2,
        stop_grace_s: float = 15.0,
    ) -> None:
        self.launcher = launcher
        self.models_per_gpu = models_per_gpu
        self.first_engine_port = first_engine_port
        self.ready_timeout_s = ready_timeout_s
        self.acquire_timeout_s = acquire_timeout_s
        self.family_of = family_of
        self.host = host
        self.poll_interval_s = poll_interval_s
        self.stop_grace_s = stop_grace_s
        self._http_probe = HttpProbe() if probe is None else None
        self.probe: Probe = probe or self._http_probe  # type: ignore[assignment]
        families = ["multisynt", "hplt"] if gpus > 1 else ["multisynt+hplt"]
        if gpus > 2:
            log.warning("%d GPUs configured; only slots 0 and 1 are used", gpus)
        self.slots = [Slot(i, fam) for i, fam in enumerate(families)]
        self._queue: list[_Request] = []
        self._leases: dict[str, Lease] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._load_seconds: dict[str, float] = {}  # last measured, for the app's estimates
        self._closing = False

    # --- public API --------------------------------------------------------------------

    def slot_for(self, model_id: str) -> Slot:
        try:
            family = self.family_of(model_id)
        except KeyError:
            raise UnknownModel(f"model {model_id!r} is not in the registry") from None
        return self.slots[SLOT_OF_FAMILY.get(family, 0) if len(self.slots) > 1 else 0]

    async def acquire(
        self, models: list[str], holder: str, timeout_s: float | None = None
    ) -> Lease:
        """Wait until every model is ready; lease them to `holder`. See the module docs."""
        if self._closing:
            raise ShuttingDown("the supervisor is shutting down")
        models = list(dict.fromkeys(models))
        if not models:
            raise BadRequest("no models requested")
        req = _Request(models, holder, {m: self.slot_for(m) for m in models})
        for slot in set(req.slots.values()):
            wanted = sum(1 for s in req.slots.values() if s is slot)
            if wanted > self.models_per_gpu:
                raise BadRequest(
                    f"{wanted} models requested on slot {slot.gpu}, which holds "
                    f"{self.models_per_gpu} (models_per_gpu)"
                )
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
            remaining = max(deadline - loop.time(), 0.0)
            await asyncio.wait_for(self._all_settled(engines), remaining)
        except (TimeoutError, asyncio.CancelledError) as exc:
            self._drop(req.lease_id, engines)
            if isinstance(exc, asyncio.CancelledError):
                raise
            loading = [e.model_id for e in engines if e.state is EngineState.LOADING]
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
        lease = Lease(req.lease_id, holder, {e.model_id: e.url for e in engines}, time.time())
        self._leases[lease.lease_id] = lease
        log.info("lease %s acquired by %s for %s", lease.lease_id, holder, models)
        return lease

    def release(self, lease_id: str) -> None:
        """End a lease; its engines become evictable once no other lease holds them."""
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            raise UnknownLease(f"no active lease {lease_id!r}")
        self._drop(lease_id, [self.slot_for(m).engines.get(m) for m in lease.endpoints])
        log.info("lease %s released by %s", lease_id, lease.holder)

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
            plan = None if slot.gpu in blocked else self._plan({model: slot}, set(targets))
            if plan is None:
                outcome[model] = "busy"
                continue
            self._place(plan)
            outcome[model] = "launched"
        return outcome

    def status(self) -> dict[str, Any]:
        return {
            "slots": [
                {
                    "gpu": slot.gpu,
                    "family": slot.family,
                    "capacity": self.models_per_gpu,
                    "engines": [
                        {
                            **e.as_status(),
                            "expected_load_seconds": self._load_seconds.get(e.model_id),
                        }
                        for e in [*slot.engines.values(), *slot.stopping]
                    ],
                }
                for slot in self.slots
            ],
            "queue": [
                {"holder": r.holder, "models": r.models, "waiting_since": r.waiting_since}
                for r in self._queue
            ],
            "leases": len(self._leases),
            "launcher": self.launcher.name,
        }

    async def shutdown(self) -> None:
        """Fail waiting requests and stop every engine; returns when all have exited."""
        self._closing = True
        for req in self._queue:
            if not req.admitted.done():
                req.admitted.set_exception(ShuttingDown("the supervisor is shutting down"))
        self._queue.clear()
        for slot in self.slots:
            for engine in slot.resident():
                self._evict(slot, engine, "shutdown")
        stops = [e.task for s in self.slots for e in s.stopping if e.task is not None]
        await asyncio.gather(*self._tasks, *stops, return_exceptions=True)
        if self._http_probe is not None:
            await self._http_probe.aclose()

    # --- admission ---------------------------------------------------------------------

    def _pump(self) -> None:
        """Admit queued requests in order; a request that cannot be placed blocks its slots."""
        blocked: set[int] = set()
        for req in list(self._queue):
            gpus = {s.gpu for s in req.slots.values()}
            plan = None if gpus & blocked else self._plan(req.slots, set(req.models))
            if plan is None:
                blocked |= gpus
                continue
            self._queue.remove(req)
            self._place(plan)
            engines = [req.slots[m].engines[m] for m in req.models]
            for engine in engines:
                engine.leases[req.lease_id] = req.holder
                engine.last_used = time.time()
            req.admitted.set_result(engines)

    def _plan(
        self, wanted: dict[str, Slot], keep: set[str]
    ) -> list[tuple[Slot, str, list[Engine]]] | None:
        """Launches (slot, model, engines to evict first), or None if they do not fit now."""
        plan: list[tuple[Slot, str, list[Engine]]] = []
        for slot in dict.fromkeys(wanted.values()):
            missing = [
                m
                for m, s in wanted.items()
                if s is slot and not (m in slot.engines and slot.engines[m].resident)
            ]
            resident = slot.resident()
            free = self.models_per_gpu - len(resident)
            idle = sorted(
                (e for e in resident if not e.leases and e.model_id not in keep),
                key=lambda e: e.last_used,
            )
            if len(missing) > free + len(idle):
                return None
            victims = idle[: max(0, len(missing) - free)]
            plan += [(slot, m, victims if i == 0 else []) for i, m in enumerate(missing)]
        return plan

    def _place(self, plan: list[tuple[Slot, str, list[Engine]]]) -> None:
        for slot, model, victims in plan:
            for victim in victims:
                self._evict(slot, victim, "LRU")
            port = self._free_port()
            engine = Engine(model, slot.gpu, port, f"http://{self.host}:{port}")
            slot.engines[model] = engine
            engine.task = self._spawn(self._run(slot, engine), f"engine {model}")

    def _abandon(self, req: _Request) -> None:
        """A request gave up (timeout, cancelled): leave the queue or undo its reservation."""
        if req in self._queue:
            self._queue.remove(req)
            self._pump()
        elif req.admitted.done() and not req.admitted.exception():
            self._drop(req.lease_id, req.admitted.result())

    def _drop(self, lease_id: str, engines: list[Engine | None]) -> None:
        for engine in engines:
            if engine is not None and engine.leases.pop(lease_id, None) is not None:
                engine.last_used = time.time()
        self._pump()

    async def _all_settled(self, engines: list[Engine]) -> None:
        for engine in engines:
            await engine.settled.wait()

    # --- engine lifecycle --------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _free_port(self) -> int:
        used = {e.port for s in self.slots for e in [*s.engines.values(), *s.stopping]}
        port = self.first_engine_port
        while port in used or not port_is_free(self.host, port):
            port += 1
        return port

    async def _run(self, slot: Slot, engine: Engine) -> None:
        """Launch, wait until ready (or failed), then watch the process until it exits."""
        # The GPU memory of evicted engines must be free before the next model loads.
        pending = [e.task for e in slot.stopping if e.task is not None]
        await asyncio.gather(*pending, return_exceptions=True)
        if engine.state is EngineState.STOPPING:
            return
        started = time.monotonic()
        engine.loading_since = time.time()
        log.info("slot %d: launching %s on port %d", slot.gpu, engine.model_id, engine.port)
        try:
            engine.process = await self.launcher.start(engine.model_id, slot.gpu, engine.port)
        except Exception as exc:
            await self._fail(slot, engine, f"launch failed: {exc}")
            return
        if engine.state is EngineState.STOPPING:
            await self.launcher.stop(engine.process, self.stop_grace_s)
            return
        exited = asyncio.ensure_future(engine.process.wait())
        reason = "not probed yet"
        try:
            while not exited.done():
                reason = await self.probe(engine.url, engine.model_id) or ""
                if not reason or engine.state is not EngineState.LOADING:
                    break
                if time.monotonic() - started > self.ready_timeout_s:
                    await self.launcher.stop(engine.process, self.stop_grace_s)
                    await self._fail(
                        slot, engine, f"not ready after {self.ready_timeout_s:.0f} s ({reason})"
                    )
                    return
                await asyncio.wait({exited}, timeout=self.poll_interval_s)
            if engine.state is EngineState.LOADING and not exited.done():
                engine.load_seconds = round(time.monotonic() - started, 2)
                self._load_seconds[engine.model_id] = engine.load_seconds
                engine.state = EngineState.READY
                engine.settled.set()
                log.info(
                    "slot %d: %s ready after %.1f s", slot.gpu, engine.model_id, engine.load_seconds
                )
            code = await exited
        finally:
            exited.cancel()
        if engine.state is not EngineState.STOPPING:
            when = "while loading" if engine.load_seconds is None else "unexpectedly"
            await self.launcher.stop(engine.process, self.stop_grace_s)  # leftover children
            await self._fail(slot, engine, f"exited {when} with code {code}")

    async def _fail(self, slot: Slot, engine: Engine, error: str) -> None:
        engine.state = EngineState.FAILED
        engine.error = error
        engine.final_log = engine.process.log_tail(LOG_TAIL_LINES) if engine.process else []
        engine.settled.set()
        tail = "\n    ".join(engine.final_log) or "(no output)"
        log.error(
            "slot %d: %s failed: %s; last output:\n    %s", slot.gpu, engine.model_id, error, tail
        )
        self._pump()

    def _evict(self, slot: Slot, engine: Engine, why: str) -> None:
        verb = "evicting" if why == "LRU" else "stopping"
        log.info("slot %d: %s %s (%s)", slot.gpu, verb, engine.model_id, why)
        if slot.engines.get(engine.model_id) is engine:
            del slot.engines[engine.model_id]
        engine.state = EngineState.STOPPING
        engine.settled.set()
        slot.stopping.append(engine)
        run_task = engine.task
        engine.task = self._spawn(self._stop(slot, engine, run_task), f"stop {engine.model_id}")

    async def _stop(self, slot: Slot, engine: Engine, run_task: asyncio.Task[None] | None) -> None:
        try:
            if engine.process is not None:
                await self.launcher.stop(engine.process, self.stop_grace_s)
            if run_task is not None:  # it stops a process that was still starting itself
                await asyncio.gather(run_task, return_exceptions=True)
        finally:
            with contextlib.suppress(ValueError):
                slot.stopping.remove(engine)
            log.info("slot %d: %s stopped", slot.gpu, engine.model_id)
            self._pump()


def run_supervisor(settings: Settings, launcher: Launcher | None = None) -> int:
    """Serve the supervisor API from `settings` until SIGTERM/SIGINT; the exit status."""
    from tgi.supervisor_api import run_supervisor as run

    return run(settings, launcher)


def main(argv: list[str] | None = None) -> int:
    """`python -m tgi.supervisor --host H --port P`: run the supervisor service."""
    from tgi.supervisor_api import main as api_main

    return api_main(argv)


if __name__ == "__main__":
    import sys

    from tgi.supervisor import main as _main  # the importable module, not __main__'s copy

    sys.exit(_main())
