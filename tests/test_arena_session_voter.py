"""The voter experience in the session, over two real stand-in engines of different speeds.

Equal pace (the fast side is held to the slow side's pace and both finish on the same
update, while the real timings are logged) and its control without it; the summary after
five votes; reasons; a switch of interface language; the round prepared before Generate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.arena.session import ArenaSession
from app.core.settings import Settings
from app.core.store.battle_store import BattleStore
from tests.standin import Standin, standin_services, start_standins
from tests.voter_server import HPLT, MULTISYNT

pytestmark = pytest.mark.slow

TOKENS = 30
FAST, SLOW = 0.002, 0.03  # seconds per token: the slow side takes ~0.9 s, the fast ~0.06 s


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, Standin]]:
    with start_standins({MULTISYNT: FAST, HPLT: SLOW}) as engines:
        yield engines


@pytest.fixture
def store(db_path: Path) -> Iterator[BattleStore]:
    with BattleStore(db_path) as s:
        yield s


def make_session(
    store: BattleStore, engines: dict[str, Standin], **settings: object
) -> ArenaSession:
    config = Settings(
        session_salt="s",
        generation={"max_new_tokens": TOKENS},
        **settings,  # type: ignore[arg-type]
    )
    services = standin_services(config, store, {m: e.url for m, e in engines.items()})
    session = ArenaSession(services, session_id="voter")
    session.select_language("nob")
    return session


async def timed_battle(session: ArenaSession) -> tuple[dict[str, list[tuple[float, int]]], object]:
    """Run a battle, recording (time, length) of every update of each pane."""
    loop = asyncio.get_running_loop()
    seen: dict[str, list[tuple[float, int]]] = {"text_a": [], "text_b": []}

    def record(*events) -> None:  # type: ignore[no-untyped-def]
        now = loop.time()  # one moment per batch: one batch is one browser message
        for e in events:
            seen[e.name].append((now, len(e.new)))

    watcher = session.param.watch(record, ["text_a", "text_b"])
    try:
        outcome = await session.generate("Det var en gang en gammel fisker som")
    finally:
        session.param.unwatch(watcher)
    return seen, outcome


def moments(
    seen: dict[str, list[tuple[float, int]]], final: dict[str, int]
) -> dict[str, tuple[float, float]]:
    """Per pane: when it first showed text, and when it showed all of it."""
    return {
        name: (
            min(t for t, n in updates if n > 0),
            min(t for t, n in updates if n == final[name]),
        )
        for name, updates in seen.items()
    }


async def test_equal_pace_holds_the_fast_side_to_the_slow_one(
    store: BattleStore, engines: dict[str, Standin]
) -> None:
    session = make_session(store, engines, stream_flush_interval_s=0.05)
    seen, outcome = await timed_battle(session)
    assert outcome is not None and outcome.votable  # type: ignore[attr-defined]
    final = {"text_a": len(session.text_a), "text_b": len(session.text_b)}
    when = moments(seen, final)
    # Same update, same moment: neither pane starts or ends first.
    assert when["text_a"][0] == when["text_b"][0]
    assert when["text_a"][1] == when["text_b"][1]
    row = store.get_battle(outcome.battle.battle_id)  # type: ignore[attr-defined]
    durations = {row["model_a"]: row["duration_ms_a"], row["model_b"]: row["duration_ms_b"]}
    assert durations[HPLT] > 3 * durations[MULTISYNT], durations  # real timings, logged
    # The fast side was shown at the slow side's pace: over about its whole duration.
    shown_over = when["text_a"][1] - when["text_a"][0]
    assert shown_over > 0.5 * durations[HPLT] / 1000, (shown_over, durations)


async def test_without_equal_pace_the_fast_side_visibly_finishes_first(
    store: BattleStore, engines: dict[str, Standin]
) -> None:
    session = make_session(store, engines, stream_flush_interval_s=0.05, equal_pace=False)
    seen, outcome = await timed_battle(session)
    assert outcome is not None and outcome.votable  # type: ignore[attr-defined]
    fast = "text_a" if outcome.a.contender.model_id == MULTISYNT else "text_b"  # type: ignore[attr-defined]
    slow = "text_b" if fast == "text_a" else "text_a"
    finals = {name: max(n for _, n in updates) for name, updates in seen.items()}
    when = moments(seen, finals)
    assert when[slow][1] - when[fast][1] > 0.4, when  # what equal pace exists to prevent


async def test_summary_reasons_and_interface_switch(
    store: BattleStore, engines: dict[str, Standin]
) -> None:
    session = make_session(store, engines)
    assert await session.save_reasons(["fluent"], [], "too early") is False
    ids = []
    for i, winner in enumerate(["model_a", "model_b", "tie", "model_a", "both_bad"]):
        outcome = await session.generate(f"Runde {i}: Det var en gang")
        assert outcome is not None and outcome.votable
        assert session.summary is None  # never while a battle is open
        assert await session.vote(winner)  # type: ignore[arg-type]
        ids.append(outcome.battle.battle_id)
        if i < 4:
            assert session.summary is None
            session.new_round()
    summary = session.summary
    assert summary is not None and summary.votes == 5
    assert sum(summary.preferences.values()) == 5
    assert summary.preferences["tie"] == summary.preferences["both_bad"] == 1
    assert {b.model_a for b in summary.battles} | {b.model_b for b in summary.battles} == {
        MULTISYNT,
        HPLT,
    }

    assert await session.save_reasons(["repetitive"], ["fluent", "natural"], " Fin <i>x</i> ")
    assert await session.save_reasons(["nonsense"], [], "") is False
    row = store.get_battle(ids[-1])
    assert (row["tags_a"], row["tags_b"], row["comment"]) == (
        ["repetitive"],
        ["fluent", "natural"],
        "Fin <i>x</i>",
    )

    english = (session.message, session.reveal_a)
    session.set_interface("swe")
    assert session.message == "Dina motiveringar kunde inte sparas. Försök igen."
    assert "tränad på" in session.reveal_a + session.reveal_b
    assert session.reveal_a.split(" · ")[0] == english[1].split(" · ")[0]  # same model
    session.new_round()
    assert session.summary is None and session.reveal_a == ""
    ready = "Norska (bokmål): modellerna är redo."  # the next round, prepared ahead
    async with asyncio.timeout(10):
        while session.readiness != ready:
            await asyncio.sleep(0.01)
    assert session.models_ready
