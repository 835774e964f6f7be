"""The stand-in engine: a small HTTP server that speaks TGI's protocol, with no GPU.

Launched exactly where production launches a TGI container (see `tgi/launchers.py`):

    python -m tgi.standin.engine --model-id ID --port P [--host 127.0.0.1]
        [--token-interval 0.03] [--startup-delay 1.0] [--max-input-tokens 1024]
        [--max-total-tokens 2048] [--max-concurrent-requests 128] [--fault SPEC]
        [--language CODE] [--sleep-mode [--sleep-s S] [--wake-s-level1 S]
        [--wake-s-level2 S] [--weights-gb GB]]

Like TGI, the port stays closed while the "model loads" (`--startup-delay` seconds), then
the server binds and logs `ready: serving MODEL on http://HOST:PORT (stand-in)`.

TGI routes: `GET /health` (and `GET /`, `/ping`), `GET /info` (TGI's Info plus
`"standin": true`), `POST /generate`, `POST /generate_stream`, `POST /` (compat route),
`GET /v1/models`, `POST /v1/completions`. Stand-in admin routes: `GET /standin/faults`
and `POST /standin/fault` with `{"fault": "SPEC" | null, "times": N | null}`. With
`--sleep-mode`, vLLM's sleep routes (`tgi/standin/sleep.py`).
Text, tokenizer and determinism: `tgi/standin/text.py`. Fault specs: `tgi/standin/faults.py`.
SIGTERM or SIGINT stop the server cleanly (exit status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from tgi.standin.faults import Fault, FaultSpecError, FaultState, parse_fault
from tgi.standin.handlers import (
    BaseHandler,
    CompatHandler,
    GenerateHandler,
    GenerateStreamHandler,
)
from tgi.standin.openai_compat import CompletionsHandler, models_json
from tgi.standin.protocol import Limits, info_json
from tgi.standin.sleep import (
    CollectiveRpcHandler,
    IsSleepingHandler,
    SleepHandler,
    SleepState,
    WakeHandler,
)
from tgi.standin.text import resolve_language

log = logging.getLogger("tgi.standin")


@dataclass
class EngineState:
    """Everything the handlers share: what is served, limits, faults and counters."""

    model_id: str
    language: str
    limits: Limits
    token_interval: float
    faults: FaultState = field(default_factory=FaultState)
    startup_fault: str | None = None
    generation_requests: int = 0
    health_requests: int = 0  # health probes answered (`/health`, `/ping`); tests wait on it
    in_flight: int = 0
    ready_at: float | None = None  # wall time the port opened: benchmarks measure from it
    sleep: SleepState | None = None  # vLLM's sleep mode (`--sleep-mode`), else None

    def stats(self) -> dict[str, object]:
        return {
            **self.faults.describe(),
            **(self.sleep.describe() if self.sleep else {}),
            "startup_fault": self.startup_fault,
            "model_id": self.model_id,
            "language": self.language,
            "token_interval": self.token_interval,
            "generation_requests": self.generation_requests,
            "health_requests": self.health_requests,
            "in_flight": self.in_flight,
            "ready_at": self.ready_at,
        }


class HealthHandler(BaseHandler):
    def get(self) -> None:
        self.state.health_requests += 1
        self.finish()  # 200, empty body, like TGI's `Ok(())`


class InfoHandler(BaseHandler):
    def get(self) -> None:
        self.write_json(info_json(self.state.model_id, self.state.limits, self.state.language))


class ModelsHandler(BaseHandler):
    def get(self) -> None:
        self.write_json(models_json(self.state.model_id))


class FaultsHandler(BaseHandler):
    """`GET /standin/faults`: the fault in force and request counters."""

    def get(self) -> None:
        self.write_json(self.state.stats())


class SetFaultHandler(BaseHandler):
    """`POST /standin/fault` `{"fault": SPEC | null, "times": N | null}`."""

    def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
            spec, times = body.get("fault"), body.get("times")
            if times is not None and (not isinstance(times, int) or isinstance(times, bool)):
                raise FaultSpecError("times must be a whole number or null")
            fault = parse_fault(spec) if spec else None
            if fault is not None and fault.kind == "exit":
                schedule_exit(fault)
            else:
                self.state.faults.set(fault, times)
        except (ValueError, AttributeError) as exc:  # JSONDecodeError and FaultSpecError too
            return self.write_json({"error": str(exc), "error_type": "standin_fault"}, 400)
        log.info("fault set to %s (times=%s)", spec, times)
        self.write_json(self.state.stats())


class NotFoundHandler(RequestHandler):
    def prepare(self) -> None:
        self.clear_header("Server")
        self.clear_header("Content-Type")
        self.set_status(404)
        self.finish()


def make_app(state: EngineState) -> Application:
    routes: list[tuple[str, type[RequestHandler], dict[str, object]]] = [
        (path, handler, {"state": state})
        for path, handler in [
            (r"/", CompatHandler),
            (r"/health", HealthHandler),
            (r"/ping", HealthHandler),
            (r"/info", InfoHandler),
            (r"/generate", GenerateHandler),
            (r"/generate_stream", GenerateStreamHandler),
            (r"/v1/models", ModelsHandler),
            (r"/v1/completions", CompletionsHandler),
            (r"/standin/faults", FaultsHandler),
            (r"/standin/fault", SetFaultHandler),
            (r"/sleep", SleepHandler),
            (r"/wake_up", WakeHandler),
            (r"/is_sleeping", IsSleepingHandler),
            (r"/collective_rpc", CollectiveRpcHandler),
        ]
    ]
    return Application(
        routes,  # type: ignore[arg-type]
        default_handler_class=NotFoundHandler,
        log_function=_log_request,
    )


# Polled by the supervisor's readiness and health checks (every 10 s per engine): a
# successful answer is routine and logged at debug level only.
ROUTINE_PATHS = frozenset(
    {"/health", "/ping", "/info", "/v1/models", "/standin/faults", "/is_sleeping"}
)


def _log_request(handler: RequestHandler) -> None:
    """Access log: routine probes at debug level, server errors at warning."""
    request = handler.request
    status = handler.get_status()
    note = getattr(handler, "note", "")
    if status >= 500:
        level = logging.WARNING
    elif status < 400 and request.method in ("GET", "HEAD") and request.path in ROUTINE_PATHS:
        level = logging.DEBUG
    else:
        level = logging.INFO
    log.log(
        level,
        "%s %s %d %.0fms%s",
        request.method,
        request.uri,
        status,
        1000 * request.request_time(),
        f" {note.strip(' |')}" if note else "",
    )


def schedule_exit(fault: Fault) -> None:
    """`exit:N`: crash (exit status 1) N seconds from now."""

    def crash() -> None:
        log.error("fault %s: exiting with status 1", fault.spec)
        logging.shutdown()
        os._exit(1)

    log.info("fault %s: the process will exit in %s s", fault.spec, fault.arg)
    asyncio.get_running_loop().call_later(fault.arg, crash)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tgi.standin.engine",
        description="Stand-in for a TGI server: plausible text in the model's language, no GPU.",
    )
    parser.add_argument("--model-id", required=True, help="the model id to pretend to serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token-interval", type=float, default=0.03, help="seconds per token")
    parser.add_argument("--startup-delay", type=float, default=1.0, help="seconds to 'load'")
    parser.add_argument("--max-input-tokens", type=int, default=1024)
    parser.add_argument("--max-total-tokens", type=int, default=2048)
    parser.add_argument("--max-concurrent-requests", type=int, default=128)
    parser.add_argument("--fault", default=None, help="one fault spec, e.g. disconnect:5")
    parser.add_argument("--language", default=None, help="override the ISO 639-3 language")
    parser.add_argument(
        "--sleep-mode", action="store_true", help="serve vLLM's /sleep, /wake_up, /is_sleeping"
    )
    parser.add_argument("--sleep-s", type=float, default=0.05, help="seconds to fall asleep")
    parser.add_argument("--wake-s-level1", type=float, default=0.26, help="seconds to wake")
    parser.add_argument("--wake-s-level2", type=float, default=0.85, help="seconds to wake")
    parser.add_argument(
        "--weights-gb", type=float, default=None, help="host memory asleep at level 1"
    )
    args = parser.parse_args(argv)
    try:
        args.fault = parse_fault(args.fault) if args.fault else None
    except FaultSpecError as exc:
        parser.error(str(exc))
    if args.max_input_tokens >= args.max_total_tokens:
        parser.error("--max-input-tokens must be < --max-total-tokens (as in TGI)")
    return args


def build_state(args: argparse.Namespace) -> EngineState:
    fault: Fault | None = args.fault
    request_fault = fault if fault is not None and not fault.is_process_level else None
    return EngineState(
        model_id=args.model_id,
        language=args.language or resolve_language(args.model_id),
        limits=Limits(
            max_input_tokens=args.max_input_tokens,
            max_total_tokens=args.max_total_tokens,
            max_concurrent_requests=args.max_concurrent_requests,
        ),
        token_interval=max(args.token_interval, 0.0),
        faults=FaultState(request_fault),
        startup_fault=fault.spec if fault else None,
        sleep=_sleep_state(args) if args.sleep_mode else None,
    )


def _sleep_state(args: argparse.Namespace) -> SleepState:
    from tgi.residency import BYTES_PER_PARAM, params_billion

    weights = args.weights_gb
    if weights is None:
        weights = round(params_billion(args.model_id) * BYTES_PER_PARAM, 2)
    return SleepState(
        sleep_s=max(args.sleep_s, 0.0),
        wake_s={1: max(args.wake_s_level1, 0.0), 2: max(args.wake_s_level2, 0.0)},
        weights_gb=weights,
    )


async def serve(args: argparse.Namespace) -> int:
    """Load (sleep), bind, serve until SIGTERM/SIGINT; the exit status."""
    state = build_state(args)
    fault: Fault | None = args.fault
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if fault is not None and fault.kind == "exit":
        schedule_exit(fault)
    log.info(
        "loading %s (stand-in, language %s, %.2f s/token); port %d opens in %.1f s%s",
        state.model_id,
        state.language,
        state.token_interval,
        args.port,
        args.startup_delay,
        f"; fault {fault.spec}" if fault else "",
    )
    if await _stopped_within(stop, args.startup_delay):
        return 0
    if fault is not None and fault.kind == "never-ready":
        log.warning("fault never-ready: the model never loads, port %d stays closed", args.port)
        await stop.wait()
        return 0
    server = HTTPServer(make_app(state), idle_connection_timeout=60)
    try:
        server.listen(args.port, address=args.host)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, exc)
        return 1
    state.ready_at = time.time()
    log.info("ready: serving %s on http://%s:%d (stand-in)", state.model_id, args.host, args.port)
    await stop.wait()
    log.info("stopping")
    server.stop()
    try:
        await asyncio.wait_for(server.close_all_connections(), timeout=3)
    except TimeoutError:
        log.warning("some connections did not close in time")
    return 0


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0))
    except TimeoutError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s standin[{args.port}] %(levelname)s %(message)s",
    )
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
