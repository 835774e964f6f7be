"""What the engine clients cost on their own: battles streamed with no web app around them.

N simulated voters play battles back to back, as in the load test (both sides streamed at
once, the next battle as soon as both have ended), through the arena's own clients
(`app.core.inference.factory.make_client`: TGI's through huggingface_hub, or the
OpenAI-compatible one) from real stand-in engines started by the supervisor's launcher,
but without Panel, the websocket or DuckDB. It separates what the load test cannot: how
much CPU the clients take per token (what is left of the core for the web app), and how
close to the ideal pace the streams alone come on this machine.

    uv run python -m benchmark.stream_floor --voters 50 [--protocol openai] [--reader raw]

`--reader raw` reads the same streams with a minimal asyncio HTTP/1.1 reader instead of
the clients (a reference for what Python itself needs per token; not used by the app).
The last output line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from app.core.inference.base import GenerationParams
from app.core.inference.factory import make_client
from app.core.inference.openai_client import completion_request
from app.core.inference.tgi_client import tgi_params
from app.core.settings import EngineSettings
from benchmark.loadtest import port_block
from benchmark.proc_cpu import cpu_seconds
from tgi.launchers import StandinLauncher, SubprocessEngine

PROMPT = "Det var en gång en liten by vid havet, där"
SIDES = ("MultiSynt/nemotron-cc-swedish-tower9b", "HPLT/hplt2c_swe_checkpoints")
Reader = Literal["client", "raw"]


@dataclass(frozen=True)
class FloorConfig:
    voters: int
    duration_s: float = 20.0
    protocol: Literal["tgi", "openai"] = "tgi"
    reader: Reader = "client"
    pairs: int = 8  # engine pairs the voters spread over (one stand-in per side each)
    token_interval_s: float = 0.03
    max_new_tokens: int = 112
    warmup_s: float = 2.0

    @property
    def ideal_s(self) -> float:
        return self.token_interval_s * self.max_new_tokens


@dataclass
class _Tally:
    slowdowns: list[float] = field(default_factory=list)
    tokens: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Engine:
    model_id: str
    url: str
    process: SubprocessEngine


async def _start_engines(cfg: FloorConfig, stack: contextlib.AsyncExitStack) -> list[_Engine]:
    launcher = StandinLauncher(token_interval_s=cfg.token_interval_s, startup_delay_s=0.0)
    engines = []
    ports = iter(range(first := port_block(2 * cfg.pairs), first + 2 * cfg.pairs))
    for _ in range(cfg.pairs):
        for model in SIDES:
            port = next(ports)  # below the ephemeral range: see benchmark.loadtest.port_block
            process = await launcher.start(model, gpu=0, port=port)
            stack.push_async_callback(launcher.stop, process, 5.0)
            engines.append(_Engine(model, f"http://127.0.0.1:{port}", process))
    async with httpx.AsyncClient(timeout=2.0) as http:
        for engine in engines:
            await _wait_healthy(http, engine)
    return engines


async def _wait_healthy(http: httpx.AsyncClient, engine: _Engine, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get(f"{engine.url}/health")).status_code == 200:
                return
        if engine.process.returncode is not None:
            raise RuntimeError(f"stand-in {engine.model_id} exited: {engine.process.log_tail()}")
        await asyncio.sleep(0.05)
    raise RuntimeError(f"stand-in {engine.model_id} not healthy within {timeout_s:g} s")


async def _client_side(cfg: FloorConfig, engine: _Engine, params: GenerationParams) -> int:
    client = make_client(engine.url, engine.model_id, EngineSettings(protocol=cfg.protocol))
    tokens = 0
    async for event in client.stream(PROMPT, params):
        tokens += 0 if event.final else 1
    return tokens


async def _raw_side(cfg: FloorConfig, engine: _Engine, params: GenerationParams) -> int:
    if cfg.protocol == "tgi":
        path = "/"
        body = {"inputs": PROMPT, "parameters": {**tgi_params(params), "details": True}}
        body["stream"] = True
    else:
        path, body = "/v1/completions", completion_request(engine.model_id, PROMPT, params)
    tokens = 0
    async for payload in raw_sse(engine.url + path, json.dumps(body).encode()):
        if payload == b"[DONE]":
            continue
        event = json.loads(payload)
        text = event["token"]["text"] if cfg.protocol == "tgi" else event["choices"][0]["text"]
        tokens += bool(text)
    return tokens


async def raw_sse(url: str, body: bytes) -> AsyncIterator[bytes]:
    """The `data:` payloads of a POSTed event stream, read with asyncio streams alone."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        writer.write(
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        chunked = b"transfer-encoding: chunked" in head.lower()
        pending = b""
        while True:
            if chunked:
                size = int((await reader.readline()).split(b";")[0], 16)
                data = (await reader.readexactly(size + 2))[:-2]
                if size == 0:
                    break
            elif not (data := await reader.read(65536)):
                break
            *events, pending = (pending + data).split(b"\n\n")
            for event in events:
                for line in event.split(b"\n"):
                    if line.startswith(b"data:"):
                        yield line[5:].strip()
    finally:
        writer.close()


