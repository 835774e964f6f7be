"""The supervisor service built from settings (`tgi/service.py`) and `oellm-arena supervisor`.

The first tests build the supervisor in-process from `Settings` (the fake launcher, no
engine process); the slow ones run `python -m app.cli supervisor` as real processes:
its command-line options, and two supervisors on one machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.core.settings import Settings, load_settings
from tests.conftest import free_port
from tests.test_supervisor import FakeLauncher
from tests.test_supervisor_process import SWEDISH, TINY_ENGINE, wait_healthy
from tgi.errors import UnknownModel
from tgi.launchers import StandinLauncher
from tgi.service import (
    STANDIN_INTERPRETER_START_S,
    build_launcher,
    build_supervisor,
    engines_per_slot,
    prior_load_s,
)

pytestmark = pytest.mark.timeout(90)

SUPERVISOR_COMMAND = [sys.executable, "-m", "app.cli", "supervisor", "--host", "127.0.0.1"]
ONLY_HERE = {"ms": "Example/ms-only-here-7B", "hplt": "Example/hplt-only-here-7B"}
REGISTRY = f"""
[languages.zzz]
name = "Testish"
native_name = "Testish"
multisynt_models = ["{ONLY_HERE["ms"]}"]
hplt_model = "{ONLY_HERE["hplt"]}"
prompts = ["Once upon a time", "The capital is", "You need: 1."]
"""


@pytest.fixture
def registry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY)
    monkeypatch.setenv("ARENA_REGISTRY_PATH", str(path))
    return path


async def test_supervisor_from_settings_knows_the_registry_file(registry_file: Path) -> None:
    sup = build_supervisor(load_settings(), FakeLauncher())
    try:
        assert sup.slot_for(ONLY_HERE["ms"]).family == "multisynt"
        assert sup.slot_for(ONLY_HERE["hplt"]).family == "hplt"
        assert sup.prefetch([ONLY_HERE["hplt"]]) == {ONLY_HERE["hplt"]: "launched"}
        with pytest.raises(UnknownModel):
            sup.prefetch([SWEDISH[1]])  # built in, but not in this registry
    finally:
        await sup.shutdown()


def test_standin_load_prior_follows_the_registry_models(
    registry_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARENA_STANDIN__STARTUP_DELAY_S", "0.5")
    monkeypatch.setenv("ARENA_STANDIN__STARTUP_S_PER_BILLION_PARAMS", "2")
    settings = load_settings()
    launcher = build_launcher(settings)
    assert isinstance(launcher, StandinLauncher)
    # Both models of this registry are 7B: 0.5 s + 2 s x 7, plus the interpreter's start.
    assert prior_load_s(settings, launcher) == 0.5 + 14.0 + STANDIN_INTERPRETER_START_S
    monkeypatch.setenv("ARENA_SUPERVISOR__EXPECTED_LOAD_S", "42")
    assert prior_load_s(load_settings(), launcher) == 42.0  # configured: taken as it is
    tgi = Settings(supervisor={"launcher": "tgi"})  # type: ignore[arg-type]
    assert prior_load_s(tgi, build_launcher(tgi)) == tgi.supervisor.expected_load_s


def test_cli_supervisor_refuses_a_command_launcher_without_a_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARENA_SUPERVISOR__LAUNCHER", "command")
    result = CliRunner().invoke(main, ["supervisor"])
    assert result.exit_code == 2
    assert "launch_command (or --launch-command)" in result.output
    result = CliRunner().invoke(main, ["supervisor", "--help"])
    for option in ("--launch-command", "--stop-command", "--log-level", "--host", "--port"):
        assert option in result.output


# --- real supervisor processes ---------------------------------------------------------------


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def start_supervisor(
    processes: list[subprocess.Popen[bytes]], log_path: Path, *args: str, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`oellm-arena supervisor` on a free port (stand-in engines unless `env` says else),
    healthy; the process and its URL."""
    port = free_port()
    full_env = {
        **os.environ,
        "ARENA_SUPERVISOR__LAUNCHER": "standin",
        "ARENA_STANDIN__TOKEN_INTERVAL_S": "0",
        "ARENA_SUPERVISOR__MAX_RESTARTS": "0",  # a collision would fail, not be retried
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [*SUPERVISOR_COMMAND, "--port", str(port), *args],
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    processes.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, log_path)
    return proc, url


def engines(url: str) -> list[dict]:
    status = httpx.get(f"{url}/status", trust_env=False).json()
    return [e for s in status["slots"] for e in s["engines"]]


