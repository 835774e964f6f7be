"""Flags voting that looks automated: many votes within seconds, always for the same side.

Such votes are still stored (deleting them would hide the attack from analysts) but the
battle is flagged so ratings can exclude it. One tracker per voter session.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SIDES = ("model_a", "model_b")


@dataclass
class VoteRateTracker:
    """Remembers a session's recent votes; `would_burst` says whether the next one would be
    anomalous, `record` counts it once stored."""

    votes: int = 5  # this many votes ...
    within_s: float = 30.0  # ... within this many seconds ...
    clock: Callable[[], float] = time.monotonic
    _recent: deque[tuple[float, str]] = field(default_factory=deque, repr=False)

    def would_burst(self, winner: str) -> bool:
        """True when a vote for `winner` now would complete a burst of `votes` same-side
        votes within `within_s` (counted only by `record`)."""
        now = self.clock()
        recent = [w for t, w in self._recent if t >= now - self.within_s] + [winner]
        return (
            len(recent) >= self.votes
            and winner in SIDES
            and all(w == winner for w in recent[-self.votes :])
        )

    def record(self, winner: str) -> bool:
        """Count a stored vote; True when it completes a burst (as `would_burst` said)."""
        burst = self.would_burst(winner)
        now = self.clock()
        self._recent.append((now, winner))
        while self._recent and self._recent[0][0] < now - self.within_s:
            self._recent.popleft()
        return burst
