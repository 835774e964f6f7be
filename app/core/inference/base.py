"""The one interface the arena uses to stream a continuation from an engine.

Every engine flavour (TGI, OpenAI-compatible) implements `EngineClient.stream`, which yields
`StreamEvent`s: text deltas, then exactly one final event with the token count and finish
reason. Every failure is raised as a subclass of `EngineError`, whose message is written for
a voter and whose `kind` is a stable short code for logs and the battle table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar, Protocol


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings, identical for both sides of a battle and logged with it."""

    max_new_tokens: int = 112
    do_sample: bool = True
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.2
    seed: int | None = None


@dataclass(frozen=True)
class StreamEvent:
    """One step of a streamed continuation.

    `text` is the new text (may be empty). On the last event `final` is True and
    `generated_tokens` / `finish_reason` are set from the engine's own accounting.
    """

    text: str
    final: bool = False
    generated_tokens: int | None = None
    finish_reason: str | None = None


class EngineError(Exception):
    """Base class of every engine failure. `kind` is a stable code for logs and the DB."""

    kind: ClassVar[str] = "engine_error"

    def __init__(self, detail: str, *, url: str | None = None) -> None:
        self.detail = detail
        self.url = url
        super().__init__(f"{self.kind}: {detail}" + (f" ({url})" if url else ""))


class EngineUnavailable(EngineError):
    """The connection was refused or dropped before any answer (engine down or loading)."""

    kind = "unavailable"


class EngineTimeout(EngineError):
    """The engine did not answer (or stopped answering) within the configured time."""

    kind = "timeout"


class EngineValidationError(EngineError):
    """HTTP 422 (or an in-stream validation error): the request itself was refused,
    typically because the prompt is longer than the model accepts."""

    kind = "validation"


class EngineOverloaded(EngineError):
    """HTTP 429: the engine's queue is full."""

    kind = "overloaded"


class EngineServerError(EngineError):
    """HTTP 5xx or another unexpected status."""

    kind = "server_error"


class EngineStreamError(EngineError):
    """The engine reported an error inside the event stream (e.g. generation failed)."""

    kind = "stream_error"


class EngineIncompleteStream(EngineError):
    """The stream ended (or the connection dropped) before the final event."""

    kind = "incomplete_stream"


class EngineClient(Protocol):
    """What the arena needs from an engine: stream one continuation of `prompt`."""

    url: str

    def stream(self, prompt: str, params: GenerationParams) -> AsyncIterator[StreamEvent]:
        """Yield text deltas, then one final event; raise `EngineError` on any failure."""
        ...
