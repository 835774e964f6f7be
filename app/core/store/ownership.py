"""Is this DuckDB file an arena battle log? Asked before the arena writes anything to it.

DuckDB opens any DuckDB file, and migrations are `CREATE ... IF NOT EXISTS`, so without
this check a wrong `--db` would get the arena's tables added to someone else's database,
or a foreign `battles` table "migrated". An arena log has the arena's `_migrations` table,
only steps this version knows (a newer version's log could need columns this one does not
fill), and every table and column those steps make. A file without `_migrations` is
refused, unless told to adopt it (`--adopt-foreign-db`, `ARENA_ADOPT_FOREIGN_DB`), and even
then when it has a table of the arena's name.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import duckdb

from app.core.store.database import StoreError, one_line
from app.core.store.migrations import MIGRATIONS, applied_migrations

ADOPT_HINT = "--adopt-foreign-db (ARENA_ADOPT_FOREIGN_DB=true)"
ADVICE = (
    "It was left untouched. Restore a backup (or the analysts' snapshot), or point --db / "
    "ARENA_DB_PATH at the right file."
)
Name = tuple[str, str]  # (schema, table or view)
Objects = dict[Name, set[str]]  # their column names
_VIEW = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:(\w+)\.)?(\w+)", re.IGNORECASE)


def tables(con: duckdb.DuckDBPyConnection) -> set[Name]:
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    return {(schema, name) for schema, name in rows}


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


class _TablesOnly:
    """The connection the reference migrations run on: it creates the tables and records
    the views' names without binding them (binding the analysts' views takes a fifth of a
    second at every start, and a view's columns are not what the arena writes)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.views: set[Name] = set()

    def execute(self, sql: str, *args: Any) -> Any:
        view = _VIEW.match(sql)
        if view:
            self.views.add((view[1] or "main", view[2]))
            return self._con
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@functools.cache
def _reference(applied: tuple[str, ...]) -> tuple[Objects, frozenset[Name]]:
    """The tables (with their columns) and the views that the migrations `applied` give to
    an empty database; once per process."""
    con = duckdb.connect(":memory:")
    try:
        proxy = _TablesOnly(con)
        for fn in MIGRATIONS:
            if fn.__name__ in applied:
                fn(proxy)  # type: ignore[arg-type]
        return _objects(con), frozenset(proxy.views)
    finally:
        con.close()


def _applied_names(applied: list[str] | None = None) -> tuple[str, ...]:
    """Names of MIGRATIONS in order, all or those in `applied`."""
    return tuple(fn.__name__ for fn in MIGRATIONS if applied is None or fn.__name__ in applied)


def _names(objects: Objects | set[Name]) -> str:
    return ", ".join(
        sorted(name if schema == "main" else f"{schema}.{name}" for schema, name in objects)
    )


def check_ownership(
    con: duckdb.DuckDBPyConnection, path: Path, *, adopt_foreign: bool
) -> list[Name]:
    """Raise `StoreError` unless the open database is empty, an arena battle log of steps
    this version knows, or (with `adopt_foreign`) a database without the arena's tables;
    return the arena's tables in it."""
    found = _objects(con)
    if not found:
        return []  # an empty DuckDB file: as good as a new one
    if ("main", "_migrations") not in found:
        arena_tables, arena_views = _reference(_applied_names())
        clashing = set(found) & (set(arena_tables) | arena_views)
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
            f"({one_line(exc)}). {ADVICE}"
        ) from exc
    unknown = [name for name in applied if name not in {fn.__name__ for fn in MIGRATIONS}]
    if unknown:
        raise StoreError(
            f"The battle log {path} was written by a newer version of the arena (schema "
            f"steps unknown here: {', '.join(unknown)}). It was left untouched; run that "
            "version, or point --db / ARENA_DB_PATH elsewhere."
        )
    # Tables and their columns only: a view an analyst dropped does not stop battles.
    expected, _ = _reference(_applied_names(applied))
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
    return sorted(key for key in expected if key in tables(con))
