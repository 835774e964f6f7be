"""The dashboard's and the leaderboard's SQL, over the `analytics` views.

Each function takes a DuckDB connection (a `BattleStore.read` cursor in the app, a
read-only connection on a file or snapshot in the CLI) and returns a small DataFrame:
the aggregation happens in DuckDB, so a million battles cost one scan, not a transfer.
Only voted, completed battles count (`analytics.voted_battles` says so once for all).
Filters are bound as parameters, never pasted into the SQL.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd

from app.core.store.export import export_columns, select_list

SOURCES = ("arena", "legacy")
# Flags that mean the vote may not be a fair, blind judgement: left out of the numbers
# unless asked for (FastChat likewise filters battles whose text names its model).
UNTRUSTED_FLAGS = ("identity_tell", "vote_burst")


@dataclass(frozen=True)
class Filters:
    """What the dashboard shows: languages (empty = all), vote dates (inclusive), sources,
    and flags whose battles to leave out."""

    languages: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    sources: tuple[str, ...] = SOURCES
    # Battles carrying any of these flags are left out (e.g. identity_tell: not blind).
    exclude_flags: tuple[str, ...] = ()

    def where(self) -> tuple[str, dict[str, Any]]:
        """A WHERE clause over `analytics.voted_battles` and its named parameters."""
        clauses = ["list_contains($sources, source)"]
        params: dict[str, Any] = {"sources": list(self.sources)}
        if self.languages:
            clauses.append("list_contains($languages, language)")
            params["languages"] = list(self.languages)
        if self.start is not None:
            clauses.append("vote_date >= $start")
            params["start"] = self.start
        if self.end is not None:
            clauses.append("vote_date <= $end")
            params["end"] = self.end
        if self.exclude_flags:
            clauses.append("NOT list_has_any(coalesce(flags, []), $exclude_flags)")
            params["exclude_flags"] = list(self.exclude_flags)
        return " AND ".join(clauses), params


ALL = Filters()


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description or ()]
    return pd.DataFrame(cur.fetchall(), columns=names)


def pair_counts(con: duckdb.DuckDBPyConnection, filters: Filters = ALL) -> pd.DataFrame:
    """Votes per (language, left model, right model, winner): the input of every statistic.

    Win rates, ratings, variant comparisons, position bias and votes per language are all
    computed from this table of at most a few hundred rows. A model's family and variant
    are properties of the model, so they ride along (`any_value`) instead of widening
    the grouping key: half the time on a million battles.
    """
    where, params = filters.where()
    return _frame(
        con,
        f"""
        SELECT language, model_a, model_b,
               any_value(family_a) AS family_a, any_value(family_b) AS family_b,
               any_value(variant_a) AS variant_a, any_value(variant_b) AS variant_b,
               winner, count(*) AS n
        FROM analytics.voted_battles WHERE {where}
        GROUP BY language, model_a, model_b, winner
        ORDER BY language, model_a, model_b, winner
        """,
        params,
    )


def votes_per_day(con: duckdb.DuckDBPyConnection, filters: Filters = ALL) -> pd.DataFrame:
    """Votes per UTC day and source."""
    where, params = filters.where()
    return _frame(
        con,
        f"""
        SELECT vote_date, source, count(*) AS votes
        FROM analytics.voted_battles WHERE {where}
        GROUP BY ALL ORDER BY ALL
        """,
        params,
    )


def vote_date_range(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """First and last UTC day with a vote (None, None on an empty log)."""
    # min/max of the timestamps, then the day of just those two: one cheap scan.
    row = con.execute(
        """
        SELECT DATE '1970-01-01' + CAST(epoch_us(min(voted_at)) // 86400000000 AS INTEGER),
               DATE '1970-01-01' + CAST(epoch_us(max(voted_at)) // 86400000000 AS INTEGER)
        FROM analytics.voted_battles
        """
    )
    first, last = row.fetchone() or (None, None)
    return first, last


def known_flags(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every flag some voted battle carries (prompt_unknown, identity_tell, ...)."""
    rows = con.execute(
        "SELECT DISTINCT unnest(flags) AS flag FROM analytics.voted_battles ORDER BY flag"
    ).fetchall()
    return [r[0] for r in rows]


def change_marker(con: duckdb.DuckDBPyConnection) -> tuple[int, datetime | None]:
    """A cheap fingerprint of the votes: it changes exactly when a vote is added.

    Reads only two columns of `battles`, so an open dashboard can poll it every few
    seconds and recompute only when something happened.
    """
    row = con.execute(
        "SELECT count(*), max(voted_at) FROM battles WHERE winner IS NOT NULL"
    ).fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


def export_filtered(
    con: duckdb.DuckDBPyConnection,
    filters: Filters,
    fmt: Literal["csv", "parquet"],
    *,
    spreadsheet_safe: bool = True,
) -> bytes:
    """The filtered battles (the export's columns, no session hashes) as CSV or Parquet.

    CSV is spreadsheet-safe as `oellm-arena export` writes it (app/core/store/export.py:
    a text cell that would run as a formula gets a leading apostrophe). DuckDB writes the
    file (Parquet without pyarrow); it goes through a private temporary file because COPY
    writes to paths, not to memory.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    where, params = filters.where()
    safe = spreadsheet_safe and fmt == "csv"
    columns = select_list(con, export_columns(), spreadsheet_safe=safe, alias="b.")
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    fd, tmp = tempfile.mkstemp(prefix="arena-export-", suffix=f".{fmt}")
    os.close(fd)
    try:
        con.execute(
            f"""
            COPY (
                SELECT {columns} FROM battles b
                WHERE b.battle_id IN (SELECT battle_id FROM analytics.voted_battles WHERE {where})
                ORDER BY b.voted_at, b.battle_id
            ) TO $path ({options})
            """,
            {**params, "path": tmp},
        )
        return Path(tmp).read_bytes()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def export_filename(filters: Filters, fmt: str) -> str:
    """A download name that says what was filtered, e.g. `battles_swe_arena.csv`."""
    parts = ["battles"]
    if filters.languages:
        parts.append("-".join(filters.languages))
    if set(filters.sources) != set(SOURCES):
        parts.append("-".join(filters.sources) or "none")
    if filters.start or filters.end:
        parts.append(f"{filters.start or ''}_{filters.end or ''}")
    if not filters.exclude_flags:
        parts.append("with-flagged")
    elif set(filters.exclude_flags) != set(UNTRUSTED_FLAGS):  # the default needs no name
        parts.append("without-" + "-".join(filters.exclude_flags))
    return f"{'_'.join(parts)}.{fmt}"
