"""The supervisor for real: engine subprocesses, HTTP readiness, signals, process groups.

`test_supervisor_service_*` starts `oellm-arena supervisor` (`python -m app.cli
supervisor`) as a subprocess with the stand-in launcher, exactly as the demo does. The
launcher tests run the supervisor core in-process with `CommandLauncher` and a tiny HTTP
server script, so they do not depend on the stand-in engine.

Why this module is long: each test starts real processes through the same few helpers
(the service subprocess, the script launcher), kept with the tests that need them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import httpx
import pytest

from app.core.settings import Settings
from tests.conftest import free_port
from tgi.engine_runner import Lifecycle
from tgi.launchers import CommandLauncher, Launcher, StandinLauncher
from tgi.service import build_launcher
from tgi.slots import family_lookup
from tgi.supervisor import EngineFailed, Supervisor

LIFECYCLE_FIELDS = {f.name for f in fields(Lifecycle)}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

SWEDISH = ["MultiSynt/nemotron-cc-swedish-tower9b", "HPLT/hplt2c_swe_checkpoints"]
OTHER_SWEDISH = "MultiSynt/nemotron-cc-swedish-tower72b"
FAMILIES = {"ms-a": "multisynt", "hp-a": "hplt"}
SUPERVISOR_COMMAND = [sys.executable, "-m", "app.cli", "supervisor"]


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
            [*SUPERVISOR_COMMAND, "--host", "127.0.0.1", "--port", str(port)],
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


def make_supervisor(launcher: Launcher, **kwargs: object) -> Supervisor:
    """An in-process supervisor; `Lifecycle` fields may be given as keywords."""
    timing: dict = {
        "ready_timeout_s": 20.0,
        "poll_interval_s": 0.05,
        "stop_grace_s": 2.0,
        "max_restarts": 0,
        **{k: v for k, v in kwargs.items() if k in LIFECYCLE_FIELDS},
    }
    options: dict = {
        "first_engine_port": free_port(),
        "family_of": FAMILIES.__getitem__,
        **{k: v for k, v in kwargs.items() if k not in LIFECYCLE_FIELDS},
    }
    return Supervisor(launcher, lifecycle=Lifecycle(**timing), **options)


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


# --- the supervisor core over real stand-in engine processes ----------------------------------

FINNISH = ["MultiSynt/nemotron-cc-finnish-tower9b", "HPLT/hplt2c_fin_checkpoints"]


def standin_supervisor(**kwargs: object) -> tuple[Supervisor, StandinLauncher]:
    faults = kwargs.pop("faults", None)
    launcher = StandinLauncher(token_interval_s=0, startup_delay_s=0.1, faults=faults)  # type: ignore[arg-type]
    options: dict = {"family_of": family_lookup(), "poll_interval_s": 0.05, **kwargs}
    return make_supervisor(launcher, **options), launcher


def pids(sup: Supervisor) -> dict[str, int]:
    return {e["model"]: e["pid"] for s in sup.status()["slots"] for e in s["engines"]}


async def eventually(predicate: object, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_language_switch_lease_blocks_eviction_and_shared_load() -> None:
    sup, _ = standin_supervisor(models_per_gpu=1)
    try:
        swedish = await sup.acquire(SWEDISH, "swedish-battle")
        swedish_pids = pids(sup)
        # Four Finnish battles at once: they queue behind the Swedish lease...
        finnish = [asyncio.create_task(sup.acquire(FINNISH, f"fin-{i}")) for i in range(4)]
        await eventually(lambda: len(sup.status()["queue"]) == 4, "four queued requests")
        assert sup.status()["launches"] == 2  # nothing evicted while the lease is held
        assert not any(pid_gone(p) for p in swedish_pids.values())
        sup.release(swedish.lease_id)
        leases = await asyncio.gather(*finnish)
        # ...then share one load per model, and the Swedish engines are gone.
        assert sup.status()["launches"] == 4
        assert len({lease.endpoints[FINNISH[1]] for lease in leases}) == 1
        assert all(pid_gone(p) for p in swedish_pids.values())
        async with httpx.AsyncClient(trust_env=False) as client:
            info = await client.get(f"{leases[0].endpoints[FINNISH[0]]}/info")
        assert info.json()["model_id"] == FINNISH[0]
        for lease in leases:
            sup.release(lease.lease_id)
        finnish_pids = pids(sup)
    finally:
        await sup.shutdown()
    assert all(pid_gone(p) for p in finnish_pids.values())


async def test_residency_makes_returning_to_a_language_free() -> None:
    sup, _ = standin_supervisor()  # default memory model: four engines per GPU
    try:
        for pair in (SWEDISH, FINNISH, SWEDISH):
            sup.release((await sup.acquire(pair, "battle")).lease_id)
        assert sup.status()["launches"] == 4
        status = sup.status()
        assert {e["state"] for s in status["slots"] for e in s["engines"]} == {"ready"}
        assert status["slots"][0]["memory_used_gb"] == pytest.approx(32.6)
        engine_pids = pids(sup)
    finally:
        await sup.shutdown()
    assert all(pid_gone(p) for p in engine_pids.values())


async def test_crashing_engine_is_restarted_then_failed_with_its_output() -> None:
    crash = {FINNISH[1]: "exit:0.8"}  # every launch of it dies 0.8 s after starting
    sup, _ = standin_supervisor(
        faults=crash, max_restarts=1, backoff_s=0.1, failed_retry_after_s=60
    )
    try:
        lease = await sup.acquire(FINNISH, "battle-1")
        first_pid = pids(sup)[FINNISH[1]]
        await eventually(lambda: pid_gone(first_pid), "the crash")
        await eventually(lambda: sup.slots[1].engines[FINNISH[1]].restarts == 1, "the restart", 10)
        engine = sup.slots[1].engines[FINNISH[1]]
        await eventually(lambda: engine.state.value == "failed", "giving up", 10)
        assert engine.url == lease.endpoints[FINNISH[1]]  # restarted on the same port
        assert "exited unexpectedly with code 1 (gave up after 1 restarts)" in (engine.error or "")
        with pytest.raises(EngineFailed, match="hplt2c_fin") as err:
            await sup.acquire(FINNISH, "battle-2")
        assert any("fault exit:0.8: exiting with status 1" in line for line in err.value.log_tail)
        sup.release(lease.lease_id)
        ms_pid = pids(sup)[FINNISH[0]]
    finally:
        await sup.shutdown()
    assert pid_gone(ms_pid)


async def test_never_ready_engine_times_out_with_a_clear_error() -> None:
    sup, _ = standin_supervisor(faults={FINNISH[0]: "never-ready"}, ready_timeout_s=4.0)
    try:
        with pytest.raises(EngineFailed) as err:
            await sup.acquire(FINNISH, "battle-1")
        message = str(err.value)
        assert "MultiSynt/nemotron-cc-finnish-tower9b failed: not ready after 4 s" in message
        assert "(not accepting connections yet)" in message
        assert any("fault never-ready" in line for line in err.value.log_tail)
        engine = sup.slots[0].engines[FINNISH[0]]
        assert engine.state.value == "failed" and engine.process is not None
        stuck_pid = engine.process.pid
        await eventually(lambda: pid_gone(stuck_pid), "the stuck engine to be stopped")
    finally:
        await sup.shutdown()


def test_killed_supervisor_takes_its_engines_along(
    supervisor_proc: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    proc, url, log_path = supervisor_proc
    wait_healthy(proc, url, log_path)
    resp = httpx.post(f"{url}/acquire", json={"models": SWEDISH}, timeout=60, trust_env=False)
    assert resp.status_code == 200, resp.text
    status = httpx.get(f"{url}/status", trust_env=False).json()
    engine_pids = [e["pid"] for s in status["slots"] for e in s["engines"]]
    proc.kill()  # no chance to clean up: the kernel tells the engines (PR_SET_PDEATHSIG)
    proc.wait(10)
    for pid in engine_pids:
        wait_until(lambda p=pid: pid_gone(p), 10, f"engine {pid} to die with the supervisor")


# --- tgi/launch.sh --foreground under the supervisor, with a fake docker ----------------------

FAKE_DOCKER_RUNNING_STANDINS = """#!/usr/bin/env bash
# Fake docker: records argv; `run` execs a stand-in engine where docker would start TGI.
printf '%s\\n' "$@" --end-- >> "$FAKE_DOCKER_LOG"
case "$1" in
  info) exit 0 ;;
  container) exit 1 ;;
  stop | rm)
    pid=$(cat "$FAKE_DOCKER_DIR/${!#}.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
    exit 0 ;;
  run)
    shift
    while [ "$#" -gt 0 ]; do
      case "$1" in
        -p) published=${2#*:}; port=${published%%:*}; shift 2 ;;  # ADDRESS:PORT:80
        --name) name=$2; shift 2 ;;
        --model-id) model=$2; shift 2 ;;
        *) shift ;;
      esac
    done
    echo "$$" > "$FAKE_DOCKER_DIR/$name.pid"
    exec "$FAKE_PYTHON" -m tgi.standin.engine --model-id "$model" --port "$port" \\
      --startup-delay 0.1 --token-interval 0 ;;
