"""Fifty voters at once, over real HTTP and a real DuckDB file: no vote lost, none doubled.

Each simulated voter is a real `ArenaSession` (the page's logic) on one event loop, as in
the server; every vote is fired twice at once (a double click) to prove exactly-once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.arena.session import ArenaSession
from app.core.settings import Settings
from app.core.store.battle_store import BattleStore
from tests.standin import Standin, standin_services, start_standin

pytestmark = pytest.mark.slow

VOTERS = 50
ROUNDS = 2
MODELS = ["MultiSynt/nemotron-cc-portuguese-opus", "HPLT/hplt2c_por_checkpoints"]


@pytest.fixture(scope="module")
def engines() -> Iterator[list[Standin]]:
    with (
        start_standin(MODELS[0], token_interval=0.005) as a,
        start_standin(MODELS[1], token_interval=0.005) as b,
    ):
        yield [a, b]


async def test_fifty_concurrent_voters_lose_and_double_nothing(
    engines: list[Standin], db_path: Path
) -> None:
    settings = Settings(session_salt="s", generation={"max_new_tokens": 24})
    with BattleStore(db_path) as store:
        services = standin_services(settings, store, {e.model_id: e.url for e in engines})
        rng = random.Random(7)

        async def voter(i: int) -> list[tuple[str, str, bool]]:
            session = ArenaSession(services, session_id=f"voter-{i}")
            session.select_language("por")
            cast = []
            for r in range(ROUNDS):
                outcome = await session.generate(f"Era uma vez {i}-{r}, numa aldeia,")
                assert outcome is not None and outcome.votable, outcome and outcome.error
                winner = rng.choice(["model_a", "model_b", "tie", "both_bad"])
                first, second = await asyncio.gather(session.vote(winner), session.vote("model_a"))
                assert first is True and second is False
                cast.append((outcome.battle.battle_id, winner, first))
                session.new_round()
            return cast

        results = await asyncio.gather(*(voter(i) for i in range(VOTERS)))
        expected = {bid: w for cast in results for bid, w, _ in cast}
        rows = store.read(
            lambda con: con.execute(
                "SELECT battle_id, winner, status FROM battles ORDER BY battle_id"
            ).fetchall()
        )
    assert len(expected) == VOTERS * ROUNDS
    assert len(rows) == VOTERS * ROUNDS  # nothing lost, nothing written twice
    assert {bid: w for bid, w, _ in rows} == expected  # every vote is the first click's
    assert all(status == "completed" for _, _, status in rows)
