"""The pooled verdicts (`analytics.verdicts`) as the dashboard's tables: one row per
comparison, in the columns of `analytics.summaries`' win-rate tables plus the verdict and
the votes still needed. The page's answer block, charts and tables all read these, so
they show the numbers `oellm-arena summary` prints."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from analytics.stats import MIN_VOTES, small_sample_warning
from analytics.verdicts import Summary, Verdict

COUNT_COLUMNS = [
    "battles",
    "multisynt_wins",
    "hplt_wins",
    "ties",
    "both_bad",
    "decisive",
    "win_rate",
    "ci_low",
    "ci_high",
    "warning",
    "verdict",
    "votes_needed",
]


def _rows(
    entries: Iterable[tuple[dict[str, str], Verdict]], keys: list[str], min_votes: int
) -> pd.DataFrame:
    rows = []
    for key, v in entries:
        rows.append(
            {
                **key,
                "battles": v.votes,
                "multisynt_wins": v.wins,
                "hplt_wins": v.decisive - v.wins,
                "ties": v.ties,
                "both_bad": v.both_bad,
                "decisive": v.decisive,
                "win_rate": v.win_rate,
                "ci_low": v.ci_low,
                "ci_high": v.ci_high,
                "warning": small_sample_warning(v.decisive, min_votes),
                "verdict": v.verdict,
                "votes_needed": v.votes_needed,
            }
        )
    frame = pd.DataFrame(rows, columns=[*keys, *COUNT_COLUMNS])
    frame["warning"] = frame["warning"].astype(object)  # None stays None, not NaN
    frame["votes_needed"] = frame["votes_needed"].astype("Int64")
    return frame


def overall_table(summary: Summary, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """One row: MultiSynt against HPLT over every pooled language (`variant` = "all")."""
    return _rows([({"variant": "all"}, summary.overall)], ["variant"], min_votes)


def systems_table(summary: Summary, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """Each translation system against HPLT, over the pooled languages."""
    entries = [({"variant": s}, v) for s, v in summary.systems.items()]
    return _rows(entries, ["variant"], min_votes)


def languages_table(summary: Summary, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """Each language (its systems weighing the same), the multilingual experiment too."""
    entries = [({"language": lv.language}, lv.overall) for lv in summary.languages]
    return _rows(entries, ["language"], min_votes)


def cells_table(summary: Summary, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """Each language x translation system."""
    entries = [
        ({"language": lv.language, "variant": s}, v)
        for lv in summary.languages
        for s, v in lv.systems.items()
    ]
    return _rows(entries, ["language", "variant"], min_votes)
