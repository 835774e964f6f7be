"""vLLM's sleep mode, spoken by the stand-in engine (`--sleep-mode`).

vLLM started with `--enable-sleep-mode` (and `VLLM_SERVER_DEV_MODE=1`) serves:

- `POST /sleep?level=1|2`: level 1 moves the weights to host memory and drops the KV
  cache; level 2 drops the weights too. Answers 200 once asleep.
- `POST /wake_up`: back on the GPU; answers 200 once awake.
- `GET /is_sleeping`: `{"is_sleeping": true|false}`.

While asleep, the routes that need the weights answer 503; the others (health, model
list) keep answering. The stand-in does the same, taking `--sleep-s` to fall asleep and
`--wake-s-level1` / `--wake-s-level2` to wake (vLLM's own figures for a 0.6B model on an
A100: 0.26 s and 0.85 s), and reports the host memory it would hold asleep
(`--weights-gb`: the weights at level 1, nothing at level 2) in `/standin/faults`. One
wake at a time: a second `/wake_up` while waking waits for the first.
"""

from __future__ import annotations

import asyncio
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
    asleep_since: float | None = None
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
            "host_memory_gb": self.host_memory_gb,
        }

    async def sleep(self, level: int) -> None:
        async with self._lock:
            if self.level:
                return
            await asyncio.sleep(self.sleep_s)
            self.level = level
            self.sleeps += 1
            self.asleep_since = time.time()
            log.info("asleep (level %d)", level)

    async def wake(self) -> None:
        async with self._lock:  # concurrent wakes: the second finds it awake
            if not self.level:
                return
            await asyncio.sleep(self.wake_s.get(self.level, 1.0))
            self.level = 0
            self.wakes += 1
            self.asleep_since = None
            log.info("awake")


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
        await self.sleep.wake()
        self.finish()


class IsSleepingHandler(SleepRoutes):
    def get(self) -> None:
        self.write_json({"is_sleeping": self.sleep.asleep})
