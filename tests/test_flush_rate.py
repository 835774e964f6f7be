"""The process-wide push budget for streamed text (`app.arena.flush_rate`), and the arena
session using it over real HTTP: the more pages stream at once, the fewer pushes each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.arena.flush_rate import FlushRate
from app.arena.session import ArenaSession
from app.core.settings import Settings
from app.core.store.battle_store import BattleStore
from tests.standin import Standin, standin_services, start_standins

MULTISYNT = "MultiSynt/nemotron-cc-norwegian-tower9b"
HPLT = "HPLT/hplt2c_nob_checkpoints"


def test_a_lone_page_gets_the_configured_interval() -> None:
    rate = FlushRate(0.08, 0.4, pushes_per_s=100)
    assert rate.interval() == 0.08
    with rate.stream():
        assert rate.streaming == 1
        assert rate.interval() == 0.08


def test_the_interval_grows_with_the_pages_streaming_up_to_the_maximum() -> None:
    rate = FlushRate(0.08, 0.4, pushes_per_s=100)
    rate.streaming = 20
    assert rate.interval() == pytest.approx(0.2)  # 20 pages x 5 pushes/s = the budget
    rate.streaming = 30
    assert rate.interval() == pytest.approx(0.3)
    rate.streaming = 500
    assert rate.interval() == 0.4  # text still visibly flows on an overloaded server


def test_a_page_stops_counting_when_its_stream_ends_even_by_an_error() -> None:
    rate = FlushRate(0.08, 0.4, pushes_per_s=100)
    with pytest.raises(RuntimeError), rate.stream(), rate.stream():
        assert rate.streaming == 2
        raise RuntimeError("the battle was cancelled")
    assert rate.streaming == 0


def test_bad_settings_are_refused_and_a_longer_minimum_wins() -> None:
    with pytest.raises(ValueError):
        FlushRate(0.08, 0.4, pushes_per_s=0)
    with pytest.raises(ValueError):
        FlushRate(0, 0.4, pushes_per_s=100)
    assert FlushRate(0.5, 0.4, pushes_per_s=100).interval() == 0.5


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, Standin]]:
    # 60 tokens at 10 ms: 0.6 s of streaming on each side.
    with start_standins({MULTISYNT: 0.01, HPLT: 0.01}) as engines:
        yield engines


def session_with(engines: dict[str, Standin], db: Path, rate: FlushRate) -> ArenaSession:
    settings = Settings(session_salt="test-salt", generation={"max_new_tokens": 60})
    endpoints = {m: e.url for m, e in engines.items()}
    services = standin_services(settings, BattleStore(db), endpoints, flush_rate=rate)
    session = ArenaSession(services, session_id="session-1")
    session.select_language("nob")
    return session


@pytest.mark.slow
async def test_a_busy_server_pushes_each_page_less_often(
    engines: dict[str, Standin], tmp_path: Path
) -> None:
    pushes: dict[str, int] = {}
    for label, others in (("alone", 0), ("busy", 99)):
        rate = FlushRate(0.05, 0.3, pushes_per_s=100)
        rate.streaming = others  # pages of other voters, streaming at the same time
        session = session_with(engines, tmp_path / f"{label}.duckdb", rate)
        seen: list[int] = []
        session.param.watch(lambda _e, r=rate, s=seen: s.append(r.streaming), "text_a")
        try:
            outcome = await session.generate("Det var en gang en konge som")
            assert outcome is not None and outcome.votable
            assert session.text_a == outcome.a.text  # nothing lost, whatever the interval
        finally:
            session._services.store.close()
        assert rate.streaming == others  # this page no longer counts
        # It counted while it streamed; the final text goes out with the phase change.
        assert set(seen[:-1]) == {others + 1} and seen[-1] == others
        pushes[label] = len(seen)
    # 0.6 s of text: every 50 ms alone, every 300 ms (the cap) with 99 others streaming.
    assert pushes["busy"] <= 4 < pushes["alone"]
