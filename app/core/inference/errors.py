"""One mapping from every failure an engine transport can raise to the typed `EngineError`s.

Both clients funnel their failures through here, so an operator reads the same kind of log
line whatever the engine: `<kind>: <what happened>: <engine's own words> (<engine url>)`.

- `to_engine_error(exc, url, answered=...)`: an exception raised by `huggingface_hub`,
  `httpx2` (what `huggingface_hub` uses), `httpx` or the OS. `answered` tells whether the
  engine had already sent response headers, which separates "engine unreachable"
  (`EngineUnavailable`) from "connection dropped mid-stream" (`EngineIncompleteStream`).
- `error_from_status(status, message, url)`: an HTTP error status with the engine's message.
- `error_from_payload(payload, url, status=...)`: an `{"error": ...}` JSON object in TGI's
  shape (`{"error": "...", "error_type": "validation"}`) or OpenAI's
  (`{"error": {"message": "...", "type": "...", "code": 400}}`), as a response body
  (`status` set) or as an event inside the stream (`status=None`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import httpx2
from huggingface_hub.errors import (
    GenerationError,
    HfHubHTTPError,
    IncompleteGenerationError,
    InferenceTimeoutError,
    OverloadedError,
    TextGenerationError,
    ValidationError,
)

from app.core.inference.base import (
    EngineError,
    EngineIncompleteStream,
    EngineOverloaded,
    EngineServerError,
    EngineStreamError,
    EngineTimeout,
    EngineUnavailable,
    EngineValidationError,
)

# The same exception names exist in httpx2 (huggingface_hub's transport) and httpx (ours).
_CONNECT_TIMEOUT = (httpx2.ConnectTimeout, httpx.ConnectTimeout)
_TIMEOUT = (httpx2.TimeoutException, httpx.TimeoutException)
_CONNECT_FAILED = (httpx2.ConnectError, httpx.ConnectError, ConnectionRefusedError)
_DROPPED = (
    httpx2.RemoteProtocolError,
    httpx2.ReadError,
    httpx2.WriteError,
    httpx2.CloseError,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.CloseError,
    ConnectionError,  # ConnectionResetError, BrokenPipeError, ConnectionAbortedError
)
_UNREACHABLE = (  # proxy errors, a bad URL or scheme, ...
    httpx2.TransportError,
    httpx.TransportError,
    httpx2.InvalidURL,
    httpx.InvalidURL,
)
_UNDECODABLE = (httpx2.DecodingError, httpx.DecodingError)

# Status codes that mean "the request itself was refused" (TGI: 422; vLLM/SGLang: 400).
_VALIDATION_STATUSES = frozenset({400, 413, 422})
_OVERLOADED_STATUSES = frozenset({429})
_VALIDATION_TYPES = frozenset({"validation", "invalid_request_error", "badrequesterror"})
_OVERLOADED_TYPES = frozenset({"overloaded", "rate_limit_exceeded", "ratelimiterror"})
_INCOMPLETE_TYPES = frozenset({"incomplete_generation"})

# huggingface_hub parses TGI's `error_type` into these classes; map them back to the type.
_TGI_ERROR_TYPES: tuple[tuple[type[TextGenerationError], str], ...] = (
    (ValidationError, "validation"),
    (OverloadedError, "overloaded"),
    (GenerationError, "generation"),
    (IncompleteGenerationError, "incomplete_generation"),
)

_MAX_MESSAGE = 500


def to_engine_error(exc: BaseException, url: str, *, answered: bool = False) -> EngineError:
    """The typed error for `exc`, raised while talking to the engine at `url`.

    `answered`: the engine had already sent response headers when `exc` happened.
    """
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, TextGenerationError):
        return _from_tgi_error(exc, url)
    if isinstance(exc, HfHubHTTPError):
        return _from_hub_http_error(exc, url)
    if isinstance(exc, InferenceTimeoutError):
        cause = exc.__cause__
        if isinstance(cause, _TIMEOUT):
            return to_engine_error(cause, url, answered=answered)
        return EngineTimeout(f"HTTP timeout: {_describe(exc)}", url=url)
    if isinstance(exc, _CONNECT_TIMEOUT):
        return EngineTimeout(
            f"connect timeout: no connection to the engine within the connect timeout "
            f"({_describe(exc)})",
            url=url,
        )
    if isinstance(exc, _TIMEOUT):
        return EngineTimeout(f"HTTP {_timeout_phase(exc)} timeout ({_describe(exc)})", url=url)
    if isinstance(exc, _CONNECT_FAILED):
        return EngineUnavailable(
            f"cannot connect to the engine, is it running? ({_describe(exc)})", url=url
        )
    if isinstance(exc, _DROPPED):
        if answered:
            return EngineIncompleteStream(
                f"connection dropped in the middle of the stream ({_describe(exc)})", url=url
            )
        return EngineUnavailable(
            f"connection closed before the engine answered ({_describe(exc)})", url=url
        )
    if isinstance(exc, _UNREACHABLE):
        return EngineUnavailable(f"cannot reach the engine ({_describe(exc)})", url=url)
    if isinstance(exc, _UNDECODABLE):
        return EngineStreamError(f"cannot decode the engine's response ({_describe(exc)})", url=url)
    if isinstance(exc, json.JSONDecodeError):
        return EngineStreamError(f"malformed JSON from the engine ({_describe(exc)})", url=url)
    if isinstance(exc, TimeoutError):
        return EngineTimeout(f"timed out ({_describe(exc)})", url=url)
    return EngineServerError(
        f"unexpected failure talking to the engine ({_describe(exc)})", url=url
    )


def error_from_status(status: int, message: str, url: str) -> EngineError:
    """The typed error for an HTTP error `status`; `message` is the engine's explanation."""
    detail = f": {_clip(message)}" if message else ""
    if status in _VALIDATION_STATUSES:
        return EngineValidationError(f"engine refused the request (HTTP {status}){detail}", url=url)
    if status in _OVERLOADED_STATUSES:
        return EngineOverloaded(f"engine is overloaded (HTTP {status}){detail}", url=url)
    hint = " (wrong engine protocol or URL?)" if status in (404, 405) else ""
    return EngineServerError(f"engine answered HTTP {status}{hint}{detail}", url=url)


