"""Engines as Slurm jobs, over a real single-node Slurm (deploy/slurm/local-cluster.sh).

Each test starts `oellm-arena supervisor` with `ARENA_SUPERVISOR__LAUNCHER=slurm` and
stand-in engines (`ARENA_SLURM__ENGINE=standin`, 0.2 s of simulated loading), drives it
over HTTP as the app does, and checks Slurm's own view with squeue. The cluster is started
once per session; if it cannot start, every test here fails with the script's output.
Jobs are told apart from anything else on the cluster by the ids the supervisor logged
("submitted job N").
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.arena.engine_status import battle_readiness
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "deploy" / "slurm" / "local-cluster.sh"
CLUSTER_DIR = Path(os.environ.get("ARENA_SLURM_CLUSTER_DIR", "/tmp/oellm-arena-slurm"))
SWEDISH = ["MultiSynt/nemotron-cc-swedish-tower9b", "HPLT/hplt2c_swe_checkpoints"]
FINNISH = ["MultiSynt/nemotron-cc-finnish-tower9b", "HPLT/hplt2c_fin_checkpoints"]
HEARTBEAT_TIMEOUT_S = 6


@pytest.fixture(scope="session")
def slurm_env() -> Iterator[dict[str, str]]:
    """The local cluster, started (or found running); the environment its clients need."""
    env = {**os.environ, "SLURM_CONF": str(CLUSTER_DIR / "slurm.conf")}
    was_running = _run([str(CLUSTER_SCRIPT), "status", str(CLUSTER_DIR)], env).returncode == 0
    started = time.monotonic()
    done = _run([str(CLUSTER_SCRIPT), "start", str(CLUSTER_DIR)], env, timeout=300)
    if done.returncode != 0:
        pytest.fail(
            f"deploy/slurm/local-cluster.sh start failed ({done.returncode}) after "
            f"{time.monotonic() - started:.0f} s:\n{done.stdout}{done.stderr}",
            pytrace=False,
        )
    yield env
    if not was_running:
        _run([str(CLUSTER_SCRIPT), "stop", str(CLUSTER_DIR)], env, timeout=60)


def _run(
    argv: list[str], env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def submitted(self) -> list[int]:
        return [int(n) for n in re.findall(r"submitted job (\d+)", self.log())]

    def status(self) -> dict:
        return httpx.get(f"{self.url}/status", timeout=10).json()

    def engines(self) -> dict[str, dict]:
        return {e["model"]: e for s in self.status()["slots"] for e in s["engines"]}

    def post(self, path: str, body: dict) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=90)

    def queue(self) -> dict[int, tuple[str, str, str]]:
        """Slurm's live jobs: id -> (name, state, reason)."""
        out = _run(["squeue", "-h", "-o", "%i|%j|%T|%r"], self.env).stdout
        rows = (line.split("|") for line in out.splitlines() if line.strip())
        return {int(i): (name, state, reason) for i, name, state, reason in rows}

    def live(self, jobs: list[int]) -> set[int]:
        return set(jobs) & set(self.queue())


@contextlib.contextmanager
def start_service(slurm_env: dict[str, str], tmp_path: Path, **overrides: str) -> Iterator[Service]:
    """`oellm-arena supervisor` on the slurm launcher (stand-in jobs unless overridden);
    SIGTERM at the end, and any job it left is cancelled."""
    port = free_port()
    env = {
        **slurm_env,
        "ARENA_SUPERVISOR__LAUNCHER": "slurm",
        "ARENA_SLURM__ENGINE": "standin",
        "ARENA_SLURM__STATE_DIR": str(tmp_path / "slurm-state"),
        "ARENA_SLURM__POLL_S": "0.3",
        "ARENA_SLURM__HEARTBEAT_S": "1",
        "ARENA_SLURM__HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S),
        "ARENA_SLURM__TIME_LIMIT": "10:00",
        "ARENA_SUPERVISOR__MODELS_PER_GPU": "1",
        "ARENA_SUPERVISOR__FIRST_ENGINE_PORT": str(free_port()),
        "ARENA_SUPERVISOR__RESTART_BACKOFF_S": "0.5",
        "ARENA_SUPERVISOR__READY_TIMEOUT_S": "60",
        "ARENA_STANDIN__STARTUP_DELAY_S": "0.2",
        "ARENA_STANDIN__TOKEN_INTERVAL_S": "0",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }
    log_path = tmp_path / "supervisor.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "supervisor", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    svc = Service(proc, f"http://127.0.0.1:{port}", log_path, env)
    try:
        wait_for(lambda: _healthy(svc), 30, "the supervisor to answer")
        yield svc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
        leftover = svc.live(svc.submitted())
        if leftover:  # never leave jobs for the next test, whatever happened
            _run(["scancel", *map(str, leftover)], env)


