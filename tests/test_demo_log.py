"""What `oellm-arena demo` logs at INFO: the URL, engines ready, battles and failures, but
not the health checks that poll every engine (here every 0.2 s instead of every 10 s).

The demo runs for real; one battle is played over the page's websocket, as a browser
would (`benchmark.arena_voter`), and one engine is frozen (SIGSTOP) until its health checks
fail, which must still show as a warning.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.core.registry import load_registry
from benchmark.arena_voter import ArenaVoter, RoundResult
from benchmark.bokeh_client import BokehPageClient
from benchmark.harness import run_demo

pytestmark = pytest.mark.slow

PROBES_PER_ENGINE = 10  # health checks each ready engine answers before the log is read
# An access-log line of a probe or of the supervisor's own polling, in any form, or an
# HTTP client's line per request.
ROUTINE = re.compile(r"\b(GET|HEAD) /(health|ping|info|v1/models|status)\b|HTTP Request:")


async def _play_one_battle(url: str) -> RoundResult:
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
        client = BokehPageClient(url, http=http)
        await client.connect()
        try:
            voter = ArenaVoter(
                client,
                0,
                load_registry(),
                [("swe", 1.0)],
                tag="log",
                rng=random.Random(7),
                round_timeout_s=120,
            )
            return await voter.play_round()
        finally:
            await client.close()


def _ready_engines(supervisor_url: str) -> list[dict]:
    status = httpx.get(f"{supervisor_url}/status", timeout=10).json()
    return [e for slot in status["slots"] for e in slot["engines"] if e["state"] == "ready"]


def _wait_for(
    predicate: Callable[[], object], timeout_s: float, what: str, log: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout_s}s:\n{log()}"
        time.sleep(0.05)


def test_the_demo_log_shows_news_not_health_checks(tmp_path: Path) -> None:
    env = {
        "ARENA_SUPERVISOR__HEALTH_INTERVAL_S": "0.2",
        "ARENA_SUPERVISOR__UNHEALTHY_AFTER": "2",  # reported after two failed checks
    }
    # Patient timeouts: the demo shares its machine with other test processes.
    with run_demo(tmp_path, extra_env=env, start_timeout_s=180) as demo:
        result = asyncio.run(_play_one_battle(demo.url))
        assert result.outcome == "votable" and result.confirmed, (result, demo.log_text())

        engines = _ready_engines(demo.supervisor_url)
        assert len(engines) >= 2

        def probed() -> bool:
            counts = [
                httpx.get(f"{e['url']}/standin/faults", timeout=5).json()["health_requests"]
                for e in engines
            ]
            return min(counts) >= PROBES_PER_ENGINE

        _wait_for(probed, 120, "health checks", demo.log_text)

        frozen = engines[0]
        failed_check = re.compile(
            rf"WARNING tgi\.supervisor: .*{re.escape(frozen['model'])} failed \d+ health check"
        )
        os.kill(frozen["pid"], signal.SIGSTOP)
        try:
            _wait_for(
                lambda: failed_check.search(demo.log_text()), 60, "a failed check", demo.log_text
            )
        finally:
            os.kill(frozen["pid"], signal.SIGCONT)
        assert demo.stop() == 0
    log = demo.log_text()
    lines = log.splitlines()

    assert f"OELLM Arena is running: {demo.url}" in log
    assert any(re.search(r"INFO tgi\.supervisor: slot \d: \S+ ready after", ln) for ln in lines)
    battle = re.compile(r"INFO app\.arena\.battle: battle \S+ completed: .* vs ")
    assert any(battle.search(ln) for ln in lines), log
    routine = [ln for ln in lines if ROUTINE.search(ln)]
    assert not routine, "\n".join(routine[:10])
