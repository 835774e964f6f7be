"""The dashboard's tables, computed in pandas from `queries.pair_counts`.

They answer the same questions as the SQL views (`analytics.win_rates_by_language`, ...)
but for whatever the dashboard's filters select, from one small aggregate instead of a
query per chart. `tests/test_analytics_views.py` checks that both give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.stats import MIN_VOTES, add_win_rates, interval_known, position_bias
from app.core.store.records import WINNERS

_OUTCOME_ORDER = ["win", "loss", "tie", "both_bad"]
# How `votes_by_language` names the outcomes (the charts translate them for the page).
OUTCOME_LABELS = {
    "win": "MultiSynt better",
    "loss": "HPLT better",
    "tie": "tie",
    "both_bad": "both bad",
}


def multisynt_outcomes(counts: pd.DataFrame) -> pd.DataFrame:
    """MultiSynt-vs-HPLT votes seen from the MultiSynt side: who, where, what outcome."""
    ms_left = (counts["family_a"] == "multisynt") & (counts["family_b"] == "hplt")
    ms_right = (counts["family_a"] == "hplt") & (counts["family_b"] == "multisynt")
    c = counts[ms_left | ms_right]
    left = ms_left[ms_left | ms_right].to_numpy()
    winner = c["winner"].to_numpy()
    won_left = winner == "model_a"
    outcome = np.where(
        np.isin(winner, ["tie", "both_bad"]), winner, np.where(won_left == left, "win", "loss")
    )
    return pd.DataFrame(
        {
            "language": c["language"].to_numpy(),
            "multisynt_model": np.where(left, c["model_a"], c["model_b"]),
            "variant": np.where(left, c["variant_a"], c["variant_b"]),
            "hplt_model": np.where(left, c["model_b"], c["model_a"]),
            "multisynt_position": np.where(left, "left", "right"),
            "outcome": outcome,
            "n": c["n"].to_numpy(dtype=np.int64),
        }
    )


def _outcome_counts(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    wide = (
        frame.pivot_table(index=keys, columns="outcome", values="n", aggfunc="sum", fill_value=0)
        .reindex(columns=_OUTCOME_ORDER, fill_value=0)
        .reset_index()
    )
    wide.columns.name = None
    wide = wide.rename(columns={"win": "multisynt_wins", "loss": "hplt_wins", "tie": "ties"})
    counted = ["multisynt_wins", "hplt_wins", "ties", "both_bad"]
    wide[counted] = wide[counted].astype(np.int64)
    wide.insert(len(keys), "battles", wide[counted].sum(axis=1))
    return wide


def _empty(keys: list[str]) -> pd.DataFrame:
    cols = [*keys, "battles", "multisynt_wins", "hplt_wins", "ties", "both_bad"]
    return add_win_rates(pd.DataFrame(columns=cols), "multisynt_wins", "hplt_wins")


def win_rates_by_language(counts: pd.DataFrame, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """Per language: how often MultiSynt beats HPLT among decisive votes, with its interval."""
    outcomes = multisynt_outcomes(counts)
    if outcomes.empty:
        return _empty(["language"])
    table = _outcome_counts(outcomes, ["language"])
    return add_win_rates(table, "multisynt_wins", "hplt_wins", min_votes=min_votes)


def win_rates_by_variant(
    counts: pd.DataFrame, min_votes: int = MIN_VOTES, *, by_language: bool = False
) -> pd.DataFrame:
    """Each translation system against HPLT: pooled over languages (without the
    multilingual experiment, whose reference is not HPLT), or per language."""
    outcomes = multisynt_outcomes(counts)
    keys = ["language", "variant"] if by_language else ["variant"]
    if not by_language:
        outcomes = outcomes[outcomes["language"] != "mul"]
    if outcomes.empty:
        return _empty(keys)
    outcomes = outcomes.assign(variant=outcomes["variant"].fillna("unknown"))
    table = _outcome_counts(outcomes, keys)
    return add_win_rates(table, "multisynt_wins", "hplt_wins", min_votes=min_votes)


def win_rate_overall(counts: pd.DataFrame, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """MultiSynt against HPLT pooled over every language and translation system (one row,
    `variant` = "all"), without the multilingual experiment as in `win_rates_by_variant`."""
    outcomes = multisynt_outcomes(counts)
    outcomes = outcomes[outcomes["language"] != "mul"].assign(variant="all")
    if outcomes.empty:
        return _empty(["variant"])
    table = _outcome_counts(outcomes, ["variant"])
    return add_win_rates(table, "multisynt_wins", "hplt_wins", min_votes=min_votes)


VERDICTS = ("multisynt", "hplt", "open", "too_few")


def verdict(decisive: int, ci_low: float, ci_high: float) -> str:
    """What a MultiSynt win rate says (`VERDICTS`): "multisynt" or "hplt" where its 95%
    interval lies wholly on one side of 50%, "open" where it holds 50%, "too_few" where
    no honest interval exists (`stats.interval_known`)."""
    if not interval_known(decisive, ci_low, ci_high):
        return "too_few"
    if ci_low > 0.5:
        return "multisynt"
    if ci_high < 0.5:
        return "hplt"
    return "open"


def position_bias_by_language(counts: pd.DataFrame, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """Left-side share of decisive votes per language, plus an `all` row first."""
    winner_n = counts.groupby(["language", "winner"])["n"].sum().unstack(fill_value=0)
    winner_n = winner_n.reindex(columns=list(WINNERS), fill_value=0)
    rows = []
    groups = [("all", winner_n.sum(axis=0)), *winner_n.iterrows()]
    for language, c in groups:
        pb = position_bias(
            int(c["model_a"]), int(c["model_b"]), int(c["tie"]), int(c["both_bad"]), min_votes
        )
        rows.append(
            {
                "language": language,
                "left_wins": pb.left_wins,
                "right_wins": pb.right_wins,
                "ties": pb.ties,
                "both_bad": pb.both_bad,
                "decisive": pb.decisive,
                "left_share": pb.left_share,
                "ci_low": pb.ci_low,
                "ci_high": pb.ci_high,
                "warning": pb.warning,
            }
        )
    frame = pd.DataFrame(rows)
    frame["warning"] = frame["warning"].astype(object).where(frame["warning"].notna(), None)
    return frame


def votes_by_language(counts: pd.DataFrame) -> pd.DataFrame:
    """Votes per language and outcome (MultiSynt win, HPLT win, tie, both bad)."""
    outcomes = multisynt_outcomes(counts)
    frame = (
        outcomes.assign(outcome=outcomes["outcome"].map(OUTCOME_LABELS))
        .groupby(["language", "outcome"], as_index=False)["n"]
        .sum()
        .rename(columns={"n": "votes"})
    )
    return frame
