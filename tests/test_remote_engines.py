"""Engines run by someone else: replicas probed before use, unhealthy ones skipped.

The replicas are simulated with `httpx.MockTransport` (each URL host behaves one way), and
one test uses a real stand-in process next to a dead port.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from app.arena.engine_status import battle_readiness
from app.arena.engines import EngineDirectoryError
from app.arena.remote_engines import RemoteDirectory
from tests.conftest import free_port
from tests.standin import start_standin

MODEL = "HPLT/hplt2c_swe_checkpoints"


class Fleet:
    """Mock replicas: `behaviour[host]` is ok, refused, loading, wrong, openai or a callable."""

    def __init__(self, **behaviour: str | Callable[[int], str]) -> None:
        self.behaviour = behaviour
        self.probes: Counter[str] = Counter()
        self.headers: list[str | None] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.headers.append(request.headers.get("authorization"))
        if request.url.path == "/health":
            self.probes[host] += 1
        how = self.behaviour[host]
        if callable(how):
            how = how(self.probes[host])
        if how == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if how == "loading":
            return httpx.Response(503)
        path = request.url.path
        if path == "/health":
            return httpx.Response(200)
        if path == "/info" and how in ("ok", "wrong"):
            return httpx.Response(200, json={"model_id": MODEL if how == "ok" else "other/model"})
        if path == "/v1/models" and how == "openai":
            return httpx.Response(200, json={"data": [{"id": MODEL}]})
        return httpx.Response(404)

    def directory(self, **kwargs: object) -> RemoteDirectory:
        urls = [f"http://{host}:80" for host in self.behaviour]
        options: dict = {"poll_interval_s": 0.01, "ready_wait_s": 1.0, **kwargs}
        return RemoteDirectory(
            {MODEL: urls}, transport=httpx.MockTransport(self.handler), **options
        )


async def test_a_failing_replica_is_skipped_and_the_next_one_used() -> None:
    fleet = Fleet(a="refused", b="ok")
    directory = fleet.directory()
    try:
        lease = await directory.acquire([MODEL], "battle-1")
        assert lease.endpoints == {MODEL: "http://b:80"}
        engines = (await directory.status())["slots"][0]["engines"]  # type: ignore[index]
        assert [(e["url"], e["state"]) for e in engines] == [
            ("http://a:80", "failed"),
            ("http://b:80", "ready"),
        ]
        assert "not accepting connections" in engines[0]["error"] and engines[1]["leases"] == 1
        await directory.release(lease)
        probes_of_a = fleet.probes["a"]
        for _ in range(5):  # a cools down: not probed again for `unhealthy_s`
            await directory.release(await directory.acquire([MODEL], "battle"))
        assert fleet.probes["a"] == probes_of_a
    finally:
        await directory.aclose()


async def test_a_passed_probe_is_trusted_for_a_while() -> None:
    fleet = Fleet(a="ok")
    directory = fleet.directory(probe_ttl_s=60)
    try:
        for _ in range(5):
            await directory.release(await directory.acquire([MODEL], "battle"))
        assert fleet.probes["a"] == 1
    finally:
        await directory.aclose()


async def test_battles_spread_over_healthy_replicas() -> None:
    fleet = Fleet(a="ok", b="ok", c="openai")  # c: an OpenAI-compatible engine (vLLM)
    directory = fleet.directory(probe_ttl_s=60)
    try:
        leases = [await directory.acquire([MODEL], f"b{i}") for i in range(3)]
        assert sorted(lease.endpoints[MODEL] for lease in leases) == [
            "http://a:80",
            "http://b:80",
            "http://c:80",
        ]
        for lease in leases:
            await directory.release(lease)
    finally:
        await directory.aclose()


async def test_waits_for_a_loading_replica() -> None:
    fleet = Fleet(a=lambda n: "loading" if n < 4 else "ok")  # an endpoint scaling up
    directory = fleet.directory()
    try:
        lease = await directory.acquire([MODEL], "battle")
        assert lease.endpoints[MODEL] == "http://a:80" and fleet.probes["a"] == 4
    finally:
        await directory.aclose()


@pytest.mark.parametrize(
    ("behaviour", "kind", "reason"),
    [
        ({"a": "loading", "b": "refused"}, "timeout", "/health answered 503"),
        ({"a": "refused"}, "unavailable", "not accepting connections"),
        ({"a": "wrong"}, "unavailable", "/info names 'other/model'"),
    ],
)
async def test_no_replica_ready_in_time(behaviour: dict[str, str], kind: str, reason: str) -> None:
    directory = Fleet(**behaviour).directory(ready_wait_s=0.1)
    try:
        with pytest.raises(EngineDirectoryError) as err:
            await directory.acquire([MODEL], "battle")
        assert err.value.kind == kind and reason in err.value.detail
        assert "http://a:80" in err.value.detail
    finally:
        await directory.aclose()


async def test_unknown_model() -> None:
    fleet = Fleet(a="ok", b="ok")
    directory = fleet.directory(probe_ttl_s=60)
    try:
        with pytest.raises(EngineDirectoryError) as err:
            await directory.acquire(["no/such-model"], "battle")
        assert err.value.kind == "unknown_model"
    finally:
        await directory.aclose()


async def test_status_and_prefetch_feed_the_voter_message() -> None:
    fleet = Fleet(a="refused", b="ok")
    directory = fleet.directory()
    try:
        assert await directory.prefetch([MODEL, "unknown/model"]) == {MODEL: "ready"}
        readiness = battle_readiness(await directory.status(), [MODEL])
        assert readiness.ready
        down = Fleet(a="refused").directory()
        try:
            readiness = battle_readiness(await down.status(), [MODEL])
            assert readiness.state == "failed" and not readiness.ready
        finally:
            await down.aclose()
    finally:
        await directory.aclose()


async def test_bearer_token_is_sent_to_the_replicas() -> None:
    fleet = Fleet(a="ok")
    directory = fleet.directory(headers={"Authorization": "Bearer hf_x"})
    try:
        await directory.acquire([MODEL], "battle")
        assert set(fleet.headers) == {"Bearer hf_x"}
    finally:
        await directory.aclose()


@pytest.mark.slow
async def test_real_stand_in_next_to_a_dead_port() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with start_standin(MODEL) as engine:
        directory = RemoteDirectory({MODEL: [dead, engine.url]}, poll_interval_s=0.05)
        try:
            lease = await directory.acquire([MODEL], "battle")
            assert lease.endpoints[MODEL] == engine.url
            status = await directory.status()
            states = {e["url"]: e["state"] for e in status["slots"][0]["engines"]}  # type: ignore[index]
            assert states == {dead: "failed", engine.url: "ready"}
        finally:
            await directory.aclose()
