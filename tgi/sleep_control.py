"""Putting engines to sleep and waking them: vLLM's sleep mode over HTTP, and the host
memory that sleeping engines may hold.

vLLM started with `--enable-sleep-mode` and `VLLM_SERVER_DEV_MODE=1` (only ever on a
trusted network: the dev-mode routes let anyone who reaches the port put the model to
sleep, and `/collective_rpc` runs worker methods) serves `POST /sleep?level=N`,
`POST /wake_up[?tags=...]`, `POST /collective_rpc` and `GET /is_sleeping`; each answers
once done. The stand-in engine speaks the same routes (`tgi/standin/sleep.py`).

Level 1 keeps the weights in host memory (about 4.3 GB for the arena's 2.15B models in
bf16), level 2 drops them; the supervisor keeps the sleepers' host memory within a budget
(`host_budget_gb`: the machine's memory less a reserve, unless set).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import httpx

log = logging.getLogger("tgi.supervisor")

LEVEL2_HOST_GB = 0.5  # level 2 keeps only buffers (e.g. rope tables) in host memory


class SleepControl(Protocol):
    """`sleep` and `wake` answer None once done, else why not (for the log)."""

    async def sleep(self, url: str, level: int) -> str | None: ...

    async def wake(self, url: str, level: int) -> str | None: ...


class HttpSleepControl:
    """vLLM's sleep routes. Waking is checked with `/is_sleeping`, not taken on trust."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def sleep(self, url: str, level: int) -> str | None:
        return await self._call("POST", f"{url}/sleep", params={"level": level})

    async def wake(self, url: str, level: int) -> str | None:
        """Level 1: `/wake_up`. Level 2, as vLLM documents it: wake the weights' memory,
        reload the weights from disk (`/collective_rpc` `reload_weights`), then the KV cache;
        a plain wake would leave the model generating from empty weights."""
        if level == 2:
            steps: list[tuple[str, dict[str, object]]] = [
                ("/wake_up", {"params": {"tags": "weights"}}),
                ("/collective_rpc", {"json": {"method": "reload_weights"}}),
                ("/wake_up", {"params": {"tags": "kv_cache"}}),
            ]
        else:
            steps = [("/wake_up", {})]
        for path, kwargs in steps:
            why = await self._call("POST", f"{url}{path}", **kwargs)
            if why is not None:
                return why
        try:
            asleep = (await self._client.get(f"{url}/is_sleeping")).json().get("is_sleeping")
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            return f"/is_sleeping: {type(exc).__name__}: {exc}"
        return "still asleep after /wake_up" if asleep else None

    async def _call(self, method: str, url: str, **kwargs: object) -> str | None:
        try:
            response = await self._client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if response.status_code != 200:
            return f"{url.rsplit('/', 1)[-1]} answered {response.status_code}"
        return None

    async def aclose(self) -> None:
        await self._client.aclose()


def host_memory_gb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """The machine's memory (MemTotal) in GB, or None where it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2  # kB -> GB (GiB)
    except (OSError, ValueError, IndexError):
        pass
    return None


def host_budget_gb(configured: float | None, reserve_gb: float) -> float:
    """The host memory sleeping engines may hold: `configured`, else the machine's
    memory less `reserve_gb` (for the supervisor, the web app, the OS); 0 when unknown."""
    if configured is not None:
        return configured
    total = host_memory_gb()
    if total is None:
        log.warning("cannot read the machine's memory: no host memory for sleeping engines")
        return 0.0
    return max(0.0, total - reserve_gb)
