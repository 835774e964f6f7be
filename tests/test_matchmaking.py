"""Matchmaking: every variant is used, sides are balanced, and nothing else is picked."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from app.matchmaking import new_seed, pick_pairing
from app.registry import load_registry


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
