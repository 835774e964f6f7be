"""A synthetic battle log with known true ratings, for tests and the benchmark.

It follows the arena's own matchmaking (a random MultiSynt variant against the language's
HPLT model, sides shuffled) and the rating model's assumptions: the left text wins a
decisive vote with probability sigmoid(true difference + position bias), and ties take
their share equally from both sides, so that counting a tie as half a win for each side
is unbiased. Some battles fail or stay unvoted, as in the real log, and must never count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from app.core.registry import Registry, load_registry

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SyntheticLog:
    """The battles (columns of the `battles` table) and the truth behind them."""

    battles: pd.DataFrame
    # (language, model) -> true log-strength relative to the language's HPLT model (0).
    true_strength: dict[tuple[str, str], float]
    # (language, translation system) -> the true share of decisive votes its MultiSynt
    # model wins against HPLT (`decisive_share`): what `analytics.verdicts` estimates.
    true_share: dict[tuple[str, str], float]


def decisive_share(theta: float, tie_rate: float) -> float:
    """The share of decisive votes a model of log-strength `theta` wins against the
    reference (0), as `synthetic_battles` draws votes without position bias: it wins
    with p - t/2 and loses with 1 - p - t/2, where p = sigmoid(theta) and t is the tie
    probability."""
    p = 1.0 / (1.0 + np.exp(-theta))
    t = min(tie_rate, 2.0 * min(p, 1.0 - p))
    return float((p - t / 2) / (1.0 - t))


def counts_from(battles: pd.DataFrame) -> pd.DataFrame:
    """`analytics.queries.pair_counts` of these battles without a database: votes per
    (language, left model, right model, winner), for simulations with thousands of logs."""
    voted = battles[battles["winner"].notna() & (battles["status"] == "completed")]
    keys = ["language", "model_a", "model_b", "winner"]
    models = ["family_a", "family_b", "variant_a", "variant_b"]
    grouped = voted.groupby(keys, sort=True, dropna=False)
    counts = grouped[models].first().join(grouped.size().rename("n")).reset_index()
    return counts[["language", "model_a", "model_b", *models, "winner", "n"]]


def synthetic_battles(
    n: int,
    *,
    seed: int = 0,
    registry: Registry | None = None,
    tie_rate: float = 0.15,
    both_bad_share: float = 0.3,
    position_bias: float = 0.0,
    failed_rate: float = 0.02,
    unvoted_rate: float = 0.05,
    legacy_rate: float = 0.0,
    days: int = 60,
    start: datetime = T0,
) -> SyntheticLog:
    """`n` battles over `days` days; vectorised, so a million take about a second."""
    rng = np.random.default_rng(seed)
    registry = registry or load_registry()
    langs = list(registry.languages.values())
    truth: dict[tuple[str, str], float] = {}
    shares: dict[tuple[str, str], float] = {}
    rows: list[tuple[str, str, str, str | None, str, float]] = []  # one per MultiSynt model
    for lang in langs:
        truth[(lang.code, lang.hplt.model_id)] = 0.0
        for c in lang.multisynt:
            theta = float(rng.normal(-0.3, 0.35))
            truth[(lang.code, c.model_id)] = theta
            shares[(lang.code, str(c.variant))] = decisive_share(theta, tie_rate)
            rows.append((lang.code, c.model_id, "multisynt", c.variant, lang.hplt.model_id, theta))
    # Busier languages first, as in the real log (Zipf-like weights over languages).
    weights = 1.0 / np.arange(1, len(langs) + 1)
    lang_of = rng.choice(len(langs), size=n, p=weights / weights.sum())
    pick = np.empty(n, dtype=np.int64)
    for li, lang in enumerate(langs):
        mask = lang_of == li
        options = [k for k, r in enumerate(rows) if r[0] == lang.code]
        pick[mask] = rng.choice(options, size=int(mask.sum()))
    table = pd.DataFrame(rows, columns=["language", "ms", "family", "variant", "hplt", "theta"])
    chosen = table.iloc[pick].reset_index(drop=True)
    ms_left = rng.random(n) < 0.5
    theta_left = np.where(ms_left, chosen["theta"].to_numpy(), 0.0)
    theta_right = np.where(ms_left, 0.0, chosen["theta"].to_numpy())
    p_left = 1.0 / (1.0 + np.exp(-(theta_left - theta_right + position_bias)))
    tie_p = np.minimum(tie_rate, 2.0 * np.minimum(p_left, 1.0 - p_left))
    u = rng.random(n)
    winner = np.where(
        u < p_left - tie_p / 2,
        "model_a",
        np.where(u < 1.0 - tie_p, "model_b", "tie"),
    ).astype(object)
    ties = winner == "tie"
    winner[ties & (rng.random(n) < both_bad_share)] = "both_bad"

    created = start + pd.to_timedelta(rng.random(n) * days * 86400.0, unit="s")
    status = np.where(rng.random(n) < failed_rate, "failed", "completed")
    voted = (status == "completed") & (rng.random(n) >= unvoted_rate)
    winner = np.where(voted, winner, None)
    ms_variant = chosen["variant"].to_numpy(dtype=object)
    frame = pd.DataFrame(
        {
            "battle_id": [f"syn-{seed}-{k}" for k in range(n)],
            "created_at": created,
            "voted_at": pd.Series(created + timedelta(seconds=20)).where(voted),
            "language": chosen["language"].to_numpy(dtype=object),
            "prompt": "synthetic prompt",
            "model_a": np.where(ms_left, chosen["ms"], chosen["hplt"]).astype(object),
            "model_b": np.where(ms_left, chosen["hplt"], chosen["ms"]).astype(object),
            "family_a": np.where(ms_left, "multisynt", "hplt").astype(object),
            "family_b": np.where(ms_left, "hplt", "multisynt").astype(object),
            "variant_a": np.where(ms_left, ms_variant, None),
            "variant_b": np.where(ms_left, None, ms_variant),
            "response_a": "left text",
            "response_b": "right text",
            "winner": winner,
            "source": np.where(rng.random(n) < legacy_rate, "legacy", "arena").astype(object),
            "status": status.astype(object),
            "error": np.where(status == "failed", "a: timeout: synthetic", None),
        }
    )
    return SyntheticLog(frame, truth, shares)
