"""What a load test's observations add up to: percentiles, slowdowns, and the vote audit
against the battle log.

Kept apart from the driver (`benchmark/loadtest.py`) so the arithmetic can be unit-tested
without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from benchmark.arena_voter import RoundResult


@dataclass(frozen=True)
class LoggedBattle:
    """A battle as the server logged it (matched to a round by its tagged prompt)."""

    prompt: str
    status: str
    winner: str | None
    tokens: int | None  # the longer side's count
    engine_s: float | None  # the slower side's request start to last token


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def spread_ms(values_s: Sequence[float]) -> dict[str, float | None]:
    """p50 / p95 / max of durations given in seconds, in milliseconds."""
    ms = [1000 * v for v in values_s]
    return {
        "p50": _r(percentile(ms, 50), 1),
        "p95": _r(percentile(ms, 95), 1),
        "max": _r(max(ms, default=None), 1),
    }


def read_battles(db_path: Path, tag: str) -> list[LoggedBattle]:
    """This run's battles in the battle log (opened read-only: stop the server first)."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT prompt, status, winner, greatest(tokens_a, tokens_b), "
            "greatest(duration_ms_a, duration_ms_b) / 1000.0 FROM battles WHERE prompt LIKE ?",
            [f"[{tag}-%"],
        ).fetchall()
    finally:
        con.close()
    return [LoggedBattle(*row) for row in rows]


def check_votes(results: Sequence[RoundResult], logged: Sequence[LoggedBattle]) -> dict[str, int]:
    """Compare what the voters did and were told with what the battle log holds.

    - lost: the page confirmed a vote that the log lacks (or holds with another winner);
    - duplicate: a battle logged more than once, or a vote logged on a battle that no
      voter voted on;
    - unconfirmed: logged as cast, but the page never said so (the voter saw a page that
      stopped answering: not a lost vote, a stuck page).
    """
    by_prompt: dict[str, list[LoggedBattle]] = {}
    for battle in logged:
        by_prompt.setdefault(battle.prompt, []).append(battle)
    cast = {r.prompt: r for r in results if r.winner is not None}
    lost = sum(
        1
        for prompt, r in cast.items()
        if r.confirmed and r.winner not in {b.winner for b in by_prompt.get(prompt, [])}
    )
    extra_rows = sum(len(rows) - 1 for rows in by_prompt.values() if len(rows) > 1)
    uncast = sum(
        1 for prompt, rows in by_prompt.items() for b in rows if b.winner and prompt not in cast
    )
    unconfirmed = sum(
        1
        for prompt, r in cast.items()
        if not r.confirmed and r.winner in {b.winner for b in by_prompt.get(prompt, [])}
    )
    return {
        "db_battles": len(logged),
        "db_votes": sum(1 for b in logged if b.winner is not None),
        "lost_votes": lost,
        "duplicate_votes": extra_rows + uncast,
        "unconfirmed_votes": unconfirmed,
    }


def summarise(
    results: Sequence[RoundResult],
    logged: Sequence[LoggedBattle] | None,
    *,
    voters: int,
    duration_s: float,
    token_interval_s: float,
    max_new_tokens: int,
) -> dict[str, Any]:
    """The load test's figures from what the voters saw (and the log, when readable)."""
    measured = [r for r in results if not r.warmup]
    by_prompt = {b.prompt: b for b in logged or ()}
    slowdowns, engine, overhead = [], [], []
    for r in measured:
        if r.votable_s is None:
            continue
        b = by_prompt.get(r.prompt)
        tokens = b.tokens if b and b.tokens else max_new_tokens
        slowdowns.append(r.votable_s / (tokens * token_interval_s))
        if b and b.engine_s:
            # The engines' own time (as the app measured it) against their ideal, and what
            # the voter waited beyond it: the app's share of the slowdown.
            engine.append(b.engine_s / (tokens * token_interval_s))
            overhead.append(r.votable_s - b.engine_s)
    votable = [r.votable_s for r in measured if r.votable_s is not None]
    first = [r.first_text_s for r in measured if r.first_text_s is not None]
    return {
        "voters": voters,
        "duration_s": duration_s,
        "battles": len(measured),
        "completed": sum(1 for r in measured if r.outcome == "votable"),
        "failed": sum(1 for r in measured if r.outcome == "failed"),
        "timeouts": sum(1 for r in measured if r.outcome in ("timeout", "closed")),
        "votes": sum(1 for r in results if r.confirmed),
        "refused_votes": sum(1 for r in results if r.refused),
        "p50_slowdown": _r(percentile(slowdowns, 50)),
        "p95_slowdown": _r(percentile(slowdowns, 95)),
        "max_slowdown": _r(max(slowdowns, default=None)),
        "p50_first_text_s": _r(percentile(first, 50)),
        "p95_first_text_s": _r(percentile(first, 95)),
        "p50_votable_s": _r(percentile(votable, 50)),
        "p95_votable_s": _r(percentile(votable, 95)),
        "ideal_s": round(max_new_tokens * token_interval_s, 3),
        "p50_engine_slowdown": _r(percentile(engine, 50)),
        "p95_engine_slowdown": _r(percentile(engine, 95)),
        "p50_app_overhead_s": _r(percentile(overhead, 50)),
        "p95_app_overhead_s": _r(percentile(overhead, 95)),
        "token_interval_s": token_interval_s,
        "max_new_tokens": max_new_tokens,
        "battles_per_s": round(len(measured) / duration_s, 2) if duration_s else None,
        "failures": sorted({r.message[:120] for r in measured if r.outcome == "failed"})[:5],
    }