@pytest.mark.slow
def test_launch_and_stop_command_options(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    script = tmp_path / "tiny_engine.py"
    script.write_text(TINY_ENGINE)
    marker = tmp_path / "stopped"
    log_path = tmp_path / "supervisor.log"
    stop = f"{sys.executable} -c \"open('{marker}', 'w').write('{{name}}')\""
    proc, url = start_supervisor(
        processes,
        log_path,
        "--launch-command",
        f"{sys.executable} {script} {{model_id}} {{port}}",
        "--stop-command",
        stop,
        "--log-level",
        "warning",
        ARENA_SUPERVISOR__LAUNCHER="command",
        ARENA_SUPERVISOR__FIRST_ENGINE_PORT=str(free_port()),
    )
    resp = httpx.post(f"{url}/acquire", json={"models": SWEDISH[:1]}, timeout=30, trust_env=False)
    assert resp.status_code == 200, f"{resp.text}\n{log_path.read_text()}"
    engine_url = resp.json()["endpoints"][SWEDISH[0]]
    assert httpx.get(f"{engine_url}/info", trust_env=False).json() == {"model_id": SWEDISH[0]}
    assert httpx.get(f"{url}/health", trust_env=False).json()["launcher"] == "command"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log_path.read_text()
    port = engine_url.rsplit(":", 1)[1]
    assert marker.read_text() == f"arena-gpu0-{port}"  # the stop command ran, filled in
    assert "launching" not in log_path.read_text()  # --log-level warning: no INFO lines


@pytest.mark.slow
def test_two_supervisors_on_one_machine_give_their_engines_distinct_ports(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Two demos with the same engine ports configured, loading the same models at the same
    moment: each engine gets a port of its own, none is relaunched, both leases work."""
    first = str(free_port())
    urls = [
        start_supervisor(
            processes,
            tmp_path / f"supervisor-{i}.log",
            ARENA_SUPERVISOR__FIRST_ENGINE_PORT=first,
            # Engines bind their port only after loading: long enough for both supervisors
            # to have picked ports before either engine holds one.
            ARENA_STANDIN__STARTUP_DELAY_S="1.0",
        )[1]
        for i in range(2)
    ]

    def acquire(url: str) -> httpx.Response:
        body = {"models": SWEDISH, "holder": url}
        return httpx.post(f"{url}/acquire", json=body, timeout=60, trust_env=False)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(acquire, urls))
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("supervisor-*.log")))
    assert [a.status_code for a in answers] == [200, 200], f"{answers[0].text}\n{logs}"
    endpoints = [a.json()["endpoints"] for a in answers]
    ports = [{int(u.rsplit(":", 1)[1]) for u in e.values()} for e in endpoints]
    assert len(ports[0]) == len(ports[1]) == 2 and not ports[0] & ports[1], logs
    for url, leased in zip(urls, endpoints, strict=True):
        for model, engine_url in leased.items():
            info = httpx.get(f"{engine_url}/info", timeout=5, trust_env=False)
            assert info.json()["model_id"] == model
        status = engines(url)
        assert {e["url"] for e in status} == set(leased.values())
        assert all(e["state"] == "ready" and e["restarts"] == 0 for e in status), status
    pids = {e["pid"] for url in urls for e in engines(url)}
    assert len(pids) == 4  # four engine processes, none shared by the two supervisors


async def test_sleeping_engines_from_settings() -> None:
    standin = Settings(
        supervisor={"sleep_level": 1, "host_memory_gb": 64},  # type: ignore[arg-type]
        standin={"wake_s_level1": 0.4},  # type: ignore[arg-type]
    )
    launcher = build_launcher(standin)
    assert isinstance(launcher, StandinLauncher)
    argv = launcher.argv("HPLT/hplt2c_swe_checkpoints", 0, 8700)
    assert argv[argv.index("--sleep-mode") :][:5] == [
        "--sleep-mode", "--sleep-s", "0.05", "--wake-s-level1", "0.4",
    ]  # fmt: skip
    sup = build_supervisor(standin, launcher)
    try:
        assert (sup.sleep_level, sup.host_memory_gb) == (1, 64)
        assert sup.wakes.estimate("any") == 0.4  # the stand-in's wake time, before any wake
    finally:
        await sup.shutdown()
    vllm = build_launcher(Settings(supervisor={"launcher": "vllm", "sleep_level": 2}))
    assert "--sleep-mode" in vllm.argv("m/x", 0, 8700)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="TGI has no sleep mode"):
        build_launcher(Settings(supervisor={"launcher": "tgi", "sleep_level": 1}))
    # Slurm: one job (one GPU) per side unless told otherwise.
    assert engines_per_slot(Settings(supervisor={"launcher": "slurm"})) == 1  # type: ignore[arg-type]
    more = Settings(supervisor={"launcher": "slurm", "models_per_gpu": 3})  # type: ignore[arg-type]
    assert engines_per_slot(more) == 3
    assert engines_per_slot(Settings()) is None  # memory decides
    with pytest.raises(ValueError, match="keeps its GPU while its engine sleeps"):
        build_launcher(Settings(supervisor={"launcher": "slurm", "sleep_level": 1}))
    awake = build_launcher(Settings())
    assert "--sleep-mode" not in awake.argv("m/x", 0, 8700)  # type: ignore[attr-defined]
