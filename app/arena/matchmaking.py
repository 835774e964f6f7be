"""Matchmaking: which two models fight, and on which side each appears.

A battle pits one MultiSynt variant of the language against the language's HPLT reference
model, and puts each on the left (A) or right (B) with equal probability, so the displayed
position carries no information about the family.

Which variant: uniformly at random by default. Given how many battles each variant already
has and which models are loaded, `choose_variant` keeps the variants balanced while
sparing voters a model load where balance allows (see its docstring for the policy). The
arena feeds it the votes per model from `VoteCounts` (read from the log at most every few
minutes, bumped on each vote in between) and the resident models from the supervisor's
`/status`, when a language is chosen and at each new round, before Generate is pressed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from app.core.registry import Contender, Language

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pairing:
    """The two contenders of a battle: `a` is shown on the left, `b` on the right."""

    a: Contender
    b: Contender

    @property
    def models(self) -> list[str]:
        return [self.a.model_id, self.b.model_id]


DEFAULT_SLACK = 3
"""How many battles a variant may lead the least-used one by, to use a loaded model."""


def choose_variant(
    language: Language,
    *,
    counts: Mapping[str, int] | None = None,
    loaded: Collection[str] | None = None,
    slack: int = DEFAULT_SLACK,
    rng: random.Random | None = None,
) -> Contender:
    """The MultiSynt variant for the next battle in `language`: balance first, then cost.

    Policy, with `n(v)` the battles (or votes) variant `v` already has, from `counts`
    (model id -> count; missing ids count 0):

    1. **Eligible** are the variants with `n(v) <= min(n) + slack`: none may run further
       ahead of the least-used variant than `slack`.
    2. **Warm first**: if some eligible variants are in `loaded` (model ids resident on
       the engines, ready or loading, e.g. from the supervisor's `/status`), only those
       stay eligible, so the voter does not wait for a model load.
    3. Among what is left, the **least used** wins; ties are broken at random.

    Guarantee: when `counts` is updated after every battle chosen this way, no variant is
    ever more than `slack + 1` battles ahead of another, whatever is loaded (a variant is
    only picked while it is at most `slack` ahead). `slack=0` is strict round-robin and
    ignores cost except among tied variants; a larger slack saves more loads (a voter who
    plays a few battles in a language sees the loaded variant) at the price of a wider
    transient imbalance, which the next battles repay. Without `counts` every variant is
    tied, so the choice is uniform among the loaded ones (or all, when none is loaded):
    with neither argument this is the plain uniform draw.
    """
    rng = rng or random.SystemRandom()
    variants = list(language.multisynt)
    n = {v.model_id: (counts or {}).get(v.model_id, 0) for v in variants}
    floor = min(n.values())
    eligible = [v for v in variants if n[v.model_id] <= floor + max(slack, 0)]
    warm = [v for v in eligible if loaded is not None and v.model_id in loaded]
    pool = warm or eligible
    fewest = min(n[v.model_id] for v in pool)
    return rng.choice([v for v in pool if n[v.model_id] == fewest])


def pick_pairing(
    language: Language,
    rng: random.Random | None = None,
    *,
    counts: Mapping[str, int] | None = None,
    loaded: Collection[str] | None = None,
    slack: int = DEFAULT_SLACK,
) -> Pairing:
    """A MultiSynt variant (`choose_variant`; uniform without `counts` and `loaded`)
    against the HPLT model, sides shuffled."""
    rng = rng or random.SystemRandom()
    multisynt = choose_variant(language, counts=counts, loaded=loaded, slack=slack, rng=rng)
    if rng.random() < 0.5:
        return Pairing(a=multisynt, b=language.hplt)
    return Pairing(a=language.hplt, b=multisynt)


def new_seed(rng: random.Random | None = None) -> int:
    """A fresh sampling seed for one battle (both sides use it), within TGI's u64 range
    and DuckDB's BIGINT."""
    return (rng or random.SystemRandom()).randrange(0, 2**63)


class VoteCounts:
    """Votes per model for `choose_variant`, shared by every session of the process.

    Read from the battle log by `load` (blocking, run in a worker thread) at most once per
    `ttl_s`, never per click; `bump` adds each vote this process records in between, so
    the balance holds between reads. A failed read keeps the last counts (or none:
    matchmaking then draws uniformly), because a voter should never wait on analytics.
    """

    def __init__(
        self,
        load: Callable[[], Mapping[str, int]],
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self._clock = clock
        self._counts: dict[str, int] | None = None
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._loaded_at is not None and self._clock() - self._loaded_at < self.ttl_s

    def cached(self) -> dict[str, int] | None:
        """The counts as last read (plus bumps), without reading: for synchronous callers."""
        return dict(self._counts) if self._counts is not None else None

    async def get(self) -> dict[str, int] | None:
        if not self._fresh():
            async with self._lock:  # one read in flight; the other sessions reuse it
                if not self._fresh():
                    try:
                        self._counts = dict(await asyncio.to_thread(self._load))
                    except Exception:  # the log may be closing, or busy: keep what we had
                        log.warning("vote counts for matchmaking could not be read", exc_info=True)
                    self._loaded_at = self._clock()
        return self.cached()

    def bump(self, models: Iterable[str]) -> None:
        """Count one vote for each of `models` (the battle's two sides)."""
        if self._counts is None:
            return  # not read yet: the next read includes this vote anyway
        for model in models:
            self._counts[model] = self._counts.get(model, 0) + 1
