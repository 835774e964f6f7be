"""`oellm-arena leaderboard`: ratings with intervals, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from app.cli.commands.analytics_common import (
    DB_OPTION_HELP,
    TABLE_OR_JSON,
    UsageLineError,
    read_battle_log,
    settings_from,
    vote_filter_options,
    vote_filters,
)
from app.core.registry import load_registry


@click.command("leaderboard")
@click.option(
    "--language",
    help="ISO 639-3 or 639-1 code, or name: swe, sv, Swedish, svenska (default: every language).",
)
@TABLE_OR_JSON
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help=DB_OPTION_HELP)
@click.option(
    "--by-variant",
    is_flag=True,
    help="Rate each translation system (tower9b, tower72b, opus) pooled over languages.",
)
@click.option(
    "--rounds",
    type=int,
    help="Bootstrap rounds (default: ARENA_ANALYTICS__BOOTSTRAP_ROUNDS, 1000).",
)
@vote_filter_options
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.pass_context
def command(
    ctx: click.Context,
    language: str | None,
    fmt: str,
    db: Path | None,
    by_variant: bool,
    rounds: int | None,
    exclude_flags: tuple[str, ...],
    include_flagged: bool,
    sources: tuple[str, ...],
    seed: int,
) -> None:
    """Print Bradley-Terry ratings with 95% intervals and vote counts per model."""
    # Imported here: pandas takes a while to load, and `oellm-arena supervisor` never needs it.
    from analytics.leaderboard import format_table, leaderboard, to_records

    settings = settings_from(ctx, db_path=db)
    if language:
        try:
            language = load_registry(settings.registry_path).find(language).code
        except KeyError as exc:
            raise UsageLineError(f"--language: {exc.args[0]}") from None
    with read_battle_log(settings) as con:
        board = leaderboard(
            con,
            language=language,
            pooled=by_variant,
            filters=vote_filters(exclude_flags, include_flagged, sources),
            rounds=settings.analytics.bootstrap_rounds if rounds is None else rounds,
            seed=seed,
            min_votes=settings.analytics.min_votes,
        )
    if fmt == "json":
        click.echo(json.dumps(to_records(board), ensure_ascii=False, indent=2))
    else:
        click.echo(format_table(board))
