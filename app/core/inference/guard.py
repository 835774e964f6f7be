"""Deadlines and error mapping around one streamed request, shared by every client.

`StreamGuard` enforces the engine timeouts with `asyncio` itself, independent of whatever
the HTTP library does (which only gets the connect timeout):

- `first_token_timeout_s`: from the start of the request to the first token,
- `token_timeout_s`: the longest silence between two tokens,
- `total_timeout_s`: from the start of the request to the end of the stream.

Every await on the engine (opening the request, each step of the stream) runs under the
nearest of these deadlines, and any failure is turned into a typed `EngineError` by
`app.core.inference.errors.to_engine_error`, so the clients only see the happy path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from app.core.inference.base import EngineError, EngineTimeout
from app.core.inference.errors import to_engine_error
from app.core.settings import EngineSettings

T = TypeVar("T")


class StreamGuard:
    """Deadlines for one request to the engine at `url`; create it when the request starts."""

    def __init__(self, url: str, settings: EngineSettings) -> None:
        self.url = url
        self._settings = settings
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._last_token: float | None = None
        self.tokens = 0
        self.answered = False

    def token(self) -> None:
        """Record that a token (or a generation step) arrived: restarts the silence timer."""
        self.tokens += 1
        self._last_token = self._loop.time()

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await one step of the exchange under the current deadline, mapping failures."""
        deadline, phase = self._deadline()
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                return await awaitable
        except (StopAsyncIteration, EngineError):
            raise
        except TimeoutError as exc:
            if timeout.expired():
                raise self._timeout_error(phase) from None
            raise to_engine_error(exc, self.url, answered=self.answered) from exc
        except Exception as exc:  # CancelledError is a BaseException and passes through
            raise to_engine_error(exc, self.url, answered=self.answered) from exc

    async def open(self, awaitable: Awaitable[T]) -> T:
        """Send the request and wait for the response headers."""
        result = await self.call(awaitable)
        self.answered = True
        return result

    async def items(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        """Iterate `source` (lines, events) with each step under the current deadline.

        Closing this iterator closes `source`. Use it with `contextlib.aclosing`.
        """
        try:
            while True:
                try:
                    item = await self.call(anext(source))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    def _deadline(self) -> tuple[float, str]:
        s = self._settings
        total = (self._started + s.total_timeout_s, "total")
        if self._last_token is None:
            phase = (self._started + s.first_token_timeout_s, "first_token")
        else:
            phase = (self._last_token + s.token_timeout_s, "between_tokens")
        return min(phase, total, key=lambda deadline: deadline[0])

    def _timeout_error(self, phase: str) -> EngineTimeout:
        s = self._settings
        if phase == "first_token":
            detail = (
                f"first-token timeout: no token within first_token_timeout_s="
                f"{s.first_token_timeout_s:g}s of the request"
                + ("" if self.answered else " (the engine never sent response headers)")
            )
        elif phase == "between_tokens":
            detail = (
                f"token timeout: no token for token_timeout_s={s.token_timeout_s:g}s "
                f"after {_tokens(self.tokens)}"
            )
        else:
            detail = (
                f"total timeout: generation exceeded total_timeout_s={s.total_timeout_s:g}s "
                f"after {_tokens(self.tokens)}"
            )
        return EngineTimeout(detail, url=self.url)


def _tokens(n: int) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"
