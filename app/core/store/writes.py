"""Every write to the battle log, as SQL run on the store's writer thread.

`BattleStore` (battle_store.py) is the only caller: it queues these on its one writer, so
each runs alone, in order, and "first vote wins" is exact. Each is one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import astuple, fields

import duckdb
import pandas as pd

from app.core.store.database import StoreError
from app.core.store.records import WINNERS, BattleRecord, VoteOutcome, VoteRefusal

_COLUMNS = tuple(f.name for f in fields(BattleRecord))
_INSERT_SQL = (
    f"INSERT INTO battles ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


def check_winner(winner: str) -> None:
    if winner not in WINNERS:
        raise ValueError(f"winner must be one of {list(WINNERS)}, not {winner!r}")


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failed statement, keeping that statement's error: a commit that
    failed (e.g. the WAL could not be written: a full disk) has already ended the
    transaction, and DuckDB's "no transaction is active" would hide why."""
    with contextlib.suppress(duckdb.TransactionException):
        con.rollback()


def insert(con: duckdb.DuckDBPyConnection, records: list[BattleRecord]) -> int:
    """Insert `records`, all or none."""
    if not records:
        return 0
    con.begin()
    try:
        con.executemany(_INSERT_SQL, [list(astuple(r)) for r in records])
        con.commit()
    except duckdb.ConstraintException as exc:
        rollback(con)
        ids = ", ".join(r.battle_id for r in records[:3]) + (", ..." if len(records) > 3 else "")
        raise StoreError(f"battle {ids} not recorded: {exc}") from exc
    except BaseException:
        rollback(con)
        raise
    return len(records)


def insert_new(con: duckdb.DuckDBPyConnection, records: list[BattleRecord]) -> int:
    """Insert the records whose id is not in the log yet; return how many."""
    con.begin()
    try:
        present = {
            row[0]
            for row in con.execute(
                "SELECT battle_id FROM battles WHERE list_contains(?, battle_id)",
                [[r.battle_id for r in records]],
            ).fetchall()
        }
        new = [r for r in records if r.battle_id not in present]
        if new:
            con.executemany(_INSERT_SQL, [list(astuple(r)) for r in new])
        con.commit()
    except BaseException:
        rollback(con)
        raise
    return len(new)


def append_frame(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> int:
    """Append a frame whose columns are battle columns, in one statement."""
    unknown = set(frame.columns) - set(_COLUMNS)
    if unknown:
        raise ValueError(f"not battle columns: {sorted(unknown)}")
    columns = ", ".join(frame.columns)
    con.register("battle_frame", frame)
    try:
        con.execute(f"INSERT INTO battles ({columns}) SELECT {columns} FROM battle_frame")
    finally:
        con.unregister("battle_frame")
    return len(frame)


def vote(
    con: duckdb.DuckDBPyConnection, battle_id: str, winner: str, flags: Sequence[str] = ()
) -> VoteOutcome:
    """The first vote on a completed battle, and `flags` with it; else why not."""
    # The WHERE clause is the exactly-once rule; the writer thread makes it race-free.
    row = con.execute(
        "UPDATE battles SET winner = ?, voted_at = now(), "
        "flags = CASE WHEN len(?) = 0 THEN flags "
        "ELSE list_distinct(list_concat(coalesce(flags, []), ?)) END "
        "WHERE battle_id = ? AND winner IS NULL AND status = 'completed' "
        "RETURNING winner, voted_at",
        [winner, list(flags), list(flags), battle_id],
    ).fetchone()
    if row is not None:
        return VoteOutcome(battle_id, accepted=True, winner=row[0], voted_at=row[1])
    row = con.execute(
        "SELECT status, winner, voted_at FROM battles WHERE battle_id = ?", [battle_id]
    ).fetchone()
    if row is None:
        return VoteOutcome(battle_id, accepted=False, reason=VoteRefusal.UNKNOWN_BATTLE)
    status, current, voted_at = row
    if status != "completed":
        return VoteOutcome(battle_id, accepted=False, reason=VoteRefusal.BATTLE_FAILED)
    return VoteOutcome(
        battle_id, False, winner=current, voted_at=voted_at, reason=VoteRefusal.ALREADY_VOTED
    )


def reasons(
    con: duckdb.DuckDBPyConnection,
    battle_id: str,
    tags_a: list[str],
    tags_b: list[str],
    comment: str | None,
) -> bool:
    """A voter's reasons on a voted battle (replacing earlier ones); False if not voted."""
    row = con.execute(
        "UPDATE battles SET tags_a = ?, tags_b = ?, comment = ?, reasons_at = now() "
        "WHERE battle_id = ? AND winner IS NOT NULL RETURNING battle_id",
        [tags_a, tags_b, comment, battle_id],
    ).fetchone()
    return row is not None
