"""The generation routes of the stand-in engine, speaking TGI's HTTP protocol.

`POST /generate`, `POST /generate_stream`, `POST /` (TGI's compat route) and
`POST /v1/completions`. Streams are paced by the clock with asyncio sleeps (token i is
due i+1 token intervals after the first: a late token does not delay the rest, and the
loop is never blocked), so any number of concurrent streams run side by side; a stream
stops within a token interval of its client going away. Error behaviour follows TGI's
router: before a stream starts, errors are HTTP statuses with an ErrorResponse body only
on non-stream routes; on stream routes TGI has already answered 200, so overload and
validation errors arrive as one SSE event whose data is the ErrorResponse JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from tornado.web import RequestHandler

from tgi.standin.faults import Fault
from tgi.standin.protocol import (
    BodyError,
    CompatGenerateRequest,
    GenerateRequest,
    InferError,
    ValidRequest,
    check_best_of,
    dumps,
    error_for_status,
    generate_response,
    generation_error,
    output_text,
    overloaded_error,
    parse_body,
    prefill_json,
    stream_details,
    stream_event,
    validate,
)
from tgi.standin.text import Generation, bank_for, generate, prompt_tokens

if TYPE_CHECKING:
    from tgi.standin.engine import EngineState

log = logging.getLogger("tgi.standin")
M = TypeVar("M", bound=BaseModel)


@dataclass
class Job:
    """One validated request and the text it will stream."""

    valid: ValidRequest
    gen: Generation
    index: int = 0  # choice index (completions with several prompts)
    prefill: list[dict[str, Any]] = field(default_factory=list)


class BaseHandler(RequestHandler):
    """JSON helpers and axum-like bare error pages (no HTML, no Server header)."""

    state: EngineState

    def initialize(self, state: EngineState) -> None:
        self.state = state
        self.note = ""

    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.clear_header("Content-Type")  # set only where there is a body, as axum does

    def compute_etag(self) -> None:
        return None

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(dumps(obj))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish()  # axum answers 404/405 with an empty body


class GenerationHandler(BaseHandler):
    """Shared machinery of the generation routes: faults, admission, pacing, SSE."""

    def initialize(self, state: EngineState) -> None:
        super().initialize(state)
        self.gone = asyncio.Event()
        self.started = time.monotonic()
        self._stream_zero: float | None = None  # when the first token's interval began

    def prepare(self) -> None:
        # Asleep (vLLM's sleep mode, `tgi.standin.sleep`): no weights, no generation.
        sleep = self.state.sleep
        if sleep is not None and sleep.asleep:
            self.note = "asleep"
            self.write_json(
                {"error": "the model is sleeping (POST /wake_up first)", "error_type": "sleeping"},
                503,
            )
        elif sleep is not None and sleep.weights_lost:  # vLLM would generate from nothing
            self.note = "weights lost"
            self.write_json(
                {
                    "error": "woken from sleep level 2 without reloading the weights",
                    "error_type": "weights_lost",
                },
                500,
            )

    def on_connection_close(self) -> None:
        self.gone.set()

    def body_of(self, model: type[M]) -> M:
        content_type = self.request.headers.get("Content-Type", "")
        return parse_body(model, self.request.body, content_type)

    def send_body_error(self, exc: BodyError) -> None:
        self.set_status(exc.status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.note = f"rejected body: {exc.text}"
        self.finish(exc.text)

    def send_infer_error(self, exc: InferError) -> None:
        self.note = f"{exc.error_type}: {exc.message}"
        self.write_json(exc.body(), exc.status)

    def take_fault(self) -> Fault | None:
        self.state.generation_requests += 1
        fault = self.state.faults.take()
        if fault is not None:
            log.info("fault %s applied to %s %s", fault.spec, self.request.method, self.request.uri)
        return fault

    @contextlib.contextmanager
    def admission(self, fault: Fault | None) -> Iterator[bool]:
        """TGI's concurrency permit: False (overloaded) when full or under `overloaded`."""
        admitted = (fault is None or fault.kind != "overloaded") and (
            self.state.in_flight < self.state.limits.max_concurrent_requests
        )
        if admitted:
            self.state.in_flight += 1
        try:
            yield admitted
        finally:
            if admitted:
                self.state.in_flight -= 1

    def prepare_job(
        self, req: GenerateRequest, *, stream: bool, full_text: bool, index: int = 0
    ) -> Job:
        check_best_of(req.parameters, self.state.limits, stream=stream)
        valid = validate(req, self.state.limits, full_text_default=full_text)
        bank = bank_for(self.state.language, req.inputs)
        gen = generate(bank, self.state.model_id, req.inputs, valid.sampling)
        prefill = []
        if valid.decoder_input_details:
            prefill = prefill_json(prompt_tokens(bank, self.state.model_id, req.inputs))
        return Job(valid, gen, index, prefill)

    async def pause(self, seconds: float) -> bool:
        """Wait `seconds` (at least one loop turn); False when the client went away."""
        if seconds <= 0:
            await asyncio.sleep(0)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gone.wait(), seconds)
        return not self.gone.is_set()

    async def tick(self, index: int) -> bool:
        """Wait until token `index` (0-based) is due: `index + 1` token intervals after the
        first call for this response. Paced by the clock, not by sleeps in a row, so a busy
        machine delays a token without delaying every later one (a real engine's pace does
        not drift either). False when the client went away."""
        loop = asyncio.get_running_loop()
        if self._stream_zero is None:
            self._stream_zero = loop.time()
        due = self._stream_zero + (index + 1) * self.state.token_interval
        wait = due - loop.time()
        if wait > 0.25:  # long waits notice a departed client at once
            return await self.pause(wait)
        await asyncio.sleep(max(wait, 0.0))  # short ones: cheaper, at most this late
        return not self.gone.is_set()

    def begin_sse(self, inputs: str) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("x-compute-type", "standin")
        self.set_header("x-compute-characters", str(len(inputs)))
        self.set_header("X-Accel-Buffering", "no")

    async def send_event(self, data: Any) -> bool:
        """One SSE event (`data:<json>`, as axum writes it); False when the client is gone."""
        payload = data if isinstance(data, bytes) else dumps(data)
        if self.gone.is_set():
            return False
        self.write(b"data:" + payload + b"\n\n")
        # Not awaited: the socket takes the bytes at once (an event is ~150 bytes); waiting
        # for the flush's future per token cost more than writing it. A failed write marks
        # the client gone for the next token.
        self.flush().add_done_callback(self._flushed)
        return True

    def _flushed(self, future: Any) -> None:
        if future.cancelled() or future.exception() is not None:  # the client went away
            self.gone.set()

    def drop_connection(self) -> None:
        """Close the TCP connection mid-response: no final event, no last chunk."""
        self.note += " | connection dropped"
        log.info("%s %s: connection dropped (fault)", self.request.method, self.request.uri)
        self.detach().close()

    async def strike(self, fault: Fault, *, streaming: bool) -> bool:
        """Apply a stream fault; True when the response should still be ended normally."""
        self.note += f" | fault {fault.spec}"
        if fault.kind == "disconnect":
            self.drop_connection()
            return False
        if fault.kind == "stall":
            await self.gone.wait()
            self.note += " | client went away"
            return False
        error = generation_error(f"Server error: stand-in fault {fault.spec}")
        if streaming:
            await self.pause(self.state.token_interval)
            await self.send_event(error.body())
            return True
        self.send_infer_error(error)
        return False

    def finish_stream(self) -> None:
        if not self.gone.is_set() and not self._finished:
            self.finish()

    def summary(self, jobs: list[Job], sent: int) -> None:
        total = sum(len(j.gen.tokens) for j in jobs)
        prompt = sum(j.valid.input_length for j in jobs)
        reasons = ",".join(sorted({j.gen.finish_reason for j in jobs})) or "-"
        self.note = f"prompt={prompt} tokens={sent}/{total} finish={reasons}" + self.note
        if self.gone.is_set():
            self.note += " | client went away"


