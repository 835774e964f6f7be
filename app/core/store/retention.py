"""Retention: how long the arena keeps what could identify a voter, and battles at all.

Session hashes (salted, but stable for one browser session) let analysts group a voter's
battles; they are erased after `trust.hash_retention_days`. Whole battles are deleted after
`trust.battle_retention_days` when ops set it (unset: kept, they are the research data).
The app applies this at start-up; `oellm-arena retention` applies it on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from app.core.settings import TrustSettings


@dataclass(frozen=True)
class RetentionResult:
    hashes_erased: int
    battles_deleted: int
    dry_run: bool

    def describe(self) -> str:
        verb = "would erase" if self.dry_run else "erased"
        verb2 = "would delete" if self.dry_run else "deleted"
        return (
            f"retention: {verb} the session hashes of {self.hashes_erased} battles, "
            f"{verb2} {self.battles_deleted} battles"
        )


def apply_retention(
    con: duckdb.DuckDBPyConnection,
    trust: TrustSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> RetentionResult:
    """Apply the retention settings in one transaction (or count what it would do)."""
    now = now or datetime.now(UTC)
    erase_before = _cutoff(now, trust.hash_retention_days)
    delete_before = _cutoff(now, trust.battle_retention_days)
    con.execute("BEGIN TRANSACTION")
    try:
        deleted = _count(con, "created_at < ?", delete_before) if delete_before else 0
        if delete_before and not dry_run:
            con.execute("DELETE FROM battles WHERE created_at < ?", [delete_before])
        erased = (
            _count(con, "created_at < ? AND session_hash IS NOT NULL", erase_before)
            if erase_before
            else 0
        )
        if erase_before and not dry_run:
            con.execute(
                "UPDATE battles SET session_hash = NULL "
                "WHERE created_at < ? AND session_hash IS NOT NULL",
                [erase_before],
            )
        con.execute("ROLLBACK" if dry_run else "COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return RetentionResult(erased, deleted, dry_run)


def _cutoff(now: datetime, days: int | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def _count(con: duckdb.DuckDBPyConnection, where: str, cutoff: datetime) -> int:
    row = con.execute(f"SELECT count(*) FROM battles WHERE {where}", [cutoff]).fetchone()
    return int(row[0]) if row else 0
