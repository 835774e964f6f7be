"""What one battle row and one vote's outcome are, checked before they reach the database.

The table has CHECK constraints too, but a DuckDB constraint error arrives on the writer
thread with no hint of which caller built the bad record; validating here fails at the
call site with a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, get_args

Winner = Literal["model_a", "model_b", "tie", "both_bad"]
Source = Literal["arena", "legacy"]
Status = Literal["completed", "failed"]

WINNERS: tuple[Winner, ...] = get_args(Winner)  # in this order on the page (A, B, tie, bad)
SOURCES: frozenset[str] = frozenset(get_args(Source))
STATUSES: frozenset[str] = frozenset(get_args(Status))


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BattleRecord:
    """One row of `battles`; field names are the column names.

    `a` is the left side, `b` the right. For a failed battle the responses hold whatever
    streamed before the failure and `error` holds the engine error's kind and message,
    e.g. "a: overloaded: Model is overloaded". Generation parameters can be filled from
    `app.core.inference.base.GenerationParams` with `**dataclasses.asdict(params)`.
    """

    battle_id: str
    language: str
    prompt: str
    model_a: str
    model_b: str
    family_a: str
    family_b: str
    response_a: str = ""
    response_b: str = ""
    created_at: datetime = field(default_factory=utc_now)
    status: Status = "completed"
    error: str | None = None
    source: Source = "arena"
    winner: Winner | None = None
    voted_at: datetime | None = None
    ttft_ms_a: float | None = None
    ttft_ms_b: float | None = None
    duration_ms_a: float | None = None
    duration_ms_b: float | None = None
    tokens_a: int | None = None
    tokens_b: int | None = None
    variant_a: str | None = None
    variant_b: str | None = None
    finish_reason_a: str | None = None
    finish_reason_b: str | None = None
    max_new_tokens: int | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    session_hash: str | None = None
    app_version: str | None = None
    # Data-quality marks (e.g. "prompt_unknown"), so analysts can exclude or repair a row
    # without losing it; the legacy_* fields keep what the old arena logged (import only).
    flags: list[str] = field(default_factory=list)
    legacy_rows: int | None = None
    legacy_language: str | None = None
    legacy_prompt: str | None = None
    # The voter's optional reasons, given after the vote (app/arena/vote_reasons.py).
    tags_a: list[str] | None = None
    tags_b: list[str] | None = None
    comment: str | None = None
    reasons_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.battle_id:
            raise ValueError("battle_id must not be empty")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, not {self.status!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {sorted(SOURCES)}, not {self.source!r}")
        if self.winner is not None and self.winner not in WINNERS:
            raise ValueError(f"winner must be one of {sorted(WINNERS)} or None")
        if (self.status == "failed") != (self.error is not None):
            raise ValueError("a failed battle needs an error, and only a failed one has one")
        if self.winner is not None and self.status != "completed":
            raise ValueError("only a completed battle can have a winner")
        if (self.winner is None) != (self.voted_at is None):
            raise ValueError("winner and voted_at are set together (both or neither)")
        if not all(isinstance(f, str) and f for f in self.flags):
            raise ValueError("flags must be a list of non-empty strings")
        for name in ("created_at", "voted_at", "reasons_at"):
            value = getattr(self, name)
            # A naive time would be read in the server's zone: ambiguous once exported.
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(UTC))")


class VoteRefusal(StrEnum):
    """Why a vote was not recorded."""

    UNKNOWN_BATTLE = "unknown_battle"
    BATTLE_FAILED = "battle_failed"
    ALREADY_VOTED = "already_voted"


@dataclass(frozen=True)
class VoteOutcome:
    """The result of `record_vote`.

    `winner` and `voted_at` are the battle's vote as now stored: the one just cast when
    `accepted`, the earlier one when refused as `ALREADY_VOTED`, otherwise None.
    """

    battle_id: str
    accepted: bool
    winner: Winner | None = None
    voted_at: datetime | None = None
    reason: VoteRefusal | None = None

    @property
    def message(self) -> str:
        if self.accepted:
            return f"vote recorded: {self.winner}"
        if self.reason is VoteRefusal.ALREADY_VOTED:
            return f"battle {self.battle_id} was already voted: {self.winner}"
        if self.reason is VoteRefusal.BATTLE_FAILED:
            return f"battle {self.battle_id} failed during generation and cannot be voted on"
        return f"no battle {self.battle_id} in the log"
