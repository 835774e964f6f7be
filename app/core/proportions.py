"""Shares of decisive votes: their 95% interval, and the votes still needed to tell them
from parity.

Shared by the statistics (`analytics.stats`, `analytics.verdicts`) and by matchmaking
(`app.arena.vote_allocation`), which sends votes where a verdict still needs them: both
must judge a share the same way.

- Wilson's score interval stays inside [0, 1] and keeps close to its nominal coverage at
  the small counts a young arena has (the textbook p +/- 1.96 sqrt(p(1-p)/n) does not).
- Votes still needed: the usual normal-approximation sample size. At the current estimate,
  the interval excludes parity with 80% power once the distance from parity is
  (z_0.975 + z_0.80) standard errors; the variance shrinks as 1/n when votes keep
  arriving in the proportions seen so far.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal
Z80 = 0.8416212335729143  # the 80% quantile: 80% power
POWER_Z = Z95 + Z80


def wilson_interval(
    successes: np.ndarray | float, trials: np.ndarray | float, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper Wilson score bounds (NaN where there are no trials). `trials` may
    be an effective number of votes (not a whole number) for a pooled share."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def smoothed_variance(wins: int, decisive: int) -> float:
    """The variance of a share of `decisive` votes, from the smoothed share
    (wins + 1) / (decisive + 2): 3 wins of 3 do not claim zero variance. NaN without votes."""
    if decisive <= 0:
        return math.nan
    smooth = (wins + 1) / (decisive + 2)
    return smooth * (1.0 - smooth) / decisive


def votes_needed(effect: float, variance: float, decisive: int) -> int | None:
    """Decisive votes to add, in the present proportions, until an interval excludes
    parity with 80% power, for an undecided estimate `effect` away from parity whose
    variance is `variance` at `decisive` votes. None when it cannot be said: no votes,
    or an estimate exactly at parity (no number of votes is enough)."""
    if decisive <= 0 or not math.isfinite(variance) or not math.isfinite(effect):
        return None
    if abs(effect) < 1e-12:
        return None
    factor = POWER_Z**2 * variance / effect**2  # how much the variance must shrink
    return max(1, math.ceil(decisive * (factor - 1.0)))
