"""Both engine clients over real HTTP against a tiny tornado engine (tests/fake_engines.py).

Every case runs for the TGI client (huggingface_hub) and the OpenAI-compatible client
(httpx): the event sequence, the final token count, and the typed error of each failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import pytest
from huggingface_hub import get_async_session

from app.core.inference.base import (
    EngineClient,
    EngineError,
    EngineIncompleteStream,
    EngineOverloaded,
    EngineServerError,
    EngineStreamError,
    EngineTimeout,
    EngineUnavailable,
    EngineValidationError,
    GenerationParams,
    StreamEvent,
)
from app.core.inference.factory import make_client
from app.core.inference.openai_client import OpenAIClient
from app.core.inference.sse import sse_data
from app.core.inference.tgi_client import TGIClient
from app.core.inference.tls import shared_ssl_context
from app.core.settings import EngineSettings
from tests.fake_engines import OPENAI_TOO_LONG, TOO_LONG, WORDS, FakeEngine, fake_engine, free_port
from tests.standin import start_standin

PARAMS = GenerationParams(max_new_tokens=16, seed=42)
# Generous by default, so a busy CI machine never trips them; timeout tests lower one.
TIMEOUTS = {
    "connect_timeout_s": 2.0,
    "first_token_timeout_s": 5.0,
    "token_timeout_s": 5.0,
    "total_timeout_s": 10.0,
}
PROTOCOLS = ["tgi", "openai"]


@pytest.fixture
async def engine() -> AsyncIterator[FakeEngine]:
    async with fake_engine() as server:
        yield server


def client_for(url: str, protocol: str, **overrides: float) -> EngineClient:
    settings = EngineSettings(protocol=protocol, **{**TIMEOUTS, **overrides})  # type: ignore[arg-type]
    return make_client(url, "MultiSynt/nemotron-cc-swedish-tower9b", settings)


async def collect(
    client: EngineClient, prompt: str, params: GenerationParams = PARAMS
) -> tuple[list[StreamEvent], EngineError | None]:
    """All events of one stream, and the error that ended it (None when it finished)."""
    events: list[StreamEvent] = []
    try:
        async with aclosing(client.stream(prompt, params)) as stream:  # type: ignore[type-var]
            async for event in stream:
                events.append(event)
    except EngineError as exc:
        return events, exc
    return events, None


async def eventually(condition: Callable[[], bool], within_s: float = 3.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_factory_picks_the_client_by_protocol() -> None:
    assert isinstance(client_for("http://e:1/", "tgi"), TGIClient)
    openai = client_for("http://e:1/", "openai")
    assert isinstance(openai, OpenAIClient)
    assert openai.url == "http://e:1"
    assert openai.model_id == "MultiSynt/nemotron-cc-swedish-tower9b"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_good_stream_yields_deltas_then_one_final_event(
    engine: FakeEngine, protocol: str
) -> None:
    events, error = await collect(client_for(engine.url, protocol), "good")
    assert error is None
    *deltas, final = events
    assert all(not e.final and e.text for e in deltas)
    assert final.final
    assert final.text == ""
    if protocol == "tgi":  # the last TGI token is the special EOS: counted, not shown
        assert "".join(e.text for e in deltas) == "".join(WORDS[:-1])
        assert (final.generated_tokens, final.finish_reason) == (len(WORDS), "eos_token")
    else:  # no usage chunk: the count is the number of text chunks
        assert "".join(e.text for e in deltas) == "".join(WORDS)
        assert (final.generated_tokens, final.finish_reason) == (len(WORDS), "length")


async def test_openai_token_count_comes_from_usage_when_sent(engine: FakeEngine) -> None:
    events, error = await collect(client_for(engine.url, "openai"), "good_usage")
    assert error is None
    assert events[-1].final
    assert events[-1].generated_tokens == 11
    assert sum(e.final for e in events) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_request_carries_the_generation_parameters(engine: FakeEngine, protocol: str) -> None:
    greedy = GenerationParams(max_new_tokens=7, do_sample=False, repetition_penalty=1.1, seed=3)
    _, error = await collect(client_for(engine.url, protocol), "good", greedy)
    assert error is None
    body = engine.requests[-1]
    if protocol == "tgi":
        assert body["inputs"] == "good"
        assert body["stream"] is True
        parameters = body["parameters"]
        assert parameters["max_new_tokens"] == 7
        assert parameters["do_sample"] is False
        assert parameters["details"] is True
        assert parameters["return_full_text"] is False
        assert "temperature" not in parameters  # TGI would sample with any temperature
        assert (parameters["repetition_penalty"], parameters["seed"]) == (1.1, 3)
    else:
        assert body["model"] == "MultiSynt/nemotron-cc-swedish-tower9b"
        assert (body["prompt"], body["stream"], body["max_tokens"]) == ("good", True, 7)
        assert body["temperature"] == 0
        assert (body["repetition_penalty"], body["seed"]) == (1.1, 3)


ERROR_CASES = [
    pytest.param("validation", EngineValidationError, TOO_LONG, id="validation"),
    pytest.param("stream_validation", EngineValidationError, TOO_LONG, id="stream_validation"),
    pytest.param("overloaded", EngineOverloaded, "Model is overloaded", id="overloaded"),
    pytest.param("server_error", EngineServerError, "HTTP 500", id="server_error"),
    pytest.param("stream_error", EngineStreamError, "CUDA out of memory", id="stream_error"),
    pytest.param("incomplete", EngineIncompleteStream, "stream", id="incomplete"),
    pytest.param("incomplete_eof", EngineIncompleteStream, "stream", id="incomplete_eof"),
    pytest.param("dropped", EngineIncompleteStream, "connection dropped", id="dropped"),
]
TIMEOUT_CASES = [
    pytest.param(
        "stall",
        {"token_timeout_s": 0.4},
        "token timeout: no token for token_timeout_s=0.4s",
        id="stall",
    ),
    pytest.param(
        "slow_start", {"first_token_timeout_s": 0.4}, "first-token timeout", id="slow_start"
    ),
    pytest.param("endless", {"total_timeout_s": 0.8}, "total timeout", id="endless"),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("scenario", "expected", "fragment"), ERROR_CASES)
async def test_failure_raises_its_typed_error(
    engine: FakeEngine, protocol: str, scenario: str, expected: type[EngineError], fragment: str
) -> None:
    events, error = await collect(client_for(engine.url, protocol), scenario)
    assert type(error) is expected, f"{scenario}: got {error!r}"
    assert fragment in str(error)
    assert engine.url in str(error)
    assert not any(e.final for e in events)


async def test_openai_400_is_a_validation_error(engine: FakeEngine) -> None:
    _, error = await collect(client_for(engine.url, "openai"), "openai_validation")
    assert isinstance(error, EngineValidationError)
    assert OPENAI_TOO_LONG in str(error)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_text_before_a_failure_is_still_delivered(engine: FakeEngine, protocol: str) -> None:
    events, error = await collect(client_for(engine.url, protocol), "dropped")
    assert isinstance(error, EngineIncompleteStream)
    assert "".join(e.text for e in events) == "".join(WORDS[:2])


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("scenario", "timeouts", "fragment"), TIMEOUT_CASES)
async def test_timeouts_raise_and_close_the_connection(
    engine: FakeEngine, protocol: str, scenario: str, timeouts: dict[str, float], fragment: str
) -> None:
    events, error = await collect(client_for(engine.url, protocol, **timeouts), scenario)
    assert isinstance(error, EngineTimeout), f"{scenario}: got {error!r}"
    assert fragment in str(error)
    assert not any(e.final for e in events)
    await eventually(lambda: engine.disconnects == 1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_nothing_listening_is_unavailable(protocol: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    events, error = await collect(client_for(url, protocol), "good")
    assert events == []
    assert isinstance(error, EngineUnavailable)
    assert url in str(error)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_cancelling_the_consumer_closes_the_server_connection(
    engine: FakeEngine, protocol: str
) -> None:
    received: list[StreamEvent] = []
    client = client_for(engine.url, protocol, total_timeout_s=30.0)

    async def consume() -> None:
        async for event in client.stream("endless", PARAMS):
            received.append(event)

    task = asyncio.create_task(consume())
    await eventually(lambda: len(received) >= 2)
    assert engine.disconnects == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: engine.disconnects == 1, within_s=2.0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_closing_the_stream_early_closes_the_server_connection(
    engine: FakeEngine, protocol: str
) -> None:
    client = client_for(engine.url, protocol)
    async with aclosing(client.stream("endless", PARAMS)) as stream:  # type: ignore[type-var]
        async for event in stream:
            assert event.text
            break
    await eventually(lambda: engine.disconnects == 1, within_s=2.0)


async def test_sse_framing() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [": keep-alive", "", 'data: {"a":', "data: 1}", "", "event: x", "data:[DONE]"]:
            yield line

    assert [data async for data in sse_data(lines())] == ['{"a":\n1}', "[DONE]"]


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_full_continuation_from_the_standin_engine(protocol: str) -> None:
    with start_standin("HPLT/hplt2c_swe_checkpoints", token_interval=0.002) as standin:
        client = client_for(standin.url, protocol)
        events, error = await collect(client, "Det var en gång", GenerationParams(24, seed=7))
    assert error is None, standin.log()
    *deltas, final = events
    assert final.final
    assert final.finish_reason in {"length", "eos_token", "stop"}
    assert final.generated_tokens is not None and 0 < final.generated_tokens <= 24
    if final.finish_reason == "length":
        assert final.generated_tokens == 24
    assert "".join(e.text for e in deltas).strip()


def test_every_engine_connection_shares_one_tls_context() -> None:
    """A client per stream must not build its own TLS context: loading the CA bundle costs
    tens of milliseconds of the event loop's time, twice per battle (benchmark.stream_floor)."""
    settings = EngineSettings()
    contexts = {
        id(
            OpenAIClient("http://127.0.0.1:1", settings, "m")
            ._http_client()
            ._transport._pool._ssl_context
        )  # type: ignore[attr-defined]
        for _ in range(3)
    }
    TGIClient("http://127.0.0.1:1", settings)  # installs its client factory in huggingface_hub
    hub_client = get_async_session()  # what AsyncInferenceClient opens for each stream
    contexts.add(id(hub_client._transport._pool._ssl_context))  # type: ignore[attr-defined]
    assert contexts == {id(shared_ssl_context())}
    # ... with huggingface_hub's own hooks (its error parser needs the error bodies read).
    for kind in ("request", "response"):
        hooks = hub_client.event_hooks[kind]
        assert hooks and all(h.__module__.startswith("huggingface_hub.") for h in hooks)
