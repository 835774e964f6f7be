"""The supervisor for real: engine subprocesses, HTTP readiness, signals, process groups.

`test_supervisor_service_*` starts `python -m tgi.supervisor` as a subprocess with the
stand-in launcher, exactly as the demo does. The launcher tests run the supervisor core
in-process with `CommandLauncher` and a tiny HTTP server script, so they do not depend on
the stand-in engine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tgi.launchers import CommandLauncher
from tgi.supervisor import EngineFailed, Supervisor

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

SWEDISH = ["MultiSynt/nemotron-cc-swedish-tower9b", "HPLT/hplt2c_swe_checkpoints"]
OTHER_SWEDISH = "MultiSynt/nemotron-cc-swedish-tower72b"
FAMILIES = {"ms-a": "multisynt", "hp-a": "hplt"}


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) != 0


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(predicate: object, deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def supervisor_proc(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    env = {
        **os.environ,
        "ARENA_SUPERVISOR__LAUNCHER": "standin",
        "ARENA_SUPERVISOR__GPUS": "2",
        "ARENA_SUPERVISOR__MODELS_PER_GPU": "1",
        "ARENA_SUPERVISOR__FIRST_ENGINE_PORT": str(free_port()),
        "ARENA_SUPERVISOR__READY_TIMEOUT_S": "30",
        "ARENA_SUPERVISOR__ACQUIRE_TIMEOUT_S": "30",
        "ARENA_STANDIN__STARTUP_DELAY_S": "0.3",
        "ARENA_STANDIN__TOKEN_INTERVAL_S": "0",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "supervisor.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tgi.supervisor", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, f"http://127.0.0.1:{port}", log_path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"supervisor exited {proc.returncode}:\n{log_path.read_text()}"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"supervisor never healthy:\n{log_path.read_text()}")


def test_supervisor_service_with_standin_engines(
    supervisor_proc: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    proc, url, log_path = supervisor_proc
    wait_healthy(proc, url, log_path)
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
        resp = client.post("/acquire", json={"models": SWEDISH, "holder": "battle-test"})
        assert resp.status_code == 200, f"{resp.text}\n{log_path.read_text()}"
        lease = resp.json()
        assert set(lease["endpoints"]) == set(SWEDISH)
        for model, engine_url in lease["endpoints"].items():
            info = httpx.get(f"{engine_url}/info", timeout=5, trust_env=False)
            assert info.status_code == 200 and info.json()["model_id"] == model

        status = client.get("/status").json()
        assert status["launcher"] == "standin"
        engines = {e["model"]: e for s in status["slots"] for e in s["engines"]}
        assert [s["family"] for s in status["slots"]] == ["multisynt", "hplt"]
        assert [e["model"] for e in status["slots"][0]["engines"]] == [SWEDISH[0]]
        for model in SWEDISH:
            assert engines[model]["state"] == "ready" and engines[model]["leases"] == 1
            assert engines[model]["url"] == lease["endpoints"][model]
            assert engines[model]["load_seconds"] >= 0.3
        assert client.post("/release", json={"lease_id": lease["lease_id"]}).status_code == 200

        # One engine per GPU here: another MultiSynt model evicts the idle one on slot 0.
        old = engines[SWEDISH[0]]
        resp = client.post("/acquire", json={"models": [OTHER_SWEDISH], "holder": "battle-2"})
        assert resp.status_code == 200, resp.text
        assert port_closed(old["port"]) and pid_gone(old["pid"])
        client.post("/release", json={"lease_id": resp.json()["lease_id"]})
        status = client.get("/status").json()
    engines = [e for s in status["slots"] for e in s["engines"]]
    assert {e["model"] for e in engines} == {OTHER_SWEDISH, SWEDISH[1]}

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log_path.read_text()
    for engine in engines:
        assert port_closed(engine["port"]), f"engine on {engine['port']} outlived the supervisor"
        wait_until(lambda e=engine: pid_gone(e["pid"]), 5, f"engine pid {engine['pid']} to exit")
    log = log_path.read_text()
    for expected in (
        f"slot 0: launching {SWEDISH[0]} on port",
        f"slot 1: {SWEDISH[1]} ready after",
        f"slot 0: evicting {SWEDISH[0]} (LRU)",
        "acquired by battle-test for",
        "supervisor stopped",
    ):
        assert expected in log, f"{expected!r} not in the log:\n{log}"


def test_supervisor_service_unknown_model_and_bad_json(
    supervisor_proc: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    proc, url, log_path = supervisor_proc
    wait_healthy(proc, url, log_path)
    resp = httpx.post(f"{url}/acquire", json={"models": ["nobody/nothing"]}, trust_env=False)
    assert resp.status_code == 404 and resp.json()["kind"] == "unknown_model"
    resp = httpx.post(f"{url}/acquire", content=b"{", trust_env=False)
    assert resp.status_code == 400 and resp.json()["kind"] == "bad_request"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0, log_path.read_text()


TINY_ENGINE = textwrap.dedent(
    """
    import json, sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    model, port = sys.argv[1], int(sys.argv[2])
    print(f"loading {model}", flush=True)
    time.sleep(0.2)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"model_id": model}).encode()
            self.send_response(200 if self.path in ("/health", "/info") else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


def make_supervisor(launcher: CommandLauncher, **kwargs: object) -> Supervisor:
    options: dict = {
        "first_engine_port": free_port(),
        "ready_timeout_s": 20.0,
        "poll_interval_s": 0.05,
        "stop_grace_s": 2.0,
        **kwargs,
    }
    return Supervisor(launcher, family_of=FAMILIES.__getitem__, **options)


async def test_command_launcher_engine_ready_then_stopped(tmp_path: Path) -> None:
    script = tmp_path / "tiny_engine.py"
    script.write_text(TINY_ENGINE)
    launcher = CommandLauncher([sys.executable, str(script), "{model_id}", "{port}"])
    sup = make_supervisor(launcher)
    try:
        lease = await sup.acquire(["ms-a", "hp-a"], "battle-1")
        status = {e["model"]: e for s in sup.status()["slots"] for e in s["engines"]}
        assert all(e["state"] == "ready" for e in status.values())
        async with httpx.AsyncClient(trust_env=False) as client:
            info = await client.get(f"{lease.endpoints['hp-a']}/info")
        assert info.json() == {"model_id": "hp-a"}
        sup.release(lease.lease_id)
    finally:
        await sup.shutdown()
    for engine in status.values():
        assert port_closed(engine["port"]) and pid_gone(engine["pid"])


async def test_command_launcher_crash_reports_output(tmp_path: Path) -> None:
    crash = (
        "import sys; print('loading', sys.argv[1]); "
        "print('boom: no GPU', file=sys.stderr); sys.exit(3)"
    )
    launcher = CommandLauncher([sys.executable, "-c", crash, "{model_id}"])
    sup = make_supervisor(launcher)
    try:
        with pytest.raises(EngineFailed, match="code 3") as err:
            await sup.acquire(["ms-a"], "battle-1")
        assert err.value.log_tail == ["loading ms-a", "boom: no GPU"]
    finally:
        await sup.shutdown()


async def test_command_launcher_stop_template_runs(tmp_path: Path) -> None:
    script = tmp_path / "tiny_engine.py"
    script.write_text(TINY_ENGINE)
    marker = tmp_path / "stopped"
    launcher = CommandLauncher(
        [sys.executable, str(script), "{model_id}", "{port}"],
        stop_template=[sys.executable, "-c", f"open({str(marker)!r}, 'w').write('{{name}}')"],
    )
    sup = make_supervisor(launcher)
    try:
        lease = await sup.acquire(["ms-a"], "battle-1")
        port = int(lease.endpoints["ms-a"].rsplit(":", 1)[1])
        sup.release(lease.lease_id)
    finally:
        await sup.shutdown()
    assert marker.read_text() == f"arena-gpu0-{port}"
