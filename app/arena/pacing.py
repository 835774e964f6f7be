"""Equal pace: show both continuations growing together, so speed cannot sway the vote.

The two engines of a battle rarely run at the same speed (different GPUs, tokenizers,
load). Shown as they stream, the faster side visibly finishes first, and voters read speed
as quality. `EqualPace` sits between the streams and the page: both panes show the same
*fraction* of their text at every tick (the same number of characters when the texts are
equally long), neither starts before both have text, and both reach their end on the same
tick. The real timings are measured and logged by the battle runner, untouched by this.

How: a side's total length is known once it is done; before that it is estimated from its
characters per token so far times the battle's token budget (base models nearly always use
the whole budget). The shown fraction is the smallest fraction available on either side, so
the slower side sets the pace. When an estimate turns out long (a side stops early), the
available fraction jumps; the shown fraction then catches up at 1.5 times the pace shown so
far (at least `min_rate` of the text per second), so the ending reads as steady typing, not
a sudden fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["a", "b"]
SIDES: tuple[Side, Side] = ("a", "b")
WARM_UP_S = 0.5  # before this, the pace shown so far says little ...
WARM_UP_RATE = 1.0  # ... so a jump is typed out at up to the whole text per second


@dataclass
class _Stream:
    text: str = ""
    tokens: int = 0
    done: bool = False
    shown: int = 0  # characters on the page; never shrinks


class EqualPace:
    """Reveal two streams at one pace. Feed it with `add`/`done`; ask `step(now)` per tick."""

    def __init__(self, expected_tokens: int, min_rate: float = 0.25) -> None:
        self.expected_tokens = max(1, expected_tokens)
        self.min_rate = min_rate  # fraction per second the catch-up never goes below
        self._streams: dict[Side, _Stream] = {"a": _Stream(), "b": _Stream()}
        self._fraction = 0.0
        self._started: float | None = None  # when both sides first had text
        self._last: float | None = None

    def add(self, side: Side, delta: str) -> None:
        stream = self._streams[side]
        stream.text += delta
        stream.tokens += 1

    def done(self, side: Side) -> None:
        self._streams[side].done = True

    def text(self, side: Side) -> str:
        """Everything received on `side` (what the battle log gets)."""
        return self._streams[side].text

    def shown(self, side: Side) -> str:
        stream = self._streams[side]
        return stream.text[: stream.shown]

    @property
    def finished(self) -> bool:
        """Both sides done and shown to the end."""
        return all(s.done and s.shown == len(s.text) for s in self._streams.values())

    def _total(self, stream: _Stream) -> float | None:
        if stream.done:
            return float(len(stream.text))
        if stream.tokens == 0 or not stream.text:
            return None
        return max(len(stream.text), len(stream.text) * self.expected_tokens / stream.tokens)

    def step(self, now: float) -> dict[Side, str]:
        """Advance the reveal to time `now` (seconds, any monotonic clock); what each pane
        shows now."""
        totals = {side: self._total(s) for side, s in self._streams.items()}
        if any(t is None for t in totals.values()):
            return {side: self.shown(side) for side in SIDES}  # wait until both have text
        available = min(
            1.0 if not total else len(self._streams[side].text) / total
            for side, total in totals.items()
            if total is not None
        )
        target = min(1.0, available)
        if self._started is None:  # both sides have text: show the first of each at once
            self._started = self._last = now
            self._fraction = max(self._fraction, target)
        elapsed = now - self._started
        dt = max(now - (self._last or now), 0.0)
        self._last = now
        if target > self._fraction:
            # Follow the streams while they set the pace; a jump (a side ended early, an
            # estimate was long) is typed out at the pace shown so far, a little faster.
            pace = self._fraction / elapsed if elapsed >= WARM_UP_S else WARM_UP_RATE
            limit = self._fraction + max(self.min_rate, 1.5 * pace) * dt
            self._fraction = min(target, limit)
        if self._fraction >= 1.0 - 1e-9 and all(s.done for s in self._streams.values()):
            self._fraction = 1.0
        for side, stream in self._streams.items():
            total = totals[side] or 0.0
            want = len(stream.text) if self._fraction >= 1.0 else int(self._fraction * total)
            stream.shown = max(stream.shown, min(len(stream.text), want))
        return {side: self.shown(side) for side in SIDES}
