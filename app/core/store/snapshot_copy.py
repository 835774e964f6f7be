"""A consistent copy of a whole DuckDB database, written atomically (`BattleStore.snapshot`)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import duckdb


def write_snapshot(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Copy the database behind `con` to `path` atomically (see `BattleStore.snapshot`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{token}.tmp"
    alias = f"arena_snapshot_{token}"
    source = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    quoted = str(tmp).replace("'", "''")
    try:
        con.execute(f"ATTACH '{quoted}' AS {alias}")
        try:
            con.begin()  # one snapshot of the log for the copy and the count
            con.execute(f'COPY FROM DATABASE "{source}" TO {alias}')
            con.execute(f"UPDATE {alias}.battles SET session_hash = NULL")
            row = con.execute(f"SELECT count(*) FROM {alias}.battles").fetchone()
            con.commit()
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # keep the original error
                con.rollback()
            raise
        finally:
            con.execute(f"DETACH {alias}")
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        raise
    return int(row[0]) if row else 0
