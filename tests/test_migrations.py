"""The schema: a blank file, a re-run and an older file all end at the same columns."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from app.core.store.migrations import (
    ANALYST_COLUMNS,
    EXTRA_COLUMNS,
    MIGRATIONS,
    PRIVATE_COLUMNS,
    applied_migrations,
    migrate,
    pending_migrations,
)

EXPECTED_COLUMNS = [
    ("battle_id", "VARCHAR"),
    ("created_at", "TIMESTAMP WITH TIME ZONE"),
    ("voted_at", "TIMESTAMP WITH TIME ZONE"),
    ("language", "VARCHAR"),
    ("prompt", "VARCHAR"),
    ("model_a", "VARCHAR"),
    ("model_b", "VARCHAR"),
    ("family_a", "VARCHAR"),
    ("family_b", "VARCHAR"),
    ("response_a", "VARCHAR"),
    ("response_b", "VARCHAR"),
    ("winner", "VARCHAR"),
    ("source", "VARCHAR"),
    ("ttft_ms_a", "DOUBLE"),
    ("ttft_ms_b", "DOUBLE"),
    ("duration_ms_a", "DOUBLE"),
    ("duration_ms_b", "DOUBLE"),
    ("tokens_a", "INTEGER"),
    ("tokens_b", "INTEGER"),
    ("status", "VARCHAR"),
    ("error", "VARCHAR"),
    ("variant_a", "VARCHAR"),
    ("variant_b", "VARCHAR"),
    ("finish_reason_a", "VARCHAR"),
    ("finish_reason_b", "VARCHAR"),
    ("max_new_tokens", "INTEGER"),
    ("do_sample", "BOOLEAN"),
    ("temperature", "DOUBLE"),
    ("top_p", "DOUBLE"),
    ("repetition_penalty", "DOUBLE"),
    ("seed", "BIGINT"),
    ("session_hash", "VARCHAR"),
    ("app_version", "VARCHAR"),
    ("flags", "VARCHAR[]"),
    ("legacy_rows", "INTEGER"),
    ("legacy_language", "VARCHAR"),
    ("legacy_prompt", "VARCHAR"),
    ("tags_a", "VARCHAR[]"),
    ("tags_b", "VARCHAR[]"),
    ("comment", "VARCHAR"),
    ("reasons_at", "TIMESTAMP WITH TIME ZONE"),
]
NAMES = [fn.__name__ for fn in MIGRATIONS]


@pytest.fixture
def con(db_path: Path):
    con = duckdb.connect(str(db_path))
    yield con
    con.close()


def columns(con: duckdb.DuckDBPyConnection, table: str = "battles") -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {table}").fetchall()]


def test_empty_database_gets_exactly_the_expected_columns(con: duckdb.DuckDBPyConnection) -> None:
    assert migrate(con) == NAMES
    assert columns(con) == EXPECTED_COLUMNS
    assert set(ANALYST_COLUMNS + EXTRA_COLUMNS + PRIVATE_COLUMNS) == {c for c, _ in columns(con)}
    assert columns(con, "_migrations") == [
        ("name", "VARCHAR"),
        ("applied_at", "TIMESTAMP WITH TIME ZONE"),
    ]


def test_rerun_is_a_noop_and_each_name_is_recorded_once(con: duckdb.DuckDBPyConnection) -> None:
    migrate(con)
    assert migrate(con) == []
    assert migrate(con) == []
    rows = con.execute("SELECT name, count(*), min(applied_at) FROM _migrations GROUP BY name")
    recorded = {name: (n, applied_at) for name, n, applied_at in rows.fetchall()}
    assert set(recorded) == set(NAMES)
    assert all(n == 1 and applied_at is not None for n, applied_at in recorded.values())
    assert applied_migrations(con) == NAMES
    assert pending_migrations(con) == []
    assert columns(con) == EXPECTED_COLUMNS


def test_each_migration_is_safe_to_run_again(con: duckdb.DuckDBPyConnection) -> None:
    migrate(con)
    for fn in MIGRATIONS:
        fn(con)
    assert columns(con) == EXPECTED_COLUMNS


def test_older_database_is_upgraded_and_keeps_its_rows(db_path: Path) -> None:
    con = duckdb.connect(str(db_path))
    assert migrate(con, MIGRATIONS[:1]) == NAMES[:1]
    con.execute(
        "INSERT INTO battles (battle_id, language, prompt, model_a, model_b, family_a,"
        " family_b, winner, voted_at, source)"
        " VALUES ('old-1', 'swe', 'Hej', 'ms', 'hplt', 'multisynt', 'hplt', 'tie', now(),"
        " 'legacy')"
    )
    con.close()

    con = duckdb.connect(str(db_path))
    assert pending_migrations(con) == NAMES[1:]
    assert migrate(con) == NAMES[1:]
    assert columns(con) == EXPECTED_COLUMNS
    row = con.execute(
        "SELECT winner, status, source, seed, session_hash FROM battles WHERE battle_id = 'old-1'"
    ).fetchone()
    assert row == ("tie", "completed", "legacy", None, None)
    assert applied_migrations(con) == NAMES
    con.close()


def test_a_failing_migration_is_rolled_back_and_not_recorded(
    con: duckdb.DuckDBPyConnection,
) -> None:
    def m999_broken(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("CREATE TABLE half_done (x INTEGER)")
        c.execute("SELECT * FROM no_such_table")

    with pytest.raises(duckdb.CatalogException):
        migrate(con, [*MIGRATIONS, m999_broken])
    assert applied_migrations(con) == NAMES
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert "half_done" not in tables


def test_schema_constraints_hold(con: duckdb.DuckDBPyConnection) -> None:
    migrate(con)
    base = (
        "INSERT INTO battles (battle_id, language, prompt, model_a, model_b, family_a,"
        " family_b, winner, voted_at, status, error, source) VALUES"
        " (?, 'swe', 'p', 'a', 'b', 'multisynt', 'hplt', ?, ?, ?, ?, ?)"
    )
    bad = [
        ("w", "left", "2026-01-01 00:00+00", "completed", None, "arena"),
        ("s", None, None, "crashed", None, "arena"),
        ("src", None, None, "completed", None, "web"),
        ("vote-on-failed", "tie", "2026-01-01 00:00+00", "failed", "a: timeout: slow", "arena"),
        ("winner-no-time", "tie", None, "completed", None, "arena"),
        ("error-on-ok", None, None, "completed", "a: timeout: slow", "arena"),
    ]
    for battle_id, *rest in bad:
        with pytest.raises(duckdb.ConstraintException):
            con.execute(base, [battle_id, *rest])
    con.execute(base, ["ok", None, None, "failed", "b: overloaded: busy", "arena"])
    assert con.execute("SELECT count(*) FROM battles").fetchone() == (1,)
