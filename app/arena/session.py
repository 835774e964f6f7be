"""The state of one voter's arena page, as plain Python the page binds widgets to.

One `ArenaSession` per browser session. It prepares each round before Generate is pressed
(`app.arena.round_prep`: the pairing, its models loading, what to tell the voter meanwhile), turns
clicks into battles (`app.arena.battle`), buffers streamed text so the browser gets a few updates
a second rather than one message per token, at one pace for both sides (`app.arena.pacing`),
enforces the vote rules on the server side (a vote only for a completed, unvoted battle,
exactly once), reveals the models only after the vote, then takes optional reasons and
sums up the voter's choices every few votes. Every text it shows is in the voter's
interface language (`app.core.i18n`), re-rendered in one batch when that language changes.
Nothing here knows about widgets; the page module renders these parameters.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import param
from param.parameterized import batch_call_watchers

from app.arena.battle import Battle, BattleOutcome, RetryPolicy, Side, run_battle
from app.arena.matchmaking import decisive_result, new_seed
from app.arena.pacing import EqualPace
from app.arena.round_prep import RoundPrep
from app.arena.services import ArenaServices, session_hash
from app.arena.session_summary import PastBattle, SessionVotes
from app.arena.vote_anomaly import VoteRateTracker
from app.arena.vote_reasons import ReasonsError, clean_comment, clean_tags
from app.core import metrics
from app.core.i18n import DEFAULT, Translator
from app.core.registry import Contender
from app.core.store.records import Winner
from app.core.untrusted import clean_text, quoted

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 2000


def describe(contender: Contender, t: Translator) -> str:
    """A revealed model: its id, its family in words, the translation system if any."""
    variant = f", {t('variant_note', variant=contender.variant)}" if contender.variant else ""
    return f"{contender.model_id} · {t(f'family_{contender.family}')}{variant}"


class ArenaSession(param.Parameterized):
    """One voter's arena: language, the running battle, the two texts, the vote."""

    language = param.String(default="swe")
    ui_language = param.String(default=DEFAULT)
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
    models_ready = param.Boolean(default=True, doc="Generate may be pressed")
    readiness = param.String(default="", doc="what the models of the next battle are doing")
    readiness_progress = param.Number(default=None, allow_None=True, bounds=(0, 1))
    reasons_open = param.Boolean(default=False, doc="the voted battle takes reasons")
    summary = param.Parameter(default=None, doc="a session_summary.Summary to show, or None")

    def __init__(
        self,
        services: ArenaServices,
        session_id: str,
        client_address: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self._services = services
        self._t = services.catalogue.translator(self.ui_language)
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
        self._flusher: asyncio.Task[None] | None = None
        self._round = RoundPrep(services, self._on_round)  # the next battle, chosen ahead
        self._outcome: BattleOutcome | None = None
        self._voted: BattleOutcome | None = None  # takes reasons until the next round
        self._buffers: dict[Side, str] = {"a": "", "b": ""}
        self._pace: EqualPace | None = None
        self._dirty = asyncio.Event()
        self._votes = SessionVotes()
        # What is shown, kept as (key, values) so a language switch can re-render it.
        self._said: tuple[str, dict[str, Any]] = ("", {})

    # ---- what the page calls -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.phase in ("loading", "streaming", "recording")

    def start(self) -> None:
        """Prepare the first round unless one is (the page calls it once it has loaded)."""
        if not self._round.started:
            self._prepare(checking=True)

    def close(self) -> None:
        """The browser session ended: stop following the next round's models (a running
        battle is left to finish and log itself)."""
        self._round.cancel()

    def set_interface(self, code: str) -> None:
        """Show every text in interface language `code` (one batch of updates)."""
        self._t = self._services.catalogue.translator(code)
        self.param.update(ui_language=self._t.code, **self._rendered())

    def select_language(self, code: str) -> None:
        if code not in self._services.registry.languages:  # a forged select value
            log.warning("unknown arena language %s refused", quoted(code))
            return
        if code != self.language:
            self._cancel_battle()
            with batch_call_watchers(self):  # the new language's page: one update
                self.language = code
                self._reset("idle")
                self._prepare(checking=True)

    def new_round(self) -> None:
        self._cancel_battle()
        with batch_call_watchers(self):  # the cleared page and the next round: one update
            self._reset("idle")
            if not self._round.running:
                self._prepare(checking=False)

    async def generate(self, prompt: str) -> BattleOutcome | None:
        """Start a battle on `prompt`; returns when it is votable, failed or cancelled."""
        if self.busy:  # the button is disabled while a battle runs: a forged click
            log.info("Generate refused while %s (session %s)", self.phase, self._session_hash[:8])
            return None
        prompt = clean_text(prompt).rstrip()
        if not prompt.strip():
            self._say("msg_prompt_empty", "warning")
            return None
        if len(prompt) > MAX_PROMPT_CHARS:
            self._say("msg_prompt_too_long", "warning", length=len(prompt), limit=MAX_PROMPT_CHARS)
            return None
        wait = self._services.limits.wait(self._session_hash, self._address_hash)
        if wait:
            log.warning("battle refused by the rate limit (session %s)", self._session_hash[:8])
            self._say("msg_rate_limited", "warning", seconds=max(1, round(wait)))
            return None
        lang = self._services.registry.language(self.language)
        battle = Battle(
            language=lang.code,
            prompt=prompt,
            pairing=self._round.take(lang),
            params=self._services.settings.generation.with_seed(new_seed()),
            session_hash=self._session_hash,
        )
        self._forget()
        blank = {**self._blank("loading"), "prompt_shown": prompt}
        self._say("msg_preparing", "info", language_code=lang.code, **blank)
        if self._services.settings.equal_pace:
            self._pace = EqualPace(battle.params.max_new_tokens)
        svc = self._services
        self._task = task = asyncio.create_task(
            run_battle(battle, svc.directory, svc.make_client, svc.store, self, self._retry)
        )
        self._flusher = flusher = asyncio.create_task(self._flush_loop(self._pace))
        try:
            outcome = await task
            if outcome.votable and self._pace is not None:
                await flusher  # both panes reach their end together, then the vote opens
        except asyncio.CancelledError:
            if self._task is not task and not _cancelling():
                return None  # the voter moved on; the battle logged itself as cancelled
            raise
        finally:
            flusher.cancel()
        if self._task is not task:
            return None
        self._outcome = outcome
        # One batch: the last text, the phase, the message and the next round's state
        # reach the page together.
        final = {"text_a": self._buffers["a"], "text_b": self._buffers["b"]}
        with batch_call_watchers(self):
            if outcome.votable:
                self._say("msg_votable", "info", phase="votable", **final)
            else:
                key = outcome.voter_key or "msg_failed"
                self._say(key, "error", phase="failed", **final)
            self._prepare(checking=False)  # the next round's models load while this is read
        return outcome

    async def vote(self, winner: Winner) -> bool:
        """Record the vote for the current battle; True if this call's vote counted."""
        outcome = self._outcome
        if self.phase != "votable" or outcome is None:
            return False
        self.phase = "recording"  # a second click now finds the vote closed
        # A burst of same-side votes is kept (analysts should see the attack) but flagged
        # with the vote, in one write, so ratings can leave it out.
        burst = self._vote_rate.would_burst(winner)
        flags = ["vote_burst"] if burst else []
        try:
            result = await self._services.store.record_vote(outcome.battle.battle_id, winner, flags)
            metrics.vote_recorded(winner, result.accepted)
        except Exception:
            log.exception("vote on battle %s could not be stored", outcome.battle.battle_id)
            self.phase = "votable"
            self._say("msg_vote_error", "error")
            return False
        summary = None
        if result.accepted:
            self._vote_rate.record(winner)
            if burst:
                log.warning(
                    "vote burst: session %s voted %s %d times within %.0f s",
                    self._session_hash[:8],
                    winner,
                    self._vote_rate.votes,
                    self._vote_rate.within_s,
                )
            self._voted = outcome
            a, b = outcome.a.contender, outcome.b.contender
            assert self._services.vote_counts is not None
            self._services.vote_counts.bump([a.model_id, b.model_id], decisive_result(a, b, winner))
            summary = self._votes.record(
                PastBattle(
                    outcome.battle.language, a.model_id, b.model_id, a.family, b.family, winner
                )
            )
        else:
            log.info("vote refused: %s", result.message)
        self._say(
            "msg_voted" if result.accepted else "msg_already_voted",
            "success" if result.accepted else "warning",
            phase="voted",
            reasons_open=result.accepted,
            summary=summary,
        )
        return result.accepted

    async def save_reasons(self, tags_a: list[str], tags_b: list[str], comment: str) -> bool:
        """Store optional reasons for the battle just voted on; True if stored."""
        outcome = self._voted
        if outcome is None or not self.reasons_open:
            return False
        try:
            a, b, text = clean_tags(tags_a), clean_tags(tags_b), clean_comment(comment)
            stored = await self._services.store.record_reasons(outcome.battle.battle_id, a, b, text)
        except ReasonsError:
            log.warning("reasons with unknown tags refused (session %s)", self._session_hash[:8])
            stored = False
        except Exception:
            log.exception("reasons for battle %s could not be stored", outcome.battle.battle_id)
            stored = False
        if stored:
            self._say("msg_reasons_saved", "success")
        else:
            self._say("msg_reasons_error", "error")
        return stored

    # ---- BattleObserver ------------------------------------------------------------------

    def on_phase(self, phase: Literal["loading", "streaming"]) -> None:
        if phase == "streaming":
            self._round.stop_watching()  # the models are here: nothing left to wait for
            self._say("msg_writing", "info", phase=phase, readiness_progress=None)
        else:
            self.phase = phase

    def on_text(self, side: Side, delta: str) -> None:
        self._buffers[side] += delta
        if self._pace is not None:
            self._pace.add(side, delta)
        self._dirty.set()

    def on_side_done(self, side: Side) -> None:
        if self._pace is not None:
            self._pace.done(side)
        self._dirty.set()

    # ---- internals -----------------------------------------------------------------------

    async def _flush_loop(self, pace: EqualPace | None) -> None:
        """Push buffered text at most once per interval (shorter when few pages stream,
        `app.arena.flush_rate`). Unpaced, the first text goes out at once; paced, every tick
        shows both sides at one pace, until both are complete (the final texts then go out
        with the phase change, in `generate`)."""
        rate = self._services.flush_rate
        assert rate is not None
        loop = asyncio.get_running_loop()
        with rate.stream():  # the interval grows with the pages streaming (app/flush_rate)
            while pace is None:
                await self._dirty.wait()
                self._dirty.clear()
                self._push(self._buffers["a"], self._buffers["b"])
                await asyncio.sleep(rate.interval())
            while True:
                shown = pace.step(loop.time())
                if pace.finished:
                    return
                if not (shown["a"] or shown["b"]):  # no text yet: show it as soon as there is
                    self._dirty.clear()
                    await self._dirty.wait()
                    continue
                self._push(shown["a"], shown["b"])
                await asyncio.sleep(rate.interval())

    def _push(self, a: str, b: str) -> None:
        changed = {
            name: text
            for name, text in (("text_a", a), ("text_b", b))
            if getattr(self, name) != text
        }
        if changed:
            self.param.update(**changed)  # one batch: one render pass, one websocket message

    def _prepare(self, checking: bool) -> None:
        """Choose the next battle's pairing now and follow its models until they are ready."""
        if self._round.start(self._services.registry.language(self.language), checking):
            self._on_round()

    def _on_round(self) -> None:
        self.param.update(
            models_ready=self._round.allowed,
            readiness=self._round.text(self._t, self._t.language_name(self.language)),
            readiness_progress=self._round.progress,
        )

    def _rendered(self, phase: str | None = None) -> dict[str, Any]:
        """Every shown text in the current interface language, for `phase` (default: the
        current one), so a state change and its texts go out in one batch."""
        key, values = self._said
        voted = self._outcome if (phase or self.phase) == "voted" else None
        return {
            "message": self._t.message(key, values),
            "readiness": self._round.text(self._t, self._t.language_name(self.language)),
            "reveal_a": describe(voted.a.contender, self._t) if voted else "",
            "reveal_b": describe(voted.b.contender, self._t) if voted else "",
        }

    def _say(self, key: str, level: str, **params: Any) -> None:
        """Show message `key` (its placeholder values among `params`) and apply the other
        `params`, which name session parameters, in one batch."""
        values = {k: params.pop(k) for k in list(params) if k not in self.param}
        self._said = (key, values)
        rendered = self._rendered(params.get("phase"))
        self.param.update({**rendered, **params, "message_level": level})

    def _cancel_battle(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        if self._flusher is not None:
            self._flusher.cancel()

    def _reset(self, phase: str) -> None:
        self._forget()
        self.param.update(**self._blank(phase), message="")

    def _forget(self) -> None:
        """Drop the last battle's state (not what the page shows: see `_blank`)."""
        self._outcome = None
        self._voted = None
        self._pace = None
        self._buffers = {"a": "", "b": ""}
        self._dirty.clear()
        self._said = ("", {})

    @staticmethod
    def _blank(phase: str) -> dict[str, Any]:
        """The shown parameters of a page without a battle, in `phase` (message aside)."""
        return {
            "phase": phase,
            "prompt_shown": "",
            "text_a": "",
            "text_b": "",
            "reveal_a": "",
            "reveal_b": "",
            "reasons_open": False,
            "summary": None,
        }


def _cancelling() -> bool:
    """Whether the running task itself is being cancelled (not just a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