def error_from_payload(
    payload: Mapping[str, Any], url: str, *, status: int | None = None
) -> EngineError:
    """The typed error for an error object sent by the engine (TGI or OpenAI shape).

    `status`: the HTTP status when the object is a response body; None inside a stream.
    """
    message, error_type, code = parse_error_payload(payload)
    return _classified(message, url, error_type=error_type, code=code, status=status)


def parse_error_payload(payload: Mapping[str, Any]) -> tuple[str, str | None, int | None]:
    """(message, error type, code) from `{"error": "...", "error_type": ...}` (TGI),
    `{"error": {"message", "type", "code"}}` (OpenAI, vLLM) or
    `{"object": "error", "message", "type", "code"}` (older vLLM)."""
    error = payload.get("error")
    source: Mapping[str, Any] = error if isinstance(error, Mapping) else payload
    message = error if isinstance(error, str) else source.get("message")
    error_type = source.get("error_type") or source.get("type")
    code = source.get("code")
    try:
        code_number = int(code) if code is not None else None
    except (TypeError, ValueError):
        code_number = None
    return (
        str(message) if message is not None else json.dumps(dict(payload))[:_MAX_MESSAGE],
        str(error_type) if error_type is not None else None,
        code_number,
    )


def is_error_payload(payload: Mapping[str, Any]) -> bool:
    """Whether a JSON object from the engine reports an error."""
    return payload.get("error") is not None or payload.get("object") == "error"


def _classified(
    message: str, url: str, *, error_type: str | None, code: int | None, status: int | None
) -> EngineError:
    """One decision for every error the engine reports itself, by status, code and type."""
    normalized = (error_type or "").lower()
    if status is not None and status not in _VALIDATION_STATUSES | _OVERLOADED_STATUSES:
        typed = f"{message} [{error_type}]" if error_type else message
        return error_from_status(status, typed, url)
    if status is not None:
        where = f"HTTP {status}"
    else:
        where = "in-stream error" + (f", type {error_type}" if error_type else "")
    detail = f"({where}): {_clip(message)}"
    if normalized in _VALIDATION_TYPES or (code or status) in _VALIDATION_STATUSES:
        return EngineValidationError(f"engine refused the request {detail}", url=url)
    if normalized in _OVERLOADED_TYPES or (code or status) in _OVERLOADED_STATUSES:
        return EngineOverloaded(f"engine is overloaded {detail}", url=url)
    if normalized in _INCOMPLETE_TYPES:
        return EngineIncompleteStream(f"engine reported an incomplete generation {detail}", url=url)
    return EngineStreamError(f"engine failed during generation {detail}", url=url)


def _from_tgi_error(exc: TextGenerationError, url: str) -> EngineError:
    """TGI errors parsed by huggingface_hub, from an HTTP error body or from inside the stream."""
    error_type = next((name for cls, name in _TGI_ERROR_TYPES if isinstance(exc, cls)), "unknown")
    cause = exc.__cause__
    status = cause.response.status_code if isinstance(cause, HfHubHTTPError) else None
    return _classified(str(exc), url, error_type=error_type, code=None, status=status)


def _from_hub_http_error(exc: HfHubHTTPError, url: str) -> EngineError:
    """An HTTP error answer without TGI's `error_type`: use the engine's JSON error if any."""
    response = exc.response
    try:
        payload = response.json()
    except (httpx2.ResponseNotRead, ValueError):  # unread streamed body, or not JSON
        payload = None
    if isinstance(payload, dict) and is_error_payload(payload):
        return error_from_payload(payload, url, status=response.status_code)
    try:
        text = exc.server_message or response.text.strip()
    except httpx2.ResponseNotRead:  # streamed error body without Content-Length
        text = ""
    return error_from_status(response.status_code, text or response.reason_phrase, url)


def _timeout_phase(exc: BaseException) -> str:
    for phase in ("read", "write", "pool"):
        if type(exc).__name__.lower().startswith(phase):
            return phase
    return "request"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {_clip(text)}" if text else type(exc).__name__


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
