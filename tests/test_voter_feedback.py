"""The plain-Python parts of the voter experience: reasons, the session summary, getting a
round's models ready (and what the voter is told meanwhile), and matchmaking's counts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.arena.engine_status import Readiness, StatusPoller
from app.arena.matchmaking import Pairing, VoteCounts
from app.arena.round_prep import describe_readiness, generate_allowed, watch_round
from app.arena.session_summary import PastBattle, SessionVotes
from app.arena.vote_reasons import MAX_COMMENT_CHARS, ReasonsError, clean_comment, clean_tags
from app.core.i18n import load_catalogue
from app.core.registry import load_registry
from app.core.store.battle_store import BattleStore
from app.core.store.export import export_columns
from app.core.store.records import BattleRecord

ENG = load_catalogue().translator("eng")
SWE = load_catalogue().translator("swe")
FIN = load_registry().language("fin")
PAIR = Pairing(a=FIN.multisynt[0], b=FIN.hplt)
TELLS = ("MultiSynt", "HPLT", "hplt2c", "nemotron", "tower", "opus")

# ---- reasons ---------------------------------------------------------------------------


def test_tags_are_checked_deduplicated_and_ordered() -> None:
    assert clean_tags(["cut_off", "fluent", "fluent"]) == ["fluent", "cut_off"]
    assert clean_tags([]) == []
    with pytest.raises(ReasonsError):
        clean_tags(["fluent", "<script>"])


def test_comments_are_trimmed_limited_and_stripped_of_control_characters() -> None:
    assert clean_comment("  Bra\u0000 text\u200b\n ok \x1b[31m ") == "Bra text\n ok [31m"
    assert clean_comment("   ") is None and clean_comment(None) is None
    assert len(clean_comment("å" * 2000) or "") == MAX_COMMENT_CHARS
    assert clean_comment("<b>x</b>") == "<b>x</b>"  # kept as data; the page never renders it


# ---- the session summary ---------------------------------------------------------------


def past(winner: str, a: str = "multisynt") -> PastBattle:
    b = "hplt" if a == "multisynt" else "multisynt"
    return PastBattle("fin", f"{a}-model", f"{b}-model", a, b, winner)


def test_a_summary_every_five_votes_by_family() -> None:
    votes = SessionVotes()
    outcomes = [
        votes.record(past("model_a")),  # multisynt
        votes.record(past("model_a", a="hplt")),  # hplt
        votes.record(past("tie")),
        votes.record(past("model_b", a="hplt")),  # multisynt
    ]
    assert outcomes == [None] * 4
    summary = votes.record(past("both_bad"))
    assert summary is not None and summary.votes == 5
    assert summary.preferences == {"multisynt": 2, "hplt": 1, "tie": 1, "both_bad": 1}
    assert [votes.record(past("tie")) for _ in range(4)] == [None] * 4
    assert (votes.record(past("tie")) or summary).votes == 10


# ---- round preparation -----------------------------------------------------------------


def test_generate_is_allowed_when_ready_or_when_waiting_cannot_help() -> None:
    loading = Readiness("loading", progress=0.3, eta_s=20)
    assert not generate_allowed(loading, {"m": "launched"})
    assert generate_allowed(Readiness("ready", True), None)
    assert generate_allowed(Readiness("failed"), None)
    assert generate_allowed(None, None)  # no status: let the battle try and say
    not_loaded = Readiness("not_loaded", eta_s=40)
    assert not generate_allowed(not_loaded, {"a": "launched", "b": "ready"})
    assert generate_allowed(not_loaded, {"a": "busy", "b": "ready"})  # join the queue


@pytest.mark.parametrize(
    ("readiness", "allowed", "english", "swedish"),
    [
        (
            Readiness("loading", progress=0.5, eta_s=37),
            False,
            "Loading the Finnish models, about 40 s…",
            "Finska: modellerna laddas, cirka 40 s…",
        ),
        (
            Readiness("loading", progress=0.99, eta_s=0),
            False,
            "Loading the Finnish models, almost ready…",
            "Finska: modellerna laddas, snart klart…",
        ),
        (
            Readiness("queued", queue_position=2),
            False,
            "Waiting for a free model slot for Finnish (number 2 in line)…",
            "Finska: väntar på en ledig modellplats (nummer 2 i kön)…",
        ),
        (Readiness("ready", True), True, "The Finnish models are ready.", None),
        (Readiness("not_loaded"), True, "The model servers are busy", None),
        (Readiness("failed"), True, "failed to start", None),
        (None, True, "", ""),
    ],
)
def test_what_the_voter_is_told(
    readiness: Readiness | None, allowed: bool, english: str, swedish: str | None
) -> None:
    said = describe_readiness(ENG, readiness, "Finnish", allowed)
    assert said.startswith(english) or english in said
    if swedish is not None:
        assert describe_readiness(SWE, readiness, "Finska", allowed) == swedish
    assert not any(t.lower() in said.lower() for t in TELLS)


class FakeDirectory:
    """A supervisor that loads in a few status polls; records what it is asked."""

    def __init__(self, statuses: Sequence[dict[str, Any] | None], prefetch: str = "launched"):
        self.statuses = list(statuses)
        self.prefetched: list[list[str]] = []
        self.answer = prefetch

    async def prefetch(self, models: Sequence[str]) -> dict[str, str] | None:
        self.prefetched.append(list(models))
        return {m: self.answer for m in models}

    async def status(self) -> dict[str, Any] | None:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def status(state: str, **engine: Any) -> dict[str, Any]:
    engines = [{"model": m, "state": state, **engine} for m in PAIR.models]
    return {"launcher": "standin", "slots": [{"engines": engines}], "queue": []}


async def watch(directory: FakeDirectory) -> list[tuple[str | None, bool]]:
    reports: list[tuple[str | None, bool]] = []
    poller = StatusPoller(directory, interval_s=0.001)  # type: ignore[arg-type]
    await asyncio.wait_for(
        watch_round(PAIR, directory, poller, lambda r, ok: reports.append((r and r.state, ok))),  # type: ignore[arg-type]
        timeout=5,
    )
    return reports


async def test_a_round_is_prefetched_and_followed_until_ready() -> None:
    not_loaded = {"launcher": "standin", "slots": [], "queue": [], "typical_load_seconds": 40}
    directory = FakeDirectory(
        [not_loaded, status("loading", progress=0.2, eta_seconds=30), status("ready")]
    )
    reports = await watch(directory)
    assert directory.prefetched == [PAIR.models]
    # A status from before the prefetch says "not loaded": the voter hears "loading".
    assert reports[0] == ("loading", False)
    assert reports[-1] == ("ready", True) and ("loading", False) in reports


async def test_no_status_or_busy_gpus_leave_generate_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await watch(FakeDirectory([None])) == [(None, True)]
    monkeypatch.setattr("app.arena.round_prep.REPREFETCH_S", 0.0)
    empty = {"launcher": "standin", "slots": [], "queue": []}
    directory = FakeDirectory([empty, empty, empty, status("ready")], prefetch="busy")
    reports = await watch(directory)
    assert reports[0] == ("not_loaded", True)  # nothing will load it: press Generate to queue
    assert len(directory.prefetched) >= 2  # asked again, in case a GPU came free
    assert reports[-1] == ("ready", True)


# ---- matchmaking's counts --------------------------------------------------------------


async def test_vote_counts_are_read_once_per_ttl_and_bumped_between() -> None:
    reads: list[int] = []
    now = [0.0]

    def load() -> dict[str, int]:
        reads.append(1)
        return {"m1": 3}

    counts = VoteCounts(load, ttl_s=60, clock=lambda: now[0])
    assert counts.cached() is None
    assert await counts.get() == {"m1": 3}
    counts.bump(["m1", "m2"])
    assert await counts.get() == {"m1": 4, "m2": 1} and len(reads) == 1
    now[0] = 61.0
    assert await counts.get() == {"m1": 3} and len(reads) == 2


async def test_vote_counts_survive_a_failed_read() -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("the log is closing")

    assert await VoteCounts(broken).get() is None


# ---- the store -------------------------------------------------------------------------


async def test_reasons_are_stored_only_on_a_voted_battle_and_exported(db_path: Path) -> None:
    record = BattleRecord(
        battle_id="b1",
        language="fin",
        prompt="Olipa kerran",
        model_a=PAIR.a.model_id,
        model_b=PAIR.b.model_id,
        family_a="multisynt",
        family_b="hplt",
        response_a=" x",
        response_b=" y",
        created_at=datetime.now(UTC),
    )
    with BattleStore(db_path) as store:
        await store.record_battle(record)
        assert await store.record_reasons("b1", ["fluent"], [], "early") is False
        assert store.votes_per_model() == {}
        await store.record_vote("b1", "model_a")
        assert await store.record_reasons("b1", ["fluent"], ["cut_off"], "ok") is True
        assert await store.record_reasons("b1", ["natural"], ["cut_off"], None) is True
        row = store.get_battle("b1")
        assert store.votes_per_model() == {PAIR.a.model_id: 1, PAIR.b.model_id: 1}
    assert row is not None
    assert (row["tags_a"], row["tags_b"], row["comment"]) == (["natural"], ["cut_off"], None)
    assert row["reasons_at"] is not None
    assert {"tags_a", "tags_b", "comment", "reasons_at"} <= set(export_columns())