async def _voter(
    cfg: FloorConfig, pairs: list[tuple[_Engine, _Engine]], until: float, tally: _Tally
) -> None:
    side = _client_side if cfg.reader == "client" else _raw_side
    params = GenerationParams(max_new_tokens=cfg.max_new_tokens)
    loop = asyncio.get_running_loop()
    rng = random.Random()
    while loop.time() < until:
        a, b = rng.choice(pairs)
        started = loop.time()
        try:
            tokens = await asyncio.gather(side(cfg, a, params), side(cfg, b, params))
        except Exception as exc:  # counted and reported; the voter plays on
            tally.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            continue
        tally.slowdowns.append((loop.time() - started) / cfg.ideal_s)
        tally.tokens += sum(tokens)


async def measure(cfg: FloorConfig) -> dict[str, Any]:
    """Start the stand-ins, warm up, measure one window; the summary as a dict."""
    async with contextlib.AsyncExitStack() as stack:
        engines = await _start_engines(cfg, stack)
        pairs = list(zip(engines[::2], engines[1::2], strict=True))
        loop = asyncio.get_running_loop()
        warm = loop.time() + cfg.warmup_s
        await asyncio.gather(*(_voter(cfg, pairs, warm, _Tally()) for _ in range(cfg.voters)))
        tally = _Tally()
        pids = [e.process.pid for e in engines if e.process.pid is not None]
        engines_cpu, cpu, wall = sum(map(cpu_seconds, pids)), time.process_time(), loop.time()
        until = wall + cfg.duration_s
        await asyncio.gather(*(_voter(cfg, pairs, until, tally) for _ in range(cfg.voters)))
        engines_cpu = sum(map(cpu_seconds, pids)) - engines_cpu
        cpu, wall = time.process_time() - cpu, loop.time() - wall
    return summary(cfg, tally, cpu_s=cpu, engines_cpu_s=engines_cpu, wall_s=wall)


def summary(
    cfg: FloorConfig, tally: _Tally, *, cpu_s: float, engines_cpu_s: float, wall_s: float
) -> dict[str, Any]:
    s = sorted(tally.slowdowns)
    battles = len(s)

    def pct(q: float) -> float | None:
        return round(s[min(battles - 1, int(q * battles))], 3) if s else None

    return {
        **{k: v for k, v in asdict(cfg).items() if k != "warmup_s"},
        "battles": battles,
        "tokens": tally.tokens,
        "errors": len(tally.errors),
        "first_errors": tally.errors[:3],
        "p50_slowdown": round(statistics.median(s), 3) if s else None,
        "p95_slowdown": pct(0.95),
        "max_slowdown": round(s[-1], 3) if s else None,
        "client_cores": round(cpu_s / wall_s, 3),
        "client_ms_per_battle": round(1000 * cpu_s / battles, 1) if battles else None,
        "client_us_per_token": round(1e6 * cpu_s / tally.tokens, 1) if tally.tokens else None,
        "engines_cores": round(engines_cpu_s / wall_s, 3),
        "ideal_s": round(cfg.ideal_s, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stream_floor", description=__doc__)
    parser.add_argument("--voters", type=int, required=True)
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--protocol", choices=["tgi", "openai"], default="tgi")
    parser.add_argument("--reader", choices=["client", "raw"], default="client")
    parser.add_argument("--pairs", type=int, default=8, help="stand-in pairs")
    parser.add_argument("--token-interval", type=float, default=0.03)
    parser.add_argument("--max-new-tokens", type=int, default=112)
    args = parser.parse_args(argv)
    if args.voters < 1 or args.pairs < 1 or args.duration <= 0:
        parser.error("--voters and --pairs must be at least 1, --duration positive")
    cfg = FloorConfig(
        voters=args.voters,
        duration_s=args.duration,
        protocol=args.protocol,
        reader=args.reader,
        pairs=args.pairs,
        token_interval_s=args.token_interval,
        max_new_tokens=args.max_new_tokens,
    )
    print(json.dumps(asyncio.run(measure(cfg))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
