"""The research answer: MultiSynt against HPLT, pooled over languages, with honest intervals.

The arena asks two questions: does training on machine-translated text give models as
fluent as training on native text (MultiSynt against HPLT), and which translation system
makes the best data? Every battle pits one MultiSynt model (one translation system) of a
language against that language's HPLT model, so the data are nested: votes within a
*cell* (language x translation system), cells within languages.

Method: a stratified estimate over cells (docs/analytics.md, "The pooled verdicts").
- A cell's estimate is MultiSynt's share of its decisive votes (wins against losses;
  ties and "both bad" say nothing about which side is more fluent).
- A pooled verdict is an average of cell estimates with fixed weights: each language
  counts the same, and within a language each translation system with votes counts the
  same. So a busy language cannot outvote the others, and the answer is about the
  languages, not about where voters happened to go.
- Its variance is the weighted sum of the cells' binomial variances (cells are
  independent), each from a slightly smoothed share ((k + 1) / (n + 2)) so that a cell
  of 3 wins out of 3 does not claim zero variance.
- Its 95% interval is Wilson's, with the Kish effective number of votes
  (p(1 - p) / variance) in place of n: for a single cell this is exactly the Wilson
  interval of the tables; for a pool it widens where weights are uneven.
- The estimand is the average over the arena's languages *as they are* (a fixed set of
  strata), not over an imagined population of languages: it says how MultiSynt does on
  these 13 languages. `tests/test_verdicts.py` checks the coverage on simulated logs with
  known truth (`analytics.synthetic`).

Systems against each other are compared on the languages where both have votes, as the
average difference of their cell shares (normal interval): both face the same HPLT
model in a language, so the difference is theirs. The multilingual experiment (`mul`)
has its own reference, a native mixture model, and stays out of every pooled verdict;
it is reported apart, as a language.

Votes still needed: the decisive votes to add, in the proportions of the votes so far,
until the interval excludes parity with 80% power at the current estimate (the usual
normal-approximation sample size: the variance must shrink until the distance from
parity is (z_0.975 + z_0.80) standard errors). Zero where the verdict is already decided;
unknown (None) where there are too few votes to estimate anything, or the estimate sits
exactly at parity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import pandas as pd

from analytics.stats import MIN_INTERVAL_VOTES
from analytics.summaries import multisynt_outcomes, verdict
from app.core import proportions
from app.core.proportions import Z95, smoothed_variance, wilson_interval

APART = ("mul",)  # languages whose reference is not an HPLT model: never pooled
ALL_SYSTEMS = "all"


@dataclass(frozen=True)
class Cell:
    """One language x translation system: MultiSynt's decisive wins and losses there."""

    language: str
    system: str
    wins: int
    losses: int
    ties: int = 0
    both_bad: int = 0

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    @property
    def share(self) -> float:
        return self.wins / self.decisive if self.decisive else math.nan

    @property
    def variance(self) -> float:
        """Binomial variance of the share, from the smoothed share (k + 1) / (n + 2)."""
        return smoothed_variance(self.wins, self.decisive)


@dataclass(frozen=True)
class Verdict:
    """One comparison: MultiSynt's share of decisive votes against HPLT, its interval,
    what the interval says (`summaries.VERDICTS`) and the votes still needed."""

    win_rate: float
    ci_low: float
    ci_high: float
    decisive: int
    votes: int
    variance: float
    verdict: str
    votes_needed: int | None
    languages: tuple[str, ...] = ()
    wins: int = 0  # MultiSynt's decisive wins, summed over the cells pooled
    ties: int = 0
    both_bad: int = 0

    @property
    def elo(self) -> tuple[float | None, float | None, float | None]:
        """The win rate and its bounds as an Elo-scale difference (400 points = 10:1)."""
        return (_elo(self.win_rate), _elo(self.ci_low), _elo(self.ci_high))

    def to_dict(self) -> dict[str, Any]:
        elo, elo_low, elo_high = self.elo
        return {
            "win_rate": _num(self.win_rate, 4),
            "ci_low": _num(self.ci_low, 4),
            "ci_high": _num(self.ci_high, 4),
            "elo": _num(elo, 1),
            "elo_low": _num(elo_low, 1),
            "elo_high": _num(elo_high, 1),
            "decisive": self.decisive,
            "votes": self.votes,
            "wins": self.wins,
            "ties": self.ties,
            "both_bad": self.both_bad,
            "verdict": self.verdict,
            "votes_needed": self.votes_needed,
            "languages": list(self.languages),
        }


