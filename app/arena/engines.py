"""Where the app finds its inference engines: the supervisor, or fixed URLs.

A battle asks an `EngineDirectory` for its two models and gets a `Lease`: the engine URL
per model, valid until the battle releases it. While the lease is held the supervisor never
stops those engines. Release in a `finally`: it never raises, even with the supervisor down.

- `SupervisorDirectory` talks to the supervisor's HTTP API (`tgi/supervisor_http.py`).
- `RemoteDirectory` (`app/arena/remote_engines.py`) serves engines that something else runs,
  one or several replicas per model (`supervisor.remote_endpoints`), probed before use.
- `StaticDirectory` serves fixed per-model URLs (`supervisor.static_endpoints`), trusted
  without probing (tests, a single hand-started engine).

`prefetch` starts loading a battle's models before the voter presses Generate, and
`status` feeds what the page tells the voter (`app/arena/engine_status.py`).

Every failure is an `EngineDirectoryError` with a stable `kind` (the supervisor's error
kinds, plus `unavailable` when it cannot be reached), which names the voter's message.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from app.core.settings import Settings

log = logging.getLogger(__name__)


class EngineDirectoryError(Exception):
    """No engines for this battle. `kind` is a stable code: the voter reads the message
    `err_directory_<kind>` of the interface catalogue (`app/core/data/ui_strings.toml`)."""

    def __init__(
        self,
        detail: str,
        kind: str = "directory_error",
        *,
        status: int | None = None,
        log_tail: Sequence[str] = (),
    ) -> None:
        super().__init__(f"{kind}: {detail}")
        self.detail = detail
        self.kind = kind
        self.status = status
        self.log_tail = list(log_tail)


def require_configured(models: Sequence[str], known: Iterable[str], setting: str) -> None:
    """Raise `unknown_model` for the models no engine URL is configured for."""
    configured = set(known)
    missing = [m for m in models if m not in configured]
    if missing:
        raise EngineDirectoryError(
            f"no engine URL configured for {', '.join(missing)} (set {setting})",
            "unknown_model",
        )


@dataclass(frozen=True)
class Lease:
    """Engine URLs for one battle, valid until released."""

    lease_id: str
    endpoints: dict[str, str]
    holder: str = ""

    def url(self, model_id: str) -> str:
        return self.endpoints[model_id]


class EngineDirectory(Protocol):
    """What the battle code needs: engines for some models, for a while."""

    async def acquire(self, models: Sequence[str], holder: str) -> Lease:
        """Wait until every model is served; raise `EngineDirectoryError` otherwise."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give the engines back. Never raises."""
        ...

    async def status(self) -> dict[str, Any] | None:
        """The supervisor's `/status` (slots, engines, queue), or None if unavailable."""
        ...

    async def prefetch(self, models: Sequence[str]) -> dict[str, str] | None:
        """Start loading `models` without waiting or leasing; what happened per model, or
        None if that could not be asked. Never raises."""
        ...


