"""The supervisor service: a `Supervisor` and its HTTP API built from settings, served
until SIGTERM or SIGINT.

`build_launcher` picks the engine launcher (`supervisor.launcher`: the stand-in, TGI or
vLLM containers through `tgi/launch.sh`, any command, or Slurm jobs), `build_supervisor` wires the
supervisor from `Settings` (GPUs, memory, lifecycle, the registry at
`registry_path`), `run_service` serves the API and stops every engine on the way out, and
`run_supervisor` is its blocking form behind `oellm-arena supervisor` (app/cli/main.py).
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import signal
import statistics
from pathlib import Path
from typing import Any

from tornado.httpserver import HTTPServer

from app.core.logs import setup_logging
from app.core.registry import load_registry
from app.core.settings import Settings
from tgi.engine_runner import Lifecycle
from tgi.gpu_memory import gpu_memory_gb
from tgi.launchers import CommandLauncher, Launcher, StandinLauncher
from tgi.load_history import LoadHistory
from tgi.residency import MemoryModel
from tgi.sleep_control import HttpSleepControl, host_budget_gb
from tgi.slots import family_lookup
from tgi.supervisor import Supervisor
from tgi.supervisor_http import make_app

log = logging.getLogger("tgi.supervisor")

LAUNCH_SH = Path(__file__).with_name("launch.sh")
CONTAINER_COMMAND = (
    f"{shlex.quote(str(LAUNCH_SH))} --foreground --engine {{engine}} --gpu {{{{gpu}}}} "
    "--model-id {{model_id}} --port {{port}} --name {{name}} "
    "--memory-fraction {{memory_fraction}}"
)
DEFAULT_TGI_COMMAND = CONTAINER_COMMAND.format(engine="tgi")
DEFAULT_VLLM_COMMAND = CONTAINER_COMMAND.format(engine="vllm")
CONTAINER_STOP_COMMAND = "docker stop {name}"
# A stand-in engine's launch-to-ready time is its simulated delay plus starting a Python
# interpreter and importing tornado: allow this much for the latter.
STANDIN_INTERPRETER_START_S = 1.0


def build_launcher(settings: Settings) -> Launcher:
    """The launcher `settings.supervisor` asks for; ValueError for one that cannot work.
    A `launch_command` with the default launcher (standin) means launcher `command`."""
    sup, standin = settings.supervisor, settings.standin
    command, stop_command = sup.launch_command, sup.stop_command
    if sup.launcher == "standin" and command is None:
        sleepy = [
            "--sleep-mode",
            *("--sleep-s", str(standin.sleep_s)),
            *("--wake-s-level1", str(standin.wake_s_level1)),
            *("--wake-s-level2", str(standin.wake_s_level2)),
        ]
        return StandinLauncher(
            standin.token_interval_s,
            standin.startup_delay_s,
            host=engine_host(sup.host),
            extra_args=sleepy if sup.sleep_level else (),
            startup_s_per_billion=standin.startup_s_per_billion_params,
            faults=standin.faults,
        )
    if sup.launcher in ("tgi", "slurm") and sup.sleep_level:
        raise ValueError(
            "TGI has no sleep mode: set supervisor.sleep_level to 0, or use launcher vllm"
            if sup.launcher == "tgi"
            else "a Slurm job keeps its GPU while its engine sleeps: set supervisor.sleep_level "
            "to 0, or run the supervisor inside one allocation with launcher vllm or command "
            "(docs/supervisor.md, Sleeping engines)"
        )
    if sup.launcher == "slurm":
        from tgi.slurm_launcher import SlurmLauncher

        return SlurmLauncher(settings)
    if sup.launcher in ("tgi", "vllm"):
        default = DEFAULT_TGI_COMMAND if sup.launcher == "tgi" else DEFAULT_VLLM_COMMAND
        # Engines are reached where the supervisor listens (loopback unless it listens on
        # one address of the machine): publish their ports there and nowhere else.
        default += f" --publish-address {shlex.quote(engine_host(sup.host))}"
        if sup.launcher == "vllm" and sup.sleep_level:
            default += " --sleep-mode"
        return CommandLauncher.from_strings(
            command or default, stop_command or CONTAINER_STOP_COMMAND, name=sup.launcher
        )
    if command is None:
        raise ValueError("launcher 'command' needs supervisor.launch_command (or --launch-command)")
    return CommandLauncher.from_strings(command, stop_command, name="command")


def engine_host(listen_host: str) -> str:
    """Where engines listen and are reached: the supervisor's host, loopback for a wildcard."""
    return "127.0.0.1" if listen_host in ("", "0.0.0.0", "::") else listen_host


def prior_load_s(settings: Settings, launcher: Launcher) -> float:
    """The load-time estimate before any load was measured: `expected_load_s` when set.

    For the stand-in, whose load time is known in advance (it follows model size), the
    default is what the typical model of the registry takes: the median over the models
    the arena will actually load, not one model picked by name, so a registry of bigger
    models (or `startup_s_per_billion_params`) moves the estimate along with the loads.
    """
    sup = settings.supervisor
    if not isinstance(launcher, StandinLauncher) or "expected_load_s" in sup.model_fields_set:
        return sup.expected_load_s
    models = load_registry(settings.registry_path).all_models()
    typical = statistics.median(launcher.startup_delay(m) for m in models)
    return round(typical + STANDIN_INTERPRETER_START_S, 3)


