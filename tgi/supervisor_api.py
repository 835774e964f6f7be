"""The supervisor's HTTP API (tornado, JSON) and the service entry point.

    POST /acquire   {"models": [...], "holder": "...", "timeout_s": 30, "ttl_s": 300}
                    -> 200 {"lease_id", "holder", "endpoints": {model: url}, "expires_at",
                            "ttl_s", "queued_s" (time spent waiting for room)}
    POST /release   {"lease_id": "..."}        -> 200 (unknown lease: 404)
    POST /renew     {"lease_id": "...", "ttl_s": 300}  -> 200 {"lease_id", "expires_at"}
    POST /prefetch  {"models": [...]}          -> 202 {"models": {model: what happened}}
    GET  /status    every slot and engine (state, progress, expected load time, leases,
                    last log lines of failures), the queue, measured load times
    GET  /health    200 while the service runs

Errors are `{"error": message, "kind": code}` (plus `log_tail` for a failed engine) with
400 (bad request), 404 (unknown model or lease), 503 (engine failed, shutting down) or
504 (timeout). An `/acquire` whose client hangs up gives up its place, and a lease granted
to a client that is gone is released at once, so no lease leaks through a dropped request.

`run_service` builds the supervisor from settings, serves until SIGTERM or SIGINT, then
stops every engine and returns; `run_supervisor` is its blocking form for the CLI
(`oellm-arena supervisor`) and `main` is `python -m tgi.supervisor`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from app.core.settings import Settings, load_settings
from tgi.engine_runner import Lifecycle
from tgi.errors import BadRequest, SupervisorError
from tgi.launchers import CommandLauncher, Launcher, StandinLauncher
from tgi.load_history import LoadHistory
from tgi.residency import MemoryModel
from tgi.supervisor import Supervisor
from tgi.supervisor_metrics import SupervisorMetricsHandler

log = logging.getLogger("tgi.supervisor")

LAUNCH_SH = Path(__file__).with_name("launch.sh")
CONTAINER_COMMAND = (
    f"{shlex.quote(str(LAUNCH_SH))} --foreground --engine {{engine}} --gpu {{{{gpu}}}} "
    "--model-id {{model_id}} --port {{port}} --name {{name}} "
    "--memory-fraction {{memory_fraction}}"
)
DEFAULT_TGI_COMMAND = CONTAINER_COMMAND.format(engine="tgi")
DEFAULT_VLLM_COMMAND = CONTAINER_COMMAND.format(engine="vllm")
CONTAINER_STOP_COMMAND = "docker stop {name}"


class _JsonHandler(RequestHandler):
    def initialize(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")

    def send(self, status: int, payload: dict[str, Any]) -> None:
        self.set_status(status)
        self.finish(json.dumps(payload))

    def send_error_json(self, exc: SupervisorError) -> None:
        payload: dict[str, Any] = {"error": str(exc), "kind": exc.kind}
        if exc.log_tail:
            payload["log_tail"] = exc.log_tail
        self.send(exc.http_status, payload)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(json.dumps({"error": self._reason, "kind": "http_error"}))

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object")
        return data

    @staticmethod
    def models(data: dict[str, Any]) -> list[str]:
        models = data.get("models")
        if (
            not isinstance(models, list)
            or not models
            or not all(isinstance(m, str) and m for m in models)
        ):
            raise BadRequest("'models' must be a non-empty list of model ids")
        return models


def _positive(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
    ):
        raise BadRequest(f"'{key}' must be a positive number")
    return value


class AcquireHandler(_JsonHandler):
    _task: asyncio.Task[Any] | None = None
    _gone = False

    async def post(self) -> None:
        holder: Any = "anonymous"
        try:
            data = self.body()
            models = self.models(data)
            holder = data.get("holder", holder)
            if not isinstance(holder, str):
                raise BadRequest("'holder' must be a string")
            timeout_s, ttl_s = _positive(data, "timeout_s"), _positive(data, "ttl_s")
            self._task = asyncio.ensure_future(
                self.supervisor.acquire(models, holder, timeout_s, ttl_s)
            )
            lease = await self._task
        except SupervisorError as exc:
            if not self._gone:
                self.send_error_json(exc)
            return
        except asyncio.CancelledError:
            log.info("acquire by %s abandoned: the client hung up", holder)
            return
        if self._gone:
            log.info("lease %s: client gone before the answer, releasing", lease.lease_id)
            self.supervisor.release(lease.lease_id)
            return
        self.send(
            200,
            {
                "lease_id": lease.lease_id,
                "holder": lease.holder,
                "endpoints": lease.endpoints,
                "expires_at": lease.expires_at,
                "ttl_s": lease.ttl_s,
                "queued_s": lease.queued_s,
            },
        )

    def on_connection_close(self) -> None:
        self._gone = True
        if self._task is not None and not self._task.done():
            self._task.cancel()


class ReleaseHandler(_JsonHandler):
    def post(self) -> None:
        try:
            lease_id = self.body().get("lease_id")
            if not isinstance(lease_id, str):
                raise BadRequest("'lease_id' must be a string")
            self.supervisor.release(lease_id)
        except SupervisorError as exc:
            self.send_error_json(exc)
            return
        self.send(200, {"released": lease_id})


class RenewHandler(_JsonHandler):
    def post(self) -> None:
        try:
            data = self.body()
            lease_id = data.get("lease_id")
            if not isinstance(lease_id, str):
                raise BadRequest("'lease_id' must be a string")
            lease = self.supervisor.renew(lease_id, _positive(data, "ttl_s"))
        except SupervisorError as exc:
            self.send_error_json(exc)
            return
        self.send(200, {"lease_id": lease.lease_id, "expires_at": lease.expires_at})


class PrefetchHandler(_JsonHandler):
    def post(self) -> None:
        try:
            outcome = self.supervisor.prefetch(self.models(self.body()))
        except SupervisorError as exc:
            self.send_error_json(exc)
            return
        self.send(202, {"models": outcome})


class StatusHandler(_JsonHandler):
    def get(self) -> None:
        self.send(200, self.supervisor.status())


class HealthHandler(_JsonHandler):
    def get(self) -> None:
        self.send(200, {"ok": True, "launcher": self.supervisor.launcher.name})


def make_app(supervisor: Supervisor) -> Application:
    args = {"supervisor": supervisor}
    return Application(
        [
            (r"/acquire", AcquireHandler, args),
            (r"/release", ReleaseHandler, args),
            (r"/renew", RenewHandler, args),
            (r"/prefetch", PrefetchHandler, args),
            (r"/status", StatusHandler, args),
            (r"/health", HealthHandler, args),
            (r"/metrics", SupervisorMetricsHandler, args),
        ],
        log_function=_log_request,
    )


def build_launcher(
    settings: Settings, command: str | None = None, stop_command: str | None = None
) -> Launcher:
    """The configured launcher; `command` and `stop_command` override the settings."""
    sup, standin = settings.supervisor, settings.standin
    command = command or sup.launch_command
    stop_command = stop_command or sup.stop_command
    if sup.launcher == "standin" and command is None:
        return StandinLauncher(
            standin.token_interval_s,
            standin.startup_delay_s,
            host=engine_host(sup.host),
            startup_s_per_billion=standin.startup_s_per_billion_params,
            faults=standin.faults,
        )
    if sup.launcher in ("tgi", "vllm"):
        default = DEFAULT_TGI_COMMAND if sup.launcher == "tgi" else DEFAULT_VLLM_COMMAND
        return CommandLauncher.from_strings(
            command or default, stop_command or CONTAINER_STOP_COMMAND, name=sup.launcher
        )
    if command is None:
        raise ValueError("launcher 'command' needs supervisor.launch_command (or --launch-command)")
    return CommandLauncher.from_strings(command, stop_command, name="command")


def engine_host(listen_host: str) -> str:
    """Where engines listen and are reached: the supervisor's host, loopback for a wildcard."""
    return "127.0.0.1" if listen_host in ("", "0.0.0.0", "::") else listen_host


