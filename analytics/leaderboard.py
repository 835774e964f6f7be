"""The leaderboard: ratings with intervals and vote counts, as records, JSON or a table.

Shared by `oellm-arena leaderboard` and the `/leaderboard` page so both always agree.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import duckdb
import pandas as pd

from analytics.queries import ALL, Filters, pair_counts
from analytics.ratings import DEFAULT_ROUNDS, language_ratings, pooled_variant_ratings
from analytics.stats import MIN_VOTES, interval_known


def leaderboard(
    con: duckdb.DuckDBPyConnection,
    *,
    language: str | None = None,
    pooled: bool = False,
    filters: Filters = ALL,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    min_votes: int = MIN_VOTES,
) -> pd.DataFrame:
    """Per-language model ratings (one language if given), or pooled translation systems."""
    if language:
        filters = replace(filters, languages=(language,))
    counts = pair_counts(con, filters)
    if pooled:
        return pooled_variant_ratings(counts, rounds, seed, min_votes)
    return language_ratings(counts, rounds, seed, min_votes)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 1)
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def to_records(board: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: model, language, rating, ci_low, ci_high, battles, wins, losses,
    ties, both_bad, family, variant, reference, warning; ratings rounded to 0.1."""
    keys = [
        "model",
        "language",
        "rating",
        "ci_low",
        "ci_high",
        "battles",
        "wins",
        "losses",
        "ties",
        "both_bad",
        "family",
        "variant",
        "reference",
        "warning",
    ]
    return [{k: _clean(row[k]) for k in keys} for row in board.to_dict("records")]


def format_table(board: pd.DataFrame) -> str:
    """A plain-text table for a terminal, one line per model, warnings marked with `!`;
    the interval reads "reference" for the anchor and "too few votes" where none can
    honestly be shown (as on the page)."""
    if board.empty:
        return "No voted battles match."
    header = (
        f"{'lang':<5}{'model':<44}{'rating':>8}{'95% CI':>17}"
        f"{'battles':>9}{'W':>7}{'L':>7}{'T':>6}{'BB':>6}"
    )
    lines = [header, "-" * len(header)]
    notes: list[str] = []
    known = interval_known(board["wins"] + board["losses"], board["ci_low"], board["ci_high"])
    for row, shown in zip(board.to_dict("records"), known, strict=True):
        if row["reference"]:
            ci = "reference"
        elif shown:
            ci = f"{row['ci_low']:.0f} to {row['ci_high']:.0f}"
        else:  # a bootstrap of a vote or two: no honest interval (stats.interval_known)
            ci = "too few votes"
        mark = ""
        if row["reference"]:
            mark = " (ref)"
        if row["warning"]:
            mark += " !"
            notes.append(f"! {row['language']} {row['model']}: {row['warning']}")
        lines.append(
            f"{row['language']:<5}{row['model'][:43]:<44}{row['rating']:>8.0f}{ci:>17}"
            f"{row['battles']:>9}{row['wins']:>7}{row['losses']:>7}{row['ties']:>6}"
            f"{row['both_bad']:>6}{mark}"
        )
    lines.append("")
    lines.append(
        "Bradley-Terry ratings, 1000 = the language's HPLT reference (ref); 95% bootstrap "
        "intervals (none below 5 decisive votes: --format json has the bootstrap's bounds). "
        "W/L/T/BB: wins, losses, ties, both bad."
    )
    return "\n".join(lines + notes)
