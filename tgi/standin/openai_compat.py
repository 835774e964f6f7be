"""The OpenAI-compatible side of the stand-in engine: `/v1/models` and `/v1/completions`.

Shapes follow TGI's router (`server.rs` `completions()`, `lib.rs` `Completion`, `Chunk`,
`CompletionFinal`), not vLLM: streamed chunks carry `"finish_reason": ""` until the last
one, the last chunk is a `CompletionFinal` with `usage`, and the stream ends `data:[DONE]`.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from tgi.standin.faults import Fault
from tgi.standin.handlers import GenerationHandler, Job, wait_out
from tgi.standin.protocol import (
    TGI_VERSION,
    BodyError,
    GenerateParameters,
    GenerateRequest,
    InferError,
    Limits,
    _Strict,
    error_for_status,
    overloaded_error,
)


class CompletionRequest(_Strict):
    model: str | None = None
    prompt: str | list[str]
    max_tokens: int | None = Field(None, ge=0)
    temperature: float | None = None
    top_p: float | None = None
    stream: bool = False
    seed: int | None = Field(None, ge=0)
    suffix: str | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] | None = None


def models_json(model_id: str) -> dict[str, Any]:
    """TGI's `GET /v1/models`."""
    data = [{"id": model_id, "object": "model", "created": 0, "owned_by": model_id}]
    return {"object": "list", "data": data}


SYSTEM_FINGERPRINT = f"{TGI_VERSION}-native"


