"""What one voter preferred so far: shown every few votes, as the old arena did.

Only battles this session has voted on (their models are already revealed) enter the
summary, so it can never say anything about a battle still open. It counts by family
(translated vs native training text) because that is the research question, and lists the
past battles with their models.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

EVERY = 5


@dataclass(frozen=True)
class PastBattle:
    """A battle this voter voted on, with its (revealed) models."""

    language: str
    model_a: str
    model_b: str
    family_a: str
    family_b: str
    winner: str  # model_a, model_b, tie, both_bad

    @property
    def preferred(self) -> str:
        """The family the vote preferred, or `tie` / `both_bad`."""
        if self.winner == "model_a":
            return self.family_a
        if self.winner == "model_b":
            return self.family_b
        return self.winner


@dataclass(frozen=True)
class Summary:
    """A snapshot for the page: preference counts and the battles behind them."""

    votes: int
    preferences: dict[str, int]  # multisynt, hplt, tie, both_bad
    battles: tuple[PastBattle, ...]


class SessionVotes:
    """The votes of one session; `record` returns a `Summary` every `every` votes."""

    def __init__(self, every: int = EVERY) -> None:
        self.every = every
        self._battles: list[PastBattle] = []

    def record(self, battle: PastBattle) -> Summary | None:
        self._battles.append(battle)
        if len(self._battles) % self.every:
            return None
        return self.summary()

    def summary(self) -> Summary:
        counts = Counter(b.preferred for b in self._battles)
        preferences = {k: counts.get(k, 0) for k in ("multisynt", "hplt", "tie", "both_bad")}
        return Summary(len(self._battles), preferences, tuple(self._battles))
