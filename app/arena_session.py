"""The state of one voter's arena page, as plain Python the page binds widgets to.

One `ArenaSession` per browser session. It turns clicks into battles (`app.battle`), buffers
streamed text so the browser gets a few updates a second rather than one message per token
(the first text goes out at once), enforces the vote rules on the server side (a vote only
for a completed, unvoted battle, exactly once), and reveals the models only after the vote.
Nothing here knows about widgets; the page module renders these parameters.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Literal

import param

from app import metrics
from app.battle import Battle, BattleOutcome, ClientFactory, RetryPolicy, Side, run_battle
from app.engines import EngineDirectory
from app.matchmaking import new_seed, pick_pairing
from app.rate_limit import BattleLimits, SlidingWindowLimiter
from app.registry import Contender, Registry
from app.settings import Settings, TrustSettings
from app.store.battle_store import BattleStore
from app.vote_anomaly import VoteRateTracker

log = logging.getLogger(__name__)

Winner = Literal["model_a", "model_b", "tie", "both_bad"]
MAX_PROMPT_CHARS = 2000

FAMILY_NAMES = {
    "multisynt": "MultiSynt (trained on machine-translated text)",
    "hplt": "HPLT 2.0 reference (trained on native text)",
}


def battle_limits(trust: TrustSettings) -> BattleLimits:
    return BattleLimits(
        per_session=SlidingWindowLimiter(trust.battles_per_minute_per_session, 60.0),
        per_address=SlidingWindowLimiter(trust.battles_per_hour_per_address, 3600.0),
    )


@dataclass(frozen=True)
class ArenaServices:
    """What every session shares: built once per server process."""

    settings: Settings
    registry: Registry
    store: BattleStore
    directory: EngineDirectory
    make_client: ClientFactory
    limits: BattleLimits = field(default_factory=lambda: battle_limits(TrustSettings()))


def session_hash(salt: str, session_id: str) -> str:
    """A salted hash that groups a session's battles without identifying the voter."""
    return hashlib.sha256(f"{salt}:{session_id}".encode()).hexdigest()[:32]


def describe(contender: Contender) -> str:
    variant = f", data translated by {contender.variant}" if contender.variant else ""
    return f"{contender.model_id} · {FAMILY_NAMES[contender.family]}{variant}"


