"""Matchmaking's tallies: read from a real battle log, bumped by each vote, and steering
the next battles toward the verdict that still needs votes."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

from app.arena.engines import StaticDirectory
from app.arena.matchmaking import VoteCounts
from app.arena.round_prep import RoundPrep
from app.arena.services import ArenaServices
from app.core.registry import Contender, load_registry
from app.core.settings import MatchmakingSettings, Settings
from app.core.store.battle_store import BattleStore
from app.core.store.records import BattleRecord, Winner, utc_now

SWEDISH = load_registry().language("swe")
TOWER9B, TOWER72B, OPUS = SWEDISH.multisynt
HPLT = SWEDISH.hplt
_ids = itertools.count()


def battle(
    left: Contender, right: Contender, winner: Winner | None, **extra: object
) -> BattleRecord:
    return BattleRecord(
        battle_id=f"b{next(_ids)}",
        language=left.language,
        prompt="Det var en gång",
        model_a=left.model_id,
        model_b=right.model_id,
        family_a=left.family,
        family_b=right.family,
        winner=winner,
        voted_at=utc_now() if winner else None,
        **extra,  # type: ignore[arg-type]
    )


def record(store: BattleStore, variant: Contender, wins: int, losses: int, ties: int = 0) -> None:
    """`wins` and `losses` for `variant` against HPLT, on both sides of the screen."""
    rows = []
    for i in range(wins):
        rows.append(battle(variant, HPLT, "model_a") if i % 2 else battle(HPLT, variant, "model_b"))
    for i in range(losses):
        rows.append(battle(variant, HPLT, "model_b") if i % 2 else battle(HPLT, variant, "model_a"))
    rows += [battle(variant, HPLT, "tie") for _ in range(ties)]
    store.record_battles_sync(rows)


def test_decisive_per_model_counts_only_voted_completed_decisive_battles(db_path: Path) -> None:
    with BattleStore(db_path) as store:
        assert store.decisive_per_model() == {}
        record(store, TOWER9B, wins=3, losses=5, ties=2)
        record(store, OPUS, wins=1, losses=0)
        store.record_battles_sync(
            [
                battle(TOWER72B, HPLT, None),  # not voted
                battle(TOWER72B, HPLT, None, status="failed", error="a: overloaded: busy"),
                battle(HPLT, TOWER72B, "both_bad"),
                battle(TOWER9B, TOWER72B, "model_a"),  # not against the reference
            ]
        )
        assert store.decisive_per_model() == {TOWER9B.model_id: (3, 5), OPUS.model_id: (1, 0)}


async def test_vote_counts_read_tallies_and_bump_them_with_the_winner() -> None:
    reads: list[int] = []

    def tallies() -> dict[str, tuple[int, int]]:
        reads.append(1)
        return {"ms": (2, 1)}

    counts = VoteCounts(lambda: {"ms": 3, "hplt": 3}, load_tallies=tallies)
    assert counts.tallies() is None
    await counts.get()
    counts.bump(["ms", "hplt"], ("ms", True))
    counts.bump(["other", "hplt"], ("other", False))
    counts.bump(["ms", "hplt"])  # a tie: counted, not tallied
    await counts.get()
    assert counts.tallies() == {"ms": (3, 1), "other": (0, 1)} and len(reads) == 1
    assert counts.cached() == {"ms": 5, "hplt": 6, "other": 1}


async def test_a_failed_tally_read_keeps_the_counts() -> None:
    def broken() -> dict[str, tuple[int, int]]:
        raise RuntimeError("the log is closing")

    counts = VoteCounts(lambda: {"ms": 1}, load_tallies=broken)
    assert await counts.get() == {"ms": 1} and counts.tallies() is None


def steered(db_path: Path, policy: str) -> Counter[str]:
    """The variants of 60 rounds prepared from the log (each counted as a tie vote)."""
    settings = Settings(db_path=db_path, matchmaking=MatchmakingSettings(policy=policy))
    with BattleStore(db_path) as store:
        record(store, TOWER9B, wins=2, losses=28)  # decided: HPLT
        record(store, TOWER72B, wins=15, losses=15)  # open
        record(store, OPUS, wins=27, losses=3)  # decided: MultiSynt
        services = ArenaServices(
            settings=settings,
            registry=load_registry(),
            store=store,
            directory=StaticDirectory({}),
            make_client=lambda url, model: None,  # type: ignore[arg-type,return-value]
        )
        assert services.vote_counts is not None
        services.vote_counts.refresh()
        prep = RoundPrep(services, on_change=lambda: None)
        chosen: Counter[str] = Counter()
        for _ in range(60):
            pairing = prep.take(SWEDISH)
            variant = next(c for c in (pairing.a, pairing.b) if c.family == "multisynt")
            chosen[variant.variant] += 1
            services.vote_counts.bump(pairing.models)
    return chosen


def test_matchmaking_reads_the_log_and_steers_to_the_undecided_variant(db_path: Path) -> None:
    chosen = steered(db_path, "active")
    # The open verdict gets every vote: the decided ones, at 30 votes each, are far ahead
    # of their floor share (1/30 of the language's battles) and wait for it to catch up.
    assert chosen == {"tower72b": 60}


def test_the_balanced_policy_keeps_the_variants_level(db_path: Path) -> None:
    chosen = steered(db_path, "balanced")
    assert set(chosen.values()) == {20}
