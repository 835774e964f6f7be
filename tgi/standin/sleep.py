"""vLLM's sleep mode, spoken by the stand-in engine (`--sleep-mode`).

vLLM started with `--enable-sleep-mode` (and `VLLM_SERVER_DEV_MODE=1`) serves:

- `POST /sleep?level=1|2`: level 1 moves the weights to host memory and drops the KV
  cache; level 2 drops the weights too. Answers 200 once asleep.
- `POST /wake_up` (optionally `?tags=weights` or `?tags=kv_cache`, one part at a time):
  back on the GPU; answers 200 once awake. After level 2 the weights come back empty:
  `POST /collective_rpc` `{"method": "reload_weights"}` reads them from disk again, and
  the KV cache is woken last (vLLM's documented order: weights, reload, kv_cache).
- `GET /is_sleeping`: `{"is_sleeping": true|false}`, true until every part is awake.

While asleep, the routes that need the weights answer 503; the others (health, model
list) keep answering. The stand-in does the same, taking `--sleep-s` to fall asleep and
`--wake-s-level1` / `--wake-s-level2` to wake (vLLM's own figures for a 0.6B model on an
A100: 0.26 s and 0.85 s; at level 2 the time is spent reloading the weights), and
generates nothing but a 500 error after a level-2 wake without the reload, as vLLM would
generate from empty weights. It reports the host memory it would hold asleep
(`--weights-gb`: the weights at level 1, nothing at level 2) in `/standin/faults`. One
wake at a time: a second `/wake_up` while waking waits for the first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from tgi.standin.handlers import BaseHandler

log = logging.getLogger("tgi.standin")


@dataclass
class SleepState:
    """What `/sleep` and `/wake_up` change; None when sleep mode is off (routes 404)."""

    sleep_s: float = 0.05
    wake_s: dict[int, float] = field(default_factory=lambda: {1: 0.26, 2: 0.85})
    weights_gb: float = 4.3
    level: int = 0  # 0: awake; 1 or 2: asleep at that level
    sleeps: int = 0
    wakes: int = 0
    reloads: int = 0
    asleep_since: float | None = None
    parts_asleep: set[str] = field(default_factory=set)  # of "weights", "kv_cache"
    weights_lost: bool = False  # slept at level 2 and not reloaded since
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def asleep(self) -> bool:
        return self.level > 0

    @property
    def host_memory_gb(self) -> float:
        """Host memory held for the model while asleep: the weights at level 1."""
        return self.weights_gb if self.level == 1 else 0.0

    def describe(self) -> dict[str, object]:
        return {
            "sleep_level": self.level,
            "sleeps": self.sleeps,
            "wakes": self.wakes,
            "reloads": self.reloads,
            "weights_lost": self.weights_lost,
            "host_memory_gb": self.host_memory_gb,
        }

    async def sleep(self, level: int) -> None:
        async with self._lock:
            if self.level:
                return
            await asyncio.sleep(self.sleep_s)
            self.level = level
            self.parts_asleep = {"weights", "kv_cache"}
            self.weights_lost = level == 2
            self.sleeps += 1
            self.asleep_since = time.time()
            log.info("asleep (level %d)", level)

    async def wake(self, tags: set[str] | None = None) -> None:
        """Wake `tags` (every part when None); concurrent wakes: the second finds it awake."""
        async with self._lock:
            parts = self.parts_asleep & (tags or self.parts_asleep)
            if not parts:
                return
            if self.level == 1 and "weights" in parts:  # the copy back from host memory
                await asyncio.sleep(self.wake_s[1])
            self.parts_asleep -= parts
            if not self.parts_asleep:
                self.level = 0
                self.wakes += 1
                self.asleep_since = None
                log.info("awake%s", " (weights not reloaded)" if self.weights_lost else "")

    async def reload_weights(self) -> None:
        """Read the weights from disk again (the slow part of a level-2 wake)."""
        async with self._lock:
            await asyncio.sleep(self.wake_s[2])
            self.weights_lost = False
            self.reloads += 1


class SleepRoutes(BaseHandler):
    """The three routes; 404 without `--sleep-mode`, as vLLM without its dev mode."""

    def prepare(self) -> None:
        if self.state.sleep is None:
            self.set_status(404)
            self.finish()

    @property
    def sleep(self) -> SleepState:
        assert self.state.sleep is not None
        return self.state.sleep


class SleepHandler(SleepRoutes):
    async def post(self) -> None:
        level = self.get_query_argument("level", "1")
        if level not in ("1", "2"):
            self.write_json({"error": f"level must be 1 or 2, not {level!r}"}, 400)
            return
        await self.sleep.sleep(int(level))
        self.finish()


class WakeHandler(SleepRoutes):
    async def post(self) -> None:
        tags = set(self.get_query_arguments("tags")) or None
        if tags and not tags <= {"weights", "kv_cache"}:
            self.write_json({"error": f"unknown tags {sorted(tags)}"}, 400)
            return
        await self.sleep.wake(tags)
        self.finish()


class CollectiveRpcHandler(SleepRoutes):
    """`POST /collective_rpc`: of vLLM's worker methods, only `reload_weights`."""

    async def post(self) -> None:
        try:
            method = json.loads(self.request.body or b"{}").get("method")
        except (ValueError, AttributeError):
            method = None
        if method != "reload_weights":
            self.write_json(
                {"error": f"the stand-in runs only reload_weights, not {method!r}"}, 400
            )
            return
        await self.sleep.reload_weights()
        self.write_json({"results": [None]})


class IsSleepingHandler(SleepRoutes):
    def get(self) -> None:
        self.write_json({"is_sleeping": self.sleep.asleep})
