"""The supervisor's HTTP API and the app's directory clients, over real HTTP in-process.

The tornado app runs on the test's event loop with the fake launcher from
`test_supervisor.py`, so these tests start no processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from tornado.httpserver import HTTPServer

from app.arena.engines import (
    EngineDirectoryError,
    StaticDirectory,
    SupervisorDirectory,
    directory_from_settings,
)
from app.arena.remote_engines import RemoteDirectory
from app.core.settings import Settings
from tests.conftest import free_port
from tests.test_supervisor import FakeLauncher, make_supervisor
from tgi.supervisor import Supervisor
from tgi.supervisor_http import make_app

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
async def served(launcher: FakeLauncher) -> AsyncIterator[tuple[Supervisor, str]]:
    sup = make_supervisor(launcher, models_per_gpu=1)
    port = free_port()
    server = HTTPServer(make_app(sup))
    server.listen(port, address="127.0.0.1")
    yield sup, f"http://127.0.0.1:{port}"
    server.stop()
    await sup.shutdown()
    await server.close_all_connections()


@pytest.fixture
async def client(served: tuple[Supervisor, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served[1], timeout=10, trust_env=False) as c:
        yield c


async def test_acquire_status_release(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    resp = await client.post("/acquire", json={"models": ["ms-a", "hp-a"], "holder": "battle-7"})
    assert resp.status_code == 200, resp.text
    lease = resp.json()
    assert set(lease["endpoints"]) == {"ms-a", "hp-a"} and lease["holder"] == "battle-7"
    status = (await client.get("/status")).json()
    assert status["launcher"] == "fake" and status["queue"] == []
    engine = status["slots"][0]["engines"][0]
    assert engine["model"] == "ms-a" and engine["state"] == "ready"
    assert engine["url"] == lease["endpoints"]["ms-a"] and engine["leases"] == 1
    keys = {"model", "state", "url", "port", "leases", "loading_since", "load_seconds"}
    assert keys | {"last_used", "error", "log_tail"} <= set(engine)
    resp = await client.post("/release", json={"lease_id": lease["lease_id"]})
    assert resp.status_code == 200
    resp = await client.post("/release", json={"lease_id": lease["lease_id"]})
    assert resp.status_code == 404 and resp.json()["kind"] == "unknown_lease"


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"{not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (b'{"models": []}', 400, "bad_request"),
        (b'{"models": ["ms-a"], "timeout_s": -1}', 400, "bad_request"),
        (b'{"models": ["ms-a"], "timeout_s": true}', 400, "bad_request"),
        (b'{"models": ["ms-a"], "timeout_s": "5"}', 400, "bad_request"),
        (b'{"models": [""]}', 400, "bad_request"),
        (b'{"models": "ms-a"}', 400, "bad_request"),
        (b'{"models": ["ms-a"], "holder": 7}', 400, "bad_request"),
        (b'{"models": ["no/such-model"]}', 404, "unknown_model"),
    ],
)
async def test_acquire_errors(
    client: httpx.AsyncClient, body: bytes, status: int, kind: str
) -> None:
    resp = await client.post("/acquire", content=body)
    assert resp.status_code == status
    assert resp.json()["kind"] == kind and resp.json()["error"]


async def test_timeout_and_failed_engine(client: httpx.AsyncClient, launcher: FakeLauncher) -> None:
    held = (await client.post("/acquire", json={"models": ["ms-a"]})).json()
    resp = await client.post("/acquire", json={"models": ["ms-b"], "timeout_s": 0.1})
    assert resp.status_code == 504 and resp.json()["kind"] == "timeout"
    await client.post("/release", json={"lease_id": held["lease_id"]})
    launcher.crash = {"hp-b"}
    resp = await client.post("/acquire", json={"models": ["hp-b"]})
    assert resp.status_code == 503
    assert resp.json()["kind"] == "engine_failed"
    assert resp.json()["log_tail"][-1] == "CUDA out of memory"


async def test_prefetch(client: httpx.AsyncClient) -> None:
    resp = await client.post("/prefetch", json={"models": ["ms-a"]})
    assert resp.status_code == 202 and resp.json() == {"models": {"ms-a": "launched"}}
    resp = await client.post("/prefetch", json={"models": ["nope"]})
    assert resp.status_code == 404


async def test_client_hanging_up_gives_up_its_place(
    served: tuple[Supervisor, str], client: httpx.AsyncClient
) -> None:
    sup, url = served
    held = (await client.post("/acquire", json={"models": ["ms-a"]})).json()
    with pytest.raises(httpx.ReadTimeout):
        async with httpx.AsyncClient(base_url=url, timeout=0.2, trust_env=False) as impatient:
            await impatient.post("/acquire", json={"models": ["ms-b"], "holder": "gone"})
    for _ in range(100):
        if not sup.status()["queue"]:
            break
        await asyncio.sleep(0.02)
    assert sup.status()["queue"] == []
    await client.post("/release", json={"lease_id": held["lease_id"]})


async def test_supervisor_directory(served: tuple[Supervisor, str]) -> None:
    sup, url = served
    directory = SupervisorDirectory(url, timeout=5)
    try:
        lease = await directory.acquire(("ms-a", "hp-a"), holder="battle-1")
        assert lease.url("ms-a").startswith("http://127.0.0.1:")
        status = await directory.status()
        assert status is not None and status["leases"] == 1
        await directory.release(lease)
        assert sup.status()["leases"] == 0
        await directory.release(lease)  # unknown now: logged, not raised
        with pytest.raises(EngineDirectoryError) as err:
            await directory.acquire(["no/such-model"], holder="battle-2")
        assert err.value.kind == "unknown_model" and err.value.status == 404
    finally:
        await directory.aclose()


async def test_supervisor_directory_with_supervisor_down() -> None:
    directory = SupervisorDirectory(f"http://127.0.0.1:{free_port()}", timeout=1)
    try:
        with pytest.raises(EngineDirectoryError) as err:
            await directory.acquire(["ms-a"], holder="battle-1")
        assert err.value.kind == "unavailable"
        from app.arena.engines import Lease

        await directory.release(Lease("abc", {"ms-a": "http://x"}))  # must not raise
        assert await directory.status() is None
    finally:
        await directory.aclose()


async def test_static_directory() -> None:
    directory = StaticDirectory({"ms-a": "http://a:1/", "hp-a": "http://b:2"})
    lease = await directory.acquire(["ms-a", "hp-a"], holder="battle-1")
    assert lease.endpoints == {"ms-a": "http://a:1", "hp-a": "http://b:2"}
    await directory.release(lease)
    with pytest.raises(EngineDirectoryError, match="ms-b") as err:
        await directory.acquire(["ms-a", "ms-b"], holder="battle-2")
    assert err.value.kind == "unknown_model"


def test_directory_from_settings() -> None:
    assert isinstance(directory_from_settings(Settings()), StaticDirectory)
    settings = Settings(supervisor={"url": "http://127.0.0.1:8600"})  # type: ignore[arg-type]
    assert isinstance(directory_from_settings(settings), SupervisorDirectory)
    remote = Settings(
        supervisor={"remote_endpoints": {"m": ["http://a:1", "http://b:2"]}},  # type: ignore[arg-type]
        engine={"api_key": "hf_x"},  # type: ignore[arg-type]
    )
    directory = directory_from_settings(remote)
    assert isinstance(directory, RemoteDirectory)
    assert [r.url for r in directory.replicas["m"]] == ["http://a:1", "http://b:2"]


async def test_lease_ttl_renew_and_queue_time(client: httpx.AsyncClient) -> None:
    resp = await client.post("/acquire", json={"models": ["ms-a"], "ttl_s": 60})
    lease = resp.json()
    assert lease["ttl_s"] == 60 and lease["queued_s"] == 0
    assert lease["expires_at"] > time.time() + 55
    resp = await client.post("/renew", json={"lease_id": lease["lease_id"], "ttl_s": 600})
    assert resp.status_code == 200 and resp.json()["expires_at"] > time.time() + 590
    await client.post("/release", json={"lease_id": lease["lease_id"]})
    resp = await client.post("/renew", json={"lease_id": lease["lease_id"]})
    assert resp.status_code == 404 and resp.json()["kind"] == "unknown_lease"
    resp = await client.post("/renew", json={"lease_id": 5})
    assert resp.status_code == 400
    resp = await client.post("/acquire", json={"models": ["ms-a"], "ttl_s": "long"})
    assert resp.status_code == 400 and "ttl_s" in resp.json()["error"]


async def test_supervisor_directory_prefetch_and_renew(served: tuple[Supervisor, str]) -> None:
    _sup, url = served
    directory = SupervisorDirectory(url, timeout=5)
    try:
        assert await directory.prefetch(["ms-a", "hp-a"]) == {
            "ms-a": "launched",
            "hp-a": "launched",
        }
        assert await directory.prefetch(["no/such-model"]) is None  # 404: logged, not raised
        lease = await directory.acquire(["ms-a"], holder="battle-1")
        assert await directory.renew(lease, ttl_s=120) is True
        await directory.release(lease)
        assert await directory.renew(lease) is False
    finally:
        await directory.aclose()
    down = SupervisorDirectory(f"http://127.0.0.1:{free_port()}", timeout=1)
    try:
        assert await down.prefetch(["ms-a"]) is None
        assert await down.renew(lease) is False
    finally:
        await down.aclose()
