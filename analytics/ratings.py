"""Bradley-Terry ratings with bootstrap intervals, from aggregated pair counts.

Why counts and not battles: the likelihood of a Bradley-Terry model depends on the battles
only through how often each pair of models produced each outcome. A bootstrap resample
of N battles is therefore exactly a multinomial draw of N over those few cells (pair and
outcome), so 1,000 resamples of a million battles cost 1,000 draws over a few dozen
cells instead of 1,000 passes over a million rows; and all resamples are fitted at once
by a batched Newton solver. `benchmark/analytics_bench.py` measures the difference.

Conventions, chosen for the research question (is translated-data training as fluent as
native-data training, language by language?):
- Ratings are per language, each anchored at its HPLT reference model = 1000 on the Elo
  scale (400 points = 10:1 odds). A MultiSynt model at 1050 beats its own language's
  native-text model 57% of the time; numbers from different languages compare as
  "distance from the native reference", never as absolute strength. The reference's
  interval is [1000, 1000] by construction.
- Ties and "both bad" count as half a win for each side (no preference either way); they
  are still reported separately.
- A weak Gaussian prior (about one battle's worth of information) keeps a model that has
  won every one of its few battles at a finite rating; it is negligible beyond a few
  dozen battles.
- "Overall" ratings pool each translation system (tower9b, tower72b, opus) across
  languages against HPLT, which is what the comparison graph supports: models of
  different languages never meet, so a single all-model fit would only restate the
  per-language fits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.stats import MIN_VOTES, small_sample_warning

BASE_RATING = 1000.0
ELO_SCALE = 400.0 / np.log(10.0)  # rating points per unit of log-strength
PRIOR_PRECISION = 0.25  # one battle at even odds carries 0.25 units of information
DEFAULT_ROUNDS = 1000
RATING_COLUMNS = [
    "language",
    "model",
    "family",
    "variant",
    "rating",
    "ci_low",
    "ci_high",
    "battles",
    "wins",
    "losses",
    "ties",
    "both_bad",
    "reference",
    "warning",
]


@dataclass(frozen=True)
class PairTable:
    """Outcome counts per unordered pair of players: the sufficient statistic for BT.

    `cells[p]` holds, for players `i[p]` < `j[p]`: i won, j won, tie, both bad.
    """

    players: tuple[str, ...]
    i: np.ndarray
    j: np.ndarray
    cells: np.ndarray  # (pairs, 4) int64

    @property
    def total(self) -> int:
        return int(self.cells.sum())


def pair_table(
    counts: pd.DataFrame, player_a: str = "model_a", player_b: str = "model_b"
) -> PairTable:
    """Fold display-ordered counts (columns `player_a`, `player_b`, `winner`, `n`) into pairs."""
    players = tuple(sorted(set(counts[player_a]) | set(counts[player_b])))
    index = {p: k for k, p in enumerate(players)}
    a = counts[player_a].map(index).to_numpy()
    b = counts[player_b].map(index).to_numpy()
    winner = counts["winner"].to_numpy()
    n = counts["n"].to_numpy(dtype=np.int64)
    same = a == b
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    # Which cell each row adds to: the winning side, seen from the lower-indexed player.
    a_is_lo = a <= b
    outcome = np.select(
        [winner == "tie", winner == "both_bad", (winner == "model_a") == a_is_lo],
        [2, 3, 0],
        default=1,
    )
    keep = ~same  # a model against itself carries no information
    pair_ids, pair_index = np.unique(lo[keep] * len(players) + hi[keep], return_inverse=True)
    cells = np.zeros((len(pair_ids), 4), dtype=np.int64)
    np.add.at(cells, (pair_index, outcome[keep]), n[keep])
    return PairTable(
        players, pair_ids // max(len(players), 1), pair_ids % max(len(players), 1), cells
    )


def fit_bradley_terry(
    table: PairTable,
    cells: np.ndarray | None = None,
    *,
    anchor: int = 0,
    prior_precision: float = PRIOR_PRECISION,
    max_iter: int = 60,
    tol: float = 1e-9,
) -> np.ndarray:
    """Log-strengths, shape (rounds, players), for a batch of count tables at once.

    `cells` is (rounds, pairs, 4) or (pairs, 4); defaults to the table's own counts. The
    anchor player's log-strength is 0. Newton's method on the penalised log-likelihood,
    vectorised over rounds: every round is a small dense system solved together.
    """
    c = np.asarray(table.cells if cells is None else cells, dtype=float)
    if c.ndim == 2:
        c = c[None]
    rounds, m = c.shape[0], len(table.players)
    half = 0.5 * (c[..., 2] + c[..., 3])
    wins_i, n = c[..., 0] + half, c.sum(axis=-1)
    free = np.array([k for k in range(m) if k != anchor], dtype=np.int64)
    incidence = np.zeros((len(table.i), m))
    incidence[np.arange(len(table.i)), table.i] = 1.0
    incidence[np.arange(len(table.j)), table.j] = -1.0
    d = incidence[:, free]  # (pairs, m-1)
    theta = np.zeros((rounds, len(free)))
    eye = prior_precision * np.eye(len(free))
    for _ in range(max_iter):
        if len(free) == 0:
            break
        p = 1.0 / (1.0 + np.exp(-(theta @ d.T)))
        grad = (wins_i - n * p) @ d - prior_precision * theta
        info = np.einsum("pk,bp,pl->bkl", d, n * p * (1.0 - p), d) + eye
        step = np.linalg.solve(info, grad[..., None])[..., 0]
        np.clip(step, -3.0, 3.0, out=step)  # damp the first steps on lopsided counts
        theta += step
        if np.abs(step).max() < tol:
            break
    out = np.zeros((rounds, m))
    out[:, free] = theta
    return out


def bootstrap_cells(cells: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """`rounds` resamples of the battles behind `cells`, as multinomial draws of the counts."""
    flat = cells.reshape(-1).astype(np.int64)
    total = int(flat.sum())
    if total == 0:
        return np.zeros((rounds, *cells.shape), dtype=np.int64)
    draws = rng.multinomial(total, flat / total, size=rounds)
    return draws.reshape(rounds, *cells.shape)


@dataclass(frozen=True)
class Ratings:
    """Point ratings and percentile-bootstrap 95% intervals for the players of one table."""

    players: tuple[str, ...]
    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    anchor: int


def rate(
    table: PairTable,
    anchor: int,
    rounds: int = DEFAULT_ROUNDS,
    rng: np.random.Generator | None = None,
    resample: Callable[[PairTable, int, np.random.Generator], np.ndarray] | None = None,
) -> Ratings:
    """Ratings on the Elo scale with the anchor at 1000; `resample` swaps the bootstrap."""
    rng = rng or np.random.default_rng(0)
    point = fit_bradley_terry(table, anchor=anchor)[0]
    draws = (resample or (lambda t, r, g: bootstrap_cells(t.cells, r, g)))(table, rounds, rng)
    boot = fit_bradley_terry(table, draws, anchor=anchor) if rounds else point[None]
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    to_rating = lambda x: BASE_RATING + ELO_SCALE * x  # noqa: E731
    return Ratings(table.players, to_rating(point), to_rating(low), to_rating(high), anchor)


def _player_counts(table: PairTable) -> pd.DataFrame:
    """Wins, losses, ties and both-bad per player, from the pair cells."""
    m = len(table.players)
    wins, losses, ties, both_bad = (np.zeros(m, dtype=np.int64) for _ in range(4))
    c = table.cells
    np.add.at(wins, table.i, c[:, 0])
    np.add.at(losses, table.i, c[:, 1])
    np.add.at(wins, table.j, c[:, 1])
    np.add.at(losses, table.j, c[:, 0])
    for who in (table.i, table.j):
        np.add.at(ties, who, c[:, 2])
        np.add.at(both_bad, who, c[:, 3])
    return pd.DataFrame(
        {
            "model": table.players,
            "wins": wins,
            "losses": losses,
            "ties": ties,
            "both_bad": both_bad,
            "battles": wins + losses + ties + both_bad,
        }
    )


def _anchor_of(players: Sequence[str], families: dict[str, str], battles: pd.Series) -> int:
    """The reference player: the (most-played) HPLT-family one, else the most-played."""
    refs = [k for k, p in enumerate(players) if families.get(p) == "hplt"]
    pool = refs or list(range(len(players)))
    return max(pool, key=lambda k: (int(battles.iloc[k]), -k))


def language_ratings(
    counts: pd.DataFrame,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    min_votes: int = MIN_VOTES,
) -> pd.DataFrame:
    """One row per (language, model), columns `RATING_COLUMNS`, best first per language.

    `counts` is `analytics.queries.pair_counts` output. The seed fixes the bootstrap, so
    the same data always print the same intervals; each language draws from its own
    generator (`group_rng`), so its intervals are the same whether it is rated alone or
    beside other languages.
    """
    frames = []
    for language, group in counts.groupby("language", sort=True):
        rng = group_rng(seed, str(language))
        frames.append(_rate_group(group, str(language), rounds, rng, min_votes))
    return _finish(frames)


def group_rng(seed: int, group: str) -> np.random.Generator:
    """The bootstrap's generator for one group of ratings (a language, or "all" for the
    pooled fit): from `seed` and a stable hash of the group's name (not Python's `hash`,
    which changes between processes), so a group's draws never depend on which other
    groups a query holds or in what order."""
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def pooled_variant_ratings(
    counts: pd.DataFrame,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    min_votes: int = MIN_VOTES,
) -> pd.DataFrame:
    """Each translation system pooled over languages against HPLT (`language` = 'all').

    The multilingual experiment is left out: its reference is a native *mixture* model,
    not an HPLT monolingual one.
    """
    subset = counts[counts["language"] != "mul"].copy()
    for side in ("a", "b"):
        fam, var = subset[f"family_{side}"], subset[f"variant_{side}"]
        label = np.where(fam == "hplt", "HPLT", "MultiSynt " + var.fillna("unknown").astype(str))
        subset[f"model_{side}"] = label
        subset[f"variant_{side}"] = np.where(fam == "hplt", None, var)
    return _finish([_rate_group(subset, "all", rounds, group_rng(seed, "all"), min_votes)])


def _rate_group(
    group: pd.DataFrame, language: str, rounds: int, rng: np.random.Generator, min_votes: int
) -> pd.DataFrame:
    table = pair_table(group)
    if not table.players:
        return pd.DataFrame(columns=RATING_COLUMNS)
    families: dict[str, str] = {}
    variants: dict[str, str | None] = {}
    for side in ("a", "b"):
        for model, family, variant in group[
            [f"model_{side}", f"family_{side}", f"variant_{side}"]
        ].itertuples(index=False):
            families[model] = family
            variants[model] = None if pd.isna(variant) else variant
    per_player = _player_counts(table)
    anchor = _anchor_of(table.players, families, per_player["battles"])
    result = rate(table, anchor, rounds, rng)
    per_player["language"] = language
    per_player["family"] = [families.get(p) for p in table.players]
    per_player["variant"] = [variants.get(p) for p in table.players]
    per_player["rating"] = result.rating
    per_player["ci_low"] = result.ci_low
    per_player["ci_high"] = result.ci_high
    per_player["reference"] = [k == anchor for k in range(len(table.players))]
    warnings = [
        small_sample_warning(int(w + lo), min_votes)
        for w, lo in zip(per_player["wins"], per_player["losses"], strict=True)
    ]
    per_player["warning"] = pd.Series(warnings, dtype=object)  # None stays None
    return per_player


def _finish(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=RATING_COLUMNS)
    out = pd.concat(frames, ignore_index=True)[RATING_COLUMNS]
    return out.sort_values(["language", "rating"], ascending=[True, False], ignore_index=True)
