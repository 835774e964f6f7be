"""Bradley-Terry ratings from pair counts: exact on small cases, recover known truths on
synthetic data, and bootstrap intervals that cover at about their nominal 95%."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.ratings import (
    ELO_SCALE,
    PairTable,
    fit_bradley_terry,
    language_ratings,
    pair_table,
    pooled_variant_ratings,
    rate,
)
from analytics.synthetic import counts_from, synthetic_battles


def counts_frame(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "n"])


def test_pair_table_folds_both_display_orders_into_one_pair() -> None:
    table = pair_table(
        counts_frame(
            [
                ("x", "y", "model_a", 3),  # x won on the left
                ("y", "x", "model_b", 2),  # x won on the right
                ("y", "x", "model_a", 4),  # y won on the left
                ("x", "y", "tie", 1),
                ("y", "x", "both_bad", 5),
            ]
        )
    )
    assert table.players == ("x", "y")
    assert table.cells.tolist() == [[5, 4, 1, 5]]


def test_two_players_without_prior_give_the_log_odds() -> None:
    table = PairTable(("a", "b"), np.array([0]), np.array([1]), np.array([[30, 10, 0, 0]]))
    theta = fit_bradley_terry(table, anchor=1, prior_precision=0.0)[0]
    assert theta[0] == pytest.approx(math.log(3.0), abs=1e-9)
    # Ties and both-bad are half a win for each side: 10-10 with 20 ties is even.
    even = PairTable(("a", "b"), np.array([0]), np.array([1]), np.array([[10, 10, 15, 5]]))
    assert fit_bradley_terry(even, anchor=1)[0][0] == pytest.approx(0.0, abs=1e-9)


def test_a_clean_sweep_stays_finite_thanks_to_the_prior() -> None:
    table = PairTable(("a", "b"), np.array([0]), np.array([1]), np.array([[5, 0, 0, 0]]))
    result = rate(table, anchor=1, rounds=200)
    assert 1000 < result.rating[0] < 1600
    assert np.isfinite(result.ci_high).all()
    assert result.rating[1] == result.ci_low[1] == result.ci_high[1] == 1000


def _simulate_complete_graph(
    truth: np.ndarray, per_pair: int, rng: np.random.Generator, tie_rate: float = 0.2
) -> PairTable:
    """Every pair plays `per_pair` battles; ties take equally from both sides."""
    m = len(truth)
    i, j = np.triu_indices(m, 1)
    p = 1 / (1 + np.exp(-(truth[i] - truth[j])))
    tie = np.minimum(tie_rate, 2 * np.minimum(p, 1 - p))
    probs = np.stack([p - tie / 2, 1 - p - tie / 2, tie * 0.7, tie * 0.3], axis=1)
    cells = np.array([rng.multinomial(per_pair, row) for row in probs])
    return PairTable(tuple(f"m{k}" for k in range(m)), i, j, cells)


def test_bootstrap_intervals_cover_the_truth_at_about_95_percent() -> None:
    """A seeded simulation: 150 arenas of 4 models, 3 ratings each, 200 rounds per fit."""
    rng = np.random.default_rng(20260301)
    truth = np.array([0.0, 0.4, -0.3, 0.9])  # model 0 is the anchor
    covered = []
    for _ in range(150):
        table = _simulate_complete_graph(truth, per_pair=120, rng=rng)
        result = rate(table, anchor=0, rounds=200, rng=rng)
        true_rating = 1000 + ELO_SCALE * truth
        covered.extend(
            (result.ci_low[1:] <= true_rating[1:]) & (true_rating[1:] <= result.ci_high[1:])
        )
    coverage = float(np.mean(covered))
    assert 0.91 <= coverage <= 0.98, coverage


def test_language_ratings_recover_the_true_ratings_of_a_synthetic_log() -> None:
    log = synthetic_battles(150_000, seed=7)
    voted = log.battles[log.battles["winner"].notna() & (log.battles["status"] == "completed")]
    counts = counts_from(log.battles)
    board = language_ratings(counts, rounds=300, seed=1)
    board["truth"] = [
        1000 + ELO_SCALE * log.true_strength[(lang, model)]
        for lang, model in zip(board["language"], board["model"], strict=True)
    ]
    contenders = board[~board["reference"]]
    inside = (contenders["ci_low"] <= contenders["truth"]) & (
        contenders["truth"] <= contenders["ci_high"]
    )
    assert inside.mean() >= 0.85, contenders[~inside]
    assert (contenders["rating"] - contenders["truth"]).abs().max() < 40
    refs = board[board["reference"]]
    assert set(refs["family"]) == {"hplt"} and (refs["rating"] == 1000).all()
    assert len(refs) == refs["language"].nunique() == 14
    # Counts are the battles themselves.
    swe = board[(board["language"] == "swe") & board["reference"]].iloc[0]
    assert swe["battles"] == int((voted["language"] == "swe").sum())
    assert swe["battles"] == swe["wins"] + swe["losses"] + swe["ties"] + swe["both_bad"]


def test_ratings_are_reproducible_and_pooled_by_variant() -> None:
    log = synthetic_battles(20_000, seed=3)
    voted = log.battles[log.battles["winner"].notna()]
    counts = counts_from(log.battles)
    first = language_ratings(counts, rounds=100, seed=5)
    pd.testing.assert_frame_equal(first, language_ratings(counts, rounds=100, seed=5))
    pooled = pooled_variant_ratings(counts, rounds=100)
    assert set(pooled["model"]) == {
        "HPLT",
        "MultiSynt tower9b",
        "MultiSynt tower72b",
        "MultiSynt opus",
    }
    without_mul = voted[voted["language"] != "mul"]
    hplt = pooled[pooled["model"] == "HPLT"].iloc[0]
    assert hplt["battles"] == len(without_mul) and hplt["reference"]


def test_a_languages_intervals_do_not_depend_on_the_other_languages_in_the_query() -> None:
    log = synthetic_battles(20_000, seed=11)
    counts = counts_from(log.battles)
    board = language_ratings(counts, rounds=200, seed=2)
    languages = sorted(counts["language"].unique())
    assert len(languages) == 14
    # Each language alone, and the last ones with only a few others: the same rows.
    for query in [[lang] for lang in languages] + [languages[-3:], languages[::-1]]:
        alone = language_ratings(counts[counts["language"].isin(query)], rounds=200, seed=2)
        expected = board[board["language"].isin(query)].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone.reset_index(drop=True), expected)
    # Another seed gives other draws (the seed still matters).
    other = language_ratings(counts, rounds=200, seed=3)
    assert not np.allclose(other["ci_low"].astype(float), board["ci_low"].astype(float))
