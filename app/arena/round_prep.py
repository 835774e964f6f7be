"""Getting the next battle's models ready before the voter presses Generate.

When a voter picks a language (and at each new round) the arena chooses the pairing at once
(`app.arena.matchmaking`: votes balanced, or steered to the verdicts that need them by
`app.arena.vote_allocation`; loaded models first), asks the supervisor to start
loading it (`prefetch`), and follows `/status` (`app.arena.engine_status`, one fetch per interval
for the whole process) so the page can say "Loading the Finnish models, about 40 s", show
progress or a place in line, and enable Generate only when both models are ready. Nothing
here names a model: the battle is blind.

Where the state cannot be known (no `/status`: static or remote endpoints, a supervisor
that does not answer) or waiting cannot help (a failed engine; GPUs busy with other
battles, so nothing can load until this battle joins the queue), Generate stays allowed:
acquiring the models then waits in the supervisor's fair queue or says what went wrong,
exactly as without this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from app.arena.engine_status import Readiness, StatusPoller, battle_readiness, resident_models
from app.arena.engines import EngineDirectory
from app.arena.matchmaking import Pairing, pick_pairing
from app.arena.vote_allocation import shares_for
from app.core.i18n import Translator
from app.core.registry import Language

if TYPE_CHECKING:
    from app.arena.services import ArenaServices

log = logging.getLogger(__name__)

# Prefetch answers meaning "nothing is loading it": waiting would never end.
_STUCK = {"busy", "too_big", "failed"}
REPREFETCH_S = 3.0  # a model left unloaded is asked for again this often
MAX_WATCH_S = 900.0  # an idle tab stops polling after this; Generate is then allowed

Report = Callable[[Readiness | None, bool], None]  # (readiness or unknown, Generate allowed)


def generate_allowed(readiness: Readiness | None, prefetched: Mapping[str, str] | None) -> bool:
    """Whether Generate may be pressed for a pairing in this state."""
    if readiness is None or readiness.ready or readiness.state in ("failed", "unknown"):
        return True
    if readiness.state == "not_loaded":
        return prefetched is None or any(v in _STUCK for v in prefetched.values())
    return False  # loading, restarting, queued, waiting for a GPU: say so, and how long


def describe_readiness(
    t: Translator, readiness: Readiness | None, language: str, allowed: bool
) -> str:
    """What the page says about the models, in the voter's interface language."""
    if readiness is None or readiness.state == "unknown":
        return "" if allowed else t("ready_checking", language=language)
    eta = readiness.eta_s
    state = readiness.state
    if state == "ready":
        return t("ready_ready", language=language)
    if state == "failed":
        return t("ready_failed", language=language)
    if state == "queued":
        if readiness.queue_position:
            return t("ready_queued", language=language, position=readiness.queue_position)
        return t("ready_queued_plain", language=language)
    if state == "waiting_gpu":
        if readiness.queue_position:
            return t("ready_waiting_gpu", language=language, position=readiness.queue_position)
        return t("ready_waiting_gpu_plain", language=language)
    if state == "not_loaded":
        if allowed:
            return t("ready_busy", language=language)
        if eta is None:
            return t("ready_not_loaded_plain", language=language)
        return t("ready_not_loaded", language=language, eta=t.about(eta))
    keys = {"restarting": "ready_restarting", "waking": "ready_waking"}
    key = keys.get(state, "ready_loading")
    if eta is None:
        return t(f"{key}_plain", language=language)
    when = t.about(eta) if eta > 0 else t("ready_almost")
    return t(key, language=language, eta=when)


def _launched(readiness: Readiness, prefetched: Mapping[str, str] | None) -> Readiness:
    """A status fetched a moment before our prefetch still says "not loaded" for models
    that are now loading: say loading (with the expected time) rather than contradict it."""
    if readiness.state != "not_loaded" or not prefetched:
        return readiness
    if all(v in ("launched", "pending", "loading", "ready") for v in prefetched.values()):
        return replace(readiness, state="loading", progress=0.0)
    return readiness