esac
"""


async def test_launch_sh_containers_under_the_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (
        ("docker", FAKE_DOCKER_RUNNING_STANDINS),
        ("nvidia-smi", "#!/usr/bin/env bash\nprintf '0\\n1\\n'\n"),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(calls))
    monkeypatch.setenv("FAKE_DOCKER_DIR", str(tmp_path))
    monkeypatch.setenv("FAKE_PYTHON", sys.executable)
    settings = Settings(supervisor={"launcher": "tgi"})  # type: ignore[arg-type]
    launcher = build_launcher(settings)
    sup = make_supervisor(launcher, family_of=family_lookup())
    try:
        lease = await sup.acquire(SWEDISH, "battle-1")
        port = int(lease.endpoints[SWEDISH[1]].rsplit(":", 1)[1])
        engine_pids = pids(sup)
        sup.release(lease.lease_id)
    finally:
        await sup.shutdown()
    assert all(pid_gone(p) for p in engine_pids.values())
    recorded = [c.strip("\n").split("\n") for c in calls.read_text().split("--end--\n") if c]
    runs = [c for c in recorded if c[0] == "run"]
    hplt_run = next(r for r in runs if SWEDISH[1] in r)
    assert hplt_run[:7] == ["run", "--rm", "--name", f"arena-gpu1-{port}", "--gpus", "device=1",
                            "--shm-size"]  # fmt: skip
    assert hplt_run[-2:] == ["--cuda-memory-fraction", "0.20"]
    assert hplt_run[hplt_run.index("-p") + 1] == f"127.0.0.1:{port}:80"  # loopback only
    assert ["stop", f"arena-gpu1-{port}"] in recorded
