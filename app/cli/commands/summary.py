"""`oellm-arena summary`: the research answer, MultiSynt against HPLT pooled over languages."""

from __future__ import annotations

import json
from pathlib import Path

import click

from app.cli.commands.analytics_common import (
    DB_OPTION_HELP,
    TABLE_OR_JSON,
    read_battle_log,
    settings_from,
    vote_filter_options,
    vote_filters,
)


@click.command("summary")
@TABLE_OR_JSON
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help=DB_OPTION_HELP)
@vote_filter_options
@click.pass_context
def command(
    ctx: click.Context,
    fmt: str,
    db: Path | None,
    exclude_flags: tuple[str, ...],
    include_flagged: bool,
    sources: tuple[str, ...],
) -> None:
    """Print the pooled verdicts: MultiSynt against HPLT overall, per translation system,
    the systems against each other and per language, with 95% intervals and the decisive
    votes still needed (docs/analytics.md, "The pooled verdicts")."""
    from analytics.queries import pair_counts
    from analytics.summary_text import format_summary
    from analytics.verdicts import summarise

    settings = settings_from(ctx, db_path=db)
    with read_battle_log(settings) as con:
        counts = pair_counts(con, vote_filters(exclude_flags, include_flagged, sources))
    summary = summarise(counts)
    if fmt == "json":
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_summary(summary))
