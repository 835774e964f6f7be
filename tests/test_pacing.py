"""Equal pace, on a simulated clock: two streams at very different speeds, shown as one."""

from __future__ import annotations

import random
from itertools import pairwise

from app.arena.pacing import EqualPace

TICK = 0.08  # the session's flush interval
TOKENS = 40


def tokens(seed: int, n: int = TOKENS) -> list[str]:
    rng = random.Random(seed)
    return [" " + "x" * rng.randint(2, 9) for _ in range(n)]


def run(
    streams: dict[str, tuple[list[str], float, float]], expected: int = TOKENS
) -> tuple[EqualPace, list[tuple[float, dict[str, str]]]]:
    """Feed each side its tokens at (first token time, seconds per token); step every
    tick until both are shown in full. Returns the pace and every step's shown texts."""
    pace = EqualPace(expected)
    events = sorted(
        (start + i * every, side, tok, i == len(toks) - 1)
        for side, (toks, start, every) in streams.items()
        for i, tok in enumerate(toks)
    )
    steps: list[tuple[float, dict[str, str]]] = []
    now = 0.0
    while not pace.finished:
        now += TICK
        while events and events[0][0] <= now:
            _, side, tok, last = events.pop(0)
            pace.add(side, tok)  # type: ignore[arg-type]
            if last:
                pace.done(side)  # type: ignore[arg-type]
        steps.append((now, pace.step(now)))
        assert now < 120, "the reveal never finished"
    return pace, steps


def finished_at(steps: list[tuple[float, dict[str, str]]], side: str, full: str) -> float:
    return next(t for t, shown in steps if shown[side] == full)


def test_a_fast_and_a_slow_side_appear_together_and_finish_on_the_same_tick() -> None:
    fast, slow = tokens(1), tokens(2)
    pace, steps = run({"a": (fast, 0.05, 0.005), "b": (slow, 0.4, 0.1)})
    full_a, full_b = "".join(fast), "".join(slow)
    assert pace.text("a") == full_a and pace.text("b") == full_b  # nothing lost
    # Neither starts first: the first tick with any text shows both.
    first = next(shown for _, shown in steps if shown["a"] or shown["b"])
    assert first["a"] and first["b"]
    # Neither finishes first.
    assert finished_at(steps, "a", full_a) == finished_at(steps, "b", full_b)
    # The fast side (done after 0.25 s) is held to the slow side's pace (~4.3 s).
    assert finished_at(steps, "a", full_a) >= 4.3
    # At every tick both show about the same share of their text, and never less than before.
    previous = {"a": 0, "b": 0}
    for _, shown in steps:
        share_a, share_b = len(shown["a"]) / len(full_a), len(shown["b"]) / len(full_b)
        assert abs(share_a - share_b) < 0.2, (share_a, share_b)
        assert all(len(shown[s]) >= previous[s] for s in "ab")
        previous = {s: len(shown[s]) for s in "ab"}


def test_sides_at_the_same_pace_are_shown_as_they_stream() -> None:
    a, b = tokens(3), tokens(4)
    _, steps = run({"a": (a, 0.1, 0.03), "b": (b, 0.1, 0.03)})
    done = 0.1 + (TOKENS - 1) * 0.03
    assert finished_at(steps, "a", "".join(a)) <= done + 2 * TICK  # no artificial delay


def test_a_side_that_stops_early_is_caught_up_at_a_steady_pace_and_both_end_together() -> None:
    a, b = tokens(5), tokens(6, n=10)  # b stops after 10 of the 40 tokens it could write
    _, steps = run({"a": (a, 0.05, 0.01), "b": (b, 0.05, 0.1)})
    end_a, end_b = finished_at(steps, "a", "".join(a)), finished_at(steps, "b", "".join(b))
    assert end_a == end_b
    # After b's early end, a is not filled in one jump: it is typed out over several ticks.
    growth = [len(now["a"]) - len(before["a"]) for (_, before), (_, now) in pairwise(steps)]
    assert max(growth) < len("".join(a)) / 3


def test_empty_continuations_finish_at_once() -> None:
    pace = EqualPace(10)
    pace.done("a")
    pace.done("b")
    assert pace.step(0.0) == {"a": "", "b": ""}
    assert pace.finished
