"""`oellm-arena snapshot`: refresh the analysts' read-only copy of the battle log now.

If no app has the log open, this process writes the snapshot itself. If the app is
running (DuckDB then lets no other process open the file), it asks the app through a
request file beside the snapshot and waits for the app to serve it; see
`app.core.store.snapshot` for why a file and not a signal or an HTTP call.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from app.cli.commands.analytics_common import DB_OPTION_HELP, settings_from
from app.core.store.battle_store import BattleStore
from app.core.store.database import StoreError, StoreLockedError
from app.core.store.snapshot import request_refresh, snapshot_path_for, wait_for_refresh


@click.command("snapshot")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help=DB_OPTION_HELP)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Snapshot file (default: ARENA_ANALYTICS__SNAPSHOT_PATH or <db>.snapshot.duckdb).",
)
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds to wait for a running app to write it.",
)
@click.pass_context
def command(ctx: click.Context, db: Path | None, out: Path | None, wait_s: float) -> None:
    """Write a consistent read-only snapshot of the battle log for analysts."""
    settings = settings_from(ctx, db_path=db)
    app_snapshot = snapshot_path_for(settings)
    target = out or app_snapshot
    if not settings.db_path.is_file():
        raise click.ClickException(f"No battle log at {settings.db_path}. Pass it with --db.")
    try:
        with BattleStore(settings.db_path, adopt_foreign=settings.adopt_foreign_db) as store:
            count = store.snapshot(target)
        click.echo(f"Snapshot of {count} battles written to {target}")
        return
    except StoreLockedError:
        pass  # the app is running: ask it
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    requested_at = request_refresh(app_snapshot)
    click.echo(f"The app has {settings.db_path} open; asked it to refresh {app_snapshot}…")
    if not wait_for_refresh(app_snapshot, requested_at, wait_s):
        raise click.ClickException(
            f"The running app did not refresh {app_snapshot} within {wait_s:g} s. Is it an "
            "arena app with this snapshot path (ARENA_ANALYTICS__SNAPSHOT_PATH)? Its log "
            "says why a refresh failed."
        )
    if target != app_snapshot:
        tmp = target.with_name(f".{target.name}.tmp")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(app_snapshot, tmp)
        tmp.replace(target)
    click.echo(f"Snapshot written to {target}")
