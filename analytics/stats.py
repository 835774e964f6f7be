"""Win rates with honest intervals, and the position-bias estimate.

A rate is wins among *decisive* votes (a win or a loss); ties and "both bad" say nothing
about which side is more fluent, so they are counted and shown next to the rate, never
folded into it. Intervals are 95% Wilson score intervals: unlike the textbook
p ± 1.96·sqrt(p(1-p)/n), they stay inside [0, 1] and keep close to their nominal coverage
at the small counts a young arena has. Below `MIN_VOTES` decisive votes a number gets a
warning, because its interval is too wide to say anything.

Below `MIN_INTERVAL_VOTES` decisive votes, or where it has no width, an interval is not
shown at all (`interval_known`): a bootstrap of one vote resamples that vote every time
and gives a zero-width interval, which would read as certainty. The page says "too few
votes" instead, and the charts draw the estimate without bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.wording import Wording, english

# Re-exported: the one interval of the statistics and of matchmaking.
from app.core.proportions import Z95 as Z95
from app.core.proportions import wilson_interval as wilson_interval

MIN_VOTES = 30
MIN_INTERVAL_VOTES = 5  # fewer decisive votes: no interval is shown


def interval_known(
    decisive: np.ndarray | pd.Series | float,
    low: np.ndarray | pd.Series | float,
    high: np.ndarray | pd.Series | float,
    min_votes: int = MIN_INTERVAL_VOTES,
) -> np.ndarray:
    """Where an interval can honestly be shown: at least `min_votes` decisive votes and
    finite bounds that are apart. Elsewhere the page says "too few votes", never a
    zero-width interval."""
    n = np.asarray(decisive, dtype=float)
    lo = np.asarray(low, dtype=float)
    hi = np.asarray(high, dtype=float)
    with np.errstate(invalid="ignore"):
        return (n >= min_votes) & np.isfinite(lo) & np.isfinite(hi) & (hi - lo > 1e-9)


def small_sample_warning(
    decisive: int, min_votes: int = MIN_VOTES, t: Wording | None = None
) -> str | None:
    """The warning shown next to a number resting on too few decisive votes, or None
    (in English unless `t` says otherwise)."""
    if decisive >= min_votes:
        return None
    t = t or english()
    if decisive == 0:
        return t("note_no_decisive")
    return t.plural("note_too_few", decisive, n=decisive, min_votes=min_votes)


def decisive_votes(frame: pd.DataFrame) -> pd.Series:
    """Each row's decisive votes: `decisive`, or `wins` + `losses` in a ratings table."""
    return frame["decisive"] if "decisive" in frame else frame["wins"] + frame["losses"]


def interval_text(frame: pd.DataFrame, t: Wording | None = None, digits: int = 2) -> pd.Series:
    """Each row's 95% interval as people read it ("812 \N{EN DASH} 830"), or "too few votes" (in
    `t`'s language) where it cannot honestly be shown (`interval_known`)."""
    t = t or english()
    known = interval_known(decisive_votes(frame), frame["ci_low"], frame["ci_high"])
    text = [
        f"{lo:.{digits}f} \N{EN DASH} {hi:.{digits}f}" if ok else t("interval_too_few")
        for ok, lo, hi in zip(known, frame["ci_low"], frame["ci_high"], strict=True)
    ]
    return pd.Series(text, index=frame.index, dtype=object)


def reword_warnings(frame: pd.DataFrame, t: Wording, min_votes: int = MIN_VOTES) -> pd.DataFrame:
    """`frame` with its `warning` column written again in `t`'s language, from the
    decisive votes of each row (`decisive`, or `wins` + `losses` in a ratings table)."""
    if frame.empty or "warning" not in frame:
        return frame
    decisive = decisive_votes(frame)
    out = frame.copy()
    notes = [small_sample_warning(int(d), min_votes, t) for d in decisive]
    out["warning"] = pd.Series(notes, index=out.index, dtype=object)
    return out


def add_win_rates(
    counts: pd.DataFrame,
    wins: str = "wins",
    losses: str = "losses",
    *,
    min_votes: int = MIN_VOTES,
) -> pd.DataFrame:
    """`counts` plus `decisive`, `win_rate`, `ci_low`, `ci_high` and `warning` columns."""
    out = counts.copy()
    k = out[wins].to_numpy(dtype=float)
    n = k + out[losses].to_numpy(dtype=float)
    low, high = wilson_interval(k, n)
    out["decisive"] = n.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["win_rate"] = np.where(n > 0, k / n, np.nan)
    out["ci_low"] = low
    out["ci_high"] = high
    # object dtype: pandas would turn the Nones of a text column into NaN, which is truthy.
    warnings = [small_sample_warning(int(d), min_votes) for d in n]
    out["warning"] = pd.Series(warnings, index=out.index, dtype=object)
    return out


@dataclass(frozen=True)
class PositionBias:
    """How often the left text wins a decisive vote; 0.5 means no position bias.

    Sides are assigned at random for every battle, so a share away from 0.5 is voters
    preferring a position, not the models placed there.
    """

    left_wins: int
    right_wins: int
    ties: int
    both_bad: int
    left_share: float
    ci_low: float
    ci_high: float
    warning: str | None

    @property
    def decisive(self) -> int:
        return self.left_wins + self.right_wins

    def describe(self) -> str:
        if self.decisive == 0:
            return "no decisive votes yet"
        text = (
            f"left wins {self.left_share:.1%} of {self.decisive} decisive votes "
            f"(95% CI {self.ci_low:.1%} to {self.ci_high:.1%})"
        )
        return f"{text}; {self.warning}" if self.warning else text


def position_bias(
    left_wins: int, right_wins: int, ties: int = 0, both_bad: int = 0, min_votes: int = MIN_VOTES
) -> PositionBias:
    """The left-side share of decisive votes with its Wilson interval."""
    n = left_wins + right_wins
    low, high = wilson_interval(left_wins, n)
    return PositionBias(
        left_wins=int(left_wins),
        right_wins=int(right_wins),
        ties=int(ties),
        both_bad=int(both_bad),
        left_share=left_wins / n if n else float("nan"),
        ci_low=float(low),
        ci_high=float(high),
        warning=small_sample_warning(n, min_votes),
    )
