"""`oellm-arena export`: the battle log as a CSV or Parquet file, or (`--format hf`) the
voted battles as a Hugging Face dataset folder with its dataset card.

While the arena app runs, DuckDB lets no other process open the log, so the export reads
the analysts' snapshot instead (saying so, and how old it is, on stderr). The snapshot
has no session hashes, so `--include-private` needs the log itself: stop the app first.
"""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.commands.analytics_common import DB_OPTION_HELP, read_battle_log, settings_from
from app.core.store import hf_export
from app.core.store.database import StoreError
from app.core.store.export import export_from


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "hf"]),
    required=True,
    help="Output format: a CSV or Parquet file of every battle, or hf: a Hugging Face "
    "dataset folder of the voted battles (Parquet + dataset card).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="File to write; with --format hf, a new folder.",
)
@click.option(
    "--license",
    "license_id",
    help="--format hf: the data licence for the dataset card, as the Hub names it "
    "(e.g. cc-by-4.0). Required there: it is the organisers' choice.",
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
    license_id: str | None,
    include_private: bool,
    exact_csv: bool,
) -> None:
    """Export the battle log to CSV or Parquet, or as a Hugging Face dataset (hf)."""
    if exact_csv and fmt != "csv":
        raise click.UsageError("--exact-csv applies to --format csv (Parquet is always exact)")
    if fmt == "hf":
        if include_private:
            raise click.UsageError("--format hf never holds session hashes: drop --include-private")
        if not license_id:
            raise click.UsageError(
                "--format hf needs --license (e.g. cc-by-4.0): the data "
                "licence is the organisers' choice"
            )
    elif license_id:
        raise click.UsageError("--license applies to --format hf")
    elif out.is_dir():
        raise click.UsageError(f"--out {out} is a folder: give a file name")
    settings = settings_from(ctx, db_path=db)
    unusable = (
        "it has no session hashes. Stop the app to export them, or leave out "
        "--include-private to export the snapshot."
        if include_private
        else None
    )
    with read_battle_log(settings, snapshot_unusable=unusable) as con:
        if fmt == "hf":
            try:
                release = hf_export.export_hf(con, out, license_id=license_id or "")
            except StoreError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(
                f"Exported {release.battles} voted battles to {out} "
                f"({hf_export.DATA_FILE} and README.md, the dataset card)"
            )
            return
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
