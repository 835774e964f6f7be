"""`oellm-arena export`: the battle log as a CSV or Parquet file.

While the arena app runs, DuckDB lets no other process open the log, so the export reads
the analysts' snapshot instead (saying so, and how old it is, on stderr). The snapshot
has no session hashes, so `--include-private` needs the log itself: stop the app first.
"""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.commands.analytics_common import DB_OPTION_HELP, read_battle_log, settings_from
from app.core.store.database import StoreError
from app.core.store.export import export_from


@click.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), required=True, help="Output format."
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write."
)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help=DB_OPTION_HELP)
@click.option("--include-private", is_flag=True, help="Also export the salted session hashes.")
@click.option(
    "--exact-csv",
    is_flag=True,
    help="CSV: write text cells exactly as logged, even those a spreadsheet would run as a "
    "formula (by default a cell starting with = + - @ tab CR or ' gets a leading ').",
)
@click.pass_context
def command(
    ctx: click.Context,
    fmt: str,
    out: Path,
    db: Path | None,
    include_private: bool,
    exact_csv: bool,
) -> None:
    """Export the battle log to CSV or Parquet."""
    if exact_csv and fmt != "csv":
        raise click.UsageError("--exact-csv applies to --format csv (Parquet is always exact)")
    settings = settings_from(ctx, db_path=db)
    unusable = (
        "it has no session hashes. Stop the app to export them, or leave out "
        "--include-private to export the snapshot."
        if include_private
        else None
    )
    with read_battle_log(settings, snapshot_unusable=unusable) as con:
        try:
            n = export_from(
                con,
                out,
                fmt,  # type: ignore[arg-type]
                include_private=include_private,
                spreadsheet_safe=not exact_csv,
            )
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Exported {n} battles to {out}")