class ArenaSession(param.Parameterized):
    """One voter's arena: language, the running battle, the two texts, the vote."""

    language = param.String(default="swe")
    phase = param.Selector(
        default="idle",
        objects=["idle", "loading", "streaming", "votable", "recording", "voted", "failed"],
    )
    prompt_shown = param.String(default="")
    text_a = param.String(default="")
    text_b = param.String(default="")
    message = param.String(default="")
    message_level = param.Selector(default="info", objects=["info", "success", "warning", "error"])
    reveal_a = param.String(default="")
    reveal_b = param.String(default="")

    def __init__(
        self,
        services: ArenaServices,
        session_id: str,
        client_address: str | None = None,
        **params: object,
    ) -> None:
        super().__init__(**params)
        self._services = services
        salt = services.settings.session_salt.get_secret_value()
        self._session_hash = session_hash(salt, session_id)
        # Only a salted hash of the address is kept, and only for per-address limits.
        self._address_hash = (
            session_hash(salt, f"address:{client_address}") if client_address else None
        )
        trust = services.settings.trust
        self._vote_rate = VoteRateTracker(trust.anomaly_votes, trust.anomaly_window_s)
        engine = services.settings.engine
        self._retry = RetryPolicy(engine.overload_retries, engine.overload_backoff_s)
        self._task: asyncio.Task[BattleOutcome] | None = None
        self._outcome: BattleOutcome | None = None
        self._buffers: dict[Side, str] = {"a": "", "b": ""}
        self._dirty = asyncio.Event()

    # ---- what the page calls -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.phase in ("loading", "streaming", "recording")

    def select_language(self, code: str) -> None:
        self._services.registry.language(code)  # KeyError for an unknown code
        if code != self.language:
            self._cancel_battle()
            self.language = code
            self._reset("idle")

    def new_round(self) -> None:
        self._cancel_battle()
        self._reset("idle")

    async def generate(self, prompt: str) -> BattleOutcome | None:
        """Start a battle on `prompt`; returns when it is votable, failed or cancelled."""
        if self.busy:
            return None
        prompt = prompt.rstrip()
        if not prompt.strip():
            self._say("Write the start of a text first, then press Generate.", "warning")
            return None
        if len(prompt) > MAX_PROMPT_CHARS:
            self._say(
                f"Your text is {len(prompt)} characters long; the limit is "
                f"{MAX_PROMPT_CHARS}. Please shorten it.",
                "warning",
            )
            return None
        refusal = self._services.limits.check(self._session_hash, self._address_hash)
        if refusal:
            log.warning("battle refused by the rate limit (session %s)", self._session_hash[:8])
            self._say(refusal, "warning")
            return None
        lang = self._services.registry.language(self.language)
        battle = Battle(
            language=lang.code,
            prompt=prompt,
            pairing=pick_pairing(lang),
            params=self._services.settings.generation.with_seed(new_seed()),
            session_hash=self._session_hash,
        )
        self._reset("loading")
        self.prompt_shown = prompt
        self._say(f"Preparing the models for {lang.name}…", "info")
        svc = self._services
        self._task = asyncio.create_task(
            run_battle(battle, svc.directory, svc.make_client, svc.store, self, self._retry)
        )
        flusher = asyncio.create_task(self._flush_loop())
        task = self._task
        try:
            outcome = await task
        except asyncio.CancelledError:
            if task.cancelled() and self._task is not task:
                return None  # the voter moved on; the battle logged itself as cancelled
            raise
        finally:
            flusher.cancel()
        if self._task is not task:
            return None
        self._outcome = outcome
        # One batch: the last text, the phase and the message reach the page together.
        if outcome.votable:
            self.param.update(
                text_a=self._buffers["a"],
                text_b=self._buffers["b"],
                phase="votable",
                message="Both texts are complete. Which continuation is more fluent?",
                message_level="info",
            )
        else:
            self.param.update(
                text_a=self._buffers["a"],
                text_b=self._buffers["b"],
                phase="failed",
                message=outcome.voter_message or "The battle failed. Please try again.",
                message_level="error",
            )
        return outcome

    async def vote(self, winner: Winner) -> bool:
        """Record the vote for the current battle; True if this call's vote counted."""
        outcome = self._outcome
        if self.phase != "votable" or outcome is None:
            return False
        self.phase = "recording"  # a second click now finds the vote closed
        try:
            result = await self._services.store.record_vote(outcome.battle.battle_id, winner)
            metrics.vote_recorded(winner, result.accepted)
        except Exception:
            log.exception("vote on battle %s could not be stored", outcome.battle.battle_id)
            self.phase = "votable"
            self._say("Your vote could not be saved. Please try again.", "error")
            return False
        if result.accepted and self._vote_rate.record(winner):
            # Kept (analysts should see the attack) but marked, so ratings can leave it out.
            log.warning(
                "vote burst: session %s voted %s %d times within %.0f s",
                self._session_hash[:8],
                winner,
                self._vote_rate.votes,
                self._vote_rate.within_s,
            )
            await self._services.store.add_flag(outcome.battle.battle_id, "vote_burst")
        if result.accepted:
            said = ("Thank you, your vote is saved. Here are the models:", "success")
        else:
            said = ("This battle already had a vote; yours was not counted twice.", "warning")
            log.info("vote refused: %s", result.message)
        self.param.update(
            phase="voted",
            reveal_a=describe(outcome.a.contender),
            reveal_b=describe(outcome.b.contender),
            message=said[0],
            message_level=said[1],
        )
        return result.accepted

    # ---- BattleObserver ------------------------------------------------------------------

    def on_phase(self, phase: Literal["loading", "streaming"]) -> None:
        if phase == "streaming":
            self.param.update(
                phase=phase, message="The two models are writing…", message_level="info"
            )
        else:
            self.phase = phase

    def on_text(self, side: Side, delta: str) -> None:
        self._buffers[side] += delta
        self._dirty.set()

    def on_side_done(self, side: Side) -> None:
        self._dirty.set()

    # ---- internals -----------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        """Push buffered text at most once per interval; the first text goes out at once."""
        interval = self._services.settings.stream_flush_interval_s
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._flush()
            await asyncio.sleep(interval)

    def _flush(self) -> None:
        changed = {
            name: self._buffers[side]
            for side, name in (("a", "text_a"), ("b", "text_b"))
            if getattr(self, name) != self._buffers[side]
        }
        if changed:
            self.param.update(**changed)  # one batch: one render pass, one websocket message

    def _cancel_battle(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    def _reset(self, phase: str) -> None:
        self._outcome = None
        self._buffers = {"a": "", "b": ""}
        self._dirty.clear()
        self.param.update(
            phase=phase,
            prompt_shown="",
            text_a="",
            text_b="",
            reveal_a="",
            reveal_b="",
            message="",
        )

    def _say(self, text: str, level: str) -> None:
        self.param.update(message=text, message_level=level)