def completion_chunk(model_id: str, index: int, text: str) -> dict[str, Any]:
    """TGI's streamed `Chunk`: `finish_reason` is "" (not null) until the last one."""
    return {
        "object": "text_completion",
        "id": "",
        "created": int(time.time()),
        "choices": [{"index": index, "text": text, "logprobs": None, "finish_reason": ""}],
        "model": model_id,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def completion_final(
    model_id: str, choices: list[dict[str, Any]], prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    """TGI's `CompletionFinal`: the last streamed chunk, or the whole non-stream answer."""
    return {
        "object": "text_completion",
        "id": "",
        "created": int(time.time()),
        "model": model_id,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def completion_choice(index: int, text: str, finish_reason: str) -> dict[str, Any]:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}


def completion_to_generate(req: CompletionRequest, prompt: str, *, stream: bool) -> GenerateRequest:
    """TGI's `completions()` mapping of an OpenAI request onto a GenerateRequest."""
    greedy = req.temperature == 0.0
    return GenerateRequest(
        inputs=prompt,
        parameters=GenerateParameters(
            temperature=None if greedy else req.temperature,
            repetition_penalty=req.repetition_penalty,
            frequency_penalty=req.frequency_penalty,
            top_p=req.top_p,
            do_sample=not greedy,
            max_new_tokens=req.max_tokens if req.max_tokens is not None else 100,
            stop=req.stop or [],
            details=True,
            decoder_input_details=not stream,
            seed=req.seed,
        ),
    )


def completion_prompts(req: CompletionRequest, limits: Limits) -> list[str]:
    """The prompts of a completions request, after TGI's request-level checks."""
    if req.suffix is not None:
        raise InferError(
            "suffix not supported",
            "Suffix is not supported and can be achieved by preprocessing the prompt.",
            422,
        )
    prompts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
    if not prompts:
        raise BodyError(
            422,
            "Failed to deserialize the JSON body into the target type: prompt: "
            "Empty array detected. Do not use an empty array for the prompt.",
        )
    if len(prompts) > limits.max_client_batch_size:
        raise InferError(
            "batch size exceeded",
            "Number of prompts exceeds the maximum allowed batch size of "
            f"{limits.max_client_batch_size}",
            422,
        )
    return prompts


class CompletionsHandler(GenerationHandler):
    """`POST /v1/completions`, streamed (SSE chunks, then `data:[DONE]`) or not."""

    async def post(self) -> None:
        try:
            req = self.body_of(CompletionRequest)
            prompts = completion_prompts(req, self.state.limits)
        except BodyError as exc:
            return self.send_body_error(exc)
        except InferError as exc:
            return self.send_infer_error(exc)
        fault = self.take_fault()
        if fault is not None and fault.kind == "error":
            return self.send_infer_error(error_for_status(fault.status))
        if req.stream:
            await self.stream(req, prompts, fault)
        else:
            await self.respond(req, prompts, fault)

    def jobs(self, req: CompletionRequest, prompts: list[str], *, stream: bool) -> list[Job]:
        return [
            self.prepare_job(
                completion_to_generate(req, p, stream=stream),
                stream=stream,
                full_text=False,
                index=i,
            )
            for i, p in enumerate(prompts)
        ]

    async def respond(
        self, req: CompletionRequest, prompts: list[str], fault: Fault | None
    ) -> None:
        with self.admission(fault) as admitted:
            if not admitted:
                return self.send_infer_error(overloaded_error())
            try:
                jobs = self.jobs(req, prompts, stream=False)
            except InferError as exc:
                return self.send_infer_error(exc)
            if not await wait_out(self, jobs, fault):
                return None
            self.summary(jobs, sum(len(j.gen.tokens) for j in jobs))
            choices = [
                completion_choice(j.index, j.gen.text, openai_finish_reason(j.gen.finish_reason))
                for j in jobs
            ]
            self.write_json(
                completion_final(
                    self.state.model_id,
                    choices,
                    sum(j.valid.input_length for j in jobs),
                    sum(len(j.gen.tokens) for j in jobs),
                )
            )

    async def stream(self, req: CompletionRequest, prompts: list[str], fault: Fault | None) -> None:
        self.begin_sse("".join(prompts))
        with self.admission(fault) as admitted:
            jobs: list[Job] = []
            for i, prompt in enumerate(prompts):
                try:
                    if not admitted:
                        raise overloaded_error()
                    gen_req = completion_to_generate(req, prompt, stream=True)
                    jobs.append(self.prepare_job(gen_req, stream=True, full_text=False, index=i))
                except InferError as exc:
                    self.note = f"{exc.error_type}: {exc.message}"
                    await self.send_event(exc.body())
            sent, end_normally = await self.emit_chunks(jobs, fault)
            self.summary(jobs, sent)
        if end_normally:
            await self.send_event(b"[DONE]")
        self.finish_stream()

    async def emit_chunks(self, jobs: list[Job], fault: Fault | None) -> tuple[int, bool]:
        """Interleave the prompts' tokens, one chunk each; the last one of a prompt is its
        CompletionFinal (with usage). Returns (tokens sent, whether to send [DONE])."""
        schedule = [(j, i) for i in range(max((len(j.gen.tokens) for j in jobs), default=0))
                    for j in jobs if i < len(j.gen.tokens)]  # fmt: skip
        cut = fault.cut_after(len(schedule)) if fault else None
        for n, (job, i) in enumerate(schedule):
            if n == cut and fault is not None:
                return n, await self.strike(fault, streaming=True)
            if not await self.tick(n):
                return n, False
            if not await self.send_event(self.chunk(job, i)):
                return n, False
        return len(schedule), True

    def chunk(self, job: Job, i: int) -> dict[str, Any]:
        token = job.gen.tokens[i]
        if i < len(job.gen.tokens) - 1:
            return completion_chunk(self.state.model_id, job.index, token.text)
        # TGI's streamed CompletionFinal uses FinishReason's Display ("eos_token", not "stop").
        choice = completion_choice(job.index, token.text, job.gen.finish_reason)
        return completion_final(
            self.state.model_id, [choice], job.valid.input_length, len(job.gen.tokens)
        )


def openai_finish_reason(reason: str) -> str:
    """TGI's `FinishReason::format(true)`: only `eos_token` becomes "stop"."""
    return "stop" if reason == "eos_token" else reason
