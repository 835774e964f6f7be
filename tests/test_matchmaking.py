"""Matchmaking: every variant is used, sides are balanced, and nothing else is picked."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from app.arena.matchmaking import choose_variant, new_seed, pick_pairing
from app.core.registry import load_registry


@pytest.mark.parametrize("code", list(load_registry().languages))
def test_pairing_is_one_multisynt_variant_against_the_hplt_model(code: str) -> None:
    lang = load_registry().language(code)
    rng = random.Random(1)
    for _ in range(200):
        p = pick_pairing(lang, rng)
        assert {p.a.family, p.b.family} == {"multisynt", "hplt"}
        hplt = p.a if p.a.family == "hplt" else p.b
        multisynt = p.b if hplt is p.a else p.a
        assert hplt == lang.hplt
        assert multisynt in lang.multisynt


def test_sides_are_balanced_and_every_variant_appears() -> None:
    lang = load_registry().language("swe")
    rng = random.Random(42)
    n = 6000
    left_families = Counter()
    variants = Counter()
    for _ in range(n):
        p = pick_pairing(lang, rng)
        left_families[p.a.family] += 1
        variants[(p.a if p.a.family == "multisynt" else p.b).variant] += 1
    # Binomial(6000, 0.5): sd ~ 39, so 3000 +- 200 is > 5 sd: fails only if biased.
    assert abs(left_families["multisynt"] - n / 2) < 200
    assert set(variants) == {"tower9b", "tower72b", "opus"}
    for count in variants.values():
        assert abs(count - n / 3) < 200


def test_default_randomness_is_not_seeded() -> None:
    lang = load_registry().language("swe")
    pairings = {pick_pairing(lang) for _ in range(200)}
    assert len(pairings) > 1


def test_seeds_are_fresh_and_fit_a_bigint() -> None:
    seeds = [new_seed() for _ in range(100)]
    assert len(set(seeds)) == 100
    assert all(0 <= s < 2**63 for s in seeds)


# --- choosing the variant with cost: balance first, loaded models preferred ------------------

SWEDISH = load_registry().language("swe")
TOWER9B, TOWER72B, OPUS = (c.model_id for c in SWEDISH.multisynt)


def test_a_loaded_variant_is_preferred_within_the_slack() -> None:
    rng = random.Random(3)
    counts = {TOWER9B: 5, TOWER72B: 3, OPUS: 3}
    for _ in range(50):
        chosen = choose_variant(SWEDISH, counts=counts, loaded={TOWER9B}, slack=2, rng=rng)
        assert chosen.model_id == TOWER9B  # 5 <= 3 + 2: still eligible, and warm


def test_balance_wins_over_cost_beyond_the_slack() -> None:
    rng = random.Random(3)
    counts = {TOWER9B: 6, TOWER72B: 3, OPUS: 4}
    for _ in range(50):
        chosen = choose_variant(SWEDISH, counts=counts, loaded={TOWER9B}, slack=2, rng=rng)
        assert chosen.model_id == TOWER72B  # 6 > 3 + 2: the least used must load


def test_slack_zero_is_round_robin_and_cost_only_breaks_ties() -> None:
    counts = {TOWER9B: 2, TOWER72B: 2, OPUS: 1}
    assert choose_variant(SWEDISH, counts=counts, loaded={TOWER9B}, slack=0).model_id == OPUS
    tied = {TOWER9B: 2, TOWER72B: 2, OPUS: 2}
    assert choose_variant(SWEDISH, counts=tied, loaded={OPUS}, slack=0).model_id == OPUS


def test_without_counts_only_loaded_variants_are_drawn() -> None:
    rng = random.Random(5)
    drawn = {choose_variant(SWEDISH, loaded={TOWER72B, OPUS}, rng=rng).model_id for _ in range(200)}
    assert drawn == {TOWER72B, OPUS}


@pytest.mark.parametrize("slack", [0, 1, 3, 10])
def test_imbalance_never_exceeds_slack_plus_one(slack: int) -> None:
    """Simulate a long run where only one variant is ever loaded, the worst case."""
    rng = random.Random(slack)
    counts: Counter[str] = Counter()
    loaded = {TOWER9B}
    for _ in range(3000):
        chosen = choose_variant(SWEDISH, counts=counts, loaded=loaded, slack=slack, rng=rng)
        counts[chosen.model_id] += 1
        loaded = {chosen.model_id}  # one engine: the last one used stays loaded
        spread = max(counts[m] for m in (TOWER9B, TOWER72B, OPUS)) - min(
            counts[m] for m in (TOWER9B, TOWER72B, OPUS)
        )
        assert spread <= slack + 1


def test_cost_awareness_saves_loads() -> None:
    """With one engine per GPU, the default slack needs far fewer loads than uniform."""

    def loads(**kwargs: object) -> int:
        rng = random.Random(11)
        counts: Counter[str] = Counter()
        loaded: set[str] = set()
        switches = 0
        for _ in range(600):
            chosen = choose_variant(SWEDISH, counts=counts, loaded=loaded, rng=rng, **kwargs)  # type: ignore[arg-type]
            switches += chosen.model_id not in loaded
            counts[chosen.model_id] += 1
            loaded = {chosen.model_id}
        return switches

    assert loads(slack=3) < loads(slack=0) / 3


def test_pick_pairing_accepts_counts_and_loaded() -> None:
    counts = {TOWER9B: 0, TOWER72B: 9, OPUS: 9}
    for _ in range(20):
        pairing = pick_pairing(SWEDISH, counts=counts, loaded={OPUS})
        assert set(pairing.models) == {TOWER9B, SWEDISH.hplt.model_id}


def test_one_variant_languages() -> None:
    bokmal = load_registry().language("nob")
    assert choose_variant(bokmal, counts={}, loaded=set()) == bokmal.multisynt[0]
