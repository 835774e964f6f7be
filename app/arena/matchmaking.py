"""Matchmaking: which two models fight, and on which side each appears.

A battle pits one MultiSynt variant of the language against the language's HPLT reference
model, and puts each on the left (A) or right (B) with equal probability, so the displayed
position carries no information about the family.

Which variant: uniformly at random by default. Given how many battles each variant already
has and which models are loaded, `choose_variant` keeps the variants balanced while
sparing voters a model load where balance allows (see its docstring for the policy).
Given target shares (`app.arena.vote_allocation`: more votes where a verdict still needs
them), it keeps each variant near its share instead of near an equal one. The arena feeds
it the votes and decisive tallies per model from `VoteCounts` (read from the log at most
every few minutes, bumped on each vote in between) and the resident models from the
supervisor's `/status`, when a language is chosen and at each new round, before Generate
is pressed.
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
    shares: Mapping[str, float] | None = None,
) -> Contender:
    """The MultiSynt variant for the next battle in `language`: balance first, then cost.

    With `shares` (model id -> target share of the language's battles) the balance is
    toward those shares (`_choose_by_share`); without, toward equal counts, as follows.

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
    if shares is not None:
        return _choose_by_share(language, counts or {}, loaded, slack, rng, shares)
    variants = list(language.multisynt)
    n = {v.model_id: (counts or {}).get(v.model_id, 0) for v in variants}
    floor = min(n.values())
    eligible = [v for v in variants if n[v.model_id] <= floor + max(slack, 0)]
    warm = [v for v in eligible if loaded is not None and v.model_id in loaded]
    pool = warm or eligible
    fewest = min(n[v.model_id] for v in pool)
    return rng.choice([v for v in pool if n[v.model_id] == fewest])


def _choose_by_share(
    language: Language,
    counts: Mapping[str, int],
    loaded: Collection[str] | None,
    slack: int,
    rng: random.Random,
    shares: Mapping[str, float],
) -> Contender:
    """The variant for the next battle, each variant kept near its target share.

    With `n(v)` the battles variant `v` has (from `counts`), `N` their sum over the
    language's variants and `s(v)` its target share (missing ids get an equal share; the
    shares are normalised over the language's variants), `v` is *ahead* of its target
    by its deficit `d(v) = n(v) - s(v) N`. The deficits sum to 0, so some variant is
    never ahead.

    1. **Eligible** are the variants at most `slack` battles ahead (`d(v) <= slack`).
    2. **Warm first**: the eligible variants in `loaded`, if any.
    3. Among what is left, the one **furthest behind** its target (lowest `d(v)`);
       ties are broken at random.

    Guarantee: with fixed shares and `counts` updated after every battle chosen this
    way, no variant is ever more than `slack + 1` battles ahead of its target share,
    whatever is loaded: a variant is chosen only while at most `slack` ahead, a choice
    adds less than one battle to its own lead and lowers every other's. When the shares
    move (the tallies changed what a verdict needs), a variant left further ahead is not
    chosen until the others catch up, so no choice ever puts the chosen variant more
    than `slack + 1` ahead of its current target. As every share is positive (the
    allocation's floor), no variant starves.
    """
    variants = list(language.multisynt)
    ids = [v.model_id for v in variants]
    raw = {m: max(float(shares.get(m, 1.0 / len(ids))), 0.0) for m in ids}
    total_share = sum(raw.values())
    target = {m: raw[m] / total_share if total_share > 0 else 1.0 / len(ids) for m in ids}
    n = {m: counts.get(m, 0) for m in ids}
    battles = sum(n.values())
    deficit = {m: n[m] - target[m] * battles for m in ids}
    eligible = [v for v in variants if deficit[v.model_id] <= max(slack, 0) + _EPS]
    warm = [v for v in eligible if loaded is not None and v.model_id in loaded]
    pool = warm or eligible
    lowest = min(deficit[v.model_id] for v in pool)
    return rng.choice([v for v in pool if deficit[v.model_id] <= lowest + _EPS])


_EPS = 1e-9  # deficits are floats: equal ones must tie


def decisive_result(a: Contender, b: Contender, winner: str) -> tuple[str, bool] | None:
    """(the MultiSynt model, whether it won) for a decisive vote between a MultiSynt model
    and the reference; None for a tie, "both bad", or any other pairing."""
    if winner not in ("model_a", "model_b") or {a.family, b.family} != {"multisynt", "hplt"}:
        return None
    multisynt = a if a.family == "multisynt" else b
    return multisynt.model_id, (winner == "model_a") == (multisynt is a)


def pick_pairing(
    language: Language,
    rng: random.Random | None = None,
    *,
    counts: Mapping[str, int] | None = None,
    loaded: Collection[str] | None = None,
    slack: int = DEFAULT_SLACK,
    shares: Mapping[str, float] | None = None,
) -> Pairing:
    """A MultiSynt variant (`choose_variant`; uniform without `counts`, `loaded` and
    `shares`) against the HPLT model, sides shuffled."""
    rng = rng or random.SystemRandom()
    multisynt = choose_variant(
        language, counts=counts, loaded=loaded, slack=slack, rng=rng, shares=shares
    )
    if rng.random() < 0.5:
        return Pairing(a=multisynt, b=language.hplt)
    return Pairing(a=language.hplt, b=multisynt)


def new_seed(rng: random.Random | None = None) -> int:
    """A fresh sampling seed for one battle (both sides use it), within TGI's u64 range
    and DuckDB's BIGINT."""
    return (rng or random.SystemRandom()).randrange(0, 2**63)


class VoteCounts:
    """Votes per model for `choose_variant`, and each MultiSynt model's decisive tally
    against its reference for `app.arena.vote_allocation`, shared by every session of
    the process.

    Read from the battle log by `load` and `load_tallies` (blocking, run in a worker
    thread) at most once per `ttl_s`, never per click; `bump` adds each vote this process
    records in between, so the balance holds between reads. A failed read keeps the last
    numbers (or none: matchmaking then draws uniformly, or balances without shares),
    because a voter should never wait on analytics.
    """

    def __init__(
        self,
        load: Callable[[], Mapping[str, int]],
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        load_tallies: Callable[[], Mapping[str, tuple[int, int]]] | None = None,
    ) -> None:
        self._load = load
        self._load_tallies = load_tallies
        self.ttl_s = ttl_s
        self._clock = clock
        self._counts: dict[str, int] | None = None
        self._tallies: dict[str, tuple[int, int]] | None = None
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._loaded_at is not None and self._clock() - self._loaded_at < self.ttl_s

    def cached(self) -> dict[str, int] | None:
        """The counts as last read (plus bumps), without reading: for synchronous callers."""
        return dict(self._counts) if self._counts is not None else None

    def tallies(self) -> dict[str, tuple[int, int]] | None:
        """MultiSynt model id -> (its wins, the reference's wins) as last read (plus
        bumps), without reading; None before a read, or without `load_tallies`."""
        return dict(self._tallies) if self._tallies is not None else None

    def refresh(self) -> None:
        """Read both from the log now (blocking); a failed read keeps the last numbers."""
        try:
            self._counts = dict(self._load())
        except Exception:  # the log may be closing, or busy: keep what we had
            log.warning("vote counts for matchmaking could not be read", exc_info=True)
        if self._load_tallies is not None:
            try:
                self._tallies = dict(self._load_tallies())
            except Exception:
                log.warning("vote tallies for matchmaking could not be read", exc_info=True)
        self._loaded_at = self._clock()

    def refresh_if_stale(self) -> None:
        """`refresh` when the last read is older than `ttl_s` (blocking; the simulation's
        clock, where nothing else runs)."""
        if not self._fresh():
            self.refresh()

    async def get(self) -> dict[str, int] | None:
        if not self._fresh():
            async with self._lock:  # one read in flight; the other sessions reuse it
                if not self._fresh():
                    await asyncio.to_thread(self.refresh)
        return self.cached()

    def bump(self, models: Iterable[str], decided: tuple[str, bool] | None = None) -> None:
        """Count one vote for each of `models` (the battle's two sides) and, for a
        decisive MultiSynt-against-reference vote, `decided` = (the MultiSynt model,
        whether it won: `decisive_result`) in its tally."""
        if self._counts is not None:  # not read yet: the next read includes this vote
            for model in models:
                self._counts[model] = self._counts.get(model, 0) + 1
        if self._tallies is not None and decided is not None:
            model, won = decided
            wins, losses = self._tallies.get(model, (0, 0))
            self._tallies[model] = (wins + 1, losses) if won else (wins, losses + 1)
