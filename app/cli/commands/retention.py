"""`oellm-arena retention`: apply the retention settings to the battle log now."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.commands.analytics_common import DB_OPTION_HELP, settings_from
from app.core.store.battle_store import BattleStore, StoreError


@click.command(name="retention")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help=DB_OPTION_HELP)
@click.option("--dry-run", is_flag=True, help="Only say what would be erased or deleted.")
@click.pass_context
def command(ctx: click.Context, db: Path | None, dry_run: bool) -> None:
    """Erase old session hashes and delete expired battles (ARENA_TRUST__*_RETENTION_DAYS)."""
    settings = settings_from(ctx, db_path=db)
    if not settings.db_path.is_file():
        raise click.ClickException(f"No battle log at {settings.db_path}.")
    trust = settings.trust
    try:
        with BattleStore(settings.db_path, adopt_foreign=settings.adopt_foreign_db) as store:
            result = store.apply_retention_sync(trust, dry_run=dry_run)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.describe())
