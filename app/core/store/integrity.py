"""Before the battle log is opened for writing: is the file whole, and is it an arena log?

DuckDB checks a file's header when it opens it, but reads the rest only when a query needs
it. A log cut short (an interrupted copy, a full disk) therefore opens, answers the
first queries, and fails on the first battle. And DuckDB opens any DuckDB file, so a
wrong `--db` would get the arena's tables added to someone else's database.

`verify_log` answers both before anything is written, on a read-only connection: every
block the file's header counts in use must be there and match its checksum
(`app.core.store.blocks`), and the file must be an arena log (`app.core.store.ownership`).
Only then does `BattleStore` open the file for writing, and `probe_writes` tries the
write path (a battle and its vote, rolled back) before the app takes a voter. A file that
fails any of this is left byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path

import duckdb

from app.core.store.blocks import FIRST_BLOCK, FileLayoutUnknown, find_damage
from app.core.store.database import StoreError, one_line, open_database
from app.core.store.ownership import ADVICE, check_ownership, tables

log = logging.getLogger(__name__)


def verify_log(path: Path, *, adopt_foreign: bool = False) -> None:
    """Raise `StoreError` unless `path` is missing, an empty DuckDB file, or a whole arena
    battle log of this version's schema (or, with `adopt_foreign`, a DuckDB file of other
    tables that the arena may add its own to). Opens the file read-only."""
    if not path.exists():
        return  # a new log: BattleStore creates it
    con = open_database(path, read_only=True)
    try:
        blocks_checked = _check_blocks(con, path)
        arena_tables = check_ownership(con, path, adopt_foreign=adopt_foreign)
        if not blocks_checked:
            # DuckDB's layout was not recognised: fall back to what SQL can show, which
            # misses what only a later write would read (index blocks).
            _check_length(con, path)
            _read_every_row(con, path, arena_tables)
    finally:
        con.close()


def _block_counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    """DuckDB's block size, blocks in use and free blocks for the open database."""
    row = con.execute(
        "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchone()
    assert row is not None  # DuckDB always reports the open database
    return int(row[0]), int(row[1]), int(row[2])


def _check_blocks(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Raise if a block in use is missing or damaged; False if the layout is unknown."""
    _, _, free = _block_counts(con)
    try:
        damage = find_damage(path, expected_free=free)
    except FileLayoutUnknown as exc:
        log.warning("%s: block check skipped, DuckDB's file layout not recognised: %s", path, exc)
        return False
    if damage is not None:
        raise StoreError(f"The battle log {path} is damaged: {damage.what}. {ADVICE}")
    return True


def _check_length(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    # Each block in use has its own id below the header's block count, so a whole file
    # holds at least `used` blocks after the headers. (Free blocks at the end may have been
    # trimmed, so the total count is not a bound.)
    block_size, used, _ = _block_counts(con)
    need = FIRST_BLOCK + used * block_size
    size = os.path.getsize(path)
    if size < need:
        raise StoreError(
            f"The battle log {path} is damaged: it is {size:,} bytes long but holds {used} "
            f"blocks of {block_size:,} bytes in use ({need:,} bytes at least), so it was cut "
            f"short (an interrupted copy or a full disk). {ADVICE}"
        )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _read_every_row(
    con: duckdb.DuckDBPyConnection, path: Path, tables: list[tuple[str, str]]
) -> None:
    # Hashing every column makes DuckDB read (and checksum) every block of the table; a
    # plain count(*) is answered from metadata and reads nothing.
    for schema, table in tables:
        columns = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = "
                "current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
                [schema, table],
            ).fetchall()
        ]
        hashed = ", ".join(_quote(c) for c in columns)
        try:
            con.execute(
                f"SELECT count(*), bit_xor(hash({hashed})) FROM {_quote(schema)}.{_quote(table)}"
            ).fetchall()
        except duckdb.Error as exc:
            raise StoreError(
                f"The battle log {path} is damaged: table {table} cannot be read back "
                f"({one_line(exc)}). {ADVICE}"
            ) from exc


def probe_writes(con: duckdb.DuckDBPyConnection) -> None:
    """Record a battle and its vote as a voter would, then roll both back.

    Touches what a real battle touches (the primary key index, the table's last row
    group), and `_migrations` as the next upgrade will. Leaves nothing behind: a
    rolled-back transaction writes neither the file nor its WAL. Raises the DuckDB error
    if the log cannot take a battle.
    """
    battle_id = f"write-probe-{uuid.uuid4().hex}"
    con.begin()
    try:
        con.execute(
            "INSERT INTO battles (battle_id, language, prompt, model_a, model_b, family_a, "
            "family_b) VALUES (?, 'mul', '', '', '', '', '')",
            [battle_id],
        )
        con.execute(
            "UPDATE battles SET winner = 'tie', voted_at = now() WHERE battle_id = ?",
            [battle_id],
        )
        con.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, now())", [battle_id])
    finally:
        with contextlib.suppress(duckdb.TransactionException):  # keep the statement's error
            con.rollback()


def is_storage_failure(exc: BaseException) -> bool:
    """Whether a write failed because of the file or the database (a full disk, a damaged
    or missing block, a database DuckDB invalidated) rather than the data written.
    DuckDB raises a bad block checksum as its base `Error`, which it otherwise keeps for
    errors without a class of their own."""
    storage = (
        duckdb.IOException,
        # A commit whose WAL write failed ("Failed to commit: Could not write file"); with
        # one writing connection there are no conflicts, so this is its only cause.
        duckdb.TransactionException,
        duckdb.FatalException,
        duckdb.InternalException,
        duckdb.PermissionException,
        duckdb.OutOfMemoryException,
    )
    return isinstance(exc, storage) or type(exc) is duckdb.Error


def has_battles_table(con: duckdb.DuckDBPyConnection) -> bool:
    return ("main", "battles") in tables(con)
