"""BattleStore against a real DuckDB file: votes count once, commits survive a kill,
and a file it cannot use gives an error an operator can act on."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from app.core.store import (
    BattleRecord,
    BattleStore,
    StoreClosedError,
    StoreError,
    StoreLockedError,
    VoteRefusal,
)
from app.core.store.migrations import ANALYST_COLUMNS, EXTRA_COLUMNS, PRIVATE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
WINNERS = ["model_a", "model_b", "tie", "both_bad"]


def battle(battle_id: str = "b1", **overrides: object) -> BattleRecord:
    values: dict[str, object] = {
        "battle_id": battle_id,
        "language": "swe",
        "prompt": "Det var en gång",
        "model_a": "MultiSynt/nemotron-cc-swedish-tower9b",
        "model_b": "HPLT/hplt2c_swe_checkpoints",
        "family_a": "multisynt",
        "family_b": "hplt",
        "response_a": " en katt.",
        "response_b": " en hund.",
        "variant_a": "tower9b",
        "ttft_ms_a": 120.5,
        "ttft_ms_b": 98.0,
        "duration_ms_a": 2100.0,
        "duration_ms_b": 1900.0,
        "tokens_a": 3,
        "tokens_b": 3,
        "finish_reason_a": "length",
        "finish_reason_b": "eos_token",
        "max_new_tokens": 112,
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.9,
        "repetition_penalty": 1.2,
        "seed": 2**40,
        "session_hash": "0f0f",
        "app_version": "0.1.0",
    }
    values.update(overrides)
    return BattleRecord(**values)  # type: ignore[arg-type]


def failed_battle(battle_id: str = "f1") -> BattleRecord:
    return battle(
        battle_id, status="failed", error="a: overloaded: Model is overloaded", response_a=""
    )


@pytest.fixture
def store(db_path: Path) -> Iterator[BattleStore]:
    with BattleStore(db_path) as s:
        yield s


def test_record_fields_are_the_table_columns() -> None:
    assert {f.name for f in fields(BattleRecord)} == set(
        ANALYST_COLUMNS + EXTRA_COLUMNS + PRIVATE_COLUMNS
    )


def test_opening_creates_the_folder_and_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "arena.duckdb"
    with BattleStore(path) as s:
        assert s.count() == 0
    assert path.is_file()


def test_record_and_vote(store: BattleStore) -> None:
    store.record_battle_sync(battle())
    row = store.get_battle("b1")
    assert row is not None
    assert row["winner"] is None and row["voted_at"] is None
    assert row["status"] == "completed" and row["source"] == "arena"
    assert row["seed"] == 2**40 and row["do_sample"] is True
    assert row["created_at"].tzinfo is not None

    outcome = store.record_vote_sync("b1", "model_b")
    assert outcome.accepted and outcome.reason is None
    assert outcome.winner == "model_b" and outcome.voted_at is not None
    row = store.get_battle("b1")
    assert row is not None
    assert row["winner"] == "model_b" and row["voted_at"] == outcome.voted_at
    assert store.count() == 1


async def test_async_record_and_vote(store: BattleStore) -> None:
    await store.record_battle(battle("async-1"))
    outcome = await store.record_vote("async-1", "tie")
    assert outcome.accepted
    assert store.get_battle("async-1")["winner"] == "tie"  # type: ignore[index]


def test_second_vote_is_refused_and_names_the_first(store: BattleStore) -> None:
    store.record_battle_sync(battle())
    first = store.record_vote_sync("b1", "model_a")
    second = store.record_vote_sync("b1", "both_bad")
    assert not second.accepted
    assert second.reason is VoteRefusal.ALREADY_VOTED
    assert second.winner == "model_a" and second.voted_at == first.voted_at
    assert "model_a" in second.message
    assert store.get_battle("b1")["winner"] == "model_a"  # type: ignore[index]


def test_a_vote_carries_its_flags_and_a_refused_vote_flags_nothing(store: BattleStore) -> None:
    store.record_battle_sync(battle(flags=["identity_tell"]))
    assert store.record_vote_sync("b1", "model_a", ["vote_burst", "vote_burst"]).accepted
    assert sorted(store.get_battle("b1")["flags"]) == ["identity_tell", "vote_burst"]  # type: ignore[index]
    store.record_battle_sync(battle("b2"))
    assert store.record_vote_sync("b2", "tie").accepted
    assert not store.record_vote_sync("b2", "model_b", ["vote_burst"]).accepted
    assert store.get_battle("b2")["flags"] == []  # type: ignore[index]


def test_legacy_style_import_adds_only_new_battles(store: BattleStore) -> None:
    store.record_battle_sync(battle("b1", response_a=" kept"))
    assert store.record_battles_sync([battle("b1"), battle("b2")], only_new=True) == 1
    assert store.count() == 2 and store.get_battle("b1")["response_a"] == " kept"  # type: ignore[index]


def test_vote_on_failed_battle_is_refused(store: BattleStore) -> None:
    store.record_battle_sync(failed_battle())
    outcome = store.record_vote_sync("f1", "model_a")
    assert not outcome.accepted and outcome.reason is VoteRefusal.BATTLE_FAILED
    row = store.get_battle("f1")
    assert row is not None
    assert row["winner"] is None and row["status"] == "failed"
    assert row["error"] == "a: overloaded: Model is overloaded"


def test_vote_on_unknown_battle_is_refused(store: BattleStore) -> None:
    outcome = store.record_vote_sync("nope", "tie")
    assert not outcome.accepted and outcome.reason is VoteRefusal.UNKNOWN_BATTLE
    assert store.count() == 0


def test_invalid_winner_is_rejected_before_the_queue(store: BattleStore) -> None:
    store.record_battle_sync(battle())
    with pytest.raises(ValueError, match="winner"):
        store.record_vote_sync("b1", "left")  # type: ignore[arg-type]


def test_twenty_concurrent_votes_from_threads_leave_exactly_the_first(
    store: BattleStore,
) -> None:
    store.record_battle_sync(battle())
    barrier = threading.Barrier(20)
    outcomes = []
    lock = threading.Lock()

    def vote(i: int) -> None:
        barrier.wait()
        outcome = store.record_vote_sync("b1", WINNERS[i % 4])  # type: ignore[arg-type]
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    accepted = [o for o in outcomes if o.accepted]
    assert len(outcomes) == 20 and len(accepted) == 1
    winner = accepted[0].winner
    assert all(
        o.reason is VoteRefusal.ALREADY_VOTED and o.winner == winner
        for o in outcomes
        if not o.accepted
    )
    assert store.get_battle("b1")["winner"] == winner  # type: ignore[index]


async def test_twenty_concurrent_votes_from_asyncio_leave_exactly_the_first(
    store: BattleStore,
) -> None:
    await store.record_battle(battle())
    outcomes = await asyncio.gather(
        *(store.record_vote("b1", WINNERS[i % 4]) for i in range(20))  # type: ignore[arg-type]
    )
    accepted = [o for o in outcomes if o.accepted]
    assert len(accepted) == 1
    # Submitted in order, so the first coroutine's vote is the one kept.
    assert outcomes[0].accepted and accepted[0].winner == "model_a"
    assert store.get_battle("b1")["winner"] == "model_a"  # type: ignore[index]


async def test_cancelled_caller_does_not_cancel_the_write(store: BattleStore) -> None:
    task = asyncio.create_task(store.record_battle(battle("c1")))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    store.submit_write(lambda con: None).result()  # everything before it has committed
    assert store.get_battle("c1") is not None


def test_duplicate_battle_id_is_a_store_error(store: BattleStore) -> None:
    store.record_battle_sync(battle())
    with pytest.raises(StoreError, match="b1"):
        store.record_battle_sync(battle())
    assert store.count() == 1


def test_batch_insert_is_all_or_nothing(store: BattleStore) -> None:
    assert store.record_battles_sync([battle("x1"), battle("x2")]) == 2
    with pytest.raises(StoreError):
        store.record_battles_sync([battle("x3"), battle("x1")])
    assert store.count() == 2 and store.get_battle("x3") is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "failed"},
        {"error": "a: timeout: slow"},
        {"winner": "tie"},
        {"winner": "left", "voted_at": datetime.now(UTC)},
        {"source": "web"},
        {"created_at": datetime(2026, 1, 1, 12, 0)},
        {"battle_id": ""},
    ],
)
def test_inconsistent_records_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        battle(**overrides)


def test_close_drains_the_queue_and_refuses_later_writes(db_path: Path) -> None:
    s = BattleStore(db_path)
    insert = "INSERT INTO battles (battle_id, language, prompt, model_a, model_b, family_a,"
    insert += " family_b) VALUES (?, 'swe', 'p', 'a', 'b', 'multisynt', 'hplt')"
    futures = [s.submit_write(lambda con, i=i: con.execute(insert, [f"q{i}"])) for i in range(50)]
    s.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(StoreClosedError):
        s.record_battle_sync(battle())
    with pytest.raises(StoreClosedError):
        s.count()
    s.close()  # idempotent
    with BattleStore(db_path) as reopened:
        assert reopened.count() == 50


def test_second_store_on_the_same_file_in_one_process_is_refused(store: BattleStore) -> None:
    with pytest.raises(StoreLockedError, match="already has a BattleStore open"):
        BattleStore(store.path)


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The child's next stdout line, failing the test (with its stderr) if none comes."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            pytest.fail(f"no output from child within {timeout}s; stderr: {proc.stderr.read()}")
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        pytest.fail(f"child exited ({proc.returncode}) early; stderr: {proc.stderr.read()}")
    return line.strip()


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


HOLDER = """
    import sys, time
    from app.core.store import BattleStore
    store = BattleStore(sys.argv[1])
    print("READY", flush=True)
    time.sleep(120)
