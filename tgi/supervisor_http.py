"""The supervisor's HTTP API (tornado, JSON): request bodies in, `Supervisor` calls out.

    POST /acquire   {"models": [...], "holder": "...", "timeout_s": 30, "ttl_s": 300}
                    -> 200 {"lease_id", "holder", "endpoints": {model: url}, "expires_at",
                            "ttl_s", "queued_s" (time spent waiting for room)}
    POST /release   {"lease_id": "..."}        -> 200 (unknown lease: 404)
    POST /renew     {"lease_id": "...", "ttl_s": 300}  -> 200 {"lease_id", "expires_at"}
    POST /prefetch  {"models": [...]}          -> 202 {"models": {model: what happened}}
    GET  /status    every slot and engine (state, progress, expected load time, leases,
                    last log lines of failures), the queue, measured load times
    GET  /health    200 while the service runs
    GET  /metrics   Prometheus text (`tgi.supervisor_metrics`)

Bodies are validated by the pydantic models below (strict: `"5"` is not a number, `true`
is not a timeout; unknown fields are ignored). Errors are `{"error": message, "kind":
code}` (plus `log_tail` for a failed engine) with 400 (`bad_request`), 404 (unknown model
or lease), 503 (engine failed, shutting down) or 504 (timeout). An `/acquire` whose client
hangs up gives up its place, and a lease granted to a client that is gone is released at
once, so no lease leaks through a dropped request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tornado.web import Application, RequestHandler

from tgi.errors import BadRequest, SupervisorError
from tgi.supervisor import Supervisor
from tgi.supervisor_metrics import SupervisorMetricsHandler

log = logging.getLogger("tgi.supervisor")

ModelId = Annotated[str, Field(strict=True, min_length=1)]
Seconds = Annotated[float, Field(strict=True, gt=0)]  # strict: ints pass, bools do not


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AcquireBody(_Body):
    models: list[ModelId] = Field(min_length=1)
    holder: Annotated[str, Field(strict=True)] = "anonymous"
    timeout_s: Seconds | None = None
    ttl_s: Seconds | None = None


class LeaseBody(_Body):
    lease_id: Annotated[str, Field(strict=True)]


class RenewBody(LeaseBody):
    ttl_s: Seconds | None = None


class PrefetchBody(_Body):
    models: list[ModelId] = Field(min_length=1)


B = TypeVar("B", bound=_Body)


def parse_body(model: type[B], raw: bytes) -> B:
    """The request body as `model`; BadRequest naming every field that is wrong."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise BadRequest("; ".join(_describe(e) for e in exc.errors())) from None


def _describe(error: Any) -> str:
    if error["type"] == "json_invalid":
        return f"body is not JSON: {error['msg']}"
    if error["type"] == "model_type":
        return "body must be a JSON object"
    where = ".".join(str(part) for part in error["loc"])
    return f"'{where}': {error['msg']}"


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

    def body(self, model: type[B]) -> B:
        return parse_body(model, self.request.body)


class AcquireHandler(_JsonHandler):
    _task: asyncio.Task[Any] | None = None
    _gone = False

    async def post(self) -> None:
        holder = "anonymous"
        try:
            body = self.body(AcquireBody)
            holder = body.holder
            self._task = asyncio.ensure_future(
                self.supervisor.acquire(list(body.models), holder, body.timeout_s, body.ttl_s)
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
            lease_id = self.body(LeaseBody).lease_id
            self.supervisor.release(lease_id)
        except SupervisorError as exc:
            self.send_error_json(exc)
            return
        self.send(200, {"released": lease_id})


class RenewHandler(_JsonHandler):
    def post(self) -> None:
        try:
            body = self.body(RenewBody)
            lease = self.supervisor.renew(body.lease_id, body.ttl_s)
        except SupervisorError as exc:
            self.send_error_json(exc)
            return
        self.send(200, {"lease_id": lease.lease_id, "expires_at": lease.expires_at})


class PrefetchHandler(_JsonHandler):
    def post(self) -> None:
        try:
            outcome = self.supervisor.prefetch(list(self.body(PrefetchBody).models))
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


def _log_request(handler: RequestHandler) -> None:
    """Access log: successful requests (the app's polling, and its acquires and releases,
    which the supervisor logs in its own words) only at debug level."""
    status = handler.get_status()
    level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
    took_ms = 1000.0 * handler.request.request_time()
    log.log(level, "%d %s %s %.0f ms", status, handler.request.method, handler.request.uri, took_ms)