async def watch_round(
    pairing: Pairing,
    directory: EngineDirectory,
    poller: StatusPoller,
    report: Report,
) -> None:
    """Prefetch the pairing's models and report their state each poll interval until they
    are ready (or waiting cannot help). Cancel it when the voter moves on."""
    loop = asyncio.get_running_loop()
    prefetched = await directory.prefetch(pairing.models)
    asked = started = loop.time()
    while loop.time() - started < MAX_WATCH_S:
        status = await poller.latest()
        if status is None:
            report(None, True)  # no status to follow: let Generate try and tell
            return
        readiness = _launched(battle_readiness(status, pairing.models), prefetched)
        allowed = generate_allowed(readiness, prefetched)
        report(readiness, allowed)
        if readiness.ready or readiness.state == "failed":
            return
        if readiness.state == "not_loaded" and loop.time() - asked >= REPREFETCH_S:
            prefetched = await directory.prefetch(pairing.models)  # maybe a GPU is free now
            asked = loop.time()
        await asyncio.sleep(poller.interval_s)
    report(None, True)


class RoundPrep:
    """The next battle of one voter's session: its pairing, chosen ahead (kept on the
    server, never shown), and what its models are doing. `on_change` is called after
    every report, for the session to render."""

    def __init__(self, services: ArenaServices, on_change: Callable[[], None]) -> None:
        self._svc = services
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._pairing: Pairing | None = None
        self.readiness: Readiness | None = None
        self.allowed = True  # Generate may be pressed
        self.started = False  # a round was ever prepared (the page prepares once at load)

    @property
    def progress(self) -> float | None:
        r = self.readiness
        return r.progress if r is not None and not r.ready and r.state != "unknown" else None

    def text(self, t: Translator, language: str) -> str:
        return describe_readiness(t, self.readiness, language, self.allowed)

    def start(self, lang: Language, checking: bool) -> bool:
        """Choose the pairing for `lang` and follow its models, in a task; False without an
        event loop (then `take` chooses at Generate). `checking`: Generate waits for the
        first report (the language changed, so what was ready says nothing)."""
        self.cancel()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        if checking:
            self.readiness, self.allowed = Readiness("unknown"), False
        self.started = True
        self._task = asyncio.create_task(self._run(lang))
        return True

    def cancel(self) -> None:
        task, self._task = self._task, None
        self._pairing = None
        if task is not None and not task.done():
            task.cancel()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stop_watching(self) -> None:
        """The battle has its models: keep nothing to say."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        self.readiness, self.allowed = None, True

    def take(self, lang: Language) -> Pairing:
        """The prepared pairing for `lang` (the watch goes on through the battle's wait for
        its models, to show progress or a place in line), or one chosen now."""
        pairing, self._pairing = self._pairing, None
        if pairing is not None and pairing.a.language == lang.code:
            return pairing
        assert self._svc.vote_counts is not None
        counts = self._svc.vote_counts.cached()
        return pick_pairing(lang, counts=counts, **self._matchmaking(lang))

    def _matchmaking(self, lang: Language) -> dict[str, Any]:
        """`pick_pairing`'s slack and target shares (None: balanced) under the settings."""
        setting = self._svc.settings.matchmaking
        assert self._svc.vote_counts is not None
        return {
            "slack": setting.slack,
            "shares": shares_for(lang, self._svc.vote_counts.tallies(), setting),
        }

    async def _run(self, lang: Language) -> None:
        svc = self._svc
        assert svc.vote_counts is not None and svc.poller is not None
        try:
            counts = await svc.vote_counts.get()
            loaded = resident_models(await svc.poller.latest())
            self._pairing = pick_pairing(
                lang, counts=counts, loaded=loaded, **self._matchmaking(lang)
            )
            await watch_round(self._pairing, svc.directory, svc.poller, self._report)
        except Exception:  # never leave Generate disabled because of our own bug
            log.exception("preparing a %s round failed", lang.code)
            self._report(None, True)

    def _report(self, readiness: Readiness | None, allowed: bool) -> None:
        self.readiness, self.allowed = readiness, allowed
        self._on_change()
