"""Streaming client for OpenAI-compatible engines (vLLM, SGLang, llama.cpp server, TGI's
`/v1/completions`): `POST {url}/v1/completions` with `stream: true`, read as server-sent events.

Each `data:` event is a completion chunk (`choices[0].text`, `choices[0].finish_reason`,
sometimes `usage`), then `data: [DONE]`. The final event is built from the chunk with a
finish_reason; the token count is `usage.completion_tokens` when the engine sends it, else
the number of chunks that carried text. Errors arrive as an HTTP error body or as an
`{"error": ...}` event inside the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from app.core.inference.base import (
    EngineError,
    EngineIncompleteStream,
    EngineStreamError,
    GenerationParams,
    StreamEvent,
)
from app.core.inference.errors import error_from_payload, error_from_status, is_error_payload
from app.core.inference.guard import StreamGuard
from app.core.inference.sse import DONE, sse_data
from app.core.inference.tls import shared_ssl_context
from app.core.settings import EngineSettings


class OpenAIClient:
    """`EngineClient` for an engine serving `model_id` behind the OpenAI completions API."""

    def __init__(self, url: str, settings: EngineSettings, model_id: str) -> None:
        self.url = url.rstrip("/")
        self.model_id = model_id
        self._settings = settings

    async def stream(self, prompt: str, params: GenerationParams) -> AsyncIterator[StreamEvent]:
        """Yield text deltas, then one final event; raise `EngineError` on any failure."""
        guard = StreamGuard(self.url, self._settings)
        body = completion_request(self.model_id, prompt, params)
        async with self._http_client() as http:
            request = http.build_request("POST", f"{self.url}/v1/completions", json=body)
            response = await guard.open(http.send(request, stream=True))
            try:
                if not response.is_success:
                    raise _error_from_body(
                        response.status_code, await guard.call(response.aread()), self.url
                    )
                payloads = guard.items(sse_data(response.aiter_lines()))
                async with aclosing(payloads), aclosing(self._events(payloads, guard)) as events:
                    async for event in events:
                        yield event
            finally:
                await response.aclose()

    async def _events(
        self, payloads: AsyncIterator[str], guard: StreamGuard
    ) -> AsyncIterator[StreamEvent]:
        finish_reason: str | None = None
        completion_tokens: int | None = None
        text_chunks = 0
        done = False
        async for data in payloads:
            if data.strip() == DONE:
                done = True
                break
            chunk = _decode_chunk(data, self.url)
            usage = chunk.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                completion_tokens = usage["completion_tokens"]
            choices = chunk.get("choices")
            if not choices:
                continue
            guard.token()
            choice = choices[0]
            text = choice.get("text") or ""
            if text:
                text_chunks += 1
                yield StreamEvent(text)
            if choice.get("finish_reason"):
                finish_reason = str(choice["finish_reason"])
        if finish_reason is None:
            ending = "reached [DONE]" if done else "ended"
            raise EngineIncompleteStream(
                f"OpenAI stream {ending} after {text_chunks} text chunks without a finish_reason",
                url=self.url,
            )
        tokens = completion_tokens if completion_tokens is not None else text_chunks
        yield StreamEvent("", final=True, generated_tokens=tokens, finish_reason=finish_reason)

    def _http_client(self) -> httpx.AsyncClient:
        s = self._settings
        headers = {"Authorization": f"Bearer {s.api_key.get_secret_value()}"} if s.api_key else {}
        # Our guard enforces first-token/between-token/total deadlines; httpx gets the connect
        # timeout and a read/write backstop just beyond the total one.
        timeout = httpx.Timeout(s.total_timeout_s + 5.0, connect=s.connect_timeout_s)
        return httpx.AsyncClient(timeout=timeout, headers=headers, verify=shared_ssl_context())


def completion_request(model_id: str, prompt: str, params: GenerationParams) -> dict[str, Any]:
    """The `/v1/completions` body. Greedy decoding (do_sample=False) is temperature 0."""
    body: dict[str, Any] = {
        "model": model_id,
        "prompt": prompt,
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature if params.do_sample else 0.0,
        "top_p": params.top_p,
        "repetition_penalty": params.repetition_penalty,
        "stream": True,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    return body


def _decode_chunk(data: str, url: str) -> dict[str, Any]:
    """One completion chunk; an error event raises its typed error."""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError as exc:
        raise EngineStreamError(
            f"malformed JSON event in the OpenAI stream ({exc}): {data[:200]!r}", url=url
        ) from exc
    if not isinstance(chunk, dict):
        raise EngineStreamError(f"unexpected event in the OpenAI stream: {data[:200]!r}", url=url)
    if is_error_payload(chunk):
        raise error_from_payload(chunk, url)
    return chunk


def _error_from_body(status: int, body: bytes, url: str) -> EngineError:
    """The typed error for a non-2xx answer, using the engine's JSON error when it sent one."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and is_error_payload(payload):
        return error_from_payload(payload, url, status=status)
    return error_from_status(status, text[:500], url)
