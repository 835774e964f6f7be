"""The battle log's schema, as an ordered list of named migrations (after simonw/llm).

A database records in `_migrations` which steps it has had, so any older file, from a
first deployment to last month's, is brought up to date by `migrate` when the app opens it.
Rules for adding a step: append a new function decorated with `@migration`, never edit or
reorder a shipped one, and make it safe to re-run (`IF NOT EXISTS`). DuckDB cannot add a
column with a CHECK constraint (`ALTER TABLE ... ADD COLUMN` refuses it), so a constraint
on a later column needs a table rebuild or a check in `records.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]

MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register `fn` as the next schema step; its name is its key in `_migrations`."""
    MIGRATIONS.append(fn)
    return fn


# The columns analysts rely on (design brief, "The battle log"), in export order.
ANALYST_COLUMNS: tuple[str, ...] = (
    "battle_id",
    "created_at",
    "voted_at",
    "language",
    "prompt",
    "model_a",
    "model_b",
    "family_a",
    "family_b",
    "response_a",
    "response_b",
    "winner",
    "source",
    "ttft_ms_a",
    "ttft_ms_b",
    "duration_ms_a",
    "duration_ms_b",
    "tokens_a",
    "tokens_b",
)
# Operational and reproducibility columns, exported after the analyst ones.
EXTRA_COLUMNS: tuple[str, ...] = (
    "status",
    "error",
    "variant_a",
    "variant_b",
    "finish_reason_a",
    "finish_reason_b",
    "max_new_tokens",
    "do_sample",
    "temperature",
    "top_p",
    "repetition_penalty",
    "seed",
    "app_version",
    "flags",
    "legacy_rows",
    "legacy_language",
    "legacy_prompt",
    "tags_a",
    "tags_b",
    "comment",
    "reasons_at",
)
# Never exported unless asked for: links battles to one voter's browser session.
PRIVATE_COLUMNS: tuple[str, ...] = ("session_hash",)


