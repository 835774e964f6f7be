"""Where votes go: target shares from the cells' tallies, and matchmaking that follows them
without starving a pairing or letting a loaded model run away from its target."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from app.arena.matchmaking import choose_variant, decisive_result
from app.arena.vote_allocation import (
    AllocationPolicy,
    cell_done,
    cell_need,
    interval_width,
    shares_for,
    target_shares,
    votes_for_width,
)
from app.core import proportions
from app.core.registry import load_registry
from app.core.settings import MatchmakingSettings

POLICY = AllocationPolicy()
SWEDISH = load_registry().language("swe")
TOWER9B, TOWER72B, OPUS = (c.model_id for c in SWEDISH.multisynt)
IDS = (TOWER9B, TOWER72B, OPUS)


# ---- when a cell is done, and what an undecided one needs -----------------------------------


def test_a_cell_excluding_parity_is_done_once_it_has_the_minimum() -> None:
    assert not cell_done((0, 6), POLICY)  # excludes parity, but 6 < 10 votes
    assert cell_done((1, 11), POLICY)
    assert cell_need((1, 11), POLICY) == 0


def test_a_cell_near_parity_is_done_at_the_target_width() -> None:
    assert not cell_done((45, 45), POLICY)
    assert cell_done((49, 49), POLICY)  # 98 votes: the interval is just under 0.2 wide
    assert interval_width(49, 49) < 0.2 < interval_width(45, 45)


def test_the_target_width_needs_about_96_votes_at_parity() -> None:
    assert votes_for_width(0.5, 0.2) == 97
    assert votes_for_width(0.5, 0.1) == 385


def test_too_few_votes_need_the_votes_to_the_width_at_parity() -> None:
    assert cell_need((0, 0), POLICY) == 97
    assert cell_need((2, 3), POLICY) == 92


def test_need_is_the_fewer_of_power_and_width() -> None:
    clear = (3, 9)  # 0.25, undecided: the power formula asks less than the width
    p = proportions.votes_needed(0.25 - 0.5, proportions.smoothed_variance(3, 12), 12)
    assert p == 14 and cell_need(clear, POLICY) == p
    close = (14, 22)  # 0.39: the width comes first
    assert cell_need(close, POLICY) == votes_for_width(15 / 38, 0.2) - 36 == 56


# ---- target shares --------------------------------------------------------------------------


def test_shares_follow_need_and_sum_to_one() -> None:
    shares = target_shares({TOWER9B: (2, 30), TOWER72B: (20, 22), OPUS: (0, 0)}, POLICY)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares[TOWER9B] == pytest.approx(0.1 / 3)  # done: only the floor
    assert shares[TOWER72B] > 0.3 and shares[OPUS] > 0.3


def test_all_done_is_balanced_again() -> None:
    shares = target_shares({TOWER9B: (2, 30), TOWER72B: (30, 2), OPUS: (50, 50)}, POLICY)
    assert shares == {m: pytest.approx(1 / 3) for m in IDS}


def test_every_variant_keeps_its_floor() -> None:
    for _ in range(200):
        rng = random.Random(_)
        tallies = {m: (rng.randrange(60), rng.randrange(60)) for m in IDS}
        shares = target_shares(tallies, POLICY)
        assert min(shares.values()) >= 0.1 / 3 - 1e-12
        assert sum(shares.values()) == pytest.approx(1.0)


def test_shares_for_follows_the_settings_policy() -> None:
    tallies = {TOWER9B: (2, 30)}
    assert shares_for(SWEDISH, tallies, MatchmakingSettings(policy="balanced")) is None
    assert shares_for(SWEDISH, None, MatchmakingSettings()) is None
    assert shares_for(load_registry().language("nob"), tallies, MatchmakingSettings()) is None
    shares = shares_for(SWEDISH, tallies, MatchmakingSettings())
    assert shares is not None and set(shares) == set(IDS)  # variants without votes: (0, 0)
    assert shares[TOWER9B] < shares[OPUS] == shares[TOWER72B]


def test_decisive_result_knows_which_side_is_multisynt() -> None:
    ms, hplt = SWEDISH.multisynt[0], SWEDISH.hplt
    assert decisive_result(ms, hplt, "model_a") == (TOWER9B, True)
    assert decisive_result(hplt, ms, "model_a") == (TOWER9B, False)
    assert decisive_result(hplt, ms, "model_b") == (TOWER9B, True)
    assert decisive_result(ms, hplt, "tie") is None
    assert decisive_result(ms, SWEDISH.multisynt[1], "model_a") is None


# ---- choose_variant with shares -------------------------------------------------------------


def test_the_variant_furthest_behind_its_share_is_chosen() -> None:
    shares = {TOWER9B: 0.6, TOWER72B: 0.3, OPUS: 0.1}
    counts = {TOWER9B: 5, TOWER72B: 3, OPUS: 2}  # deficits -1, 0, 1
    chosen = choose_variant(SWEDISH, counts=counts, shares=shares, rng=random.Random(1))
    assert chosen.model_id == TOWER9B


def test_a_loaded_variant_within_the_slack_is_preferred_to_the_one_behind() -> None:
    shares = {TOWER9B: 0.6, TOWER72B: 0.3, OPUS: 0.1}
    counts = {TOWER9B: 5, TOWER72B: 3, OPUS: 2}
    pick = choose_variant(SWEDISH, counts=counts, shares=shares, loaded={OPUS}, slack=1)
    assert pick.model_id == OPUS  # 1 ahead, within slack 1
    pick = choose_variant(SWEDISH, counts=counts, shares=shares, loaded={OPUS}, slack=0)
    assert pick.model_id == TOWER9B  # beyond slack 0: the model must load


def test_ties_are_broken_at_random() -> None:
    shares = {m: 1 / 3 for m in IDS}
    rng = random.Random(4)
    drawn = {choose_variant(SWEDISH, counts={}, shares=shares, rng=rng).model_id for _ in range(60)}
    assert drawn == set(IDS)


def test_long_run_battles_follow_the_shares() -> None:
    shares = {TOWER9B: 0.7, TOWER72B: 0.2, OPUS: 0.1}
    counts: Counter[str] = Counter()
    rng = random.Random(8)
    for _ in range(1000):
        counts[choose_variant(SWEDISH, counts=counts, shares=shares, rng=rng).model_id] += 1
    assert {m: counts[m] for m in IDS} == {TOWER9B: 700, TOWER72B: 200, OPUS: 100}


@pytest.mark.parametrize("slack", [0, 1, 3, 10])
def test_a_loaded_model_never_runs_more_than_slack_plus_one_ahead(slack: int) -> None:
    """The guarantee, over many random draws: fixed shares, a random engine loaded (the
    worst case is the last one used), counts bumped after every battle."""
    rng = random.Random(100 + slack)
    for trial in range(40):
        raw = [rng.random() + 0.01 for _ in IDS]
        shares = {m: r / sum(raw) for m, r in zip(IDS, raw, strict=True)}
        counts: Counter[str] = Counter({m: rng.randrange(5) for m in IDS})
        loaded = {rng.choice(IDS)}
        start_n = sum(counts.values())
        worst_start = max(counts[m] - shares[m] * start_n for m in IDS)
        for _ in range(300):
            chosen = choose_variant(
                SWEDISH, counts=counts, loaded=loaded, shares=shares, slack=slack, rng=rng
            )
            counts[chosen.model_id] += 1
            loaded = {chosen.model_id} if trial % 2 else {rng.choice(IDS)}
            n = sum(counts.values())
            ahead = max(counts[m] - shares[m] * n for m in IDS)
            assert ahead <= max(slack + 1, worst_start) + 1e-9


def test_moving_shares_never_push_the_chosen_variant_past_slack_plus_one() -> None:
    rng = random.Random(7)
    counts: Counter[str] = Counter()
    shares = {m: 1 / 3 for m in IDS}
    for step in range(3000):
        if step % 25 == 0:  # the tallies moved: new shares, some variant left far ahead
            raw = [rng.random() + 0.01 for _ in IDS]
            shares = {m: r / sum(raw) for m, r in zip(IDS, raw, strict=True)}
        chosen = choose_variant(
            SWEDISH, counts=counts, loaded={rng.choice(IDS)}, shares=shares, slack=3, rng=rng
        )
        counts[chosen.model_id] += 1
        n = sum(counts.values())
        assert counts[chosen.model_id] - shares[chosen.model_id] * n <= 4 + 1e-9