@dataclass(frozen=True)
class Difference:
    """Translation system `a` against `b`: the average difference of their shares of
    decisive votes against HPLT, over the languages where both have votes."""

    a: str
    b: str
    difference: float
    ci_low: float
    ci_high: float
    decisive: int
    verdict: str  # a, b, open or too_few
    votes_needed: int | None
    languages: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "difference": _num(self.difference, 4),
            "ci_low": _num(self.ci_low, 4),
            "ci_high": _num(self.ci_high, 4),
            "decisive": self.decisive,
            "verdict": self.verdict,
            "votes_needed": self.votes_needed,
            "languages": list(self.languages),
        }


@dataclass(frozen=True)
class LanguageVerdict:
    """A language: MultiSynt (its systems averaged) against HPLT, and each system."""

    language: str
    overall: Verdict
    systems: dict[str, Verdict]
    pooled: bool  # counted in the pooled verdicts (False for the multilingual experiment)


@dataclass(frozen=True)
class Summary:
    overall: Verdict
    systems: dict[str, Verdict]
    differences: list[Difference]
    languages: list[LanguageVerdict]
    cells: list[Cell] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `oellm-arena summary`: `overall`, `systems`, `system_differences`,
        `languages` (each with its `systems`)."""
        return {
            "overall": self.overall.to_dict(),
            "systems": [{"system": s, **v.to_dict()} for s, v in self.systems.items()],
            "system_differences": [d.to_dict() for d in self.differences],
            "languages": [
                {
                    "language": lv.language,
                    "pooled": lv.pooled,
                    **lv.overall.to_dict(),
                    "systems": [{"system": s, **v.to_dict()} for s, v in lv.systems.items()],
                }
                for lv in self.languages
            ],
        }


def _num(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _elo(p: float) -> float | None:
    if not (0.0 < p < 1.0):
        return None
    return 400.0 * math.log10(p / (1.0 - p))


def cells_of(counts: pd.DataFrame) -> list[Cell]:
    """The cells of `analytics.queries.pair_counts` output, sorted by language and system."""
    outcomes = multisynt_outcomes(counts)
    if outcomes.empty:
        return []
    outcomes = outcomes.assign(variant=outcomes["variant"].fillna("unknown"))
    wide = outcomes.pivot_table(
        index=["language", "variant"], columns="outcome", values="n", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex(columns=["win", "loss", "tie", "both_bad"], fill_value=0)
    return [
        Cell(str(lang), str(system), *(int(r[k]) for k in ("win", "loss", "tie", "both_bad")))
        for (lang, system), r in wide.iterrows()
    ]


def votes_needed(effect: float, variance: float, decisive: int, said: str) -> int | None:
    """Votes still needed (`app.core.proportions.votes_needed`): 0 once `said` is a
    decision, None with too few votes to say."""
    if said == "too_few":
        return None
    if said != "open":
        return 0
    return proportions.votes_needed(effect, variance, decisive)


def pool(cells: Iterable[Cell], weights: Iterable[float]) -> Verdict:
    """The weighted average of cell shares, with its Wilson interval at the Kish
    effective number of votes, its verdict and the votes still needed."""
    cells = list(cells)
    pairs = [(c, w) for c, w in zip(cells, weights, strict=True) if c.decisive and w > 0]
    decisive = sum(c.decisive for c, _ in pairs)
    # The votes behind the comparison: every battle of its cells, ties included.
    votes = sum(c.decisive + c.ties + c.both_bad for c in cells)
    languages = tuple(sorted({c.language for c, _ in pairs}))
    counted = {
        "wins": sum(c.wins for c, _ in pairs),
        "ties": sum(c.ties for c in cells),
        "both_bad": sum(c.both_bad for c in cells),
    }
    if not pairs:
        nan = math.nan
        return Verdict(nan, nan, nan, 0, votes, nan, "too_few", None, languages, **counted)
    total = sum(w for _, w in pairs)
    share = sum(w * c.share for c, w in pairs) / total
    variance = sum((w / total) ** 2 * c.variance for c, w in pairs)
    smooth = sum(w * (c.wins + 1) / (c.decisive + 2) for c, w in pairs) / total
    effective = smooth * (1 - smooth) / variance
    low, high = (float(x) for x in wilson_interval(share * effective, effective))
    if len(pairs) == 1:  # one cell: exactly the tables' Wilson interval
        only = pairs[0][0]
        low, high = (float(x) for x in wilson_interval(only.wins, only.decisive))
    said = verdict(decisive, low, high)
    needed = votes_needed(share - 0.5, variance, decisive, said)
    return Verdict(share, low, high, decisive, votes, variance, said, needed, languages, **counted)


def language_weights(cells: list[Cell]) -> list[float]:
    """Each language the same weight, shared equally by its systems with votes."""
    per_language: dict[str, int] = {}
    for c in cells:
        if c.decisive:
            per_language[c.language] = per_language.get(c.language, 0) + 1
    return [1.0 / per_language[c.language] if c.decisive else 0.0 for c in cells]


def difference(a: str, b: str, cells: list[Cell]) -> Difference:
    """System `a` against `b` over the languages where both have decisive votes."""
    by_key = {(c.language, c.system): c for c in cells if c.decisive}
    common = sorted({lang for lang, s in by_key if s == a} & {lang for lang, s in by_key if s == b})
    pairs = [(by_key[(lang, a)], by_key[(lang, b)]) for lang in common]
    decisive = sum(x.decisive + y.decisive for x, y in pairs)
    if not pairs:
        nan = math.nan
        return Difference(a, b, nan, nan, nan, 0, "too_few", None, ())
    k = len(pairs)
    diff = sum(x.share - y.share for x, y in pairs) / k
    variance = sum(x.variance + y.variance for x, y in pairs) / k**2
    half = Z95 * math.sqrt(variance)
    low, high = max(-1.0, diff - half), min(1.0, diff + half)
    each = (sum(x.decisive for x, _ in pairs), sum(y.decisive for _, y in pairs))
    if min(each) < MIN_INTERVAL_VOTES:
        said = "too_few"
    elif low > 0:
        said = "a"
    elif high < 0:
        said = "b"
    else:
        said = "open"
    needed = votes_needed(diff, variance, decisive, said)
    return Difference(a, b, diff, low, high, decisive, said, needed, tuple(common))


def summarise(counts: pd.DataFrame) -> Summary:
    """Every verdict, from `analytics.queries.pair_counts` output (the filters applied)."""
    cells = cells_of(counts)
    pooled = [c for c in cells if c.language not in APART]
    overall = pool(pooled, language_weights(pooled))
    systems = {
        s: pool([c for c in pooled if c.system == s], [1.0 for c in pooled if c.system == s])
        for s in sorted({c.system for c in pooled})
    }
    names = [s for s, v in systems.items() if v.decisive]
    differences = [difference(a, b, pooled) for a, b in combinations(names, 2)]
    languages = []
    for language in sorted({c.language for c in cells}):
        mine = [c for c in cells if c.language == language]
        languages.append(
            LanguageVerdict(
                language=language,
                overall=pool(mine, [1.0] * len(mine)),
                systems={c.system: pool([c], [1.0]) for c in mine},
                pooled=language not in APART,
            )
        )
    return Summary(overall, systems, differences, languages, cells)