class TgiRoutes(GenerationHandler):
    """`/generate`, `/generate_stream` and the compat route `/`."""

    async def stream_tgi(self, req: GenerateRequest, *, full_text: bool) -> None:
        fault = self.take_fault()
        if fault is not None and fault.kind == "error":
            return self.send_infer_error(error_for_status(fault.status))
        self.begin_sse(req.inputs)
        with self.admission(fault) as admitted:
            if not admitted:
                self.note = "overloaded"
                await self.send_event(overloaded_error().body())
                return self.finish_stream()
            try:
                job = self.prepare_job(req, stream=True, full_text=full_text)
            except InferError as exc:
                self.note = f"{exc.error_type}: {exc.message}"
                await self.send_event(exc.body())
                return self.finish_stream()
            sent = await self.emit_tgi(job, fault)
            self.summary([job], sent)
        self.finish_stream()

    async def emit_tgi(self, job: Job, fault: Fault | None) -> int:
        gen, valid = job.gen, job.valid
        cut = fault.cut_after(len(gen.tokens)) if fault else None
        for i, token in enumerate(gen.tokens):
            if i == cut and fault is not None:
                await self.strike(fault, streaming=True)
                return i
            if not await self.tick(i):
                return i
            final = None
            if i == len(gen.tokens) - 1:
                details = stream_details(gen, valid) if valid.details else None
                final = (output_text(gen, valid), details)
            top = gen.top_tokens[i] if gen.top_tokens else []
            if not await self.send_event(stream_event(i + 1, token, top, final)):
                return i
        return len(gen.tokens)

    async def respond(self, req: GenerateRequest, *, full_text: bool, as_list: bool) -> None:
        fault = self.take_fault()
        if fault is not None and fault.kind == "error":
            return self.send_infer_error(error_for_status(fault.status))
        with self.admission(fault) as admitted:
            if not admitted:
                return self.send_infer_error(overloaded_error())
            try:
                job = self.prepare_job(req, stream=False, full_text=full_text)
            except InferError as exc:
                return self.send_infer_error(exc)
            if not await wait_out(self, [job], fault):
                return None
            self.summary([job], len(job.gen.tokens))
            body = generate_response(job.gen, job.valid, job.prefill)
            self.set_timing_headers(job)
            self.write_json([body] if as_list else body)

    def set_timing_headers(self, job: Job) -> None:
        elapsed = time.monotonic() - self.started
        n = max(len(job.gen.tokens), 1)
        self.set_header("x-compute-type", "standin")
        self.set_header("x-compute-time", f"{elapsed:.6f}")
        self.set_header("x-compute-characters", str(len(job.valid.inputs)))
        self.set_header("x-total-time", str(int(elapsed * 1000)))
        self.set_header("x-validation-time", "0")
        self.set_header("x-queue-time", "0")
        self.set_header("x-inference-time", str(int(elapsed * 1000)))
        self.set_header("x-time-per-token", str(int(elapsed * 1000 / n)))
        self.set_header("x-prompt-tokens", str(job.valid.input_length))
        self.set_header("x-generated-tokens", str(len(job.gen.tokens)))


