"""`oellm-arena import-legacy CSV`: the old Streamlit arena's votes into the battle log.

The logic (grouping re-logged rows, prompts, labels, flags) is `analytics.legacy_import`;
this module parses options, opens the store and prints the report.

A failed import leaves no trace: the whole file is read and checked before the log is
opened, the insert is one transaction, and a log file this command created is removed
again if the insert fails, so no empty or half-filled database is left behind to be
mistaken for a finished import.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import click

from analytics.legacy_import import (
    ImportPlan,
    ImportResult,
    LegacyImportError,
    apply_plan,
    count_present,
    plan_file,
)
from app.cli.commands.analytics_common import DB_OPTION_HELP, read_battle_log, settings_from
from app.core.registry import load_registry
from app.core.settings import Settings
from app.core.store.battle_store import BattleStore


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
        plan = plan_file(csv_path, registry, tz)  # before the log is even opened
    except LegacyImportError as exc:
        raise click.ClickException(str(exc)) from exc
    if dry_run:
        result = _dry_run(plan, settings)
        click.echo("Dry run: nothing was written.")
    else:
        result = _import(plan, settings.db_path, settings.adopt_foreign_db)
    click.echo(result.summary())
    click.echo(f"Battle log: {settings.db_path}")


def _dry_run(plan: ImportPlan, settings: Settings) -> ImportResult:
    already = 0
    if settings.db_path.exists():  # read-only (the snapshot if the app runs): never a new file
        with read_battle_log(settings) as con:
            already = count_present(con, plan)
    return ImportResult(plan, inserted=0, already_present=already)


def _import(plan: ImportPlan, db: Path, adopt_foreign: bool) -> ImportResult:
    before = _present(db)
    try:
        with BattleStore(db, adopt_foreign=adopt_foreign) as store:
            return apply_plan(plan, store)
    except BaseException as exc:  # Ctrl-C too: a new file goes either way
        created = _present(db) - before
        for path in sorted(created, key=lambda p: len(p.parts), reverse=True):  # deepest first
            with contextlib.suppress(OSError):
                if path.is_file() or path.is_symlink():
                    path.unlink()
                elif path.name.startswith(db.name):  # DuckDB's spill folder
                    shutil.rmtree(path)
                else:
                    path.rmdir()  # a folder made for the log, if nothing else went in
        if not isinstance(exc, Exception):
            raise
        what = f"the new battle log {db} was removed" if db in created else f"{db} is unchanged"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"Nothing was imported; {what}. {reason}") from exc


def _present(db: Path) -> set[Path]:
    """What of the log exists now: its folders, the file, its companions (`.wal`, `.tmp`)."""
    paths = {p for p in db.parents if p.exists()}
    if db.parent.exists():
        paths |= {p for p in db.parent.iterdir() if p.name.startswith(db.name)}
    return paths
