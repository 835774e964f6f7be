"""What the analytics commands share: settings from the CLI context, and a way to read
the battle log while the app may be running.

Not imported from `app.cli` (which imports the command modules), to keep the import
graph one-way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import duckdb

from app.core.settings import Settings, load_settings
from app.core.store.database import StoreError, StoreLockedError, open_database
from app.core.store.migrations import pending_migrations

if TYPE_CHECKING:
    from analytics.queries import Filters

log = logging.getLogger(__name__)

DB_OPTION_HELP = "DuckDB battle log (default: ARENA_DB_PATH or data/arena.duckdb)."
TABLE_OR_JSON = click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="table",
    show_default=True,
    help="Output format.",
)


class UsageLineError(click.ClickException):
    """A bad option value, said in one line (click's BadParameter adds the usage lines)
    with the exit status of a usage error."""

    exit_code = 2


def settings_from(ctx: click.Context, **overrides: object) -> Settings:
    """Settings as the main group configured them (`--config`), plus non-None overrides."""
    config: Path | None = ctx.find_root().obj.get("config") if ctx.find_root().obj else None
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return load_settings(config, **clean)
    except Exception as exc:  # pydantic's ValidationError names the bad field
        raise click.ClickException(f"invalid settings: {exc}") from exc


def snapshot_path(settings: Settings) -> Path:
    """Where the app keeps the analysts' snapshot of `settings.db_path`."""
    from app.core.store.snapshot import snapshot_path_for

    return snapshot_path_for(settings)


@contextlib.contextmanager
def read_battle_log(
    settings: Settings, *, snapshot_unusable: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection on the battle log, or on its snapshot while the app runs.

    DuckDB lets no other process open a file that the app has open for writing, so a
    read command falls back to the snapshot the app refreshes, and says in one line on
    stderr how old it is. `snapshot_unusable` says why the snapshot cannot stand in for
    this command (it then fails with that reason instead).
    """
    db = settings.db_path
    if not db.is_file():
        raise click.ClickException(f"No battle log at {db}. Pass the right file with --db.")
    try:
        con = open_database(db, read_only=True)
    except StoreLockedError as exc:
        if snapshot_unusable:
            raise click.ClickException(
                f"{exc} Its snapshot will not do: {snapshot_unusable}"
            ) from exc
        con = _open_checked(_snapshot_standing_in(settings, exc))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    else:
        _check_schema(con, db)
    try:
        yield con
    finally:
        con.close()


def _snapshot_standing_in(settings: Settings, exc: StoreLockedError) -> Path:
    """The snapshot to read instead of the locked log, announced on stderr with its age."""
    db, snap = settings.db_path, snapshot_path(settings)
    if not snap.is_file():
        raise click.ClickException(
            f"{exc} No snapshot at {snap} either: run `oellm-arena snapshot` to ask the "
            "running app for one."
        ) from exc
    age = datetime.now(UTC) - datetime.fromtimestamp(snap.stat().st_mtime, UTC)
    holder = f"PID {exc.pid}" if exc.pid else "another process"
    click.echo(
        f"{db} is open for writing ({holder}, the arena app?): reading its snapshot {snap}, "
        f"written {describe_age(age.total_seconds())} ago (`oellm-arena snapshot` refreshes it).",
        err=True,
    )
    return snap


def describe_age(seconds: float) -> str:
    """`42 s`, `7 min`, `3 h 05 min`, `2 days`: how old a file is, as people say it."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 48 * 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} days"


def _open_checked(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        con = open_database(path, read_only=True)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    _check_schema(con, path)
    return con


def _check_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    pending = pending_migrations(con)
    if pending:
        con.close()
        raise click.ClickException(
            f"The battle log {path} has an older schema (missing: {', '.join(pending)}). "
            "Start the arena (or run import-legacy) once to upgrade it, then try again."
        )


def vote_filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose which votes count (`--exclude-flag`, `--include-flagged`,
    `--source`), shared by the commands that compute statistics; `vote_filters` reads them."""
    options = [
        click.option(
            "--exclude-flag",
            "exclude_flags",
            multiple=True,
            help="Leave out battles with this flag (repeatable; default: identity_tell, "
            "vote_burst).",
        ),
        click.option(
            "--include-flagged", is_flag=True, help="Count every voted battle, flagged or not."
        ),
        click.option(
            "--source",
            "sources",
            type=click.Choice(["arena", "legacy"]),
            multiple=True,
            help="Only these sources (repeatable; default: both).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def vote_filters(
    exclude_flags: tuple[str, ...], include_flagged: bool, sources: tuple[str, ...]
) -> Filters:
    """The `Filters` that `vote_filter_options` describe."""
    from analytics.queries import SOURCES, UNTRUSTED_FLAGS, Filters

    if include_flagged:
        exclude_flags = ()
    elif not exclude_flags:
        exclude_flags = UNTRUSTED_FLAGS
    return Filters(sources=sources or SOURCES, exclude_flags=exclude_flags)
