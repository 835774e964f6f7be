"""Where the next votes of a language should go: a target share per MultiSynt variant.

Every battle pits one MultiSynt variant of the language against the language's HPLT model,
and each pairing is a *cell* of the pooled verdicts (`analytics.verdicts`: language x
translation system). A cell's verdict is MultiSynt's share of its decisive votes (wins
against losses); it is *decided* when its 95% Wilson interval excludes parity. Balanced
matchmaking gives every cell the same votes, so a language keeps spending votes on cells
whose answer is already clear while the close ones wait. Here each variant gets a target
share of the language's next votes in proportion to what its cell still needs:

- A cell is **done** once it has at least `min_decisive` decisive votes and its interval
  excludes parity, or is narrower than `target_width` (the interval's full width).
- An undecided cell **needs** the fewer of: the votes until its interval excludes parity
  with 80% power at its current estimate (`app.core.proportions.votes_needed`, the same
  formula as the summary's "votes still needed"), and the votes until its interval is
  `target_width` wide. With fewer than `min_decisive` votes the estimate means little,
  so it needs the votes to reach the target width at a share of 0.5 (the widest case).
- Shares are proportional to need, but every variant keeps `floor` of an equal share,
  so no pairing ever starves (a done verdict keeps being checked by fresh votes); when
  every cell is done the shares are equal again: balanced matchmaking.

Why a target width of 0.2 by default: an interval 0.2 wide around a share near parity
(0.4 to 0.6) says the two models are within about 70 Elo points of each other in that
cell (400 log10(0.6 / 0.4)); telling such a close pair apart inside one cell would take
four times the votes for every halving of the width (about 96 decisive votes give 0.2 at
parity, 385 give 0.1), and the pooled verdicts, which average the cells, narrow anyway.
So past that width a cell's votes buy little, and the language's next votes do more in
its other cells, or in other languages.

Pure functions: the arena (`app.arena.round_prep`) and the simulation
(`benchmark.sampling_sim`) call the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from app.core.proportions import Z95, smoothed_variance, votes_needed, wilson_interval
from app.core.registry import Language
from app.core.settings import MatchmakingSettings

Tally = tuple[int, int]  # (MultiSynt wins, HPLT wins): a cell's decisive votes


@dataclass(frozen=True)
class AllocationPolicy:
    """When a cell is done and how much every variant keeps (see the module docstring)."""

    target_width: float = 0.2
    min_decisive: int = 10
    floor: float = 0.1  # of an equal share, kept by every variant

    @classmethod
    def from_settings(cls, settings: MatchmakingSettings) -> AllocationPolicy:
        return cls(settings.target_width, settings.min_decisive, settings.floor)


def interval_width(wins: int, losses: int) -> float:
    """The full width of the cell's 95% Wilson interval (1.0 without votes)."""
    if wins + losses <= 0:
        return 1.0
    low, high = wilson_interval(wins, wins + losses)
    return float(high - low)


def votes_for_width(share: float, width: float) -> int:
    """Decisive votes at which a share's 95% interval is about `width` wide (normal
    approximation, which the Wilson interval meets within a vote or two at these sizes)."""
    return math.ceil((2.0 * Z95) ** 2 * share * (1.0 - share) / width**2)


def cell_done(tally: Tally, policy: AllocationPolicy) -> bool:
    """At least `min_decisive` votes, and an interval that excludes parity or is
    narrower than the target width."""
    wins, losses = tally
    if wins + losses < policy.min_decisive:
        return False
    low, high = (float(x) for x in wilson_interval(wins, wins + losses))
    return low > 0.5 or high < 0.5 or high - low < policy.target_width


def cell_need(tally: Tally, policy: AllocationPolicy) -> int:
    """Decisive votes the cell still needs to be done; 0 when it is."""
    wins, losses = tally
    decisive = wins + losses
    if cell_done(tally, policy):
        return 0
    if decisive < policy.min_decisive:
        return max(1, votes_for_width(0.5, policy.target_width) - decisive)
    smooth = (wins + 1) / (decisive + 2)  # 10 wins of 10 do not claim zero variance
    to_width = votes_for_width(smooth, policy.target_width) - decisive
    to_parity = votes_needed(wins / decisive - 0.5, smoothed_variance(wins, decisive), decisive)
    candidates = [to_width] if to_parity is None else [to_width, to_parity]
    return max(1, min(candidates))


def target_shares(tallies: Mapping[str, Tally], policy: AllocationPolicy) -> dict[str, float]:
    """Variant (model id) -> its target share of the language's next battles: in
    proportion to need, each at least `floor` of an equal share; equal when all are done.
    The shares sum to 1."""
    if not tallies:
        return {}
    k = len(tallies)
    needs = {model: cell_need(tally, policy) for model, tally in tallies.items()}
    total = sum(needs.values())
    if total <= 0:
        return {model: 1.0 / k for model in tallies}
    floor = min(max(policy.floor, 0.0), 1.0)
    return {model: floor / k + (1.0 - floor) * need / total for model, need in needs.items()}


def shares_for(
    language: Language, tallies: Mapping[str, Tally] | None, settings: MatchmakingSettings
) -> dict[str, float] | None:
    """The target shares of `language`'s variants under the settings' policy; None (so
    matchmaking balances) for `balanced`, for a language with one variant, and while
    the tallies are unknown (the log not read yet). Variants without votes tally (0, 0)."""
    if settings.policy != "active" or tallies is None or len(language.multisynt) < 2:
        return None
    policy = AllocationPolicy.from_settings(settings)
    cells = {v.model_id: tallies.get(v.model_id, (0, 0)) for v in language.multisynt}
    return target_shares(cells, policy)
