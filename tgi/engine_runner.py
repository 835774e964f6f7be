"""One engine's life: launch, wait until ready, watch its health, restart it after a crash.

The supervisor decides *which* engines run; this module keeps each one running:

- **Readiness**: after a launch the engine is probed every `poll_interval_s` (connection
  refused means loading) until the probe passes. An engine that is not ready within
  `ready_timeout_s` is stopped and `failed` with its last log lines: no retry, as a model
  that takes that long will not do better the second time.
- **Health**: a ready engine is probed every `health_interval_s`. After `unhealthy_after`
  failed probes in a row it is restarted, but never while a lease holds it (a battle may
  still be streaming); it is marked unhealthy and restarted once released.
- **Sleep**: an engine asleep (`tgi.sleep_control`) is watched like a ready one; if its
  process ends it is not relaunched but handed back to the supervisor (`on_lost_sleeper`).
- **Restarts**: an engine that exits, or stops answering, is relaunched on the same port
  after an exponential backoff (`backoff_s`, doubling, at most `backoff_max_s`), and given
  up as `failed` after `max_restarts` consecutive failures. An engine that stayed up for
  `stable_after_s` starts counting afresh. Launch errors (no such command) are not retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tgi.engine import Engine, EngineState
from tgi.launchers import Launcher, ScheduledEngine

log = logging.getLogger("tgi.supervisor")

Probe = Callable[[str, str], Awaitable[str | None]]
"""`probe(url, model_id)`: None when the engine is ready, else why not (for messages)."""


@dataclass(frozen=True)
class Lifecycle:
    """Timing and fault policy for every engine (see the module docs)."""

    ready_timeout_s: float = 900.0
    poll_interval_s: float = 0.1
    stop_grace_s: float = 15.0
    health_interval_s: float = 10.0
    unhealthy_after: int = 3
    max_restarts: int = 3
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    stable_after_s: float = 300.0

    def backoff(self, failures: int) -> float:
        return float(min(self.backoff_s * 2 ** max(failures - 1, 0), self.backoff_max_s))


@dataclass(frozen=True)
class _Failure:
    reason: str
    fatal: bool = False  # give up at once, no restart


class EngineRunner:
    """Runs engines through `launcher`; tells the supervisor when one loads or changes."""

    def __init__(
        self,
        launcher: Launcher,
        probe: Probe,
        policy: Lifecycle,
        on_change: Callable[[], None],
        on_loaded: Callable[[Engine, float], None],
        before_launch: Callable[[Engine], None] | None = None,
    ) -> None:
        self.launcher = launcher
        self._before_launch = before_launch  # e.g. move off a port that was taken meanwhile
        self.probe = probe
        self.policy = policy
        self._on_change = on_change
        self._on_loaded = on_loaded
        self.launches = 0  # every launch, first or restart (for /status and benchmarks)
        # A sleeping engine whose process ends is not relaunched (it would come back on
        # the GPU unasked): the supervisor forgets it through this, given the reason.
        self.on_lost_sleeper: Callable[[Engine, str], None] | None = None

    async def run(self, engine: Engine, after: Sequence[Awaitable[object]] = ()) -> None:
        """Launch `engine` (once `after` is done: evicted engines freeing the GPU), keep
        it running until it is stopped or given up."""
        await asyncio.gather(*after, return_exceptions=True)
        p = self.policy
        while not engine.stop_requested.is_set():
            failure = await self._attempt(engine)
            if failure is None or engine.stop_requested.is_set():
                return
            if engine.sleeping and self.on_lost_sleeper is not None:
                self.on_lost_sleeper(engine, failure.reason)
                return
            if engine.ready_since is not None and time.time() - engine.ready_since >= (
                p.stable_after_s
            ):
                engine.failures = 0
            engine.failures += 1
            engine.last_error = failure.reason
            engine.final_log = engine.process.log_tail() if engine.process else []
            engine.ready_since = None
            if failure.fatal or engine.failures > p.max_restarts:
                gave_up = f" (gave up after {engine.restarts} restarts)" if engine.restarts else ""
                self._fail(engine, failure.reason + gave_up)
                return
            delay = p.backoff(engine.failures)
            engine.state = EngineState.RESTARTING
            engine.settled.clear()
            engine.retry_at = time.time() + delay
            log.warning(
                "slot %d: %s %s; restart %d of %d in %.1f s; last output:\n    %s",
                engine.gpu,
                engine.model_id,
                failure.reason,
                engine.failures,
                p.max_restarts,
                delay,
                "\n    ".join(engine.final_log) or "(no output)",
            )
            self._on_change()
            if await _wait(engine.stop_requested, delay):
                return
            engine.restarts += 1

    async def stop(self, engine: Engine, run_task: asyncio.Task[None] | None) -> None:
        """Stop the engine's process and wait for its run task to notice."""
        engine.stop_requested.set()
        if engine.process is not None:
            await self.launcher.stop(engine.process, self.policy.stop_grace_s)
        if run_task is not None:  # it stops a process that was still starting itself
            await asyncio.gather(run_task, return_exceptions=True)

    # --- one launch ----------------------------------------------------------------------

    async def _attempt(self, engine: Engine) -> _Failure | None:
        """Launch once; None when stopped on purpose, else why it failed."""
        p = self.policy
        started = time.monotonic()
        engine.state = EngineState.LOADING
        engine.settled.clear()
        engine.loading_since = time.time()
        engine.load_started = None
        engine.retry_at = None
        engine.final_log = None
        engine.process = None  # the last one is gone; never show or signal it again
        engine.healthy, engine.health_failures = True, 0
        if self._before_launch is not None:
            self._before_launch(engine)
        what = "launching" if engine.restarts == 0 else f"relaunching (restart {engine.restarts})"
        log.info("slot %d: %s %s on port %d", engine.gpu, what, engine.model_id, engine.port)
        self.launches += 1
        try:
            engine.process = await self.launcher.start(
                engine.model_id, engine.gpu, engine.port, memory_fraction=engine.memory_fraction
            )
        except Exception as exc:
            return _Failure(f"launch failed: {exc}", fatal=True)
        if engine.stop_requested.is_set():
            await self.launcher.stop(engine.process, p.stop_grace_s)
            return None
        exited = asyncio.ensure_future(engine.process.wait())
        try:
            failure = await self._until_ready(engine, exited, started)
            if failure is not None or engine.stop_requested.is_set():
                return failure
            if engine.load_started is not None:
                started = engine.load_started
            engine.load_seconds = round(time.monotonic() - started, 2)
            engine.ready_since = time.time()
            engine.state = EngineState.READY
            engine.settled.set()
            log.info(
                "slot %d: %s ready after %.1f s", engine.gpu, engine.model_id, engine.load_seconds
            )
            self._on_loaded(engine, engine.load_seconds)
            return await self._watch(engine, exited)
        finally:
            exited.cancel()

    async def _until_ready(
        self, engine: Engine, exited: asyncio.Future[int], started: float
    ) -> _Failure | None:
        p = self.policy
        while not engine.stop_requested.is_set():
            if not exited.done() and not self._placed(engine):
                started = time.monotonic()  # waiting for a GPU is not loading
                await asyncio.wait({exited}, timeout=p.poll_interval_s)
                continue
            if exited.done():
                code = exited.result()
                hint = (
                    " (an engine command must stay in the foreground: launch.sh --foreground, "
                    "docker run without -d)"
                    if code == 0
                    else ""
                )
                return _Failure(f"exited while loading with code {code}{hint}")
            reason = await self.probe(engine.url, engine.model_id)
            if reason is None and not exited.done():
                return None
            if time.monotonic() - started > p.ready_timeout_s:
                assert engine.process is not None
                await self.launcher.stop(engine.process, p.stop_grace_s)
                return _Failure(f"not ready after {p.ready_timeout_s:.0f} s ({reason})", True)
            await asyncio.wait({exited}, timeout=p.poll_interval_s)
        return None

    async def _watch(self, engine: Engine, exited: asyncio.Future[int]) -> _Failure | None:
        """Probe a ready engine until it exits, stops answering, or is stopped."""
        p = self.policy
        assert engine.process is not None
        while True:
            await asyncio.wait({exited}, timeout=p.health_interval_s)
            if engine.stop_requested.is_set():
                return None
            if exited.done():
                await self.launcher.stop(engine.process, p.stop_grace_s)  # leftover children
                return _Failure(f"exited unexpectedly with code {exited.result()}")
            reason = await self.probe(engine.url, engine.model_id)
            if engine.stop_requested.is_set():
                return None
            if reason is None:
                if not engine.healthy:
                    log.info("slot %d: %s answers again", engine.gpu, engine.model_id)
                engine.healthy, engine.health_failures = True, 0
                continue
            engine.health_failures += 1
            if engine.health_failures < p.unhealthy_after:
                continue
            if engine.healthy:
                log.warning(
                    "slot %d: %s failed %d health checks (%s)%s",
                    engine.gpu,
                    engine.model_id,
                    engine.health_failures,
                    reason,
                    "; restarting it once its leases end" if engine.leases else "",
                )
            engine.healthy = False
            if engine.leases:
                continue  # never stop an engine a battle may still be streaming from
            await self.launcher.stop(engine.process, p.stop_grace_s)
            return _Failure(f"stopped answering health checks ({reason})")

    def _placed(self, engine: Engine) -> bool:
        """False while a scheduler keeps the engine waiting (state `pending`); once it
        runs, the engine's URL becomes the one it reported and loading starts."""
        process = engine.process
        if not isinstance(process, ScheduledEngine):
            return True
        url = process.endpoint()
        if url is None:
            if engine.state is not EngineState.PENDING:
                engine.state = EngineState.PENDING
                engine.load_started = None
                self._on_change()
            return False
        if engine.state is EngineState.PENDING or engine.url != url:
            log.info("slot %d: %s runs at %s", engine.gpu, engine.model_id, url)
            engine.url = url
            engine.state = EngineState.LOADING
            engine.loading_since = time.time()
            engine.load_started = time.monotonic()
            self._on_change()
        return True

    def _fail(self, engine: Engine, error: str) -> None:
        engine.state = EngineState.FAILED
        engine.error = error
        engine.failed_at = time.time()
        engine.retry_at = None
        engine.settled.set()
        log.error(
            "slot %d: %s failed: %s; last output:\n    %s",
            engine.gpu,
            engine.model_id,
            error,
            "\n    ".join(engine.log_tail()) or "(no output)",
        )
        self._on_change()


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `event`; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        return False
    return True
