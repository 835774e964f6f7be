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
    """Remembers a session's recent votes; `record` says whether this one is anomalous."""

    votes: int = 5  # this many votes ...
    within_s: float = 30.0  # ... within this many seconds ...
    clock: Callable[[], float] = time.monotonic
    _recent: deque[tuple[float, str]] = field(default_factory=deque, repr=False)

    def record(self, winner: str) -> bool:
        """True when this vote completes a burst of `votes` same-side votes in `within_s`."""
        now = self.clock()
        self._recent.append((now, winner))
        while self._recent and self._recent[0][0] < now - self.within_s:
            self._recent.popleft()
        if len(self._recent) < self.votes:
            return False
        last = [w for _, w in list(self._recent)[-self.votes :]]
        return last[0] in SIDES and all(w == last[0] for w in last)
