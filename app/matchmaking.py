"""Matchmaking: which two models fight, and on which side each appears.

A battle pits one MultiSynt variant of the language (chosen uniformly at random) against the
language's HPLT reference model, and puts each on the left (A) or right (B) with equal
probability, so the displayed position carries no information about the family.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from app.registry import Contender, Language


@dataclass(frozen=True)
class Pairing:
    """The two contenders of a battle: `a` is shown on the left, `b` on the right."""

    a: Contender
    b: Contender

    @property
    def models(self) -> list[str]:
        return [self.a.model_id, self.b.model_id]


def pick_pairing(language: Language, rng: random.Random | None = None) -> Pairing:
    """A random MultiSynt variant against the HPLT model, sides shuffled."""
    rng = rng or random.SystemRandom()
    multisynt = rng.choice(language.multisynt)
    if rng.random() < 0.5:
        return Pairing(a=multisynt, b=language.hplt)
    return Pairing(a=language.hplt, b=multisynt)


def new_seed(rng: random.Random | None = None) -> int:
    """A fresh sampling seed for one battle (both sides use it), within TGI's u64 range
    and DuckDB's BIGINT."""
    return (rng or random.SystemRandom()).randrange(0, 2**63)
