"""Everything the `/leaderboard` page shows, computed in one go for one set of filters.

Two aggregate queries (pair counts, votes per day) feed every table: the page stays fast
on a large log and all its numbers describe the same instant. The win rates are the
pooled verdicts of `analytics.verdicts`, the numbers `oellm-arena summary` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd

from analytics import queries, summaries, verdict_tables
from analytics.queries import Filters
from analytics.ratings import DEFAULT_ROUNDS, language_ratings, pooled_variant_ratings
from analytics.stats import MIN_VOTES, reword_warnings
from analytics.verdicts import Summary, summarise
from analytics.wording import Wording, english


@dataclass(frozen=True)
class DashboardData:
    filters: Filters
    marker: tuple[int, datetime | None]  # all votes in the log, and the latest one
    first_day: date | None
    last_day: date | None
    matched_votes: int
    counts: pd.DataFrame
    summary: Summary  # the pooled verdicts; the four win tables below are its rows
    win_overall: pd.DataFrame  # one row: MultiSynt vs HPLT pooled (without `mul`)
    win_by_language: pd.DataFrame
    win_by_variant: pd.DataFrame
    win_by_language_variant: pd.DataFrame
    ratings: pd.DataFrame
    pooled_ratings: pd.DataFrame
    position: pd.DataFrame
    per_day: pd.DataFrame
    by_language: pd.DataFrame
    known_flags: list[str]  # every flag in the log, for the "leave out" filter
    min_votes: int = MIN_VOTES

    def warnings(
        self, t: Wording | None = None, language_name: Callable[[str], str] = str
    ) -> list[str]:
        """Plain sentences for every number resting on too few votes, in English unless
        `t` says otherwise; `language_name` turns a language code into a name."""
        t = t or english()
        out = []
        for _, row in self.notes(self.win_by_language, t).iterrows():
            if row["warning"]:
                language = language_name(row["language"])
                out.append(t("note_win_rate", language=language, warning=row["warning"]))
        for _, row in self.notes(self.ratings, t).iterrows():
            if row["warning"] and not row["reference"]:
                language = language_name(row["language"])
                out.append(
                    t("note_rating", model=row["model"], language=language, warning=row["warning"])
                )
        position = self.notes(self.position, t)
        overall = position[position["language"] == "all"]
        if len(overall) and overall["warning"].iloc[0]:
            out.append(t("note_position", warning=overall["warning"].iloc[0]))
        return out

    def notes(self, table: pd.DataFrame, t: Wording) -> pd.DataFrame:
        """One of this data's tables with its `warning` notes in `t`'s language."""
        return reword_warnings(table, t, self.min_votes)


def load_dashboard(
    con: duckdb.DuckDBPyConnection,
    filters: Filters,
    *,
    rounds: int = DEFAULT_ROUNDS,
    min_votes: int = MIN_VOTES,
    seed: int = 0,
) -> DashboardData:
    """Run the page's queries on `con` (one read cursor) and compute its statistics."""
    marker = queries.change_marker(con)
    first_day, last_day = queries.vote_date_range(con)
    counts = queries.pair_counts(con, filters)
    per_day = queries.votes_per_day(con, filters)
    summary = summarise(counts)
    return DashboardData(
        filters=filters,
        marker=marker,
        first_day=first_day,
        last_day=last_day,
        matched_votes=int(counts["n"].sum()) if len(counts) else 0,
        counts=counts,
        summary=summary,
        win_overall=verdict_tables.overall_table(summary, min_votes),
        win_by_language=verdict_tables.languages_table(summary, min_votes),
        win_by_variant=verdict_tables.systems_table(summary, min_votes),
        win_by_language_variant=verdict_tables.cells_table(summary, min_votes),
        ratings=language_ratings(counts, rounds, seed, min_votes),
        pooled_ratings=pooled_variant_ratings(counts, rounds, seed, min_votes),
        position=summaries.position_bias_by_language(counts, min_votes),
        per_day=per_day,
        by_language=summaries.votes_by_language(counts),
        known_flags=queries.known_flags(con),
        min_votes=min_votes,
    )
