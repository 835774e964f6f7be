"""Engines that something else runs: Inference Endpoints, a Kubernetes service, replicas.

Beyond one server, no supervisor launches anything: each model is served at one or
several base URLs (`supervisor.remote_endpoints`, model id -> URL or list of replica URLs).
`RemoteDirectory` treats them the way the supervisor treats its own engines:

- **Readiness**: a replica is used only after the supervisor's own probe passes
  (`app.core.inference.probe`: `/health` 200, then `/info` or `/v1/models` naming the
  model). A passed probe is trusted for `probe_ttl_s`, so a busy arena does not probe
  before every battle.
- **Choice**: among ready replicas, the one with the fewest battles in flight from this
  app (ties rotate), so replicas behind one name share the load.
- **Errors**: a replica failing its probe is marked unhealthy and skipped for
  `unhealthy_s`, and the next one is tried. If none is ready, the battle waits, probing
  every replica each `poll_interval_s` (an endpoint scaled to zero, or a rolling restart,
  comes back), up to `ready_wait_s`; then it fails with kind `timeout` when some replica
  said it is loading (HTTP 503), else `unavailable`, and the reasons per replica.

`status()` has the supervisor's `/status` shape (one pseudo-slot, one engine per replica,
state `ready`, `failed` or `unknown`), so `app/arena/engine_status.py` reads both alike.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from app.arena.engines import EngineDirectoryError, Lease, require_configured
from app.core.inference.probe import probe_engine
from app.core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Replica:
    model_id: str
    url: str
    healthy: bool | None = None  # None: never probed
    checked_at: float = 0.0  # monotonic time of the last probe
    unhealthy_until: float = 0.0
    error: str | None = None
    in_flight: int = 0  # battles holding it

    def as_status(self) -> dict[str, Any]:
        state = {True: "ready", False: "failed", None: "unknown"}[self.healthy]
        return {
            "model": self.model_id,
            "url": self.url,
            "state": state,
            "healthy": self.healthy,
            "error": self.error,
            "leases": self.in_flight,
        }


class RemoteDirectory:
    """Per-model replica URLs, probed before use; see the module docs."""

    def __init__(
        self,
        endpoints: Mapping[str, str | Sequence[str]],
        *,
        probe_ttl_s: float = 5.0,
        unhealthy_s: float = 30.0,
        ready_wait_s: float = 120.0,
        poll_interval_s: float = 1.0,
        probe_timeout_s: float = 3.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.replicas: dict[str, list[Replica]] = {}
        for model, urls in endpoints.items():
            url_list = [urls] if isinstance(urls, str) else list(urls)
            if not url_list:
                raise ValueError(f"no URL configured for {model}")
            self.replicas[model] = [Replica(model, u.rstrip("/")) for u in url_list]
        self.probe_ttl_s = probe_ttl_s
        self.unhealthy_s = unhealthy_s
        self.ready_wait_s = ready_wait_s
        self.poll_interval_s = poll_interval_s
        self._client = httpx.AsyncClient(
            timeout=probe_timeout_s, headers=dict(headers or {}), transport=transport
        )
        self._probing: dict[Replica, asyncio.Task[bool]] = {}
        self._leases: dict[str, list[Replica]] = {}
        self._ids = itertools.count(1)
        self._turn = itertools.count()

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteDirectory:
        sup = settings.supervisor
        key = settings.engine.api_key
        return cls(
            sup.remote_endpoints,
            probe_ttl_s=sup.remote_probe_ttl_s,
            unhealthy_s=sup.remote_unhealthy_s,
            ready_wait_s=sup.remote_ready_wait_s,
            headers={"Authorization": f"Bearer {key.get_secret_value()}"} if key else None,
        )

    # --- EngineDirectory ---------------------------------------------------------------

    async def acquire(self, models: Sequence[str], holder: str) -> Lease:
        require_configured(models, self.replicas, "supervisor.remote_endpoints")
        deadline = asyncio.get_running_loop().time() + self.ready_wait_s
        chosen = await asyncio.gather(*(self._pick(m, deadline) for m in models))
        for replica in chosen:
            replica.in_flight += 1
        lease = Lease(f"remote-{next(self._ids)}", {r.model_id: r.url for r in chosen}, holder)
        self._leases[lease.lease_id] = list(chosen)
        return lease

    async def release(self, lease: Lease) -> None:
        for replica in self._leases.pop(lease.lease_id, []):
            replica.in_flight = max(0, replica.in_flight - 1)

    async def prefetch(self, models: Sequence[str]) -> dict[str, str] | None:
        """Probe the models' replicas now, so the page's status is fresh."""
        known = [m for m in models if m in self.replicas]
        await asyncio.gather(*(self._check(r) for m in known for r in self.replicas[m]))
        return {m: self._model_state(m) for m in known}

    async def status(self) -> dict[str, Any] | None:
        every = [r for replicas in self.replicas.values() for r in replicas]
        stale = [r for r in every if not self._fresh(r)]
        await asyncio.gather(*(self._check(r) for r in stale))
        return {
            "launcher": "remote",
            "now": time.time(),
            "slots": [{"gpu": None, "family": "remote", "engines": [r.as_status() for r in every]}],
            "queue": [],
            "leases": len(self._leases),
        }

    async def aclose(self) -> None:
        for task in self._probing.values():
            task.cancel()
        await self._client.aclose()

    # --- choosing and probing ----------------------------------------------------------

    async def _pick(self, model: str, deadline: float) -> Replica:
        loop = asyncio.get_running_loop()
        first_pass = True
        while True:
            for replica in self._ranked(model, skip_cooling=first_pass):
                if await self._check(replica):
                    return replica
            first_pass = False
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._not_ready(model)
            await asyncio.sleep(min(self.poll_interval_s, remaining))

    def _ranked(self, model: str, skip_cooling: bool) -> list[Replica]:
        """Fewest battles in flight first (a known-healthy one before one still to probe,
        ties rotating); replicas that failed a moment ago only when nothing else is left."""
        now = time.monotonic()
        replicas = self.replicas[model]
        turn = next(self._turn) % len(replicas)
        rotated = replicas[turn:] + replicas[:turn]
        cooling = [r for r in rotated if r.healthy is False and r.unhealthy_until > now]
        usable = [r for r in rotated if r not in cooling]
        usable.sort(key=lambda r: (r.in_flight, not (r.healthy and self._fresh(r))))
        if skip_cooling and usable:
            return usable
        return usable + cooling

    def _fresh(self, replica: Replica) -> bool:
        return replica.healthy is not None and (
            time.monotonic() - replica.checked_at < self.probe_ttl_s
        )

    async def _check(self, replica: Replica) -> bool:
        """Is the replica ready? A recent passed probe is trusted; concurrent checks of
        one replica share one probe."""
        if replica.healthy and self._fresh(replica):
            return True
        task = self._probing.get(replica)
        if task is None:
            task = asyncio.ensure_future(self._probe(replica))
            self._probing[replica] = task
            task.add_done_callback(lambda _t, r=replica: self._probing.pop(r, None))
        return await asyncio.shield(task)

    async def _probe(self, replica: Replica) -> bool:
        reason = await probe_engine(self._client, replica.url, replica.model_id)
        replica.checked_at = time.monotonic()
        if reason is None:
            if replica.healthy is False:
                log.info("replica %s of %s answers again", replica.url, replica.model_id)
            replica.healthy, replica.error, replica.unhealthy_until = True, None, 0.0
            return True
        self._mark_unhealthy(replica, reason)
        return False

    def _mark_unhealthy(self, replica: Replica, reason: str) -> None:
        if replica.healthy is not False:
            log.warning("replica %s of %s unhealthy: %s", replica.url, replica.model_id, reason)
        replica.healthy, replica.error = False, reason
        replica.checked_at = time.monotonic()
        replica.unhealthy_until = replica.checked_at + self.unhealthy_s

    def _model_state(self, model: str) -> str:
        states = {r.as_status()["state"] for r in self.replicas[model]}
        return "ready" if "ready" in states else "failed" if states == {"failed"} else "unknown"

    def _not_ready(self, model: str) -> EngineDirectoryError:
        reasons = "; ".join(f"{r.url}: {r.error or 'not probed'}" for r in self.replicas[model])
        loading = any((r.error or "").endswith(" 503") for r in self.replicas[model])
        return EngineDirectoryError(
            f"no replica of {model} ready within {self.ready_wait_s:.0f} s ({reasons})",
            "timeout" if loading else "unavailable",
        )
