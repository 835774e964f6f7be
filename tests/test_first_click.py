"""The first click on a new arena page, against a real `oellm-arena demo` process over
Bokeh's websocket protocol as a browser speaks it (`benchmark/bokeh_client.py`).

A voter may press Generate the moment the page shows it enabled, and the click must start
the battle. So the page may never show Generate enabled and then disable it while the
session looks at its models: a click made in between would be dropped (Panel 1.10 drops a
click on a disabled button before the page's handler), and the voter's round would
silently never start. Each page here clicks at once, as soon as Generate is enabled; the
first page's models are still loading (cold engines), the second's are loaded.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from app.core.registry import load_registry
from benchmark.arena_voter import ArenaVoter
from benchmark.bokeh_client import BokehPageClient, change_event
from benchmark.harness import run_demo

pytestmark = pytest.mark.slow

ROUND_TIMEOUT_S = 60.0
PROMPT = "Det var en gång en katt som"


async def _click_at_once(url: str) -> list[bool]:
    """Open a page, click Generate as soon as it is enabled, and return every state of
    Generate (disabled or not) that the page showed until the click."""
    client = BokehPageClient(url)
    await client.connect()
    try:
        voter = ArenaVoter(
            client,
            0,
            load_registry(),
            [("swe", 1.0)],
            tag="first",
            rng=random.Random(1),
            round_timeout_s=ROUND_TIMEOUT_S,
        )
        shown = [not voter.can_generate()]  # as the document arrived
        watch_message = client.on_patch

        def on_patch(events: list[dict[str, Any]]) -> None:
            if watch_message is not None:
                watch_message(events)
            if any(e.get("attr") == "disabled" for e in events):
                shown.append(not voter.can_generate())

        client.on_patch = on_patch
        assert await client.wait_until(voter.can_generate, ROUND_TIMEOUT_S), shown
        await client.send(
            [
                change_event(voter.prompt_id, "value_input", PROMPT),
                change_event(voter.prompt_id, "value", PROMPT),
            ]
        )
        await client.click(voter.generate_id)
        clicked = list(shown)
        assert await client.wait_until(lambda: voter.votable() or voter.failed(), 30), (
            f"the click on Generate was lost; Generate shown disabled: {clicked}"
        )
        assert voter.votable(), voter.message()
        return clicked
    finally:
        await client.close()


def test_a_click_as_soon_as_generate_is_enabled_starts_the_battle(tmp_path: Path) -> None:
    with run_demo(tmp_path) as demo:
        cold = asyncio.run(_click_at_once(demo.url))
        warm = asyncio.run(_click_at_once(demo.url))
        assert demo.stop() == 0
    # While the first page's models loaded, Generate was disabled from the start; the
    # second page may show it enabled at once. Never enabled, then disabled.
    assert cold[0] is True, cold
    for states in (cold, warm):
        assert states[-1] is False and True not in states[states.index(False) :], states
    assert "Traceback" not in demo.log_text()
