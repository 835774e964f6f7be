"""The statements the writer thread runs for a battle: insert it, record its vote and
the voter's reasons. Each runs alone on the writing connection (`BattleStore`), which is
what makes "first vote wins" exact."""

from __future__ import annotations

import contextlib
from dataclasses import astuple, fields

import duckdb

from app.core.store.database import StoreError
from app.core.store.records import BattleRecord, VoteOutcome, VoteRefusal

_COLUMNS = tuple(f.name for f in fields(BattleRecord))
_INSERT_SQL = (
    f"INSERT INTO battles ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


def insert_battles(con: duckdb.DuckDBPyConnection, records: list[BattleRecord]) -> int:
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


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failed statement, keeping that statement's error: a commit that
    failed (e.g. the WAL could not be written: a full disk) has already ended the
    transaction, and DuckDB's "no transaction is active" would hide why."""
    with contextlib.suppress(duckdb.TransactionException):
        con.rollback()


def set_reasons(
    con: duckdb.DuckDBPyConnection,
    battle_id: str,
    tags_a: list[str],
    tags_b: list[str],
    comment: str | None,
) -> bool:
    row = con.execute(
        "UPDATE battles SET tags_a = ?, tags_b = ?, comment = ?, reasons_at = now() "
        "WHERE battle_id = ? AND winner IS NOT NULL RETURNING battle_id",
        [tags_a, tags_b, comment, battle_id],
    ).fetchone()
    return row is not None


def vote(con: duckdb.DuckDBPyConnection, battle_id: str, winner: str) -> VoteOutcome:
    # The WHERE clause is the exactly-once rule; the writer thread makes it race-free.
    row = con.execute(
        "UPDATE battles SET winner = ?, voted_at = now() "
        "WHERE battle_id = ? AND winner IS NULL AND status = 'completed' "
        "RETURNING winner, voted_at",
        [winner, battle_id],
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