class SupervisorDirectory:
    """Engines from the supervisor's HTTP API.

    `timeout` is how long a battle waits for its models (sent as the acquire's
    `timeout_s`); the HTTP request itself is allowed a little longer, so the supervisor's
    own timeout answer (504, with a reason) arrives before the client gives up.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = 600.0,
        *,
        connect_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout + 15.0, connect=connect_timeout),
            transport=transport,
            trust_env=False,
        )
        self._short = httpx.Timeout(10.0, connect=connect_timeout)

    async def acquire(self, models: Sequence[str], holder: str) -> Lease:
        body = {"models": list(models), "holder": holder, "timeout_s": self.timeout}
        try:
            resp = await self._client.post("/acquire", json=body)
        except httpx.TimeoutException as exc:
            raise EngineDirectoryError(f"supervisor did not answer: {exc!r}", "timeout") from exc
        except httpx.HTTPError as exc:
            raise EngineDirectoryError(
                f"supervisor at {self.base_url} unreachable: {exc!r}", "unavailable"
            ) from exc
        data = self._json(resp)
        if resp.status_code != 200:
            raise EngineDirectoryError(
                str(data.get("error") or resp.text[:200]),
                str(data.get("kind") or "directory_error"),
                status=resp.status_code,
                log_tail=data.get("log_tail") or (),
            )
        endpoints = data.get("endpoints")
        if not isinstance(endpoints, dict) or not set(models) <= set(endpoints):
            raise EngineDirectoryError(f"malformed acquire answer: {data!r}", "protocol")
        return Lease(str(data["lease_id"]), dict(endpoints), holder)

    async def release(self, lease: Lease) -> None:
        try:
            resp = await self._client.post(
                "/release", json={"lease_id": lease.lease_id}, timeout=self._short
            )
        except Exception as exc:  # the supervisor may be down; never fail the caller
            log.warning("release of lease %s failed: %r", lease.lease_id, exc)
            return
        if resp.status_code != 200:
            log.warning(
                "release of lease %s: supervisor answered %d %s",
                lease.lease_id,
                resp.status_code,
                resp.text[:200],
            )

    async def prefetch(self, models: Sequence[str]) -> dict[str, str] | None:
        try:
            resp = await self._client.post(
                "/prefetch", json={"models": list(models)}, timeout=self._short
            )
            data = resp.json() if resp.status_code == 202 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.info("prefetch of %s failed: %r", list(models), exc)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            log.info("prefetch of %s: supervisor answered %d", list(models), resp.status_code)
            return None
        return {str(k): str(v) for k, v in data["models"].items()}

    async def renew(self, lease: Lease, ttl_s: float | None = None) -> bool:
        """Extend a lease the supervisor would otherwise expire (`supervisor.lease_ttl_s`);
        only battles longer than that need it. False if the lease is gone. Never raises."""
        body: dict[str, Any] = {"lease_id": lease.lease_id}
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        try:
            resp = await self._client.post("/renew", json=body, timeout=self._short)
        except httpx.HTTPError as exc:
            log.warning("renewal of lease %s failed: %r", lease.lease_id, exc)
            return False
        return resp.status_code == 200

    async def status(self) -> dict[str, Any] | None:
        try:
            resp = await self._client.get("/status", timeout=self._short)
            resp.raise_for_status()
            data = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.info("supervisor status unavailable: %r", exc)
            return None
        return data if isinstance(data, dict) else None

    async def aclose(self) -> None:
        await self._client.aclose()

    @staticmethod
    def _json(resp: httpx.Response) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


class StaticDirectory:
    """Fixed engine URLs per model, no supervisor; leases are bookkeeping only."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        self.endpoints = {m: url.rstrip("/") for m, url in endpoints.items()}
        self._ids = itertools.count(1)

    async def acquire(self, models: Sequence[str], holder: str) -> Lease:
        require_configured(models, self.endpoints, "supervisor.static_endpoints")
        endpoints = {m: self.endpoints[m] for m in models}
        return Lease(f"static-{next(self._ids)}", endpoints, holder)

    async def release(self, lease: Lease) -> None:
        return None

    async def status(self) -> dict[str, Any] | None:
        return {"launcher": "static", "slots": [], "queue": [], "endpoints": self.endpoints}

    async def prefetch(self, models: Sequence[str]) -> dict[str, str] | None:
        return {m: "static" for m in models if m in self.endpoints}

    async def aclose(self) -> None:
        return None


def directory_from_settings(settings: Settings) -> EngineDirectory:
    """The supervisor when `supervisor.url` is set, else the remote endpoints (probed,
    with replicas), else the static endpoints."""
    sup = settings.supervisor
    if sup.url:
        return SupervisorDirectory(sup.url, sup.acquire_timeout_s)
    if sup.remote_endpoints:
        from app.arena.remote_engines import RemoteDirectory

        return RemoteDirectory.from_settings(settings)
    return StaticDirectory(sup.static_endpoints)
