"""One battle, from the click on Generate to its row in the battle log.

`run_battle` leases the two models from the engine directory (the supervisor, or static
endpoints), streams both continuations at the same time, measures each side (time to first
token, duration, tokens), and writes the battle to the store when generation ends: as
`completed`, or as `failed` with the error when a side fails, the models cannot be had, or
the battle is cancelled. The lease is always released. The caller sees progress through a
small observer interface and never sees model identities until it chooses to reveal them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from app.arena.blindness import find_tells
from app.arena.engines import EngineDirectory, EngineDirectoryError
from app.arena.matchmaking import Pairing
from app.core import metrics
from app.core.inference.base import (
    EngineClient,
    EngineError,
    EngineIncompleteStream,
    EngineOverloaded,
    GenerationParams,
)
from app.core.registry import Contender
from app.core.store.battle_store import BattleRecord, BattleStore
from app.core.untrusted import quoted

log = logging.getLogger(__name__)

Side = Literal["a", "b"]
ClientFactory = Callable[[str, str], EngineClient]  # (engine url, model id) -> client


class BattleObserver(Protocol):
    """What a page wants to hear while a battle runs (all called on the event loop)."""

    def on_phase(self, phase: Literal["loading", "streaming"]) -> None: ...
    def on_text(self, side: Side, delta: str) -> None: ...
    def on_side_done(self, side: Side) -> None: ...


@dataclass
class SideResult:
    """What one side produced, with the app's own measurements."""

    contender: Contender
    text: str = ""
    ttft_ms: float | None = None
    duration_ms: float | None = None
    tokens: int | None = None
    finish_reason: str | None = None
    error: EngineError | None = None

    @property
    def completed(self) -> bool:
        return self.error is None and self.finish_reason is not None


