"""Sliding-window limits on battles, per voter session and per client address.

Generation is the expensive act (two GPUs for several seconds), so it is what we limit.
Counters live in memory: a restart forgets them, which is acceptable for abuse limits.
Keys are salted hashes, never raw addresses. Memory stays bounded: idle keys are pruned.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SlidingWindowLimiter:
    """At most `limit` events per `window_s` seconds for each key."""

    limit: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _events: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _last_prune: float = 0.0

    def check(self, key: str) -> float:
        """0.0 if an event for `key` is allowed now (and counts it), else the seconds until
        one will be."""
        now = self.clock()
        self._prune(now)
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return max(0.0, events[0] + self.window_s - now)
        events.append(now)
        return 0.0

    def _prune(self, now: float) -> None:
        if now - self._last_prune < self.window_s:
            return
        self._last_prune = now
        stale = [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window_s]
        for key in stale:
            del self._events[key]


@dataclass
class BattleLimits:
    """The arena's two limits on starting a battle: the session's, then the address's."""

    per_session: SlidingWindowLimiter
    per_address: SlidingWindowLimiter

    def wait(self, session_key: str, address_key: str | None) -> float:
        """0.0 if a battle may start now (and counts it), else the seconds until one may.
        An unknown address (None) is held to the session's limit only."""
        wait = self.per_session.check(session_key)
        if wait == 0.0 and address_key is not None:
            wait = self.per_address.check(address_key)
        return wait