@pytest.fixture
def service(slurm_env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    with start_service(slurm_env, tmp_path) as svc:
        yield svc


def _healthy(svc: Service) -> bool:
    assert svc.proc.poll() is None, f"supervisor exited {svc.proc.returncode}:\n{svc.log()}"
    try:
        return httpx.get(f"{svc.url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def acquire(svc: Service, models: list[str]) -> dict:
    resp = svc.post("/acquire", {"models": models, "holder": "battle-slurm", "timeout_s": 60})
    assert resp.status_code == 200, f"{resp.text}\n{svc.log()}"
    return resp.json()


def test_a_battles_two_engines_are_slurm_jobs(service: Service) -> None:
    lease = acquire(service, SWEDISH)
    engines = service.engines()
    jobs = {m: engines[m]["pid"] for m in SWEDISH}  # a Slurm engine's pid is its job id
    queue = service.queue()
    for model, job in jobs.items():
        name, state, _ = queue[job]
        assert name.startswith("oellm-arena") and state == "RUNNING", queue[job]
        url = lease["endpoints"][model]
        info = httpx.get(f"{url}/info", timeout=5).json()  # the URL the job reported
        assert info["model_id"] == model
    assert sorted(jobs.values()) == sorted(service.submitted())
    assert service.status()["launcher"] == "slurm"


def test_shutdown_cancels_every_job(service: Service) -> None:
    acquire(service, SWEDISH)
    jobs = service.submitted()
    assert len(jobs) == 2 and service.live(jobs) == set(jobs)
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(40) == 0, service.log()
    wait_for(lambda: not service.live(jobs), 20, f"jobs {jobs} to leave the queue")


def test_a_language_switch_cancels_and_submits_jobs(service: Service) -> None:
    lease = acquire(service, SWEDISH)
    service.post("/release", {"lease_id": lease["lease_id"]})
    swedish_jobs = service.submitted()
    acquire(service, FINNISH)
    finnish_jobs = [j for j in service.submitted() if j not in swedish_jobs]
    assert len(finnish_jobs) == 2
    wait_for(lambda: not service.live(swedish_jobs), 30, "the Swedish jobs to be cancelled")
    assert service.live(finnish_jobs) == set(finnish_jobs)
    assert set(service.engines()) == set(FINNISH)


def test_a_job_cancelled_from_outside_is_restarted(service: Service) -> None:
    lease = acquire(service, SWEDISH)
    service.post("/release", {"lease_id": lease["lease_id"]})
    model = SWEDISH[1]
    first = service.engines()[model]["pid"]
    _run(["scancel", str(first)], service.env)

    def relaunched() -> dict | None:
        engine = service.engines()[model]
        fresh = engine["state"] == "ready" and engine["pid"] != first
        return engine if fresh else None

    engine = wait_for(relaunched, 60, "the cancelled engine to run again as a new job")
    assert engine["restarts"] >= 1  # type: ignore[index]
    assert "CANCELLED" in service.log() or "exited" in service.log()
    assert service.queue()[engine["pid"]][1] == "RUNNING"  # type: ignore[index]
    acquire(service, SWEDISH)  # and it serves battles again


def test_a_job_waiting_for_a_gpu_shows_the_waiting_state(service: Service) -> None:
    blocker = _run(
        [
            "sbatch",
            "--parsable",
            "--gres=gpu:2",
            "--job-name=test-blocker",
            "--time=5:00",
            "--output=/dev/null",
            "--wrap",
            "sleep 120",
        ],
        service.env,
    )
    assert blocker.returncode == 0, blocker.stderr
    blocker_id = int(blocker.stdout.strip().split(";")[0])
    try:
        wait_for(
            lambda: service.queue().get(blocker_id, ("", ""))[1] == "RUNNING", 30, "the blocker"
        )
        resp = service.post("/prefetch", {"models": SWEDISH})
        assert resp.status_code == 202

        def waiting() -> dict | None:
            status = service.status()
            engines = {e["model"]: e for s in status["slots"] for e in s["engines"]}
            pending = [
                e
                for e in engines.values()
                if e["state"] == "pending" and (e["waiting"] or {}).get("reason")
            ]
            return status if len(pending) == 2 else None

        status = wait_for(waiting, 30, "both engines to be pending, with Slurm's reason")
        engine = {e["model"]: e for s in status["slots"] for e in s["engines"]}[SWEDISH[0]]  # type: ignore[index]
        assert engine["waiting"]["reason"] in ("Resources", "Priority")
        assert engine["waiting"]["queue_position"] in (1, 2)
        readiness = battle_readiness(status, SWEDISH)  # type: ignore[arg-type]
        assert readiness.state == "waiting_gpu" and not readiness.ready
        assert readiness.queue_position in (1, 2)
    finally:
        _run(["scancel", str(blocker_id)], service.env)
    acquire(service, SWEDISH)  # the GPUs freed: both engines run and load


def test_a_killed_supervisor_leaves_no_job_behind(service: Service) -> None:
    acquire(service, SWEDISH)
    jobs = service.submitted()
    assert service.live(jobs) == set(jobs)
    service.proc.kill()  # SIGKILL: no shutdown, no scancel; only the heartbeat stops
    service.proc.wait(10)
    killed = time.monotonic()
    wait_for(lambda: not service.live(jobs), 60, f"jobs {jobs} to end by themselves")
    took = time.monotonic() - killed
    job_logs = [p.read_text() for p in Path(service.env["ARENA_SLURM__STATE_DIR"]).rglob("*.log")]
    stale = [text for text in job_logs if "no heartbeat from the supervisor" in text]
    assert len(stale) == 2, f"after {took:.1f} s; job logs:\n" + "\n".join(job_logs)


def test_local_cluster_start_is_idempotent_and_status_tells(
    slurm_env: dict[str, str], tmp_path: Path
) -> None:
    again = _run([str(CLUSTER_SCRIPT), "start", str(CLUSTER_DIR)], slurm_env)
    assert again.returncode == 0 and "already running" in again.stderr, again.stderr
    status = _run([str(CLUSTER_SCRIPT), "status", str(CLUSTER_DIR)], slurm_env)
    assert status.returncode == 0 and status.stdout.startswith("running: debug"), status.stdout
    assert "gpu:2" in status.stdout
    elsewhere = _run([str(CLUSTER_SCRIPT), "status", str(tmp_path / "none")], slurm_env)
    assert elsewhere.returncode == 1 and elsewhere.stdout.startswith("not running")
    bad = _run([str(CLUSTER_SCRIPT), "restart"], slurm_env)
    assert bad.returncode == 2 and "usage:" in bad.stderr


def test_local_cluster_script_is_shellcheck_clean() -> None:
    done = subprocess.run(["shellcheck", str(CLUSTER_SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


FAKE_APPTAINER = """#!/usr/bin/env bash
# Fake apptainer: records its argv, then runs a stand-in where TGI's image would start.
printf '%s\\n' "$@" > "$FAKE_APPTAINER_LOG.$$"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --model-id) model=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) shift ;;
  esac
done
exec "$FAKE_PYTHON" -m tgi.standin.engine --model-id "$model" --port "$port" \\
  --host 0.0.0.0 --startup-delay 0.1 --token-interval 0
"""


def test_tgi_jobs_run_the_pinned_image_through_apptainer(
    slurm_env: dict[str, str], tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apptainer").write_text(FAKE_APPTAINER)
    (bin_dir / "apptainer").chmod(0o755)
    record = tmp_path / "apptainer-argv"
    with start_service(
        slurm_env,
        tmp_path,
        ARENA_SLURM__ENGINE="tgi",
        ARENA_SLURM__MODEL_CACHE=str(tmp_path / "hf cache"),
        PATH=f"{bin_dir}:{os.environ['PATH']}",  # sbatch passes it on to the job
        FAKE_APPTAINER_LOG=str(record),
        FAKE_PYTHON=sys.executable,
    ) as svc:
        lease = acquire(svc, SWEDISH)
    runs = [p.read_text().splitlines() for p in tmp_path.glob("apptainer-argv.*")]
    assert len(runs) == 2
    hplt = next(r for r in runs if SWEDISH[1] in r)
    port = lease["endpoints"][SWEDISH[1]].rsplit(":", 1)[1]
    assert hplt == [
        "run", "--nv", "--bind", f"{tmp_path / 'hf cache'}:/data", "--env", "HF_HOME=/data",
        "docker://ghcr.io/huggingface/text-generation-inference:3.3.5",
        "--model-id", SWEDISH[1], "--hostname", "0.0.0.0", "--port", port,
        "--cuda-memory-fraction", "0.90", "--dtype", "bfloat16", "--max-input-tokens", "1536",
        "--max-total-tokens", "2048", "--max-batch-prefill-tokens", "2048",
        "--max-concurrent-requests", "64",
    ]  # fmt: skip


@pytest.mark.browser
def test_the_demo_plays_a_battle_whose_engines_are_slurm_jobs(
    slurm_env: dict[str, str], tmp_path: Path
) -> None:
    """README's Slurm demo, in a browser: `ARENA_SUPERVISOR__LAUNCHER=slurm
    ARENA_SLURM__ENGINE=standin uv run oellm-arena demo` plays and logs a battle while its
    two engines are running oellm-arena jobs, switches language onto two new jobs on the
    cluster's two GPUs, and leaves no job when stopped."""
    from playwright.sync_api import expect

    from benchmark.harness import chromium, run_demo

    env = {
        "SLURM_CONF": slurm_env["SLURM_CONF"],
        "ARENA_SUPERVISOR__LAUNCHER": "slurm",
        "ARENA_SLURM__ENGINE": "standin",
        "ARENA_SLURM__STATE_DIR": str(tmp_path / "slurm-state"),
        "ARENA_SLURM__POLL_S": "0.3",
        "ARENA_SLURM__TIME_LIMIT": "10:00",
        "ARENA_GENERATION__MAX_NEW_TOKENS": "16",
    }
    squeue = ["squeue", "-h", "-o", "%i|%j|%T"]

    def arena_jobs(demo_log: str) -> dict[int, str]:
        """This demo's live jobs (the ids its supervisor logged): id -> state."""
        ours = {int(n) for n in re.findall(r"submitted job (\d+)", demo_log)}
        out = _run(squeue, slurm_env).stdout
        rows = (line.split("|") for line in out.splitlines() if line.strip())
        return {
            int(i): state
            for i, name, state in rows
            if int(i) in ours and name.startswith("oellm-arena")
        }

    # Jobs of the tests before may still be ending (a killed supervisor's end by themselves).
    wait_for(lambda: not _run(squeue, slurm_env).stdout.strip(), 120, "the cluster to be idle")
    with run_demo(tmp_path, token_interval_s=0.01, extra_env=env) as demo, chromium() as browser:
        page = browser.new_page()
        page.goto(demo.url)
        expect(page.locator(".arena-readiness")).to_contain_text(
            "The Swedish models are ready.", timeout=90_000
        )
        running = arena_jobs(demo.log_text())
        assert sorted(running.values()) == ["RUNNING", "RUNNING"], (running, demo.log_text())
        page.get_by_label("Prompt").fill("Det var en gång en liten katt som")
        page.get_by_role("button", name="Generate").click()
        vote = page.get_by_role("button", name="A is better")
        expect(vote).to_be_enabled(timeout=60_000)
        vote.click()
        expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible(timeout=20_000)
        # Another language: its jobs replace the Swedish ones on the cluster's two GPUs.
        page.get_by_label("Language").select_option(label="Finnish · Suomi")
        expect(page.locator(".arena-readiness")).to_contain_text(
            "The Finnish models are ready.", timeout=90_000
        )
        finnish = arena_jobs(demo.log_text())
        assert len(finnish) == 2 and not set(finnish) & set(running), (finnish, running)
        assert demo.stop() == 0, demo.log_text()
    log = demo.log_text()
    wait_for(lambda: not arena_jobs(log), 60, "the demo's jobs to end")
    assert "Traceback" not in log, log