@dataclass
class Battle:
    """A battle's identity and inputs, fixed when the voter clicks Generate."""

    language: str
    prompt: str
    pairing: Pairing
    params: GenerationParams
    session_hash: str
    battle_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class BattleOutcome:
    battle: Battle
    a: SideResult
    b: SideResult
    status: Literal["completed", "failed"]
    error: str | None = None  # for the log: "a: overloaded: ..." / "cancelled: ..."
    lease_ms: float | None = None  # how long the battle waited for its models
    flags: list[str] = field(default_factory=list)  # e.g. identity_tell: not blind
    voter_key: str | None = None  # when failed: the voter's message in the UI catalogue

    @property
    def votable(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for an overloaded engine (HTTP 429, or TGI's in-stream overload),
    only before the side has shown any text: a voter never sees a continuation restart."""

    retries: int = 3
    backoff_s: float = 0.5  # doubles after each attempt: 0.5, 1, 2 s

    def delay(self, attempt: int) -> float:
        return self.backoff_s * 2**attempt


async def _stream_side(
    side: Side,
    client: EngineClient,
    battle: Battle,
    result: SideResult,
    obs: BattleObserver,
    retry: RetryPolicy,
) -> None:
    for attempt in range(retry.retries + 1):
        try:
            await _stream_once(side, client, battle, result, obs)
            return
        except EngineOverloaded as exc:
            if result.text or attempt == retry.retries:
                raise
            delay = retry.delay(attempt)
            log.info(
                "battle %s side %s: engine overloaded (%s); retry %d/%d in %.1f s",
                battle.battle_id,
                side,
                exc.url,
                attempt + 1,
                retry.retries,
                delay,
            )
            await asyncio.sleep(delay)


async def _stream_once(
    side: Side, client: EngineClient, battle: Battle, result: SideResult, obs: BattleObserver
) -> None:
    start = time.perf_counter()
    async for event in client.stream(battle.prompt, battle.params):
        if event.text:
            if result.ttft_ms is None:
                result.ttft_ms = (time.perf_counter() - start) * 1000
            result.text += event.text
            obs.on_text(side, event.text)
        if event.final:
            result.tokens = event.generated_tokens
            result.finish_reason = event.finish_reason or "length"
    result.duration_ms = (time.perf_counter() - start) * 1000
    if result.finish_reason is None:  # the clients raise this themselves; never trust it
        raise EngineIncompleteStream("stream ended without its final event", url=client.url)
    obs.on_side_done(side)


async def _stream_both(
    battle: Battle,
    endpoints: dict[str, str],
    make_client: ClientFactory,
    results: dict[Side, SideResult],
    obs: BattleObserver,
    retry: RetryPolicy,
) -> None:
    """Stream both sides concurrently; the first failure cancels the other side."""
    tasks: dict[Side, asyncio.Task[None]] = {}
    for side, res in results.items():
        client = make_client(endpoints[res.contender.model_id], res.contender.model_id)
        tasks[side] = asyncio.create_task(_stream_side(side, client, battle, res, obs, retry))
    try:
        pending = set(tasks.values())
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for side, task in tasks.items():
                if task in done and task.exception() is not None:
                    exc = task.exception()
                    results[side].error = exc if isinstance(exc, EngineError) else None
                    raise exc  # type: ignore[misc]
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


def _flag_tells(outcome: BattleOutcome) -> None:
    """A continuation that names a model or its maker makes the battle not blind: flag it
    (the vote still counts as cast; ratings can leave such battles out)."""
    tells = {side: find_tells(r.text) for side, r in (("a", outcome.a), ("b", outcome.b))}
    if any(tells.values()):
        outcome.flags.append("identity_tell")
        log.warning(
            "battle %s: continuation names a model or maker: %s", outcome.battle.battle_id, tells
        )


def _record(outcome: BattleOutcome) -> BattleRecord:
    b, p = outcome.battle, outcome.battle.params
    return BattleRecord(
        battle_id=b.battle_id,
        created_at=b.created_at,
        language=b.language,
        prompt=b.prompt,
        model_a=outcome.a.contender.model_id,
        model_b=outcome.b.contender.model_id,
        family_a=outcome.a.contender.family,
        family_b=outcome.b.contender.family,
        variant_a=outcome.a.contender.variant,
        variant_b=outcome.b.contender.variant,
        response_a=outcome.a.text,
        response_b=outcome.b.text,
        ttft_ms_a=outcome.a.ttft_ms,
        ttft_ms_b=outcome.b.ttft_ms,
        duration_ms_a=outcome.a.duration_ms,
        duration_ms_b=outcome.b.duration_ms,
        tokens_a=outcome.a.tokens,
        tokens_b=outcome.b.tokens,
        finish_reason_a=outcome.a.finish_reason,
        finish_reason_b=outcome.b.finish_reason,
        status=outcome.status,
        error=outcome.error,
        max_new_tokens=p.max_new_tokens,
        do_sample=p.do_sample,
        temperature=p.temperature,
        top_p=p.top_p,
        repetition_penalty=p.repetition_penalty,
        seed=p.seed,
        session_hash=b.session_hash,
        source="arena",
        flags=outcome.flags,
    )


async def run_battle(
    battle: Battle,
    directory: EngineDirectory,
    make_client: ClientFactory,
    store: BattleStore,
    obs: BattleObserver,
    retry: RetryPolicy | None = None,
) -> BattleOutcome:
    """Lease, stream, measure and log one battle. Cancellation is logged as a failure."""
    results: dict[Side, SideResult] = {
        "a": SideResult(battle.pairing.a),
        "b": SideResult(battle.pairing.b),
    }
    outcome = BattleOutcome(battle, results["a"], results["b"], status="failed")
    lease = None
    try:
        obs.on_phase("loading")
        metrics.battle_started(battle.language)
        start = time.perf_counter()
        lease = await directory.acquire(battle.pairing.models, holder=f"battle-{battle.battle_id}")
        outcome.lease_ms = (time.perf_counter() - start) * 1000
        metrics.models_waited(outcome.lease_ms / 1000)
        obs.on_phase("streaming")
        await _stream_both(
            battle, lease.endpoints, make_client, results, obs, retry or RetryPolicy()
        )
        outcome.status = "completed"
        _flag_tells(outcome)
    except EngineDirectoryError as exc:
        outcome.error = f"engines: {exc}"
        outcome.voter_key = f"err_directory_{exc.kind}"
        log.warning("battle %s: models unavailable: %s", battle.battle_id, exc)
    except EngineError as exc:
        side = "a" if results["a"].error is exc else "b"
        outcome.error = f"{side}: {exc}"
        outcome.voter_key = f"err_engine_{exc.kind}"
        log.warning("battle %s: side %s failed: %s", battle.battle_id, side, exc)
    except asyncio.CancelledError:
        outcome.error = "cancelled: the voter started a new round or changed language"
        log.info("battle %s cancelled by the voter", battle.battle_id)
        await asyncio.shield(_finish(outcome, directory, lease, store))
        raise
    except Exception as exc:  # a bug of ours: still log the battle, never lose it
        outcome.error = f"internal: {type(exc).__name__}: {exc}"
        outcome.voter_key = "err_internal"
        log.exception("battle %s: unexpected error", battle.battle_id)
    await asyncio.shield(_finish(outcome, directory, lease, store))
    return outcome


async def _finish(
    outcome: BattleOutcome, directory: EngineDirectory, lease: object, store: BattleStore
) -> None:
    # Both are off the voter's critical path only if they overlap: run them together.
    release = directory.release(lease) if lease is not None else asyncio.sleep(0)  # type: ignore[arg-type]
    record = _record(outcome)
    t0 = time.perf_counter()
    try:
        await asyncio.gather(release, _log(outcome, record, store))
    finally:
        metrics.battle_finished(record)
    log.debug(
        "battle %s: released and logged in %.1f ms",
        outcome.battle.battle_id,
        (time.perf_counter() - t0) * 1000,
    )
    log.info(
        "battle %s %s: models in %s, %s (%s) vs %s (%s)%s",
        outcome.battle.battle_id,
        outcome.status,
        "-" if outcome.lease_ms is None else f"{outcome.lease_ms:.0f} ms",
        outcome.a.contender.model_id,
        _timing(outcome.a),
        outcome.b.contender.model_id,
        _timing(outcome.b),
        f" error={outcome.error}" if outcome.error else "",
    )


async def _log(outcome: BattleOutcome, record: BattleRecord, store: BattleStore) -> None:
    """Write the battle's row. A battle the log cannot take is not votable (a vote would
    have no row to go to): the voter is told, ops get one line and a metric."""
    try:
        await store.record_battle(record)
    except Exception as exc:
        log.error(
            "battle %s could not be logged (%s: %s); it is lost",
            record.battle_id,
            type(exc).__name__,
            quoted(str(exc)),
        )
        metrics.battle_unlogged(record.language)
        outcome.status = "failed"
        outcome.error = f"internal: not logged: {type(exc).__name__}"
        outcome.voter_key = "err_internal"


def _timing(side: SideResult) -> str:
    if side.ttft_ms is None:
        return "no tokens"
    return f"ttft {side.ttft_ms:.0f} ms, {side.tokens or 0} tok in {side.duration_ms or 0:.0f} ms"
