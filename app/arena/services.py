"""What every arena session of one server process shares, built once at start.

Separate from `app.arena.session` so pages, health routes and tests can name the shared
services without pulling in one voter's state machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from app.arena.battle import ClientFactory
from app.arena.engine_status import StatusPoller
from app.arena.engines import EngineDirectory
from app.arena.flush_rate import FlushRate
from app.arena.matchmaking import VoteCounts
from app.arena.rate_limit import BattleLimits, SlidingWindowLimiter
from app.core.i18n import Catalogue, load_catalogue
from app.core.registry import Registry
from app.core.settings import Settings, TrustSettings
from app.core.store.battle_store import BattleStore


def battle_limits(trust: TrustSettings) -> BattleLimits:
    return BattleLimits(
        per_session=SlidingWindowLimiter(trust.battles_per_minute_per_session, 60.0),
        per_address=SlidingWindowLimiter(trust.battles_per_hour_per_address, 3600.0),
    )


def session_hash(salt: str, session_id: str) -> str:
    """A salted hash that groups a session's battles without identifying the voter."""
    return hashlib.sha256(f"{salt}:{session_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ArenaServices:
    """What every session shares: built once per server process.

    `poller` (one `/status` fetch per interval, however many voters wait) and
    `vote_counts` (matchmaking's votes and decisive tallies per model, read from the log
    every few minutes) are
    made from the directory and the store when not given.
    """

    settings: Settings
    registry: Registry
    store: BattleStore
    directory: EngineDirectory
    make_client: ClientFactory
    limits: BattleLimits = field(default_factory=lambda: battle_limits(TrustSettings()))
    poller: StatusPoller | None = None
    vote_counts: VoteCounts | None = None
    catalogue: Catalogue = field(default_factory=load_catalogue)
    flush_rate: FlushRate | None = None

    def __post_init__(self) -> None:
        # Frozen for sharing; these two defaults depend on other fields.
        if self.poller is None:
            object.__setattr__(self, "poller", StatusPoller(self.directory))
        if self.vote_counts is None:
            counts = VoteCounts(
                self.store.votes_per_model, load_tallies=self.store.decisive_per_model
            )
            object.__setattr__(self, "vote_counts", counts)
        if self.flush_rate is None:
            s = self.settings
            rate = FlushRate(
                s.stream_flush_interval_s, s.stream_flush_max_interval_s, s.stream_pushes_per_s
            )
            object.__setattr__(self, "flush_rate", rate)
