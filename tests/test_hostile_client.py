"""A hostile client against a real `oellm-arena demo` process, over Bokeh's websocket
protocol as a browser speaks it (`benchmark/bokeh_client.py`), sending what no browser
would: text that is not valid Unicode, clicks on a disabled button, a select value that
is not an option. Each attack must leave the arena usable, the battle log whole and the
app log one honest line long."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import duckdb
import pytest

from app.core.registry import load_registry
from benchmark.arena_voter import ArenaVoter
from benchmark.bokeh_client import BokehPageClient, change_event, click_event
from benchmark.harness import run_demo

pytestmark = pytest.mark.slow

ROUND_TIMEOUT_S = 60.0


async def _voter(url: str) -> tuple[BokehPageClient, ArenaVoter]:
    client = BokehPageClient(url)
    await client.connect()
    registry = load_registry()
    voter = ArenaVoter(
        client,
        0,
        registry,
        [("dan", 1.0)],
        tag="hostile",
        rng=random.Random(1),
        round_timeout_s=ROUND_TIMEOUT_S,
    )
    await client.send([change_event(voter.language_id, "value", "dan")])
    assert await client.wait_until(voter.can_generate, ROUND_TIMEOUT_S), "Generate never enabled"
    return client, voter


async def _type(client: BokehPageClient, voter: ArenaVoter, text: str) -> None:
    await client.send(
        [
            change_event(voter.prompt_id, "value_input", text),
            change_event(voter.prompt_id, "value", text),
        ]
    )


def _rows(db: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT prompt, status FROM battles ORDER BY created_at").fetchall()
    finally:
        con.close()


def _under_attack(
    tmp_path: Path, attack: Callable[[str], Awaitable[None]]
) -> tuple[str, int, list[tuple[str, str]]]:
    """Run `attack(arena page URL)` against a fresh demo; then (its log, the log's size
    before the attack, the battle rows)."""
    with run_demo(tmp_path) as demo:
        before = len(demo.log_text())
        asyncio.run(attack(demo.url))
        demo.stop()
        log = demo.log_text()
    return log, before, _rows(demo.db_path)


def test_invalid_unicode_is_cleaned_and_the_battle_logged(tmp_path: Path) -> None:
    """A lone surrogate, which no UTF-8 encoder takes, would fail the engine client and
    DuckDB: the battle lost, the page stuck on "writing". It is cleaned at the door."""

    async def attack(url: str) -> None:
        client, voter = await _voter(url)
        try:
            await _type(client, voter, "Der var engang \ud800 en konge")
            await client.click(voter.generate_id)
            assert await client.wait_until(lambda: voter.votable() or voter.failed(), 60)
            assert voter.votable(), voter.message()
        finally:
            await client.close()

    log, _, rows = _under_attack(tmp_path, attack)
    assert rows == [("Der var engang \ufffd en konge", "completed")]
    assert "Traceback" not in log


def test_a_forged_click_on_a_disabled_generate_starts_nothing(tmp_path: Path) -> None:
    """While a battle runs the page disables Generate; a client that clicks it anyway, in
    the same message as the first click and again while the texts stream with another
    prompt, starts nothing and changes nothing of the running battle."""

    async def attack(url: str) -> None:
        client, voter = await _voter(url)
        try:
            await _type(client, voter, "Der var engang en konge")
            await client.send([click_event(voter.generate_id)] * 3)
            assert await client.wait_until(lambda: voter.has_text() or voter.failed(), 60)
            await _type(client, voter, "En helt anden tekst")
            await client.click(voter.generate_id)
            assert await client.wait_until(lambda: voter.votable() or voter.failed(), 60)
            assert voter.votable(), voter.message()
        finally:
            await client.close()

    _, _, rows = _under_attack(tmp_path, attack)
    assert rows == [("Der var engang en konge", "completed")]


def test_a_forged_select_value_logs_one_quoted_line(tmp_path: Path) -> None:
    forged = "swe\n2026-01-01 00:00:00 INFO app: admin logged in" + "x" * 5000

    async def attack(url: str) -> None:
        client, voter = await _voter(url)
        try:
            await client.send([change_event(voter.language_id, "value", forged)])
            await client.round_trip()
            await _type(client, voter, "Der var engang")
            await client.click(voter.generate_id)  # the page still works, in Danish
            assert await client.wait_until(lambda: voter.votable() or voter.failed(), 60)
            assert voter.votable(), voter.message()
        finally:
            await client.close()

    log, _, rows = _under_attack(tmp_path, attack)
    assert "\n2026-01-01 00:00:00 INFO app: admin logged in" not in log  # no forged line
    refused = [line for line in log.splitlines() if "a browser message was refused" in line]
    assert len(refused) == 1 and len(refused[0]) < 600, refused
    assert "Traceback" not in log
    assert [prompt for prompt, _ in rows] == ["Der var engang"]


def test_a_huge_malformed_message_makes_a_short_log_record(tmp_path: Path) -> None:
    """Bokeh logs a message it cannot apply with its whole content (`%r`): 5 MB of log for
    5 MB of junk, on as many lines as the junk has. The arena's log format cuts it."""
    junk = ("x" * 1000 + "\n2026-01-01 00:00:00 INFO app: forged\n") * 5000  # ~5 MB
    # A change of a model that does not exist: Bokeh refuses the whole message.
    bad = {"kind": "ModelChanged", "model": {"id": "no-such-model"}, "attr": "value", "new": junk}

    async def attack(url: str) -> None:
        client, _ = await _voter(url)
        try:
            await client.send([bad])
            # The server refuses it (or drops this client); a new page still works.
            other, _ = await _voter(url)
            await other.round_trip()
            await other.close()
        finally:
            await client.close()

    log, before, _ = _under_attack(tmp_path, attack)
    assert len(log) - before < 100_000, len(log) - before
    assert "\n2026-01-01 00:00:00 INFO app: forged" not in log
