"""The one mapping from transport failures to typed engine errors, fed real library exceptions.

HTTP errors are produced the way huggingface_hub produces them (`hf_raise_for_status` on a
real `httpx2.Response`, then its TGI error parser), so the tests follow the library if its
exception shapes change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest
from huggingface_hub.errors import (
    GenerationError,
    HfHubHTTPError,
    IncompleteGenerationError,
    InferenceTimeoutError,
    OverloadedError,
    UnknownError,
    ValidationError,
)
from huggingface_hub.inference._common import raise_text_generation_error
from huggingface_hub.utils import hf_raise_for_status

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
from app.core.inference.errors import error_from_payload, error_from_status, to_engine_error

URL = "http://10.0.0.7:8701"
TOO_LONG = "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. Given: 2100"


def hub_http_error(status: int, body: Any, content_type: str = "application/json") -> Exception:
    """What AsyncInferenceClient.text_generation raises for an HTTP error answer."""
    content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    response = httpx2.Response(
        status,
        content=content,
        headers={"Content-Type": content_type},
        request=httpx2.Request("POST", URL),
    )
    try:
        hf_raise_for_status(response)
    except HfHubHTTPError as http_error:
        try:
            raise_text_generation_error(http_error)
        except Exception as exc:
            return exc
    raise AssertionError(f"HTTP {status} did not raise")


def timeout_from(cause: Exception) -> InferenceTimeoutError:
    """What huggingface_hub raises when httpx2 times out."""
    try:
        try:
            raise cause
        except httpx2.TimeoutException as error:
            raise InferenceTimeoutError(f"Inference call timed out: {URL}") from error
    except InferenceTimeoutError as exc:
        return exc


REQUEST = httpx.Request("POST", f"{URL}/v1/completions")
INCOMPLETE = (
    "peer closed connection without sending complete message body (incomplete chunked read)"
)
MID_STREAM = {"answered": True}


def case(
    name: str,
    make: Callable[[], BaseException],
    expected: type[EngineError],
    *fragments: str,
    answered: bool = False,
) -> Any:
    """One row: the exception, whether headers had arrived, the class, text the message holds."""
    return pytest.param(make, answered, expected, fragments, id=name)


# fmt: off
CASES = [
    # in-stream TGI error events, parsed by huggingface_hub
    case("tgi validation in stream", lambda: ValidationError(TOO_LONG), EngineValidationError,
         "must be <= 2048", "in-stream", **MID_STREAM),
    case("tgi overloaded in stream", lambda: OverloadedError("Model is overloaded"),
         EngineOverloaded, "Model is overloaded", **MID_STREAM),
    case("tgi generation error", lambda: GenerationError("CUDA out of memory"),
         EngineStreamError, "CUDA out of memory", "generation", **MID_STREAM),
    case("tgi incomplete generation", lambda: IncompleteGenerationError("Incomplete generation"),
         EngineIncompleteStream, "Incomplete generation", **MID_STREAM),
    case("tgi unknown error", lambda: UnknownError("something odd"), EngineStreamError,
         "something odd", **MID_STREAM),
    # HTTP error answers, as text_generation raises them
    case("http 422 validation",
         lambda: hub_http_error(422, {"error": TOO_LONG, "error_type": "validation"}),
         EngineValidationError, "HTTP 422", "must be <= 2048"),
    case("http 429 overloaded",
         lambda: hub_http_error(429, {"error": "Model is overloaded", "error_type": "overloaded"}),
         EngineOverloaded, "HTTP 429", "Model is overloaded"),
    case("http 500 generation",
         lambda: hub_http_error(500, {"error": "CUDA out of memory", "error_type": "generation"}),
         EngineServerError, "HTTP 500", "CUDA out of memory"),
    case("http 503 plain text", lambda: hub_http_error(503, b"upstream busy", "text/plain"),
         EngineServerError, "HTTP 503", "upstream busy"),
    case("http 400 bad request", lambda: hub_http_error(400, {"error": "bad prompt"}),
         EngineValidationError, "HTTP 400", "bad prompt"),
    case("http 404", lambda: hub_http_error(404, {"error": "Not Found"}), EngineServerError,
         "HTTP 404", "protocol"),
    # timeouts
    case("hub connect timeout", lambda: timeout_from(httpx2.ConnectTimeout("timed out")),
         EngineTimeout, "connect timeout", "ConnectTimeout"),
    case("hub read timeout", lambda: timeout_from(httpx2.ReadTimeout("timed out")),
         EngineTimeout, "read timeout", **MID_STREAM),
    case("httpx connect timeout", lambda: httpx.ConnectTimeout("timed out", request=REQUEST),
         EngineTimeout, "connect timeout"),
    case("httpx read timeout", lambda: httpx.ReadTimeout("timed out", request=REQUEST),
         EngineTimeout, "read timeout", **MID_STREAM),
    case("httpx pool timeout", lambda: httpx.PoolTimeout("no connection", request=REQUEST),
         EngineTimeout, "pool timeout"),
    # connection failures before any answer
    case("httpx2 connect refused", lambda: httpx2.ConnectError("[Errno 111] Connection refused"),
         EngineUnavailable, "Connection refused", "cannot connect"),
    case("httpx connect failed",
         lambda: httpx.ConnectError("All connection attempts failed", request=REQUEST),
         EngineUnavailable, "All connection attempts failed"),
    case("os connection refused", lambda: ConnectionRefusedError(111, "Connection refused"),
         EngineUnavailable, "Connection refused"),
    case("reset before answer", lambda: ConnectionResetError(104, "Connection reset by peer"),
         EngineUnavailable, "before the engine answered", "reset by peer"),
    case("httpx2 closed before answer",
         lambda: httpx2.RemoteProtocolError("Server disconnected without sending a response."),
         EngineUnavailable, "Server disconnected"),
    case("bad url scheme", lambda: httpx2.UnsupportedProtocol("Request URL has no protocol"),
         EngineUnavailable, "no protocol"),
    # connection dropped mid-stream
    case("httpx2 incomplete chunked read", lambda: httpx2.RemoteProtocolError(INCOMPLETE),
         EngineIncompleteStream, "incomplete chunked read", "middle of the stream", **MID_STREAM),
    case("httpx incomplete chunked read",
         lambda: httpx.RemoteProtocolError(INCOMPLETE, request=REQUEST),
         EngineIncompleteStream, "incomplete chunked read", **MID_STREAM),
    case("httpx2 read error", lambda: httpx2.ReadError("[Errno 104] Connection reset by peer"),
         EngineIncompleteStream, "reset by peer", **MID_STREAM),
    case("httpx read error", lambda: httpx.ReadError("", request=REQUEST),
         EngineIncompleteStream, "ReadError", **MID_STREAM),
    case("reset mid-stream", lambda: ConnectionResetError(104, "Connection reset by peer"),
         EngineIncompleteStream, "reset by peer", **MID_STREAM),
    # garbage
    case("undecodable body", lambda: httpx.DecodingError("invalid gzip", request=REQUEST),
         EngineStreamError, "invalid gzip", **MID_STREAM),
    case("malformed json", lambda: json.JSONDecodeError("Expecting value", "data:{", 0),
         EngineStreamError, "malformed JSON", "Expecting value", **MID_STREAM),
    case("anything else", lambda: RuntimeError("boom"), EngineServerError,
         "RuntimeError", "boom", **MID_STREAM),
]
# fmt: on


@pytest.mark.parametrize(("make", "answered", "expected", "fragments"), CASES)
def test_library_exception_maps_to_typed_error(
    make: Callable[[], BaseException],
    answered: bool,
    expected: type[EngineError],
    fragments: tuple[str, ...],
) -> None:
    error = to_engine_error(make(), URL, answered=answered)
    assert type(error) is expected
    assert error.url == URL
    message = str(error)
    assert message.startswith(f"{expected.kind}: ")
    assert URL in message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment.lower() in message.lower()


def test_engine_errors_pass_through_unchanged() -> None:
    original = EngineTimeout("token timeout", url=URL)
    assert to_engine_error(original, URL) is original


OPENAI_TOO_LONG = "This model's maximum context length is 2048 tokens. However, you requested 2200"

# fmt: off
PAYLOADS = [
    pytest.param({"error": TOO_LONG, "error_type": "validation"}, None, EngineValidationError,
                 ("must be <= 2048",), id="tgi validation event"),
    pytest.param({"error": "CUDA OOM", "error_type": "generation"}, None, EngineStreamError,
                 ("CUDA OOM", "generation"), id="tgi generation event"),
    pytest.param({"error": "Model is overloaded", "error_type": "overloaded"}, None,
                 EngineOverloaded, ("Model is overloaded",), id="tgi overloaded event"),
    pytest.param({"error": {"message": OPENAI_TOO_LONG, "type": "BadRequestError", "code": 400}},
                 None, EngineValidationError, ("maximum context length",),
                 id="openai 400 in stream"),
    pytest.param({"error": {"message": OPENAI_TOO_LONG, "type": "BadRequestError", "code": 400}},
                 400, EngineValidationError, ("HTTP 400", "maximum context length"),
                 id="openai 400 body"),
    pytest.param({"object": "error", "message": OPENAI_TOO_LONG, "type": "BadRequestError",
                  "code": 400}, 400, EngineValidationError, ("maximum context length",),
                 id="old vllm body"),
    pytest.param({"error": {"message": "queue full", "type": "RateLimitError", "code": 429}},
                 429, EngineOverloaded, ("HTTP 429", "queue full"), id="openai 429 body"),
    pytest.param({"error": {"message": "engine dead", "type": "InternalServerError",
                            "code": 500}}, 500, EngineServerError, ("HTTP 500", "engine dead"),
                 id="openai 500 body"),
    pytest.param({"error": {"message": "engine dead", "type": "InternalServerError",
                            "code": 500}}, None, EngineStreamError,
                 ("engine dead", "InternalServerError"), id="openai error event"),
]
# fmt: on


@pytest.mark.parametrize(("payload", "status", "expected", "fragments"), PAYLOADS)
def test_error_payload_maps_to_typed_error(
    payload: dict[str, Any],
    status: int | None,
    expected: type[EngineError],
    fragments: tuple[str, ...],
) -> None:
    error = error_from_payload(payload, URL, status=status)
    assert type(error) is expected
    for fragment in (*fragments, URL):
        assert fragment in str(error)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (422, EngineValidationError),
        (400, EngineValidationError),
        (413, EngineValidationError),
        (429, EngineOverloaded),
        (500, EngineServerError),
        (502, EngineServerError),
        (503, EngineServerError),
        (401, EngineServerError),
        (404, EngineServerError),
    ],
)
def test_http_status_maps_to_typed_error(status: int, expected: type[EngineError]) -> None:
    error = error_from_status(status, "engine says no", URL)
    assert type(error) is expected
    assert f"HTTP {status}" in str(error)
    assert "engine says no" in str(error)
    assert URL in str(error)
