"""`oellm-arena import-legacy CSV`: the old Streamlit arena's votes into the battle log.

The logic (grouping re-logged rows, prompts, labels, flags) is `analytics.legacy_import`;
this module parses options, opens the store and prints the report.
"""

from __future__ import annotations

from pathlib import Path

import click

from analytics.legacy_import import LegacyImportError, import_legacy
from app.cli.commands.analytics_common import DB_OPTION_HELP, settings_from
from app.core.registry import load_registry
from app.core.store.battle_store import BattleStore
from app.core.store.database import StoreError


@click.command("import-legacy")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help=DB_OPTION_HELP)
@click.option(
    "--timezone",
    "tz",
    default="UTC",
    show_default=True,
    help="Time zone of the file's timestamps (they carry none).",
)
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@click.pass_context
def command(ctx: click.Context, csv_path: Path, db: Path | None, tz: str, dry_run: bool) -> None:
    """Import the old Streamlit arena's arena_results.csv into the battle log."""
    settings = settings_from(ctx, db_path=db)
    registry = load_registry(settings.registry_path)
    try:
        with BattleStore(settings.db_path, adopt_foreign=settings.adopt_foreign_db) as store:
            result = import_legacy(csv_path, store, registry, tz, dry_run=dry_run)
    except LegacyImportError as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if dry_run:
        click.echo("Dry run: nothing was written.")
    click.echo(result.summary())
    click.echo(f"Battle log: {settings.db_path}")
