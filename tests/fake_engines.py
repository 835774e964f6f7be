"""A tiny tornado engine for the client tests: canned TGI and OpenAI answers over real HTTP.

The prompt names the scenario (`"good"`, `"validation"`, `"dropped"`, ...), so one server
serves every case, for both protocols: TGI's `POST /` (and `/generate_stream`) and OpenAI's
`POST /v1/completions`. Handlers that wait (stall, slow start, endless stream) end as soon
as the client disconnects, and each disconnect is recorded in `FakeEngine.disconnects`.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import Application, RequestHandler

WORDS = ["Hej", " på", " dig", ",", " världen", "!"]
TOO_LONG = "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. Given: 2100"
TGI_ERRORS = {
    "validation": (422, {"error": TOO_LONG, "error_type": "validation"}),
    "overloaded": (429, {"error": "Model is overloaded", "error_type": "overloaded"}),
    "server_error": (
        500,
        {"error": "Request failed during generation", "error_type": "generation"},
    ),
}
OPENAI_TOO_LONG = "This model's maximum context length is 2048 tokens. However, you requested 2200"
OPENAI_ERRORS = {
    "openai_validation": (400, {"error": {"message": OPENAI_TOO_LONG, "type": "BadRequestError"}}),
}
WAIT_LIMIT_S = 10.0  # a waiting handler gives up after this, in case no one disconnects


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class FakeEngine:
    """What the server saw: request bodies and the number of client disconnects."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    disconnects: int = 0


class _Handler(RequestHandler):
    """Shared scenario script; subclasses format TGI or OpenAI events."""

    engine: FakeEngine

    def initialize(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.gone = asyncio.Event()

    def on_connection_close(self) -> None:
        self.engine.disconnects += 1
        self.gone.set()

    def token_event(self, i: int, text: str, last: bool) -> dict[str, Any]:
        raise NotImplementedError

    def error_event(self) -> dict[str, Any]:
        raise NotImplementedError

    def done(self) -> str | None:
        """The protocol's end-of-stream line, if it has one."""
        return None

    async def send(self, payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self.write(f"data:{data}\n\n")
        await self.flush()

    async def wait_for_disconnect(self) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self.gone.wait(), WAIT_LIMIT_S)

    async def post(self, *_: str) -> None:
        body = json.loads(self.request.body)
        self.engine.requests.append(body)
        scenario = str(body.get("inputs", body.get("prompt")))
        errors = {**TGI_ERRORS, **OPENAI_ERRORS}
        if scenario in errors:
            status, payload = errors[scenario]
            self.set_status(status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(payload))
            return
        if scenario == "slow_start":
            await self.wait_for_disconnect()
            return
        self.set_header("Content-Type", "text/event-stream")
        with suppress(StreamClosedError):
            await self.stream(scenario)

    async def stream(self, scenario: str) -> None:
        words = WORDS
        if scenario == "stream_error":
            await self.send(self.token_event(0, words[0], last=False))
            await self.send(self.error_event())
        elif scenario == "stream_validation":
            await self.send({"error": TOO_LONG, "error_type": "validation"})
        elif scenario == "incomplete":
            for i, word in enumerate(words[:3]):
                await self.send(self.token_event(i, word, last=False))
            if self.done():
                await self.send(self.done() or "")
        elif scenario == "incomplete_eof":
            for i, word in enumerate(words[:3]):
                await self.send(self.token_event(i, word, last=False))
        elif scenario == "dropped":
            for i, word in enumerate(words[:2]):
                await self.send(self.token_event(i, word, last=False))
            self.request.connection.stream.close()  # type: ignore[union-attr]
        elif scenario == "stall":
            await self.send(self.token_event(0, words[0], last=False))
            await self.wait_for_disconnect()
        elif scenario == "endless":  # one token every 50 ms until the client goes away
            i = 0
            while not self.gone.is_set() and i < WAIT_LIMIT_S / 0.05:
                await self.send(self.token_event(i, f" w{i}", last=False))
                await asyncio.sleep(0.05)
                i += 1
        else:  # "good" and any other prompt: a complete continuation
            for i, word in enumerate(words):
                await self.send(self.token_event(i, word, last=i == len(words) - 1))
            if self.done():
                await self.send(self.done() or "")


class TGIHandler(_Handler):
    """TGI's `POST /` with `"stream": true` (and `/generate_stream`)."""

    def token_event(self, i: int, text: str, last: bool) -> dict[str, Any]:
        event: dict[str, Any] = {
            "index": i + 1,
            "token": {"id": 100 + i, "text": text, "logprob": -0.5, "special": False},
            "generated_text": None,
            "details": None,
            "top_tokens": None,
        }
        if last:  # TGI ends with the EOS token: special, its text is not part of the output
            event["token"] = {"id": 2, "text": "</s>", "logprob": -0.1, "special": True}
            event["generated_text"] = "".join(WORDS[:-1])
            event["details"] = {
                "finish_reason": "eos_token",
                "generated_tokens": len(WORDS),
                "input_length": 3,
                "seed": 42,
            }
        return event

    def error_event(self) -> dict[str, Any]:
        return {"error": "CUDA out of memory", "error_type": "generation"}


class OpenAIHandler(_Handler):
    """OpenAI's `POST /v1/completions` with `"stream": true`; "good_usage" adds a usage chunk."""

    def token_event(self, i: int, text: str, last: bool) -> dict[str, Any]:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": None}
        if last:
            choice["finish_reason"] = "length"
        return {"id": "cmpl-1", "object": "text_completion", "model": "m", "choices": [choice]}

    def error_event(self) -> dict[str, Any]:
        return {"error": {"message": "CUDA out of memory", "type": "InternalServerError"}}

    def done(self) -> str | None:
        return "[DONE]"

    async def stream(self, scenario: str) -> None:
        if scenario != "good_usage":
            await super().stream(scenario)
            return
        for i, word in enumerate(WORDS):
            await self.send(self.token_event(i, word, last=i == len(WORDS) - 1))
        usage = {"prompt_tokens": 3, "completion_tokens": 11, "total_tokens": 14}
        await self.send(
            {"id": "cmpl-1", "object": "text_completion", "choices": [], "usage": usage}
        )
        await self.send("[DONE]")


@asynccontextmanager
async def fake_engine() -> AsyncIterator[FakeEngine]:
    """Serve both protocols on a free port of 127.0.0.1 for the duration of the block."""
    port = free_port()
    engine = FakeEngine(url=f"http://127.0.0.1:{port}")
    app = Application(
        [
            (r"/(generate_stream)?", TGIHandler, {"engine": engine}),
            (r"/v1/completions", OpenAIHandler, {"engine": engine}),
        ]
    )
    server = app.listen(port, address="127.0.0.1")
    try:
        yield engine
    finally:
        server.stop()
        await server.close_all_connections()
