"""`/readyz` and a real battle log: not ready as soon as the log stops taking writes
(its writer thread died, a write failed on the file), and at once, not after a timeout."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application

from app.core.store import BattleStore, StoreError
from app.core.store.blocks import FIRST_BLOCK
from app.web.health import CHECK_TIMEOUT_S, readiness_route
from tests.store_files import battle, build_log, logged_battle_id

REPO = Path(__file__).resolve().parents[1]


class Directory:
    async def status(self) -> dict[str, Any]:
        return {"slots": []}  # the supervisor answers: only the log can make it not ready


@dataclass
class Services:
    store: BattleStore
    directory: Directory


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BattleStore]:
    path = tmp_path / "arena.duckdb"
    build_log(path, 2000)
    with BattleStore(path) as s:
        yield s


@pytest.fixture
async def readyz(store: BattleStore) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app's real `/readyz` route, served on `store`."""
    sock, port = bind_unused_port()
    server = HTTPServer(Application([readiness_route(Services(store, Directory()))]))  # type: ignore[arg-type]
    server.add_sockets([sock])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.stop()
        await server.close_all_connections()


async def _database_check(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    answer = await client.get("/readyz")
    return answer.status_code, answer.json()["checks"]["database"]


async def test_ready_while_the_log_takes_writes(
    store: BattleStore, readyz: httpx.AsyncClient
) -> None:
    assert await _database_check(readyz) == (200, {"ok": True, "ms": pytest.approx(0, abs=3000)})
    before = store.count()
    await _database_check(readyz)
    assert store.count() == before  # the test battle was rolled back


async def test_not_ready_at_once_when_the_writer_thread_has_died(
    store: BattleStore, readyz: httpx.AsyncClient
) -> None:
    def kill_the_writer(con: duckdb.DuckDBPyConnection) -> None:
        raise SystemExit("the writer thread is gone")  # ends a thread, as any BaseException

    with pytest.raises(SystemExit):
        store.submit_write(kill_the_writer).result(timeout=10)
    started = time.monotonic()
    status, check = await _database_check(readyz)
    assert status == 503 and check["ok"] is False
    assert "writer" in check["error"] and "has stopped" in check["error"]
    assert time.monotonic() - started < CHECK_TIMEOUT_S / 2  # said, not timed out
    # And a voter's battle is refused at once instead of waiting forever.
    with pytest.raises(StoreError, match="has stopped"):
        await asyncio.wait_for(store.record_battle(battle("lost")), 5)


async def test_not_ready_after_a_write_failed_on_the_file(
    store: BattleStore, readyz: httpx.AsyncClient
) -> None:
    """The file loses its blocks while the app runs (restored over, truncated by a full
    disk): the next vote that needs them fails, and readiness says so from then on."""
    assert (await _database_check(readyz))[0] == 200
    sql = "SELECT block_size FROM pragma_database_size()"
    (size,) = store.read(lambda con: con.execute(sql).fetchone())  # type: ignore[misc]
    os.truncate(store.path, FIRST_BLOCK + size)
    with pytest.raises(duckdb.Error, match="Could not read"):
        await store.record_vote(logged_battle_id(1), "model_a")  # on disk, not voted
    status, check = await _database_check(readyz)
    assert status == 503
    assert "1 write(s) to the battle log failed since start" in check["error"]
    assert "Could not read" in check["error"] and "restart the app" in check["error"]
    # A later battle that happens to go through does not make the lost one good.
    await store.record_battle(battle("later"))
    assert (await _database_check(readyz))[0] == 503


DISK_FULL = """
    import asyncio, json, os, resource, signal, sys
    from pathlib import Path
    from app.core.store import BattleStore
    from app.web.health import readiness
    from tests.store_files import battle
    from tests.test_store_readiness import Directory, Services

    store = BattleStore(sys.argv[1])
    services = Services(store, Directory())
    store.record_battle_sync(battle("before"))
    print(json.dumps(asyncio.run(readiness(services))), flush=True)
    # The disk is full: no file of this process may grow (write() fails with EFBIG).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    wal = Path(sys.argv[1] + ".wal")
    resource.setrlimit(resource.RLIMIT_FSIZE, (wal.stat().st_size, resource.RLIM_INFINITY))
    try:
        store.record_battle_sync(battle("lost"))
        print(json.dumps({"recorded": True}), flush=True)
    except Exception as exc:
        print(json.dumps({"recorded": False, "error": str(exc)}), flush=True)
    print(json.dumps(asyncio.run(readiness(services))), flush=True)
    store.close()
"""


@pytest.mark.slow
def test_not_ready_when_the_disk_is_full(tmp_path: Path) -> None:
    """A real full disk (a file size limit on the app's process): the battle's commit
    fails, the battle is lost, and readiness turns 503 with DuckDB's reason."""
    path = tmp_path / "arena.duckdb"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DISK_FULL), str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    before, write, after = (json.loads(line) for line in proc.stdout.splitlines())
    assert before["ready"] is True
    assert write["recorded"] is False and "Could not write file" in write["error"]
    assert after["ready"] is False
    error = after["checks"]["database"]["error"]
    assert "failed since start" in error and "File too large" in error
