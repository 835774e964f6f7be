"""Streaming client for Text Generation Inference, through huggingface_hub's AsyncInferenceClient.

One `AsyncInferenceClient` (and so one HTTP connection pool) is created per stream and closed
when the stream ends, fails or is cancelled: with `stream=True` the library enters the
response into the client's exit stack, so closing the client is what closes the connection,
and the engine sees the disconnect and stops generating.

TGI's stream: one event per generated token (`token.text`, `token.special`), the last one
carrying `details` (finish_reason, generated_tokens). Errors come as an HTTP error with
`{"error", "error_type"}` or as such an object inside the stream; huggingface_hub raises
them as `ValidationError`, `OverloadedError`, `GenerationError`, ...
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx2
from huggingface_hub import AsyncInferenceClient, get_async_session, set_async_client_factory

from app.core.inference.base import EngineIncompleteStream, GenerationParams, StreamEvent
from app.core.inference.guard import StreamGuard
from app.core.inference.tls import shared_ssl_context
from app.core.settings import EngineSettings

EventHooks = dict[str, list[Any]]


def _async_client_factory(event_hooks: EventHooks) -> httpx2.AsyncClient:
    """huggingface_hub's default async client, but with one shared TLS context
    (`app.core.inference.tls`): the arena builds a client for every stream."""
    return httpx2.AsyncClient(
        event_hooks=event_hooks,  # huggingface_hub's: its error parser reads error bodies
        follow_redirects=True,
        timeout=None,
        verify=shared_ssl_context(),
    )


@functools.cache
def _install_client_factory() -> None:
    # huggingface_hub's request and response hooks are not public, but the client its
    # default factory makes is (`get_async_session`): take them from one such client, made
    # before ours replaces that factory. It never connects, so it holds nothing to close.
    hooks = get_async_session().event_hooks
    set_async_client_factory(functools.partial(_async_client_factory, hooks))


class TGIClient:
    """`EngineClient` for a TGI engine (or anything speaking TGI's `POST /` stream)."""

    def __init__(self, url: str, settings: EngineSettings) -> None:
        self.url = url.rstrip("/")
        self._settings = settings
        _install_client_factory()

    async def stream(self, prompt: str, params: GenerationParams) -> AsyncIterator[StreamEvent]:
        """Yield text deltas, then one final event; raise `EngineError` on any failure."""
        guard = StreamGuard(self.url, self._settings)
        async with self._inference_client() as client:
            outputs = await guard.open(
                client.text_generation(
                    prompt, stream=True, details=True, return_full_text=False, **tgi_params(params)
                )
            )
            async with aclosing(guard.items(aiter(outputs))) as events:
                async for output in events:
                    guard.token()
                    text = "" if output.token.special else output.token.text
                    if text:
                        yield StreamEvent(text)
                    if output.details is not None:
                        yield StreamEvent(
                            "",
                            final=True,
                            generated_tokens=output.details.generated_tokens,
                            finish_reason=str(output.details.finish_reason),
                        )
                        return
        raise EngineIncompleteStream(
            f"TGI stream ended after {guard.tokens} tokens without the final event (details)",
            url=self.url,
        )

    def _inference_client(self) -> AsyncInferenceClient:
        s = self._settings
        token = s.api_key.get_secret_value() if s.api_key else None
        # Our guard enforces first-token/between-token/total deadlines; httpx2 gets the connect
        # timeout and a read/write backstop just beyond the total one.
        timeout = httpx2.Timeout(s.total_timeout_s + 5.0, connect=s.connect_timeout_s)
        return AsyncInferenceClient(model=self.url, token=token, timeout=timeout)  # type: ignore[arg-type]


def tgi_params(params: GenerationParams) -> dict[str, Any]:
    """TGI sampling parameters. Greedy decoding must omit temperature and top_p: TGI turns
    sampling on whenever either is set to a non-neutral value. TGI refuses top_p >= 1."""
    sampling: dict[str, Any] = {}
    if params.do_sample:
        sampling["temperature"] = params.temperature
        if params.top_p < 1.0:
            sampling["top_p"] = params.top_p
    return {
        "max_new_tokens": params.max_new_tokens,
        "do_sample": params.do_sample,
        "repetition_penalty": params.repetition_penalty,
        "seed": params.seed,
        **sampling,
    }
