"""The `slurm` launcher: every engine is a Slurm job with one GPU.

`SlurmLauncher.start` writes the job script (`tgi.slurm_jobs.JobScript`) for the engine
`ARENA_SLURM__ENGINE` names and submits it; the `SlurmEngine` it returns follows the job
through `scontrol` every `poll_s`:

- pending: `waiting()` gives the reason and the queue position (the page says "waiting
  for a GPU"), `endpoint()` is None;
- running: the job has written `host port address` to its endpoint file; `endpoint()` is
  that URL (the address where this machine cannot resolve the node's name),
  which the supervisor probes like any engine's;
- ended (scancel from outside, preemption, the time limit, a crash): `wait()` returns and
  the engine runner treats it as a crashed engine (restart with backoff).

No job outlives its supervisor for long: the launcher touches a heartbeat file every
`heartbeat_s` and each job script stops its engine when the heartbeat is older than
`heartbeat_timeout_s`; every job also has a `--time` limit. `stop` and `aclose` scancel.

Files live in a directory per supervisor run under `state_dir`, which must be shared by
the supervisor's host and the GPU nodes: `heartbeat`, and per job `<key>.sh`,
`<key>.endpoint`, `<key>.log` (the job's output, whose tail errors and `/status` show).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import socket
import sys
import time
import uuid
from pathlib import Path

from app.core.settings import Settings, SlurmSettings
from tgi import slurm_jobs
from tgi.launchers import EngineProcess, StandinLauncher
from tgi.slurm_jobs import PORT_PLACEHOLDER, RUNTIME_PLACEHOLDER, JobOptions, JobScript

log = logging.getLogger("tgi.supervisor.slurm")

REPO_ROOT = Path(__file__).resolve().parents[1]
TGI_ARGS = (
    "--dtype bfloat16 --max-input-tokens 1536 --max-total-tokens 2048 "
    "--max-batch-prefill-tokens 2048 --max-concurrent-requests 64"
)
VLLM_ARGS = "--dtype bfloat16 --max-model-len 2048 --max-num-seqs 64"


def payload_argv(settings: Settings, model_id: str) -> list[str]:
    """What one engine job runs for `model_id`; `{port}` (and `{container_runtime}`) are
    filled in on the node by the job script."""
    slurm, standin = settings.slurm, settings.standin
    fraction = f"{slurm.memory_fraction:.2f}"
    if slurm.engine == "standin":
        launcher = StandinLauncher(
            standin.token_interval_s,
            standin.startup_delay_s,
            host=slurm.bind_host,
            startup_s_per_billion=standin.startup_s_per_billion_params,
            faults=standin.faults,
        )
        return launcher.argv(model_id, 0, PORT_PLACEHOLDER)
    if slurm.engine == "tgi":
        return [
            RUNTIME_PLACEHOLDER,
            "run",
            "--nv",
            "--bind",
            f"{os.path.expanduser(slurm.model_cache)}:/data",
            "--env",
            "HF_HOME=/data",
            slurm.image,
            "--model-id",
            model_id,
            "--hostname",
            slurm.bind_host,
            "--port",
            PORT_PLACEHOLDER,
            "--cuda-memory-fraction",
            fraction,
            *TGI_ARGS.split(),
        ]
    if slurm.engine == "vllm":
        return [
            "vllm",
            "serve",
            model_id,
            "--host",
            slurm.bind_host,
            "--port",
            PORT_PLACEHOLDER,
            "--served-model-name",
            model_id,
            "--gpu-memory-utilization",
            fraction,
            *VLLM_ARGS.split(),
        ]
    command = settings.supervisor.launch_command
    if not command:
        raise ValueError("ARENA_SLURM__ENGINE=command needs supervisor.launch_command")
    values = {
        "model_id": model_id,
        "gpu": "0",
        "port": PORT_PLACEHOLDER,
        "name": slurm_jobs.job_name(model_id),
        "memory_fraction": fraction,
    }
    return [part.format(**values) for part in shlex.split(command)]


class SlurmEngine:
    """One engine job, followed through scontrol (an `EngineProcess` and a
    `ScheduledEngine`; `pid` is the job id)."""

    def __init__(
        self, job_id: int, endpoint_file: Path, log_file: Path, poll_s: float, partition: str | None
    ) -> None:
        self.job_id = job_id
        self.endpoint_file = endpoint_file
        self.log_file = log_file
        self.partition = partition
        self._poll_s = poll_s
        self._info = slurm_jobs.JobInfo(job_id, "PENDING")
        self._position: int | None = None
        self._endpoint: str | None = None
        self._returncode: int | None = None
        self._ended = asyncio.Event()
        self._poller = asyncio.create_task(self._follow(), name=f"slurm job {job_id}")

    @property
    def pid(self) -> int | None:
        return self.job_id

    @property
    def returncode(self) -> int | None:
        return self._returncode

    @property
    def state(self) -> str:
        return self._info.state

    async def wait(self) -> int:
        await self._ended.wait()
        assert self._returncode is not None
        return self._returncode

    def endpoint(self) -> str | None:
        if self._returncode is not None:
            return None
        if self._endpoint is None:  # the job writes it once running: no need to wait for
            self._endpoint = _read_endpoint(self.endpoint_file)  # scontrol to say so
        return self._endpoint

    def waiting(self) -> dict[str, object] | None:
        if self._endpoint is not None or self._returncode is not None:
            return None
        return {
            "job_id": self.job_id,
            "reason": self._info.reason if self._info.reason not in ("", "None") else None,
            "queue_position": self._position,
        }

    def log_tail(self, n: int = 20) -> list[str]:
        try:
            with self.log_file.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                lines = f.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            return []
        return lines[-n:]

    async def refresh(self) -> None:
        """Ask scontrol once; read the endpoint file once the job runs."""
        info = await slurm_jobs.job_info(self.job_id)
        self._info = info
        if info.state == "PENDING":
            self._position = await slurm_jobs.queue_position(self.job_id, self.partition)
        elif self._endpoint is None and info.state == "RUNNING":
            self._endpoint = _read_endpoint(self.endpoint_file)
        if info.ended:
            self._finish(info.exit_code if info.exit_code is not None else 1, info)

    def _finish(self, code: int, info: slurm_jobs.JobInfo) -> None:
        if self._returncode is None:
            self._returncode = code
            log.info("job %d ended: %s (%s), status %d", self.job_id, info.state, info.reason, code)
            self._ended.set()

    async def _follow(self) -> None:
        failures = 0
        while self._returncode is None:
            try:
                await self.refresh()
                failures = 0
            except slurm_jobs.SlurmError as exc:
                failures += 1  # a busy controller: keep asking, but say so
                log.warning("job %d: %s", self.job_id, exc)
                if failures >= 30:
                    self._finish(1, slurm_jobs.JobInfo(self.job_id, "UNKNOWN", str(exc)))
            if self._returncode is None:
                await asyncio.sleep(self._poll_s)

    async def stop(self, grace_s: float) -> None:
        """scancel, then wait (bounded) until scontrol says the job ended."""
        if self._returncode is None:
            try:
                await slurm_jobs.cancel(self.job_id)
            except slurm_jobs.SlurmError as exc:
                log.warning("job %d: %s", self.job_id, exc)
            self._poll_s = min(self._poll_s, 0.2)  # the GPU is wanted back: look often
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), grace_s + 15)
        self._poller.cancel()


def _read_endpoint(path: Path) -> str | None:
    """`http://host:port` from a job's endpoint file (`host port [address]`), with the
    address instead of a host name this machine cannot resolve; None until it exists."""
    try:
        host, port, *address = path.read_text().split()
    except (OSError, ValueError):
        return None
    if not port.isdigit():
        return None
    if address:
        try:
            socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        except OSError:
            log.warning("cannot resolve the node name %s: using its address %s", host, address[0])
            host = address[0]
    return f"http://{host}:{int(port)}"


class SlurmLauncher:
    """Starts each engine as a Slurm job (see the module docs)."""

    name = "slurm"

    def __init__(self, settings: Settings) -> None:
        slurm_jobs.require_tools()
        self.settings = settings
        cfg: SlurmSettings = settings.slurm
        if settings.slurm.engine == "command" and not settings.supervisor.launch_command:
            raise ValueError("ARENA_SLURM__ENGINE=command needs ARENA_SUPERVISOR__LAUNCH_COMMAND")
        self.options = JobOptions(
            cfg.partition, cfg.account, cfg.time_limit, cfg.gpu_option, tuple(cfg.sbatch_options)
        )
        run_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.run_dir = cfg.state_dir.expanduser().resolve() / f"supervisor-{run_id}"
        self.heartbeat_file = self.run_dir / "heartbeat"
        self.jobs: dict[int, SlurmEngine] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    def _beat(self) -> None:
        self.heartbeat_file.touch()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.slurm.heartbeat_s)
            try:
                self._beat()
            except OSError as exc:
                log.warning("cannot touch the heartbeat %s: %s", self.heartbeat_file, exc)

    def script(self, model_id: str, key: str) -> JobScript:
        env = {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        if self.settings.slurm.engine == "standin":
            env["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        return JobScript(
            payload=payload_argv(self.settings, model_id),
            endpoint_file=self.run_dir / f"{key}.endpoint",
            heartbeat_file=self.heartbeat_file,
            heartbeat_timeout_s=self.settings.slurm.heartbeat_timeout_s,
            env=env,
            workdir=REPO_ROOT if self.settings.slurm.engine == "standin" else None,
        )

    async def start(
        self, model_id: str, gpu: int, port: int, *, memory_fraction: float = 1.0
    ) -> SlurmEngine:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._beat()
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="slurm heartbeat")
        key = f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:8]}"
        script = self.script(model_id, key)
        path = self.run_dir / f"{key}.sh"
        path.write_text(script.render())
        path.chmod(0o700)
        output = self.run_dir / f"{key}.log"
        job_id = await slurm_jobs.submit(self.options, slurm_jobs.job_name(model_id), path, output)
        self.jobs = {i: j for i, j in self.jobs.items() if j.returncode is None}  # ended ones
        log.info("submitted job %d for %s (%s)", job_id, model_id, path)
        engine = SlurmEngine(
            job_id, script.endpoint_file, output, self.settings.slurm.poll_s, self.options.partition
        )
        self.jobs[job_id] = engine
        return engine

    async def stop(self, engine: EngineProcess, grace_s: float) -> None:
        assert isinstance(engine, SlurmEngine)
        await engine.stop(grace_s)
        self.jobs.pop(engine.job_id, None)

    async def aclose(self) -> None:
        """scancel every job still known and stop the heartbeat (jobs then end by themselves
        within `heartbeat_timeout_s` even if scancel failed)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        live = [j for j in self.jobs.values() if j.returncode is None]
        await asyncio.gather(*(j.stop(5.0) for j in live), return_exceptions=True)
        self.jobs.clear()
        with contextlib.suppress(OSError):
            self.heartbeat_file.unlink()
