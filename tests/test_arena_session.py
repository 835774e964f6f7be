"""The arena session over real HTTP: two stand-in engine processes, a real DuckDB file.

This is the page's logic without the browser: phases, buffered streaming, the vote rules,
the reveal, failures and cancellation, each checked against the battle log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.arena.battle import Battle
from app.arena.services import battle_limits
from app.arena.session import ArenaSession
from app.core import metrics
from app.core.inference.base import GenerationParams
from app.core.registry import load_registry
from app.core.settings import Settings
from app.core.store.battle_store import BattleStore
from tests.standin import Standin, standin_services, start_standin, start_standins

pytestmark = pytest.mark.slow

MULTISYNT = "MultiSynt/nemotron-cc-norwegian-tower9b"  # Bokmål has exactly one variant
HPLT = "HPLT/hplt2c_nob_checkpoints"
TOKENS = 40


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, Standin]]:
    with start_standins({MULTISYNT: 0.01, HPLT: 0.01}) as engines:
        yield engines


@pytest.fixture
def store(db_path: Path) -> Iterator[BattleStore]:
    with BattleStore(db_path) as s:
        yield s


@pytest.fixture
def session(engines: dict[str, Standin], store: BattleStore) -> Iterator[ArenaSession]:
    for engine in engines.values():
        engine.set_fault(None)
    settings = Settings(
        session_salt="test-salt",
        generation={"max_new_tokens": TOKENS},
        engine={"overload_retries": 2, "overload_backoff_s": 0.01},
        stream_flush_interval_s=0.1,
    )
    services = standin_services(settings, store, {m: e.url for m, e in engines.items()})
    s = ArenaSession(services, session_id="session-1")
    s.select_language("nob")
    yield s


async def test_a_battle_streams_buffered_then_takes_exactly_one_vote(
    session: ArenaSession, store: BattleStore
) -> None:
    started = metrics.sample_value("oellm_arena_battles_started_total", language="nob")
    completed = metrics.sample_value("oellm_arena_battles_completed_total", language="nob")
    votes = metrics.sample_value("oellm_arena_votes_total", winner="model_b")
    refused = metrics.sample_value("oellm_arena_votes_refused_total")
    phases: list[str] = []
    updates = {"a": 0, "b": 0}
    session.param.watch(lambda e: phases.append(e.new), "phase")
    session.param.watch(lambda e: updates.__setitem__("a", updates["a"] + 1), "text_a")
    session.param.watch(lambda e: updates.__setitem__("b", updates["b"] + 1), "text_b")

    outcome = await session.generate("Det var en gang en konge som  ")
    assert outcome is not None and outcome.votable
    assert phases == ["loading", "streaming", "votable"]
    assert session.prompt_shown == "Det var en gang en konge som"  # trailing blanks trimmed
    assert session.text_a == outcome.a.text and session.text_b == outcome.b.text
    assert session.text_a and session.text_b
    # ~0.4 s of streaming at 0.1 s per flush: a handful of updates, not one per token.
    assert 1 <= updates["a"] < TOKENS / 3
    assert 1 <= updates["b"] < TOKENS / 3
    assert session.reveal_a == "" and session.reveal_b == ""

    row = store.get_battle(outcome.battle.battle_id)
    assert row is not None
    assert row["status"] == "completed" and row["winner"] is None
    assert row["tokens_a"] == row["tokens_b"] == TOKENS
    assert row["response_a"] == outcome.a.text
    assert row["language"] == "nob" and row["temperature"] == 0.7
    assert {row["model_a"], row["model_b"]} == {MULTISYNT, HPLT}

    first, second = await asyncio.gather(session.vote("model_b"), session.vote("model_a"))
    assert (first, second) == (True, False)
    assert session.phase == "voted"
    assert MULTISYNT in session.reveal_a + session.reveal_b
    assert HPLT in session.reveal_a + session.reveal_b
    assert store.get_battle(outcome.battle.battle_id)["winner"] == "model_b"
    assert await session.vote("tie") is False
    # Counted where it happened, for /metrics.
    assert metrics.sample_value("oellm_arena_battles_started_total", language="nob") == started + 1
    assert (
        metrics.sample_value("oellm_arena_battles_completed_total", language="nob") == completed + 1
    )
    assert metrics.sample_value("oellm_arena_votes_total", winner="model_b") == votes + 1
    assert (
        metrics.sample_value("oellm_arena_votes_refused_total") == refused
    )  # the session refused the extra clicks


async def test_blank_and_overlong_prompts_are_refused_with_a_message(
    session: ArenaSession, store: BattleStore
) -> None:
    assert await session.generate("   \n ") is None
    assert "Write the start of a text" in session.message
    assert await session.generate("ord " * 1000) is None
    assert "limit" in session.message
    assert session.phase == "idle"
    assert store.count() == 0


async def test_an_overloaded_engine_fails_the_battle_clearly_and_logs_it(
    session: ArenaSession, store: BattleStore, engines: dict[str, Standin]
) -> None:
    engines[HPLT].set_fault("overloaded")
    outcome = await session.generate("Norge er et land i Nord-Europa, og")
    assert outcome is not None and not outcome.votable
    assert session.phase == "failed"
    assert "busy" in session.message
    assert await session.vote("model_a") is False
    row = store.get_battle(outcome.battle.battle_id)
    assert row["status"] == "failed" and "overloaded" in row["error"]


async def test_a_battle_the_log_cannot_take_is_told_counted_and_leaves_the_page_usable(
    session: ArenaSession, store: BattleStore, caplog: pytest.LogCaptureFixture
) -> None:
    unlogged = metrics.sample_value("oellm_arena_battles_unlogged_total", language="nob") or 0
    store.close()  # every write fails from now on, as on a full or vanished disk
    outcome = await session.generate("Norge er et land i Nord-Europa, og")
    assert outcome is not None and not outcome.votable
    assert session.phase == "failed" and "went wrong on our side" in session.message
    assert not session.busy  # Generate usable again
    assert await session.vote("model_a") is False
    lines = [r for r in caplog.records if "could not be logged" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "ERROR"
    assert (
        metrics.sample_value("oellm_arena_battles_unlogged_total", language="nob") == unlogged + 1
    )


async def test_an_engine_overloaded_briefly_is_retried_and_the_battle_completes(
    session: ArenaSession, store: BattleStore, engines: dict[str, Standin]
) -> None:
    engines[HPLT].set_fault("overloaded", times=2)  # two refusals, then it answers
    outcome = await session.generate("Norge er et land i Nord-Europa, og")
    assert outcome is not None and outcome.votable, outcome and outcome.error
    assert engines[HPLT].stats()["fault"] is None  # both refusals were used up
    assert store.get_battle(outcome.battle.battle_id)["status"] == "completed"


async def test_a_disconnect_mid_stream_fails_the_battle(
    session: ArenaSession, store: BattleStore, engines: dict[str, Standin]
) -> None:
    engines[MULTISYNT].set_fault("disconnect:5")
    outcome = await session.generate("Slik lager du vafler: 1.")
    assert outcome is not None and outcome.status == "failed"
    assert "stopped in the middle" in session.message
    row = store.get_battle(outcome.battle.battle_id)
    assert "incomplete_stream" in row["error"]


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("interrupt", ["new round", "language change"])
async def test_leaving_during_streaming_cancels_and_logs_the_battle(
    session: ArenaSession, store: BattleStore, engines: dict[str, Standin], interrupt: str
) -> None:
    engines[HPLT].set_fault("stall:3")  # one side stalls forever: only a cancel ends it
    task = asyncio.create_task(session.generate("Da hun åpnet døren, så hun at"))

    await until(lambda: session.phase == "streaming" and session.text_b + session.text_a)
    if interrupt == "new round":
        session.new_round()
    else:
        session.select_language("swe")
        assert session.language == "swe"
    assert await task is None
    assert session.phase == "idle" and session.text_a == session.text_b == ""
    # The engines saw the client go away: nothing keeps generating for a gone battle.
    await until(lambda: all(e.stats()["in_flight"] == 0 for e in engines.values()))
    await until(lambda: store.count() == 1)
    rows = store.read(lambda con: con.execute("SELECT status, error FROM battles").fetchall())
    assert rows[0][0] == "failed" and rows[0][1].startswith("cancelled")
    assert await session.vote("model_a") is False


@pytest.fixture
def strict_session(engines: dict[str, Standin], store: BattleStore) -> ArenaSession:
    settings = Settings(
        session_salt="test-salt",
        generation={"max_new_tokens": 8},
        trust={"battles_per_minute_per_session": 2, "anomaly_votes": 2},
    )
    endpoints = {m: e.url for m, e in engines.items()}
    services = standin_services(settings, store, endpoints, limits=battle_limits(settings.trust))
    s = ArenaSession(services, session_id="fast-voter", client_address="203.0.113.9")
    s.select_language("nob")
    return s


async def test_limits_refuse_extra_battles_and_bursts_are_flagged(
    strict_session: ArenaSession, store: BattleStore, engines: dict[str, Standin]
) -> None:
    for engine in engines.values():
        engine.set_fault(None)
    ids = []
    for i in range(2):
        outcome = await strict_session.generate(f"Tekst nummer {i} handler om")
        assert outcome is not None and outcome.votable
        assert await strict_session.vote("model_a")
        ids.append(outcome.battle.battle_id)
        strict_session.new_round()
    assert await strict_session.generate("En tredje tekst") is None
    assert "faster than the arena allows" in strict_session.message
    assert store.count() == 2  # the refused battle never started
    flags = [store.get_battle(i)["flags"] for i in ids]
    assert flags == [[], ["vote_burst"]]  # the second same-side vote within seconds
    hashes = store.read(lambda con: con.execute("SELECT session_hash FROM battles").fetchall())
    assert all("203.0.113.9" not in str(h) for h in hashes)


def test_a_continuation_naming_its_maker_flags_the_battle() -> None:
    from app.arena.battle import BattleOutcome, SideResult, _flag_tells
    from app.arena.matchmaking import pick_pairing

    lang = load_registry().language("nob")
    pairing = pick_pairing(lang)
    battle = Battle("nob", "p", pairing, GenerationParams(seed=1), "h")
    clean = BattleOutcome(
        battle, SideResult(pairing.a, " en tekst"), SideResult(pairing.b, " x"), status="completed"
    )
    _flag_tells(clean)
    assert clean.flags == []
    told = BattleOutcome(
        battle,
        SideResult(pairing.a, " trent av HPLT-prosjektet"),
        SideResult(pairing.b, " x"),
        status="completed",
    )
    _flag_tells(told)
    assert told.flags == ["identity_tell"]


async def test_a_prompt_longer_than_the_engines_accept_is_refused_and_the_arena_goes_on(
    store: BattleStore,
) -> None:
    limits = ["--max-input-tokens", "20", "--max-total-tokens", "200"]
    with (
        start_standin(MULTISYNT, extra_args=limits) as ms,
        start_standin(HPLT, extra_args=limits) as hp,
    ):
        settings = Settings(session_salt="s", generation={"max_new_tokens": 8})
        services = standin_services(settings, store, {MULTISYNT: ms.url, HPLT: hp.url})
        session = ArenaSession(services, session_id="long-prompts")
        session.select_language("nob")
        outcome = await session.generate("ord " * 60)
        assert outcome is not None and outcome.status == "failed"
        assert "too long" in session.message
        assert "validation" in store.get_battle(outcome.battle.battle_id)["error"]
        assert await session.vote("model_a") is False
        again = await session.generate("Et kort og greit avsnitt om")
        assert again is not None and again.votable