def build_supervisor(settings: Settings, launcher: Launcher | None = None) -> Supervisor:
    """The supervisor `settings` describe, on `launcher` (default: `build_launcher`)."""
    sup = settings.supervisor
    launcher = launcher or build_launcher(settings)
    return Supervisor(
        launcher,
        gpus=sup.gpus,
        memory=MemoryModel(
            gpu_memory_gb=gpu_memory_gb(settings),
            reserve_gb=sup.gpu_memory_reserve_gb,
            headroom_gb=sup.engine_headroom_gb,
            overrides=sup.model_memory_gb,
            max_engines=engines_per_slot(settings),
        ),
        lifecycle=Lifecycle(
            ready_timeout_s=sup.ready_timeout_s,
            poll_interval_s=sup.poll_interval_s,
            stop_grace_s=sup.stop_grace_s,
            health_interval_s=sup.health_interval_s,
            unhealthy_after=sup.unhealthy_after,
            max_restarts=sup.max_restarts,
            backoff_s=sup.restart_backoff_s,
            backoff_max_s=sup.restart_backoff_max_s,
        ),
        first_engine_port=sup.first_engine_port,
        acquire_timeout_s=sup.acquire_timeout_s,
        lease_ttl_s=sup.lease_ttl_s,
        failed_retry_after_s=sup.failed_retry_after_s,
        history=LoadHistory(prior_load_s(settings, launcher), path=sup.load_history_path),
        family_of=family_lookup(settings.registry_path),
        host=engine_host(sup.host),
        **sleep_options(settings, launcher),
    )


def engines_per_slot(settings: Settings) -> int | None:
    """`supervisor.models_per_gpu`; unset with the slurm launcher, 1: each engine is a job
    holding a whole GPU, so the memory model (several engines per GPU) would keep more
    jobs than a side's GPU, and a job the scheduler cannot place would wait for a GPU that
    no eviction frees. Set it higher on a cluster with GPUs to spare."""
    sup = settings.supervisor
    if sup.models_per_gpu is None and sup.launcher == "slurm":
        return 1
    return sup.models_per_gpu


def sleep_options(settings: Settings, launcher: Launcher) -> dict[str, Any]:
    """The supervisor's sleeping-engine arguments: none unless `supervisor.sleep_level`."""
    sup = settings.supervisor
    if not sup.sleep_level:
        return {}
    prior = 1.0  # a 2B model wakes in about a second (vLLM's figures, scaled)
    if isinstance(launcher, StandinLauncher):
        standin = settings.standin
        prior = standin.wake_s_level1 if sup.sleep_level == 1 else standin.wake_s_level2
    return {
        "sleep_level": sup.sleep_level,
        "sleeper": HttpSleepControl(),
        "host_memory_gb": host_budget_gb(sup.host_memory_gb, sup.host_memory_reserve_gb),
        "wakes": LoadHistory(default_s=prior),
    }


async def run_service(settings: Settings, launcher: Launcher | None = None) -> None:
    """Serve the API on `supervisor.host:port` until SIGTERM/SIGINT, then stop every
    engine and return."""
    host, port = settings.supervisor.host, settings.supervisor.port
    supervisor = build_supervisor(settings, launcher)
    server = HTTPServer(make_app(supervisor))
    server.listen(port, address=host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    prewarm = None
    if settings.supervisor.prewarm:
        models = load_registry(settings.registry_path).all_models()
        prewarm = asyncio.create_task(supervisor.prewarm(models), name="prewarm")
    memory = supervisor.memory
    log.info(
        "supervisor on http://%s:%d: %d slot(s) of %.0f GB (about %d engines each), launcher %s",
        host,
        port,
        len(supervisor.slots),
        memory.capacity_gb(0),
        memory.engines_fitting(0),
        supervisor.launcher.name,
    )
    try:
        await stop.wait()
    finally:
        log.info("shutting down: stopping every engine")
        if prewarm is not None:
            prewarm.cancel()
        server.stop()
        await supervisor.shutdown()
        close = getattr(supervisor.launcher, "aclose", None)
        if close is not None:  # the slurm launcher: scancel leftovers, stop the heartbeat
            await close()
        await server.close_all_connections()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("supervisor stopped")


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr unless the host program (the CLI) already set logging up."""
    setup_logging(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # else one line per readiness probe


def run_supervisor(settings: Settings, launcher: Launcher | None = None) -> int:
    """Run the service from `settings` until SIGTERM/SIGINT; return the exit status (0,
    or 2 for a configuration that cannot work)."""
    configure_logging()
    try:
        launcher = launcher or build_launcher(settings)
    except ValueError as exc:
        log.error("cannot start the supervisor: %s", exc)
        return 2
    asyncio.run(run_service(settings, launcher))
    return 0
