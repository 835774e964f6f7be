"""How often a streaming page is updated: often when few stream, less when many do.

Each push of streamed text costs the server a fixed amount of CPU (a Panel batch, a
websocket message) whatever it carries, and the arena runs in one Python process. At 80 ms
per push, 50 voters streaming at once would ask for 625 pushes a second and the event loop
would fall behind everything else (clicks, votes, the next token). `FlushRate` keeps the
whole process near a budget of pushes per second instead: a page's interval is the number
of pages streaming now divided by the budget, never below the configured interval (what a
lone voter gets) and never above `max_interval_s` (text still visibly flows). A voter sees
the same text arrive in fewer, larger steps when the server is busy; nothing is dropped,
and the end of a battle is pushed at once whatever the interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class FlushRate:
    """The process-wide push budget. One instance per server, shared by all sessions."""

    def __init__(self, min_interval_s: float, max_interval_s: float, pushes_per_s: float) -> None:
        if min_interval_s <= 0 or pushes_per_s <= 0:
            raise ValueError("the interval and the budget must be positive")
        self.min_interval_s = min_interval_s
        self.max_interval_s = max(min_interval_s, max_interval_s)  # a longer minimum wins
        self.pushes_per_s = pushes_per_s
        self.streaming = 0  # pages streaming now

    def interval(self) -> float:
        """Seconds a streaming page waits between pushes, given the pages streaming now."""
        wanted = self.streaming / self.pushes_per_s
        return min(self.max_interval_s, max(self.min_interval_s, wanted))

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Count one page as streaming for the duration of the block."""
        self.streaming += 1
        try:
            yield
        finally:
            self.streaming -= 1
