"""TGI's wire protocol for the stand-in engine: request bodies, validation, response JSON.

Everything here mirrors the text-generation-inference router (`router/src/lib.rs`,
`validation.rs`, `infer/mod.rs`, `server.rs`): field names and order, defaults, error
messages, error types and HTTP status codes. Nothing here does I/O.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from tgi.standin.text import Generation, Sampling, Token, count_tokens

TGI_VERSION = "3.3.4"
ROUTER = "text-generation-router"
STATUS_OF = {"generation": 424, "overloaded": 429, "validation": 422}
STATUS_OF |= {"incomplete_generation": 500}
DEFAULT_MAX_NEW_TOKENS = 100  # serde default of `max_new_tokens` when the key is absent
DEFAULT_GENERATION_LENGTH = 1024  # cap when `max_new_tokens` is explicitly null


class InferError(Exception):
    """TGI's InferError: an ErrorResponse `{error, error_type}` plus the HTTP status."""

    def __init__(self, error_type: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status or STATUS_OF.get(error_type, 500)

    def body(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type}


def validation_error(detail: str) -> InferError:
    return InferError("validation", f"Input validation error: {detail}")


def overloaded_error() -> InferError:
    return InferError("overloaded", "Model is overloaded")


def generation_error(detail: str) -> InferError:
    return InferError("generation", f"Request failed during generation: {detail}")


def error_for_status(status: int) -> InferError:
    """The ErrorResponse TGI sends with `status` (for the `error:STATUS` fault)."""
    known = {
        422: validation_error("stand-in fault injection"),
        424: generation_error("Server error: stand-in fault injection"),
        429: overloaded_error(),
        500: InferError("incomplete_generation", "Incomplete generation"),
        503: InferError("healthcheck", "unhealthy", 503),
    }
    return known.get(status) or InferError("server", f"stand-in fault: HTTP {status}", status)


class BodyError(Exception):
    """A body axum's `Json` extractor rejects: plain-text answer, 400/415/422."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class GenerateParameters(_Strict):
    best_of: int | None = Field(None, ge=0)
    temperature: float | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    typical_p: float | None = None
    do_sample: bool = False
    max_new_tokens: int | None = Field(DEFAULT_MAX_NEW_TOKENS, ge=0, le=2**32 - 1)
    return_full_text: bool | None = None
    stop: list[str] = Field(default_factory=list)
    truncate: int | None = Field(None, ge=0)
    watermark: bool = False
    details: bool = False
    decoder_input_details: bool = False
    seed: int | None = Field(None, ge=0, le=2**64 - 1)
    top_n_tokens: int | None = Field(None, ge=0)
    grammar: Any = None
    adapter_id: str | None = None


def _default_parameters() -> GenerateParameters:
    # TGI's `default_parameters()` (no "parameters" key) samples; `{}` does not.
    return GenerateParameters(do_sample=True)


class GenerateRequest(_Strict):
    inputs: str
    parameters: GenerateParameters = Field(default_factory=_default_parameters)


class CompatGenerateRequest(GenerateRequest):
    stream: bool = False


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], body: bytes, content_type: str) -> M:
    """Parse a JSON body the way axum's `Json<T>` extractor does (status codes included)."""
    if not content_type.split(";")[0].strip().lower().endswith("json"):
        raise BodyError(415, "Expected request with `Content-Type: application/json`")
    try:
        return model.model_validate_json(body)
    except PydanticError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            detail = f"Failed to parse the request body as JSON: {first['msg']}"
            raise BodyError(400, detail) from None
        where = ".".join(str(p) for p in first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        detail = f"Failed to deserialize the JSON body into the target type: {detail}"
        raise BodyError(422, detail) from None


@dataclass(frozen=True)
class Limits:
    max_input_tokens: int = 1024
    max_total_tokens: int = 2048
    max_concurrent_requests: int = 128
    max_best_of: int = 2
    max_stop_sequences: int = 4
    max_top_n_tokens: int = 5
    max_client_batch_size: int = 4


@dataclass(frozen=True)
class ValidRequest:
    inputs: str
    input_length: int
    sampling: Sampling
    reported_seed: int | None  # what `details.seed` says: the seed when sampling, else null
    details: bool
    decoder_input_details: bool
    return_full_text: bool


def _check_ranges(p: GenerateParameters, limits: Limits, sampling: bool) -> None:
    """The parameter checks of TGI's `Validation::validate`, in TGI's order."""
    best_of = p.best_of or 1
    checks = [
        (best_of > 1 and not sampling, "you must use sampling when `best_of` is > 1"),
        (p.temperature is not None and p.temperature <= 0.0,
         "`temperature` must be strictly positive"),
        (p.repetition_penalty is not None and p.repetition_penalty <= 0.0,
         "`repetition_penalty` must be strictly positive"),
        (p.frequency_penalty is not None and not -2.0 <= p.frequency_penalty <= 2.0,
         "`frequency_penalty` must be >= -2.0 and <= 2.0"),
        (p.top_p is not None and not 0.0 < p.top_p < 1.0, "`top_p` must be > 0.0 and < 1.0"),
        (p.typical_p is not None and not 0.0 < p.typical_p < 1.0,
         "`typical_p` must be > 0.0 and < 1.0"),
        (p.top_k is not None and p.top_k <= 0, "`top_k` must be strictly positive"),
        (p.max_new_tokens == 0, "`max_new_tokens` must be strictly positive"),
        (len(p.stop) > limits.max_stop_sequences,
         f"`stop` supports up to {limits.max_stop_sequences} stop sequences. "
         f"Given: {len(p.stop)}"),
        (p.seed is not None and best_of > 1, "`seed` must not be set when `best_of` > 1"),
        ((p.top_n_tokens or 0) > limits.max_top_n_tokens,
         f"`top_n_tokens` must be >= 0 and <= {limits.max_top_n_tokens}. "
         f"Given: {p.top_n_tokens}"),
    ]  # fmt: skip
    for failed, message in checks:
        if failed:
            raise validation_error(message)


def check_best_of(p: GenerateParameters, limits: Limits, *, stream: bool) -> None:
    """Checks made before validation: streams refuse best_of/prefill, `/generate` caps best_of."""
    best_of = p.best_of if p.best_of is not None else 1
    if stream and best_of != 1:
        raise validation_error("`best_of` != 1 is not supported when streaming tokens")
    if stream and p.decoder_input_details:
        raise validation_error(
            "`decoder_input_details` == true is not supported when streaming tokens"
        )
    if not stream and best_of > 1 and best_of > limits.max_best_of:
        raise validation_error(
            f"`best_of` must be > 0 and <= {limits.max_best_of}. Given: {best_of}"
        )


def validate(req: GenerateRequest, limits: Limits, *, full_text_default: bool) -> ValidRequest:
    """TGI's request validation: raises `InferError` (validation) with TGI's messages."""
    p = req.parameters
    sampling = p.do_sample or any(
        v is not None for v in (p.temperature, p.top_k, p.top_p, p.typical_p)
    )
    _check_ranges(p, limits, sampling)
    if not req.inputs:
        raise validation_error("`inputs` cannot be empty")
    if p.truncate is not None and not 0 < p.truncate <= limits.max_input_tokens:
        raise validation_error(
            f"`truncate` must be strictly positive and less than {limits.max_input_tokens}. "
            f"Given: {p.truncate}"
        )
    input_length = count_tokens(req.inputs)
    if p.truncate is not None:
        input_length = min(input_length, p.truncate)
    max_new = p.max_new_tokens
    if max_new is None:
        max_new = min(max(limits.max_total_tokens - input_length, 0), DEFAULT_GENERATION_LENGTH)
    if input_length + max_new > limits.max_total_tokens:
        raise validation_error(
            f"`inputs` tokens + `max_new_tokens` must be <= {limits.max_total_tokens}. "
            f"Given: {input_length} `inputs` tokens and {max_new} `max_new_tokens`"
        )
    if input_length > limits.max_input_tokens:
        raise validation_error(
            f"`inputs` must have less than {limits.max_input_tokens} tokens. Given: {input_length}"
        )
    seed = p.seed if p.seed is not None else random.getrandbits(64)
    # Greedy decoding ignores the seed in TGI; here an explicit seed still picks the text,
    # and greedy requests without one are deterministic (same prompt, same text).
    rng_seed = seed if sampling or p.seed is not None else 0
    return ValidRequest(
        inputs=req.inputs,
        input_length=input_length,
        sampling=Sampling(
            max_new_tokens=max_new,
            seed=rng_seed,
            stop=tuple(p.stop),
            repetition_penalty=p.repetition_penalty or 1.0,
            temperature=p.temperature or 1.0,
            top_n_tokens=p.top_n_tokens or 0,
        ),
        reported_seed=seed if sampling else None,
        details=p.details,
        decoder_input_details=p.decoder_input_details,
        return_full_text=(
            p.return_full_text if p.return_full_text is not None else full_text_default
        ),
    )


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as serde_json writes it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def token_json(token: Token) -> dict[str, Any]:
    return {"id": token.id, "text": token.text, "logprob": token.logprob, "special": token.special}


def prefill_json(tokens: list[Token]) -> list[dict[str, Any]]:
    """TGI's PrefillToken list; the first token has no logprob (NaN, serialised as null)."""
    return [
        {"id": t.id, "text": t.text, "logprob": None if i == 0 else t.logprob}
        for i, t in enumerate(tokens)
    ]


def stream_event(
    index: int,
    token: Token,
    top_tokens: list[Token],
    final: tuple[str, dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """TGI's StreamResponse; `final` is (generated_text, details) on the last event only."""
    event: dict[str, Any] = {"index": index, "token": token_json(token)}
    if top_tokens:
        event["top_tokens"] = [token_json(t) for t in top_tokens]
    event["generated_text"] = final[0] if final else None
    event["details"] = final[1] if final else None
    return event


def stream_details(gen: Generation, valid: ValidRequest) -> dict[str, Any]:
    return {
        "finish_reason": gen.finish_reason,
        "generated_tokens": len(gen.tokens),
        "seed": valid.reported_seed,
        "input_length": valid.input_length,
    }


def output_text(gen: Generation, valid: ValidRequest) -> str:
    return (valid.inputs if valid.return_full_text else "") + gen.text


def generate_response(
    gen: Generation, valid: ValidRequest, prefill: list[dict[str, Any]]
) -> dict[str, Any]:
    """TGI's GenerateResponse (`POST /generate`)."""
    response: dict[str, Any] = {"generated_text": output_text(gen, valid)}
    if valid.details or valid.decoder_input_details:
        details: dict[str, Any] = {
            "finish_reason": gen.finish_reason,
            "generated_tokens": len(gen.tokens),
            "seed": valid.reported_seed,
            "prefill": prefill if valid.decoder_input_details else [],
            "tokens": [token_json(t) for t in gen.tokens],
        }
        if gen.top_tokens:
            details["top_tokens"] = [[token_json(t) for t in top] for top in gen.top_tokens]
        response["details"] = details
    return response


def info_json(model_id: str, limits: Limits, language: str) -> dict[str, Any]:
    """TGI's Info (`GET /info`), plus `standin: true` and the language it writes."""
    return {
        "model_id": model_id,
        "model_sha": None,
        "model_pipeline_tag": "text-generation",
        "max_concurrent_requests": limits.max_concurrent_requests,
        "max_best_of": limits.max_best_of,
        "max_stop_sequences": limits.max_stop_sequences,
        "max_input_tokens": limits.max_input_tokens,
        "max_total_tokens": limits.max_total_tokens,
        "validation_workers": 2,
        "max_client_batch_size": limits.max_client_batch_size,
        "router": ROUTER,
        "version": TGI_VERSION,
        "sha": None,
        "docker_label": None,
        "standin": True,
        "standin_language": language,
    }
