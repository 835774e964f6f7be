"""One simulated voter on the real `/arena` page, acting through the page's own widgets.

The voter does what a person does, in the page's words: picks a `Language`, writes a
`Prompt`, presses `Generate`, waits until the vote buttons are enabled, presses one of
`A is better` / `B is better` / `Tie` / `Both are bad` (sometimes twice, like a double
click), reads the confirmation, presses `New round`. It finds those widgets by their visible
labels in the document the server sent, so it drives exactly what a browser would, and it
reads the outcome from what the server pushes back (`disabled` of the vote buttons, the text
of the two panes and of the message bar). See `benchmark/bokeh_client.py` for the wire.

Each prompt carries a unique tag, so the load test can match every battle it saw with its
row in the battle log afterwards.
"""

from __future__ import annotations

import html
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.registry import Registry
from benchmark.bokeh_client import BokehPageClient, change_event

VOTE_LABELS = {
    "model_a": "A is better",
    "model_b": "B is better",
    "tie": "Tie",
    "both_bad": "Both are bad",
}
CONFIRMED = "Thank you, your vote is saved"
REFUSED = "already had a vote"
_LEVEL = re.compile(r"arena-message (\w+)")


@dataclass
class RoundResult:
    """What one voter saw in one round (times in seconds from the click on Generate)."""

    voter: int
    round: int
    language: str
    prompt: str
    started_s: float  # since the start of the run
    outcome: str = "timeout"  # votable | failed | timeout | closed
    first_text_s: float | None = None
    votable_s: float | None = None
    winner: str | None = None
    confirmed: bool = False  # the page said the vote was saved
    refused: bool = False  # the page said the battle already had a vote
    message: str = ""
    warmup: bool = False


def _text(attrs: dict[str, Any]) -> str:
    value = attrs.get("text")
    return html.unescape(value) if isinstance(value, str) else ""


class ArenaVoter:
    """Plays rounds on one connected `BokehPageClient`."""

    def __init__(
        self,
        client: BokehPageClient,
        index: int,
        registry: Registry,
        mix: Sequence[tuple[str, float]],
        *,
        tag: str,
        rng: random.Random,
        round_timeout_s: float,
        double_click_rate: float = 0.0,
        clock_zero: float = 0.0,
    ) -> None:
        self.client = client
        self.index = index
        self.registry = registry
        self.codes = [code for code, _ in mix]
        self.weights = [weight for _, weight in mix]
        self.tag = tag
        self.rng = rng
        self.round_timeout_s = round_timeout_s
        self.double_click_rate = double_click_rate
        self.clock_zero = clock_zero
        self.rounds = 0
        self._message_id: str | None = None
        find = client.find
        self.language_id = find(title="Language")
        self.prompt_id = find(title="Prompt")
        self.generate_id = find(label="Generate")
        self.new_round_id = find(label="New round")
        self.vote_ids = {winner: find(label=label) for winner, label in VOTE_LABELS.items()}
        panes = client.find_all(
            lambda name, attrs: name.endswith("markup.HTML") and "arena-text" in _text(attrs)
        )
        if len(panes) != 2:
            raise RuntimeError(f"expected the two text panes A and B, found {len(panes)}")
        self.pane_ids = panes
        self.language = str(client.attrs(self.language_id).get("value") or "")
        self._generate_disabled = 0  # how often the server has disabled Generate
        client.on_patch = self._watch_message

    # ---- what the voter sees -----------------------------------------------------------------

    def _watch_message(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            model = event.get("model", {}).get("id")
            if model == self.generate_id and event.get("attr") == "disabled" and event["new"]:
                self._generate_disabled += 1
        # The message bar starts empty, so it is recognised by its first message.
        if self._message_id is None:
            for event in events:
                new = event.get("new")
                if event.get("attr") == "text" and isinstance(new, str) and "arena-message" in new:
                    self._message_id = event["model"]["id"]

    def message(self) -> str:
        return _text(self.client.attrs(self._message_id)) if self._message_id else ""

    def message_level(self) -> str | None:
        match = _LEVEL.search(self.message())
        return match.group(1) if match else None

    def has_text(self) -> bool:
        return any(
            'class="continuation"></span>' not in _text(self.client.attrs(pane))
            for pane in self.pane_ids
        )

    def can_generate(self) -> bool:
        return self.client.attrs(self.generate_id).get("disabled") is not True

    def votable(self) -> bool:
        return self.client.attrs(self.vote_ids["model_a"]).get("disabled") is False

    def failed(self) -> bool:
        return self.message_level() in ("error", "warning")

    def cleared(self) -> bool:
        return all(
            'class="prompt"></span>' in _text(self.client.attrs(pane)) for pane in self.pane_ids
        ) and not (self.votable() or self.failed())

    # ---- one round ------------------------------------------------------------------------------

    def _prompt(self, code: str) -> str:
        example = self.rng.choice(self.registry.language(code).prompts).text
        return f"[{self.tag}-{self.index}-{self.rounds}] {example}"

    async def play_round(self, *, warmup: bool = False) -> RoundResult:
        client, wait = self.client, self.client.wait_until
        code = self.rng.choices(self.codes, self.weights)[0]
        if code != self.language:
            # The server disables Generate while it checks the new language's models, and
            # Panel drops a click on a disabled button: wait for that check to end, as a
            # person waits for the button.
            disabled = self._generate_disabled
            await client.send([change_event(self.language_id, "value", code)])
            self.language = code
            await wait(lambda: self._generate_disabled > disabled, self.round_timeout_s)
        await wait(self.can_generate, self.round_timeout_s)
        prompt = self._prompt(code)
        # Typing fills `value_input`; leaving the text area commits `value`.
        await client.send(
            [
                change_event(self.prompt_id, "value_input", prompt),
                change_event(self.prompt_id, "value", prompt),
            ]
        )
        result = RoundResult(
            self.index, self.rounds, code, prompt, time.monotonic() - self.clock_zero
        )
        result.warmup = warmup
        self.rounds += 1
        t0 = time.perf_counter()
        await client.click(self.generate_id)
        budget = self.round_timeout_s
        if await wait(lambda: self.has_text() or self.failed(), budget) and self.has_text():
            result.first_text_s = time.perf_counter() - t0
        if await wait(lambda: self.votable() or self.failed(), budget - (time.perf_counter() - t0)):
            if self.votable():
                result.votable_s = time.perf_counter() - t0
                result.outcome = "votable"
            else:
                result.outcome = "failed"
                result.message = self.message()
        elif client.closed:
            result.outcome = "closed"
        if result.outcome == "votable":
            await self._vote(result)
        await client.click(self.new_round_id)
        await wait(self.cleared, self.round_timeout_s)
        return result

    async def _vote(self, result: RoundResult) -> None:
        winner = self.rng.choice(list(VOTE_LABELS))
        button = self.vote_ids[winner]
        result.winner = winner
        await self.client.click(button)
        if self.rng.random() < self.double_click_rate:
            await self.client.click(button)  # a double click: the server must count one
        said = await self.client.wait_until(
            lambda: CONFIRMED in self.message() or REFUSED in self.message(),
            self.round_timeout_s,
        )
        if said:
            result.confirmed = CONFIRMED in self.message()
            result.refused = REFUSED in self.message()
        else:
            why = self.client.close_reason if self.client.closed else "timeout"
            result.message = f"no answer to the vote: {why}"
