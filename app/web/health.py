"""Health and metrics endpoints of the web app, for systemd, nginx checks and Prometheus.

    GET /healthz   liveness: 200 while the server's event loop answers; nothing else is
                   checked, so a restart is only triggered by a wedged or dead process
    GET /readyz    readiness: 200 when the battle log takes writes (the writer thread
                   answers, the file and its folder are writable) and the engine directory
                   (the supervisor) answers; else 503 naming the failed check (and why,
                   unless the request came through a proxy)
    GET /metrics   Prometheus text format (see app/core/metrics.py)

They are registered in `app.web.server.EXTRA_ROUTES`, so they live under the server's
`--prefix` like the pages (Bokeh prefixes extra patterns itself): behind nginx at
`/oellmarena/healthz`. Engine metrics name the loaded models, which voters must not
learn: the nginx site refuses `/metrics` from outside, and the app itself refuses it to any
request that came through a proxy (a Docker Space's too); Prometheus scrapes the app port
directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tornado.web import HTTPError, RequestHandler

from app.core import metrics

if TYPE_CHECKING:
    from app.arena.services import ArenaServices

CHECK_TIMEOUT_S = 3.0  # a check slower than this fails readiness: voters would wait too
STATUS_TIMEOUT_S = 5.0  # /metrics still answers (engine directory "down") past this
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")

Route = tuple[str, type, dict[str, Any]]


class _ServicesHandler(RequestHandler):
    def initialize(self, services: ArenaServices) -> None:
        self.services = services

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")


class LivenessHandler(_ServicesHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("ok\n")

    head = get


async def check_database(services: ArenaServices) -> str | None:
    """None if the battle log takes writes, else why not."""
    path = services.store.path
    folder = path.parent if str(path.parent) else os.curdir
    if not os.access(folder, os.W_OK):
        return f"the folder of the battle log is not writable: {folder}"
    if path.exists() and not os.access(path, os.W_OK):
        return f"the battle log is not writable: {path}"
    # The writer thread runs, a battle and its vote go through (rolled back), and no write
    # has failed for a storage reason since start (see BattleStore.write_problem).
    return await services.store.write_problem()


async def check_engines(services: ArenaServices) -> str | None:
    """None if the engine directory (the supervisor) answers, else why not."""
    status = await services.directory.status()
    return None if status is not None else "the supervisor (engine directory) does not answer"


CHECKS: dict[str, Callable[[ArenaServices], Awaitable[str | None]]] = {
    "database": check_database,
    "engines": check_engines,
}


async def _run_check(
    check: Callable[[ArenaServices], Awaitable[str | None]], services: ArenaServices
) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        error = await asyncio.wait_for(check(services), CHECK_TIMEOUT_S)
    except TimeoutError:
        error = f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:  # a failed check is an answer, not a server error
        error = f"{type(exc).__name__}: {exc}"
    result: dict[str, Any] = {
        "ok": error is None,
        "ms": round(1000 * (time.perf_counter() - start)),
    }
    if error:
        result["error"] = error
    return result


async def readiness(services: ArenaServices) -> dict[str, Any]:
    """Every check, run at once: {"ready": bool, "checks": {name: {"ok", "ms", "error"?}}}."""
    results = await asyncio.gather(*(_run_check(c, services) for c in CHECKS.values()))
    checks = dict(zip(CHECKS, results, strict=True))
    return {"ready": all(r["ok"] for r in checks.values()), "checks": checks}


def _proxied(handler: RequestHandler) -> bool:
    return any(h in handler.request.headers for h in PROXY_HEADERS)


class ReadinessHandler(_ServicesHandler):
    async def get(self) -> None:
        report = await readiness(self.services)
        self.set_status(200 if report["ready"] else 503)
        if _proxied(self):  # the public sees which check failed, not paths or errors
            for check in report["checks"].values():
                check.pop("error", None)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(report))


class MetricsHandler(_ServicesHandler):
    async def get(self) -> None:
        if _proxied(self):
            # Came through a proxy, so from the public: engine metrics name the loaded
            # models. Prometheus scrapes the app port directly (nginx also refuses it).
            raise HTTPError(404)
        try:
            status = await asyncio.wait_for(self.services.directory.status(), STATUS_TIMEOUT_S)
        except Exception:
            status = None  # shown as oellm_arena_engine_directory_up 0
        self.set_header("Content-Type", metrics.CONTENT_TYPE)
        self.finish(metrics.render(status))


def liveness_route(services: ArenaServices) -> Route:
    return (r"/healthz", LivenessHandler, {"services": services})


def readiness_route(services: ArenaServices) -> Route:
    return (r"/readyz", ReadinessHandler, {"services": services})


def metrics_route(services: ArenaServices) -> Route:
    """`/metrics` (battles and votes are counted where they happen: see app.core.metrics)."""
    return (r"/metrics", MetricsHandler, {"services": services})


ROUTES: list[Callable[[ArenaServices], Route]] = [liveness_route, readiness_route, metrics_route]