"""

VOTER = """
    import asyncio, sys, time
    from app.core.store import BattleRecord, BattleStore

    async def main():
        store = BattleStore(sys.argv[1])
        await store.record_battle(BattleRecord(
            "durable", "fin", "Olipa kerran", "MultiSynt/nemotron-cc-finnish-opus",
            "HPLT/hplt2c_fin_checkpoints", "multisynt", "hplt", " kissa.", " koira."))
        outcome = await store.record_vote("durable", "model_b")
        assert outcome.accepted, outcome
        print("VOTED", flush=True)
        time.sleep(120)  # no close(), no exit: only the commit can have saved the vote

    asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_vote_survives_sigkill_right_after_the_await(db_path: Path) -> None:
    proc = _spawn(VOTER, str(db_path))
    try:
        assert _read_line(proc) == "VOTED"
    finally:
        _kill(proc)
    with BattleStore(db_path) as s:
        row = s.get_battle("durable")
    assert row is not None
    assert row["winner"] == "model_b" and row["voted_at"] is not None


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_file_held_by_another_process_raises_store_locked_error(db_path: Path) -> None:
    proc = _spawn(HOLDER, str(db_path))
    try:
        assert _read_line(proc) == "READY"
        with pytest.raises(StoreLockedError) as caught:
            BattleStore(db_path)
    finally:
        _kill(proc)
    message = str(caught.value)
    assert "Another arena process" in message and str(db_path) in message
    assert f"PID {proc.pid}" in message and caught.value.pid == proc.pid
    # Once the holder is gone, the file opens normally and was not harmed.
    with BattleStore(db_path) as s:
        assert s.count() == 0
    assert os.path.exists(db_path)


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_closing_interrupts_a_running_read_and_closes_the_file(tmp_path: Path) -> None:
    """A shutdown during a long read (a leaderboard refresh, a snapshot) stops the read and
    still closes the log cleanly; what was committed is there when it is opened again."""
    path = tmp_path / "arena.duckdb"
    store = BattleStore(path)
    store.record_battle_sync(battle("kept"))
    started = threading.Event()
    outcome: dict[str, object] = {}

    def endless(cur: duckdb.DuckDBPyConnection) -> object:
        started.set()
        return cur.execute("SELECT count(*) FROM range(1000000000000000)").fetchall()

    def reader() -> None:
        try:
            outcome["result"] = store.read(endless)
        except duckdb.Error as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=reader)
    thread.start()
    assert started.wait(30)
    store.close()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), duckdb.InterruptException)
    with BattleStore(path) as again:
        assert again.get_battle("kept") is not None
