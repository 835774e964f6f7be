"""Win rates, Wilson intervals, position bias and small-sample warnings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.stats import add_win_rates, position_bias, small_sample_warning, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # reference values of the Wilson score interval, z = 1.96
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_matches_reference_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert float(lo) == pytest.approx(low, abs=1e-4)
    assert float(hi) == pytest.approx(high, abs=1e-4)


def test_wilson_without_trials_is_undefined_not_an_error() -> None:
    lo, hi = wilson_interval(np.array([0, 3]), np.array([0, 6]))
    assert math.isnan(lo[0]) and math.isnan(hi[0])
    assert 0 < lo[1] < 0.5 < hi[1] < 1


@pytest.mark.parametrize(("p", "n"), [(0.5, 30), (0.3, 50), (0.15, 200)])
def test_wilson_coverage_is_near_nominal(p: float, n: int) -> None:
    """Exact coverage, summed over the binomial distribution (no simulation noise)."""
    k = np.arange(n + 1)
    log_pmf = (
        np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k])
        + k * math.log(p)
        + (n - k) * math.log(1 - p)
    )
    lo, hi = wilson_interval(k, np.full(n + 1, n))
    coverage = float(np.exp(log_pmf)[(lo <= p) & (p <= hi)].sum())
    assert 0.92 <= coverage <= 0.98


def test_ties_and_both_bad_stay_out_of_the_rate() -> None:
    counts = pd.DataFrame(
        {"group": ["a", "b"], "wins": [6, 0], "losses": [2, 0], "ties": [50, 3], "both_bad": [9, 1]}
    )
    out = add_win_rates(counts, min_votes=5)
    assert out.loc[0, "win_rate"] == 0.75 and out.loc[0, "decisive"] == 8
    assert out.loc[0, "ties"] == 50 and out.loc[0, "both_bad"] == 9  # shown, not folded in
    assert out.loc[0, "warning"] is None
    assert math.isnan(out.loc[1, "win_rate"]) and out.loc[1, "warning"] == "no decisive votes yet"


def test_small_samples_are_flagged() -> None:
    assert small_sample_warning(29, 30) is not None and "29" in small_sample_warning(29, 30)
    assert small_sample_warning(30, 30) is None


def test_position_bias_estimate_and_interval() -> None:
    pb = position_bias(60, 40, ties=7, both_bad=3)
    assert pb.left_share == 0.6 and pb.decisive == 100
    assert pb.ci_low == pytest.approx(0.5020, abs=1e-4)
    assert pb.ci_high == pytest.approx(0.6906, abs=1e-4)
    assert pb.warning is None and "60.0%" in pb.describe()
    few = position_bias(3, 1)
    assert few.warning is not None and "too few" in few.describe()