def build_supervisor(settings: Settings, launcher: Launcher | None = None) -> Supervisor:
    sup = settings.supervisor
    launcher = launcher or build_launcher(settings)
    expected = sup.expected_load_s
    if isinstance(launcher, StandinLauncher) and "expected_load_s" not in sup.model_fields_set:
        expected = launcher.startup_delay("HPLT/hplt2c_swe_checkpoints") + 1.0  # + start-up
    return Supervisor(
        launcher,
        gpus=sup.gpus,
        memory=MemoryModel(
            gpu_memory_gb=sup.gpu_memory_gb,
            reserve_gb=sup.gpu_memory_reserve_gb,
            headroom_gb=sup.engine_headroom_gb,
            overrides=sup.model_memory_gb,
            max_engines=sup.models_per_gpu,
        ),
        lifecycle=Lifecycle(
            ready_timeout_s=sup.ready_timeout_s,
            poll_interval_s=sup.poll_interval_s,
            stop_grace_s=sup.stop_grace_s,
            health_interval_s=sup.health_interval_s,
            unhealthy_after=sup.unhealthy_after,
            max_restarts=sup.max_restarts,
            backoff_s=sup.restart_backoff_s,
            backoff_max_s=sup.restart_backoff_max_s,
        ),
        first_engine_port=sup.first_engine_port,
        acquire_timeout_s=sup.acquire_timeout_s,
        lease_ttl_s=sup.lease_ttl_s,
        failed_retry_after_s=sup.failed_retry_after_s,
        history=LoadHistory(expected, path=sup.load_history_path),
        host=engine_host(sup.host),
    )