async def wait_out(handler: GenerationHandler, jobs: list[Job], fault: Fault | None) -> bool:
    """Non-stream routes: wait as long as generation would take, applying a stream fault
    where it strikes. True when the answer should be sent."""
    longest = max(len(j.gen.tokens) for j in jobs)
    cut = fault.cut_after(longest) if fault else None
    tokens = longest if cut is None else cut
    if not await handler.pause(tokens * handler.state.token_interval):
        handler.note += " | client went away"
        return False
    if cut is not None and fault is not None:
        await handler.strike(fault, streaming=False)
        return False
    return True


class GenerateHandler(TgiRoutes):
    async def post(self) -> None:
        try:
            req = self.body_of(GenerateRequest)
        except BodyError as exc:
            return self.send_body_error(exc)
        await self.respond(req, full_text=False, as_list=False)


class GenerateStreamHandler(TgiRoutes):
    async def post(self) -> None:
        try:
            req = self.body_of(GenerateRequest)
        except BodyError as exc:
            return self.send_body_error(exc)
        await self.stream_tgi(req, full_text=False)


class CompatHandler(TgiRoutes):
    """`POST /`: TGI's compat route (what huggingface_hub's client calls); `GET /` is health.

    Like TGI, `return_full_text` defaults to true here (the served model's pipeline tag is
    `text-generation`), so `generated_text` starts with the prompt unless the client says
    `return_full_text: false`.
    """

    def get(self) -> None:
        self.finish()

    async def post(self) -> None:
        try:
            req = self.body_of(CompatGenerateRequest)
        except BodyError as exc:
            return self.send_body_error(exc)
        if req.stream:
            await self.stream_tgi(req, full_text=True)
        else:
            await self.respond(req, full_text=True, as_list=True)
