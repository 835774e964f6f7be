"""Leases: which battle holds which engines, and for how long at most.

A lease protects its engines from eviction. So that an app that crashed (or a network
partition) cannot pin engines forever, every lease expires `ttl_s` after it was granted or
last renewed (`POST /renew`, a heartbeat for holders that need longer). The default TTL is
well above the longest battle (the app's total stream timeout), so a healthy app never
needs to renew; an expired lease is released with a warning in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger("tgi.supervisor")


@dataclass
class Lease:
    lease_id: str
    holder: str
    endpoints: dict[str, str]
    acquired_at: float
    expires_at: float
    ttl_s: float
    queued_s: float = 0.0  # how long the request waited in the queue for room


class LeaseBook:
    """Active leases with expiry timers; `on_expire` runs when one lapses."""

    def __init__(self, ttl_s: float, on_expire: Callable[[Lease], None]) -> None:
        self.ttl_s = ttl_s
        self._on_expire = on_expire
        self._leases: dict[str, Lease] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def add(
        self,
        lease_id: str,
        holder: str,
        endpoints: dict[str, str],
        ttl_s: float | None = None,
        queued_s: float = 0.0,
    ) -> Lease:
        now = time.time()
        ttl = ttl_s or self.ttl_s
        lease = Lease(lease_id, holder, endpoints, now, now + ttl, ttl, round(queued_s, 3))
        self._leases[lease_id] = lease
        self._arm(lease, ttl)
        return lease

    def renew(self, lease_id: str, ttl_s: float | None = None) -> Lease | None:
        lease = self._leases.get(lease_id)
        if lease is None:
            return None
        ttl = ttl_s or self.ttl_s
        lease.expires_at = time.time() + ttl
        lease.ttl_s = ttl
        self._arm(lease, ttl)
        return lease

    def pop(self, lease_id: str) -> Lease | None:
        timer = self._timers.pop(lease_id, None)
        if timer is not None:
            timer.cancel()
        return self._leases.pop(lease_id, None)

    def clear(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._leases.clear()

    def __len__(self) -> int:
        return len(self._leases)

    def __iter__(self) -> Iterator[Lease]:
        return iter(list(self._leases.values()))

    def _arm(self, lease: Lease, ttl: float) -> None:
        old = self._timers.pop(lease.lease_id, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[lease.lease_id] = loop.call_later(ttl, self._expire, lease.lease_id)

    def _expire(self, lease_id: str) -> None:
        self._timers.pop(lease_id, None)
        lease = self._leases.pop(lease_id, None)
        if lease is not None:
            log.warning(
                "lease %s of %s expired %.0f s after it was granted or renewed: releasing %s",
                lease_id,
                lease.holder,
                lease.ttl_s,
                sorted(lease.endpoints),
            )
            self._on_expire(lease)