async def run_service(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    launcher: Launcher | None = None,
) -> None:
    """Serve the API until SIGTERM/SIGINT, then stop every engine and return."""
    host = host or settings.supervisor.host
    port = port or settings.supervisor.port
    supervisor = build_supervisor(settings, launcher)
    server = HTTPServer(make_app(supervisor))
    server.listen(port, address=host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    memory = supervisor.memory
    log.info(
        "supervisor on http://%s:%d: %d slot(s) of %.0f GB (about %d engines each), launcher %s",
        host,
        port,
        len(supervisor.slots),
        memory.capacity_gb(0),
        memory.engines_fitting(0),
        supervisor.launcher.name,
    )
    try:
        await stop.wait()
    finally:
        log.info("shutting down: stopping every engine")
        server.stop()
        await supervisor.shutdown()
        await server.close_all_connections()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("supervisor stopped")


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr unless the host program (the CLI) already set logging up."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # else one line per readiness probe


def _log_request(handler: RequestHandler) -> None:
    """Access log; successful GETs (`/status`, `/health` polling) only at debug level."""
    status = handler.get_status()
    quiet = status < 400 and handler.request.method == "GET"
    level = logging.DEBUG if quiet else logging.INFO if status < 500 else logging.WARNING
    took_ms = 1000.0 * handler.request.request_time()
    log.log(level, "%d %s %s %.0f ms", status, handler.request.method, handler.request.uri, took_ms)


def run_supervisor(settings: Settings, launcher: Launcher | None = None) -> int:
    """Run the service from `settings` until SIGTERM/SIGINT; return the exit status (0,
    or 2 for a configuration that cannot work)."""
    configure_logging()
    try:
        launcher = launcher or build_launcher(settings)
    except ValueError as exc:
        log.error("cannot start the supervisor: %s", exc)
        return 2
    asyncio.run(run_service(settings, launcher=launcher))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the supervisor service (`python -m tgi.supervisor`)."""
    parser = argparse.ArgumentParser(prog="python -m tgi.supervisor", description=main.__doc__)
    parser.add_argument("--host", help="listen address (default: settings)")
    parser.add_argument("--port", type=int, help="listen port (default: settings)")
    parser.add_argument("--config", type=Path, help="settings TOML file")
    parser.add_argument(
        "--launch-command",
        help="engine command template with {model_id} {gpu} {port} {name} {memory_fraction}, "
        f"in the foreground (default for launcher=tgi: {DEFAULT_TGI_COMMAND})",
    )
    parser.add_argument(
        "--stop-command",
        help=f"run before stopping an engine (default for containers: {CONTAINER_STOP_COMMAND})",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    settings = load_settings(args.config)
    try:
        launcher = build_launcher(settings, args.launch_command, args.stop_command)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(run_service(settings, args.host, args.port, launcher))
    return 0