@migration
def m001_battles(con: duckdb.DuckDBPyConnection) -> None:
    # The invariants analysts would otherwise have to re-check live in the table itself:
    # a vote has a time, only a completed battle has one, only a failed battle has an error.
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS battles (
            battle_id TEXT PRIMARY KEY,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            voted_at TIMESTAMPTZ,
            language TEXT NOT NULL,
            prompt TEXT NOT NULL,
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            family_a TEXT NOT NULL,
            family_b TEXT NOT NULL,
            response_a TEXT NOT NULL DEFAULT '',
            response_b TEXT NOT NULL DEFAULT '',
            winner TEXT CHECK (winner IN ('model_a', 'model_b', 'tie', 'both_bad')),
            source TEXT NOT NULL DEFAULT 'arena' CHECK (source IN ('arena', 'legacy')),
            ttft_ms_a DOUBLE,
            ttft_ms_b DOUBLE,
            duration_ms_a DOUBLE,
            duration_ms_b DOUBLE,
            tokens_a INTEGER,
            tokens_b INTEGER,
            status TEXT NOT NULL DEFAULT 'completed'
                CHECK (status IN ('completed', 'failed')),
            error TEXT,
            variant_a TEXT,
            variant_b TEXT,
            finish_reason_a TEXT,
            finish_reason_b TEXT,
            CHECK ((winner IS NULL) = (voted_at IS NULL)),
            CHECK (winner IS NULL OR status = 'completed'),
            CHECK (error IS NULL OR status = 'failed')
        )
        """
    )


@migration
def m002_generation_and_provenance(con: duckdb.DuckDBPyConnection) -> None:
    # What is needed to reproduce a battle (sampling settings, seed) and to audit it
    # (salted session hash, app version); NULL for legacy rows, which never logged them.
    for column, sql_type in (
        ("max_new_tokens", "INTEGER"),
        ("do_sample", "BOOLEAN"),
        ("temperature", "DOUBLE"),
        ("top_p", "DOUBLE"),
        ("repetition_penalty", "DOUBLE"),
        ("seed", "BIGINT"),
        ("session_hash", "TEXT"),
        ("app_version", "TEXT"),
    ):
        con.execute(f"ALTER TABLE battles ADD COLUMN IF NOT EXISTS {column} {sql_type}")


@migration
def m003_quality_flags(con: duckdb.DuckDBPyConnection) -> None:
    # Rows with a known defect (e.g. an imported battle whose prompt was logged wrong) are
    # kept and marked rather than dropped or silently repaired: analysts decide. A list,
    # so one battle can carry several marks: `list_contains(flags, 'prompt_unknown')`.
    # Not `ADD COLUMN IF NOT EXISTS ... DEFAULT`: DuckDB 2.0.1 then cannot replay its WAL
    # after a crash (it tries to download an extension), so the check is done here.
    existing = {row[0] for row in con.execute("DESCRIBE battles").fetchall()}
    if "flags" not in existing:
        con.execute("ALTER TABLE battles ADD COLUMN flags VARCHAR[] DEFAULT []")
    # What the old arena logged, kept for audit when the import had to correct it.
    for column, sql_type in (
        ("legacy_rows", "INTEGER"),
        ("legacy_language", "TEXT"),
        ("legacy_prompt", "TEXT"),
    ):
        con.execute(f"ALTER TABLE battles ADD COLUMN IF NOT EXISTS {column} {sql_type}")


@migration
def m004_analytics_views(con: duckdb.DuckDBPyConnection) -> None:
    # Analysts query views, not the table, so "only voted, completed battles count" and
    # the interval formula live in one place (see app/core/store/analytics_views.py).
    from app.core.store.analytics_views import VIEWS_V1

    for statement in VIEWS_V1:
        con.execute(statement)


@migration
def m005_vote_reasons(con: duckdb.DuckDBPyConnection) -> None:
    # What a voter may add after the vote (app/arena/vote_reasons.py): tags per side and a free
    # comment (untrusted text), and when. NULL until given, so "no reasons" and "reasons
    # without tags" stay apart. No DEFAULT, for the WAL replay reason given in m003.
    existing = {row[0] for row in con.execute("DESCRIBE battles").fetchall()}
    for column, sql_type in (
        ("tags_a", "VARCHAR[]"),
        ("tags_b", "VARCHAR[]"),
        ("comment", "TEXT"),
        ("reasons_at", "TIMESTAMPTZ"),
    ):
        if column not in existing:
            con.execute(f"ALTER TABLE battles ADD COLUMN {column} {sql_type}")


@migration
def m006_benchmark_runs(con: duckdb.DuckDBPyConnection) -> None:
    # `oellm-arena benchmark` results beside the battles, so ops compare engines with SQL.
    # One row per prompt and MultiSynt variant, as in backend_benchmark_results.csv (the
    # old columns first, then timings); the HPLT side repeats across a prompt's rows.
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS benchmark_runs (
            language TEXT NOT NULL,
            prompt TEXT NOT NULL,
            hplt_model TEXT NOT NULL,
            multisynt_model TEXT NOT NULL,
            hplt_output TEXT,
            multisynt_output TEXT,
            language_code TEXT NOT NULL,
            prompt_kind TEXT NOT NULL,
            load_s DOUBLE,
            hplt_load_s DOUBLE,
            multisynt_load_s DOUBLE,
            hplt_ttft_ms DOUBLE,
            multisynt_ttft_ms DOUBLE,
            hplt_tokens INTEGER,
            multisynt_tokens INTEGER,
            hplt_tokens_per_s DOUBLE,
            multisynt_tokens_per_s DOUBLE,
            hplt_total_ms DOUBLE,
            multisynt_total_ms DOUBLE,
            hplt_error TEXT,
            multisynt_error TEXT,
            run_id TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            launcher TEXT,
            max_new_tokens INTEGER,
            seed BIGINT,
            PRIMARY KEY (run_id, language_code, prompt_kind, multisynt_model)
        )
        """
    )


def ensure_migrations_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS _migrations (
            name TEXT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL
        )
        """
    )


def applied_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names recorded in `_migrations`, oldest first (empty for a blank database)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", ["_migrations"]
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = con.execute("SELECT name FROM _migrations ORDER BY applied_at, name").fetchall()
    return [name for (name,) in rows]


def pending_migrations(
    con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[str]:
    """Names of the steps this database still needs; works on a read-only connection."""
    done = set(applied_migrations(con))
    return [fn.__name__ for fn in migrations if fn.__name__ not in done]


def migrate(
    con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[str]:
    """Apply the missing steps in order, each in its own transaction; return their names.

    A step that fails is rolled back whole and the error propagates; the steps before it
    stay applied and recorded, so the next start resumes where this one stopped.
    """
    ensure_migrations_table(con)
    done = set(applied_migrations(con))
    applied: list[str] = []
    for fn in migrations:
        name = fn.__name__
        if name in done:
            continue
        con.begin()
        try:
            fn(con)
            con.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, now())", [name])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        applied.append(name)
    return applied
