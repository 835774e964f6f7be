"""The stand-in engine over real HTTP: TGI's shapes, huggingface_hub's client, every fault.

Most tests share one Swedish engine (module scope) and set faults at runtime through
`POST /standin/fault`; tests that need start-up behaviour start their own process.

Why this module is long: one test per protocol shape and per fault, sharing one engine
process (module scope) so the file runs in seconds.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import AsyncInferenceClient
from huggingface_hub.errors import (
    GenerationError,
    OverloadedError,
    ValidationError,
)

from app.core.registry import load_registry
from tests.standin import REPO_ROOT, Standin, start_standin
from tgi.standin.faults import FaultSpecError, parse_fault
from tgi.standin.text import Sampling, bank_for, generate, load_bank, resolve_language, tokenize

SWEDISH = "HPLT/hplt2c_swe_checkpoints"
FINNISH = "MultiSynt/nemotron-cc-finnish-tower9b"
PROMPT = "Stockholm är Sveriges huvudstad och"
INTERVAL = 0.005


def words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


def data_lines(text: str) -> list[str]:
    return [line[len("data:") :] for line in text.split("\n") if line.startswith("data:")]


async def stream_events(response: httpx.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield line[len("data:") :]


def gen_body(inputs: str = PROMPT, **parameters: object) -> dict:
    return {"inputs": inputs, "parameters": {"max_new_tokens": 8, **parameters}}


# --- pure functions (no process) -----------------------------------------------------------


def test_tokenizer_keeps_text_and_attaches_leading_spaces() -> None:
    text = " Morgondimman lättade, 1800-talet.\n\nHej"
    pieces = tokenize(text)
    assert "".join(pieces) == text
    assert pieces[:3] == [" Morgo", "ndim", "man"]
    assert " lättade" in pieces and "\n\n" in pieces


def test_fault_specs_parse_and_reject() -> None:
    assert parse_fault("disconnect:3").cut_after(10) == 3
    assert parse_fault("stall:50").cut_after(10) == 9  # the final event is never sent
    assert parse_fault("exit:0.5").arg == 0.5
    assert parse_fault("overloaded").spec == "overloaded"
    for bad in ("error:99", "disconnect", "stall:x", "explode", "error:4.5"):
        with pytest.raises(FaultSpecError):
            parse_fault(bad)


def test_every_language_has_a_bank_with_distinct_token_ids() -> None:
    codes = [*load_registry().languages, "eng"]
    assert len(codes) == 15
    for code in codes:
        bank = load_bank(code)
        assert bank.code == code and 8 <= len(bank.sentences) <= 12
        assert len(set(bank.vocab.values())) == len(bank.vocab)


def test_language_comes_from_the_registry() -> None:
    assert resolve_language(SWEDISH) == "swe"
    assert resolve_language(FINNISH) == "fin"
    assert resolve_language("MultiSynt/2B-1TT-native-mixture") == "mul"
    assert resolve_language("someone/unknown-model") == "eng"
    assert bank_for("mul", "Der Rhein entspringt in den Alpen und").code == "deu"
    assert bank_for("mul", "Il était une fois, dans un petit village").code == "fra"
    assert bank_for("mul", "Zzyzx qwrt").code == "mul"


def test_language_comes_from_the_configured_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(
        '[languages.isl]\nname = "Icelandic"\nnative_name = "Íslenska"\n'
        'multisynt_models = ["Example/ms-only-here"]\nhplt_model = "Example/hplt-only-here"\n'
        'prompts = ["Það var", "Ísland er", "Til að"]\n'
    )
    monkeypatch.setenv("ARENA_REGISTRY_PATH", str(registry))
    assert resolve_language("Example/hplt-only-here") == "isl"


def test_two_models_with_the_same_seed_write_different_text() -> None:
    bank, sampling = load_bank("swe"), Sampling(max_new_tokens=30, seed=7)
    a = generate(bank, SWEDISH, PROMPT, sampling)
    b = generate(bank, "MultiSynt/nemotron-cc-swedish-opus", PROMPT, sampling)
    assert a.text != b.text
    assert len(a.tokens) == len(b.tokens) == 30


# --- one shared Swedish engine ---------------------------------------------------------------


@pytest.fixture(scope="module")
def swedish_engine() -> Iterator[Standin]:
    with start_standin(SWEDISH, token_interval=INTERVAL) as engine:
        yield engine


@pytest.fixture
def engine(swedish_engine: Standin) -> Iterator[Standin]:
    swedish_engine.set_fault(None)
    yield swedish_engine
    swedish_engine.set_fault(None)


@pytest.mark.slow
def test_health_info_and_models(engine: Standin) -> None:
    health = engine.http.get("/health")
    assert health.status_code == 200 and health.content == b""
    info = engine.http.get("/info").json()
    assert info["model_id"] == SWEDISH and info["standin"] is True
    assert info["max_input_tokens"] == 1024 and info["max_total_tokens"] == 2048
    assert info["max_concurrent_requests"] == 128 and info["standin_language"] == "swe"
    assert {"version", "router", "max_best_of", "max_stop_sequences"} <= info.keys()
    models = engine.http.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == SWEDISH
    assert engine.http.get("/nowhere").status_code == 404
    assert engine.http.get("/ping").status_code == engine.http.get("/").status_code == 200


@pytest.mark.slow
def test_generate_stream_events_have_tgi_shapes(engine: Standin) -> None:
    body = gen_body(details=True, seed=5, do_sample=True)
    response = engine.http.post("/generate_stream", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith('data:{"index":1,"token":{"id":')
    events = [json.loads(d) for d in data_lines(response.text)]
    assert [e["index"] for e in events] == list(range(1, 9))
    for event in events[:-1]:
        assert list(event) == ["index", "token", "generated_text", "details"]
        assert event["generated_text"] is None and event["details"] is None
        assert list(event["token"]) == ["id", "text", "logprob", "special"]
    last = events[-1]
    assert last["generated_text"] == "".join(e["token"]["text"] for e in events)
    assert last["details"] == {
        "finish_reason": "length",
        "generated_tokens": 8,
        "seed": 5,
        "input_length": len(tokenize(PROMPT)),
    }
    assert len({e["token"]["id"] for e in events}) > 1
    assert words(last["generated_text"]) <= load_bank("swe").words()


@pytest.mark.slow
def test_generate_and_compat_routes(engine: Standin) -> None:
    plain = engine.http.post("/generate", json=gen_body(details=True)).json()
    assert list(plain) == ["generated_text", "details"]
    assert plain["details"]["generated_tokens"] == 8 and len(plain["details"]["tokens"]) == 8
    assert plain["details"]["seed"] is None  # greedy: no seed, like TGI
    compat = engine.http.post("/", json=gen_body()).json()
    assert compat == [{"generated_text": PROMPT + plain["generated_text"]}]  # full text
    no_prompt = engine.http.post("/", json=gen_body(return_full_text=False)).json()
    assert no_prompt == [{"generated_text": plain["generated_text"]}]
    stop = engine.http.post(
        "/generate", json=gen_body(max_new_tokens=200, stop=["."], details=True)
    )
    assert stop.json()["generated_text"].endswith(".")
    assert stop.json()["details"]["finish_reason"] == "stop_sequence"


@pytest.mark.slow
async def test_hub_client_streams_from_the_standin(engine: Standin) -> None:
    client = AsyncInferenceClient(model=engine.url)
    stream = await client.text_generation(
        PROMPT, stream=True, details=True, max_new_tokens=12, seed=7, do_sample=True
    )
    events = [event async for event in stream]
    assert len(events) == 12
    assert all(e.generated_text is None for e in events[:-1])
    assert events[-1].details is not None
    assert events[-1].details.finish_reason == "length"
    assert events[-1].details.generated_tokens == 12
    assert events[-1].generated_text == PROMPT + "".join(e.token.text for e in events)


@pytest.mark.slow
async def test_hub_client_maps_standin_errors(engine: Standin) -> None:
    client = AsyncInferenceClient(model=engine.url)

    async def consume(prompt: str = PROMPT) -> None:
        async for _ in await client.text_generation(prompt, stream=True, details=True):
            pass

    for spec, error in [
        ("overloaded", OverloadedError),  # in-stream event, as TGI does
        ("error:429", OverloadedError),  # HTTP 429
        ("stream-error:2", GenerationError),
    ]:
        engine.set_fault(spec)
        with pytest.raises(error):
            await consume()
    engine.set_fault(None)
    with pytest.raises(ValidationError, match="must have less than 1024 tokens"):
        await consume("ord " * 1100)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"temperature": 0.0}, "`temperature` must be strictly positive"),
        ({"top_p": 1.0}, "`top_p` must be > 0.0 and < 1.0"),
        ({"repetition_penalty": 0.0}, "`repetition_penalty` must be strictly positive"),
        ({"max_new_tokens": 0}, "`max_new_tokens` must be strictly positive"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "`stop` supports up to 4 stop sequences. Given: 5"),
        (
            {"max_new_tokens": 2045},
            "`inputs` tokens + `max_new_tokens` must be <= 2048. "
            "Given: 4 `inputs` tokens and 2045 `max_new_tokens`",
        ),
    ],
)
def test_validation_errors_use_tgi_messages(
    engine: Standin, parameters: dict, message: str
) -> None:
    body = {"inputs": "Det var en gång", "parameters": parameters}
    response = engine.http.post("/generate", json=body)
    assert response.status_code == 422
    assert response.json() == {
        "error": f"Input validation error: {message}",
        "error_type": "validation",
    }
    streamed = engine.http.post("/generate_stream", json=body)
    assert streamed.status_code == 200  # TGI has answered before it validates
    assert [json.loads(d) for d in data_lines(streamed.text)] == [response.json()]


@pytest.mark.slow
def test_empty_and_malformed_bodies(engine: Standin) -> None:
    empty = engine.http.post("/generate", json={"inputs": ""})
    assert empty.json()["error"] == "Input validation error: `inputs` cannot be empty"
    assert engine.http.post("/generate", json={"parameters": {}}).status_code == 422
    assert engine.http.post("/generate", content=b"{", headers={
        "content-type": "application/json"}).status_code == 400  # fmt: skip
    assert engine.http.post("/generate", content=b"{}").status_code == 415


@pytest.mark.slow
def test_same_seed_same_text_and_no_seed_varies(engine: Standin) -> None:
    def text(**parameters: object) -> str:
        body = gen_body(max_new_tokens=20, do_sample=True, **parameters)
        return engine.http.post("/generate", json=body).json()["generated_text"]

    assert text(seed=11) == text(seed=11)
    assert text(seed=11) != text(seed=12)
    assert len({text() for _ in range(3)}) > 1


@pytest.mark.slow
def test_completions_follow_tgi(engine: Standin) -> None:
    body = {"model": SWEDISH, "prompt": PROMPT, "max_tokens": 5, "stream": True, "seed": 3}
    response = engine.http.post("/v1/completions", json=body)
    payloads = data_lines(response.text)
    assert payloads[-1] == "[DONE]"  # TGI writes `data:[DONE]`
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert len(chunks) == 5 and all(c["object"] == "text_completion" for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == ["", "", "", "", "length"]
    assert chunks[-1]["usage"] == {
        "prompt_tokens": len(tokenize(PROMPT)),
        "completion_tokens": 5,
        "total_tokens": len(tokenize(PROMPT)) + 5,
    }
    assert all("usage" not in c for c in chunks[:-1])
    whole = engine.http.post("/v1/completions", json={**body, "stream": False}).json()
    assert whole["choices"][0]["text"] == "".join(c["choices"][0]["text"] for c in chunks)
    assert whole["usage"]["completion_tokens"] == 5


@pytest.mark.slow
async def test_disconnect_fault_gives_an_incomplete_read(engine: Standin) -> None:
    engine.set_fault("disconnect:3")
    seen = []
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            async with client.stream("POST", f"{engine.url}/generate_stream", json=gen_body()) as r:
                async for data in stream_events(r):
                    seen.append(json.loads(data))
    assert [e["index"] for e in seen] == [1, 2, 3]


@pytest.mark.slow
def test_stream_error_fault_sends_tgi_error_event(engine: Standin) -> None:
    engine.set_fault("stream-error:2")
    response = engine.http.post("/generate_stream", json=gen_body())
    events = [json.loads(d) for d in data_lines(response.text)]
    assert [e.get("index") for e in events[:2]] == [1, 2]
    assert events[2]["error_type"] == "generation" and len(events) == 3
    assert events[2]["error"].startswith("Request failed during generation: ")


@pytest.mark.slow
async def test_stall_fault_trips_the_client_read_timeout(engine: Standin) -> None:
    engine.set_fault("stall:2")
    seen = 0
    timeout = httpx.Timeout(5.0, read=0.3)
    async with httpx.AsyncClient(timeout=timeout) as client:
        with pytest.raises(httpx.ReadTimeout):
            async with client.stream("POST", f"{engine.url}/generate_stream", json=gen_body()) as r:
                async for _ in stream_events(r):
                    seen += 1
    assert seen == 2


@pytest.mark.slow
def test_error_fault_answers_the_status_for_the_next_n_requests(engine: Standin) -> None:
    assert engine.set_fault("error:503", times=1)["remaining"] == 1
    failed = engine.http.post("/generate_stream", json=gen_body())
    assert failed.status_code == 503 and failed.json()["error_type"] == "healthcheck"
    assert engine.http.post("/generate_stream", json=gen_body()).status_code == 200
    engine.set_fault("error:424")
    failed = engine.http.post("/generate", json=gen_body())
    assert failed.status_code == 424 and failed.json()["error_type"] == "generation"
    assert engine.stats()["fault"] == "error:424"
    bad = engine.http.post("/standin/fault", json={"fault": "never-ready"})
    assert bad.status_code == 400


@pytest.mark.slow
def test_the_access_log_leaves_out_probes_and_warns_on_server_errors(engine: Standin) -> None:
    before = engine.stats()["health_requests"]
    for path in ("/health", "/info", "/v1/models", "/ping"):
        assert engine.http.get(path).status_code == 200
    assert engine.stats()["health_requests"] == before + 2  # /health and /ping
    engine.set_fault("error:503", times=1)
    assert engine.http.post("/generate_stream", json=gen_body()).status_code == 503
    assert engine.http.post("/generate_stream", json=gen_body()).status_code == 200
    lines = engine.log().splitlines()
    assert not [line for line in lines if re.search(r"GET /(health|info|v1/models|ping) ", line)]
    assert any(re.search(r"WARNING POST /generate_stream 503", line) for line in lines)
    assert any(re.search(r"INFO POST /generate_stream 200", line) for line in lines)


@pytest.mark.slow
async def test_client_going_away_stops_the_stream(engine: Standin) -> None:
    body = gen_body(max_new_tokens=1000)
    async with httpx.AsyncClient(base_url=engine.url) as client:
        async with client.stream("POST", "/generate_stream", json=body) as response:
            lines = response.aiter_lines()  # kept open: closing it would close the response
            assert (await anext(lines)).startswith("data:")
            assert (await client.get("/standin/faults")).json()["in_flight"] == 1
        deadline = time.monotonic() + 2.0
        while (await client.get("/standin/faults")).json()["in_flight"]:
            assert time.monotonic() < deadline, "the stand-in kept generating for nobody"
            await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_concurrent_streams_run_side_by_side(engine: Standin) -> None:
    body = gen_body(max_new_tokens=60)  # 60 tokens x 5 ms = 0.3 s each

    async def one(client: httpx.AsyncClient) -> int:
        response = await client.post(f"{engine.url}/generate_stream", json=body)
        return len(data_lines(response.text))

    async with httpx.AsyncClient(timeout=10) as client:
        started = time.monotonic()
        assert await one(client) == 60
        single = time.monotonic() - started
        started = time.monotonic()
        assert await asyncio.gather(*(one(client) for _ in range(10))) == [60] * 10
        together = time.monotonic() - started
    # One after the other they would take 10x as long as one.
    assert together < 2.5 * single + 0.3, f"10 streams took {together:.2f}s, one {single:.2f}s"


# --- engines of their own ----------------------------------------------------------------------


@pytest.mark.slow
def test_port_opens_only_after_the_startup_delay() -> None:
    with start_standin(FINNISH, startup_delay=0.3, wait_ready=False) as engine:
        with pytest.raises(httpx.ConnectError):
            engine.http.get("/health")
        engine.wait_ready()
        assert f"ready: serving {FINNISH} on {engine.url} (stand-in)" in engine.log()
        text = engine.http.post("/generate", json=gen_body("Helsinki on")).json()
        assert words(text["generated_text"]) <= load_bank("fin").words()


@pytest.mark.slow
def test_never_ready_keeps_the_port_closed_while_alive() -> None:
    with start_standin(SWEDISH, fault="never-ready", wait_ready=False) as engine:
        deadline = time.monotonic() + 10
        while "never-ready" not in engine.log():
            assert time.monotonic() < deadline and engine.proc.poll() is None
            time.sleep(0.02)
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                engine.http.get("/health")
            assert engine.proc.poll() is None
            time.sleep(0.1)


@pytest.mark.slow
def test_exit_fault_crashes_with_status_1() -> None:
    with start_standin(SWEDISH, fault="exit:0.3") as engine:
        assert engine.proc.wait(timeout=10) == 1
        assert "exiting with status 1" in engine.log()


@pytest.mark.slow
async def test_concurrency_limit_overloads_like_tgi() -> None:
    args = ("--max-concurrent-requests", "1")
    with start_standin(SWEDISH, token_interval=0.02, extra_args=args) as engine:
        async with httpx.AsyncClient(base_url=engine.url) as client:
            body = gen_body(max_new_tokens=100)
            async with client.stream("POST", "/generate_stream", json=body) as response:
                lines = response.aiter_lines()
                assert (await anext(lines)).startswith("data:")
                second = await client.post("/generate_stream", json=gen_body())
                assert second.status_code == 200  # TGI answers first, then refuses in-stream
                assert data_lines(second.text) == [
                    '{"error":"Model is overloaded","error_type":"overloaded"}'
                ]
                blocking = await client.post("/generate", json=gen_body())
                assert blocking.status_code == 429
                assert blocking.json()["error_type"] == "overloaded"


def test_bad_fault_spec_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tgi.standin.engine", "--model-id", "x", "--port", "1",
         "--fault", "explode"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2 and "bad fault spec" in result.stderr
