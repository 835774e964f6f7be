"""The stand-in engine speaks vLLM's sleep mode (`--sleep-mode`) over real HTTP.

Asleep, generation answers 503 and health keeps answering; `/wake_up` takes the
configured time per level and a second wake during the first waits for it; the host
memory it reports asleep is the weights at level 1 and nothing at level 2; without
`--sleep-mode` the routes do not exist (404), as in vLLM without its dev mode.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.standin import start_standin

SWEDISH = "HPLT/hplt2c_swe_checkpoints"
BODY = {"inputs": "Stockholm är", "parameters": {"max_new_tokens": 4}}
SLEEPY = ["--sleep-mode", "--wake-s-level1", "0.3", "--wake-s-level2", "0.6", "--sleep-s", "0"]


def test_sleep_and_wake_at_each_level() -> None:
    with start_standin(SWEDISH, extra_args=SLEEPY) as engine:
        http = engine.http
        assert http.get("/is_sleeping").json() == {"is_sleeping": False}
        assert http.post("/generate", json=BODY).status_code == 200
        assert http.post("/sleep", params={"level": 1}).status_code == 200
        assert http.get("/is_sleeping").json() == {"is_sleeping": True}
        asleep = http.post("/generate", json=BODY)
        assert asleep.status_code == 503 and asleep.json()["error_type"] == "sleeping"
        assert http.get("/health").status_code == 200  # the process is alive
        assert engine.stats()["host_memory_gb"] == 4.3  # 2.15B parameters in bf16
        started = time.monotonic()
        assert http.post("/wake_up").status_code == 200
        assert time.monotonic() - started >= 0.3
        assert http.post("/generate", json=BODY).status_code == 200
        http.post("/sleep", params={"level": 2})
        assert engine.stats()["host_memory_gb"] == 0.0  # level 2 drops the weights
        # Woken without reloading, the model has no weights: nothing sensible to generate.
        http.post("/wake_up")
        lost = http.post("/generate", json=BODY)
        assert lost.status_code == 500 and lost.json()["error_type"] == "weights_lost"
        # vLLM's order after level 2: the weights' memory, the weights from disk, the cache.
        http.post("/sleep", params={"level": 2})
        started = time.monotonic()
        assert http.post("/wake_up", params={"tags": "weights"}).status_code == 200
        assert http.get("/is_sleeping").json() == {"is_sleeping": True}  # the cache sleeps
        reload = http.post("/collective_rpc", json={"method": "reload_weights"})
        assert reload.status_code == 200
        assert http.post("/wake_up", params={"tags": "kv_cache"}).status_code == 200
        assert time.monotonic() - started >= 0.6  # the reload is the slow part
        assert http.post("/generate", json=BODY).status_code == 200
        stats = engine.stats()
        assert (stats["sleeps"], stats["wakes"], stats["reloads"]) == (3, 3, 1)
        assert stats["sleep_level"] == 0 and not stats["weights_lost"]
        assert http.post("/sleep", params={"level": 3}).status_code == 400
        rpc = http.post("/collective_rpc", json={"method": "execute_model"})
        assert rpc.status_code == 400


def test_concurrent_wakes_wake_once() -> None:
    with start_standin(SWEDISH, extra_args=SLEEPY) as engine:
        engine.http.post("/sleep")

        async def wake_twice() -> list[int]:
            async with httpx.AsyncClient(base_url=engine.url, timeout=10) as client:
                replies = await asyncio.gather(*(client.post("/wake_up") for _ in range(3)))
            return [r.status_code for r in replies]

        assert asyncio.run(wake_twice()) == [200, 200, 200]
        assert engine.stats()["wakes"] == 1


@pytest.mark.parametrize("path", ["/sleep", "/wake_up"])
def test_without_sleep_mode_the_routes_do_not_exist(path: str) -> None:
    with start_standin(SWEDISH) as engine:
        assert engine.http.post(path).status_code == 404
        assert engine.http.get("/is_sleeping").status_code == 404
        assert "sleep_level" not in engine.stats()
