"""The bookkeeping behind the per-client limits of `app/web/session_guard.py`, as plain
objects with no server around them: sessions per address, turns to build one, the frames
of a websocket message, and a log that says "refused" once, not once per request.

Keys are keyed hashes of client addresses (the guard makes them); nothing here sees an
address.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

MAX_BUFFERS = 8  # binary buffers one browser message may announce (the arena's pages: none)
BUILD_SPACING_S = 1.0  # one address starts building a session at most this often
LOG_EVERY_S = 10.0  # a refusal is logged at most this often per address (with a count)


@dataclass
class SessionCounter:
    """Live sessions (and sessions in the making) per key, at most `cap` each."""

    cap: int
    _live: dict[str, set[str]] = field(default_factory=dict)
    _pending: Counter[str] = field(default_factory=Counter)

    def held(self, key: str) -> int:
        return len(self._live.get(key, ())) + self._pending[key]

    def admits(self, key: str) -> bool:
        """Whether `key` may make one more session now."""
        return self.held(key) < self.cap

    @contextmanager
    def making(self, key: str) -> Iterator[None]:
        """Count a session being made for `key` until it is live (or was not made)."""
        self._pending[key] += 1
        try:
            yield
        finally:
            self._pending[key] -= 1
            if self._pending[key] <= 0:
                del self._pending[key]

    def opened(self, key: str, session_id: str) -> None:
        self._live.setdefault(key, set()).add(session_id)

    def closed(self, key: str, session_id: str) -> None:
        ids = self._live.get(key)
        if ids is not None:
            ids.discard(session_id)
            if not ids:
                del self._live[key]

    def keys(self) -> int:
        """How many keys hold something (memory stays bounded: empty keys are dropped)."""
        return len(self._live.keys() | self._pending.keys())


@dataclass
class BuildTurns:
    """One session build at a time per key, each started at least `spacing_s` after the
    key's previous one. A build holds the event loop (about 140 ms for the arena page), so
    a client's back-to-back builds would otherwise take the loop from everyone: with the
    spacing, one client's builds take at most a build's share of each `spacing_s`, and a
    page load of another voter waits for one build at most."""

    spacing_s: float = BUILD_SPACING_S
    clock: Callable[[], float] = time.monotonic
    _locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)
    _next_start: dict[str, float] = field(default_factory=dict)

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                wait = self._next_start.get(key, 0.0) - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_start[key] = self.clock() + self.spacing_s
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
            self._prune()

    def _prune(self) -> None:
        if len(self._next_start) > 1024:
            now = self.clock()
            for key in [k for k, t in self._next_start.items() if t <= now]:
                del self._next_start[key]


@dataclass
class MessageBounds:
    """The frames of the Bokeh messages arriving on one websocket, checked as they come.

    A Bokeh message is a header (which announces `num_buffers`), metadata and content, then
    a buffer header and a payload per buffer; Bokeh's receiver keeps every frame until the
    message is whole."""

    max_bytes: int
    max_buffers: int = MAX_BUFFERS
    _frames_left: int = 0
    _bytes: int = 0

    def check(self, fragment: str | bytes) -> str | None:
        """None if `fragment` may be passed on; else why the websocket must close."""
        if self._frames_left <= 0:  # a message begins: its header says how many frames
            announced = _announced_buffers(fragment)
            if announced > self.max_buffers or announced < 0:
                return f"a message announcing {announced} buffers (at most {self.max_buffers})"
            self._frames_left, self._bytes = 3 + 2 * announced, 0
        self._frames_left -= 1
        self._bytes += len(fragment)
        if self._bytes > self.max_bytes:
            return f"a message over {self.max_bytes} bytes"
        return None


def _announced_buffers(header: str | bytes) -> int:
    try:
        value = json.loads(header)
    except ValueError:
        return 0  # not a header: Bokeh's receiver refuses it
    number = value.get("num_buffers", 0) if isinstance(value, dict) else 0
    return number if isinstance(number, int) else 0


@dataclass
class LogThrottle:
    """Whether to log an event for a key now: the first at once, then at most one per
    `every_s`, which reports how many were left out meanwhile (a flood of refusals must
    not become a flood of log lines)."""

    every_s: float = LOG_EVERY_S
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)
    _skipped: Counter[str] = field(default_factory=Counter)

    def due(self, key: str) -> int | None:
        """None to stay quiet; else the number of events left out since the last line."""
        now = self.clock()
        if now - self._last.get(key, -self.every_s) < self.every_s:
            self._skipped[key] += 1
            return None
        self._last[key] = now
        if len(self._last) > 1024:
            for stale in [k for k, t in self._last.items() if now - t >= self.every_s]:
                self._last.pop(stale, None)
                self._skipped.pop(stale, None)
        return self._skipped.pop(key, 0)
