"""Before the battle log is opened for writing: is the file whole, and is it an arena log?

DuckDB checks a file's header when it opens it, but reads the rest only when a query needs
it. A log cut short (an interrupted copy, a full disk) therefore opens, answers the
first queries, and fails on the first battle. And DuckDB opens any DuckDB file, so a
wrong `--db` would get the arena's tables added to someone else's database.

`verify_log` answers both before anything is written, on a read-only connection: every
block the file's header counts in use must be there and match its checksum
(`app.core.store.blocks`), and the schema must be one this version's migrations made.
Only then does `BattleStore` open the file for writing, and `probe_writes` tries the
write path (a battle and its vote, rolled back) before the app takes a voter. A file that
fails any of this is left byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import uuid
from pathlib import Path

import duckdb

from app.core.store.blocks import FIRST_BLOCK, FileLayoutUnknown, find_damage
from app.core.store.database import StoreError, one_line, open_database
from app.core.store.migrations import MIGRATIONS, applied_migrations

log = logging.getLogger(__name__)
ADOPT_HINT = "--adopt-foreign-db (ARENA_ADOPT_FOREIGN_DB=true)"
_ADVICE = (
    "It was left untouched. Restore a backup (or the analysts' snapshot), or point --db / "
    "ARENA_DB_PATH at the right file."
)

Objects = dict[tuple[str, str], set[str]]  # (schema, table or view) -> column names


def verify_log(path: Path, *, adopt_foreign: bool = False) -> None:
    """Raise `StoreError` unless `path` is missing, an empty DuckDB file, or a whole arena
    battle log of this version's schema (or, with `adopt_foreign`, a DuckDB file of other
    tables that the arena may add its own to). Opens the file read-only."""
    if not path.exists():
        return  # a new log: BattleStore creates it
    con = open_database(path, read_only=True)
    try:
        blocks_checked = _check_blocks(con, path)
        arena_tables = _check_ownership(con, path, adopt_foreign=adopt_foreign)
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
        raise StoreError(f"The battle log {path} is damaged: {damage.what}. {_ADVICE}")
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
            f"short (an interrupted copy or a full disk). {_ADVICE}"
        )


def _objects(con: duckdb.DuckDBPyConnection) -> Objects:
    """The tables and views of the open database (not DuckDB's own), with their columns."""
    rows = con.execute(
        """
        SELECT schema_name, table_name, column_name FROM duckdb_columns()
        WHERE database_name = current_database() AND NOT internal
        UNION ALL  -- a table without columns cannot exist, a view may show none: list both
        SELECT schema_name, table_name, NULL FROM duckdb_tables()
        WHERE database_name = current_database() AND NOT internal
        UNION ALL
        SELECT schema_name, view_name, NULL FROM duckdb_views()
        WHERE database_name = current_database() AND NOT internal
        """
    ).fetchall()
    objects: Objects = {}
    for schema, name, column in rows:
        columns = objects.setdefault((schema, name), set())
        if column is not None:
            columns.add(column)
    return objects


@functools.cache
def _reference(applied: tuple[str, ...]) -> Objects:
    """The schema that the migrations recorded in a log give to an empty database (built
    once per process: binding the analytics views takes a fifth of a second)."""
    con = duckdb.connect(":memory:")
    try:
        for fn in MIGRATIONS:
            if fn.__name__ in applied:
                fn(con)
        return _objects(con)
    finally:
        con.close()


def _names(objects: Objects | set[tuple[str, str]]) -> str:
    return ", ".join(
        sorted(name if schema == "main" else f"{schema}.{name}" for schema, name in objects)
    )


def _check_ownership(
    con: duckdb.DuckDBPyConnection, path: Path, *, adopt_foreign: bool
) -> list[tuple[str, str]]:
    """Refuse a file that is not an arena log; return the arena's tables in it."""
    found = _objects(con)
    if not found:
        return []  # an empty DuckDB file: as good as a new one
    if ("main", "_migrations") not in found:
        clashing = set(found) & set(_reference(tuple(fn.__name__ for fn in MIGRATIONS)))
        if clashing:
            raise StoreError(
                f"{path} is not an arena battle log: it has {_names(clashing)} but no "
                "_migrations table, so these are someone else's. It was left untouched; "
                "point --db / ARENA_DB_PATH at the battle log, or at a new file."
            )
        if not adopt_foreign:
            raise StoreError(
                f"{path} is a DuckDB database but not an arena battle log (it holds "
                f"{_names(found)}). It was left untouched. Point --db / ARENA_DB_PATH at the "
                f"battle log or a new file, or pass {ADOPT_HINT} to add the arena's tables "
                "beside its own."
            )
        return []
    if found[("main", "_migrations")] != {"name", "applied_at"}:
        raise StoreError(
            f"{path} has a _migrations table that is not the arena's (columns: "
            f"{', '.join(sorted(found[('main', '_migrations')]))}). It was left untouched; "
            "point --db / ARENA_DB_PATH at the battle log."
        )
    try:
        applied = applied_migrations(con)
    except duckdb.Error as exc:
        raise StoreError(
            f"The battle log {path} is damaged: its _migrations table cannot be read "
            f"({one_line(exc)}). {_ADVICE}"
        ) from exc
    unknown = [name for name in applied if name not in {fn.__name__ for fn in MIGRATIONS}]
    if unknown:
        raise StoreError(
            f"The battle log {path} was written by a newer version of the arena (schema "
            f"steps unknown here: {', '.join(unknown)}). It was left untouched; run that "
            "version, or point --db / ARENA_DB_PATH elsewhere."
        )
    expected = _reference(tuple(fn.__name__ for fn in MIGRATIONS if fn.__name__ in applied))
    missing: list[str] = []
    for key, columns in sorted(expected.items()):
        if key not in found:
            missing.append(_names({key}))
        else:
            missing += [f"{_names({key})}.{column}" for column in sorted(columns - found[key])]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise StoreError(
            f"{path} records the arena's schema steps but lacks {shown}: it is not an arena "
            "battle log, or it was edited by hand. It was left untouched; point --db / "
            "ARENA_DB_PATH at the battle log."
        )
    return sorted(key for key in expected if key in _tables(con))


def _tables(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    return {(schema, name) for schema, name in rows}


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
                f"({one_line(exc)}). {_ADVICE}"
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
    return ("main", "battles") in _tables(con)
