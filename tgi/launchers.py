"""How the supervisor starts and stops one inference engine on one GPU slot.

A `Launcher` turns (model, gpu, port) into a running `EngineProcess`; the supervisor never
cares whether that is the stand-in engine (demo, CI), a TGI container started through
`tgi/launch.sh`, or a bare-metal `text-generation-launcher`.

Every engine runs as a child process in its own process group, so stopping it reaches
whatever it spawned (a shell script's children, a launcher's shards): SIGTERM to the group,
then SIGKILL after a grace period. On Linux the child also asks the kernel for SIGTERM when
the supervisor dies, so engines do not outlive a supervisor that was killed outright.

Output (stdout and stderr, merged) is read asynchronously, kept in a ring buffer of the
last lines (shown in `/status` and in errors) and forwarded to the supervisor's log with a
`[model@port]` prefix, at the level `tgi.engine_log` picks (health-probe lines at debug).

Production runs `tgi/launch.sh --foreground`: the `docker run` client stays attached for
the container's lifetime (its exit is the engine's exit, its output the engine's log), and
`docker stop NAME` stops it; see `CommandLauncher`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import fnmatch
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from tgi.engine_log import relay_level

log = logging.getLogger("tgi.supervisor.engine")

LOG_LINES_KEPT = 200
_MAX_LINE = 1 << 20
_PR_SET_PDEATHSIG = 1


class EngineProcess(Protocol):
    """A started engine, as the supervisor sees it."""

    @property
    def pid(self) -> int | None: ...

    @property
    def returncode(self) -> int | None:
        """None while running, else the exit status (negative: killed by that signal)."""
        ...

    async def wait(self) -> int:
        """Wait until the process has exited; return its exit status."""
        ...

    def log_tail(self, n: int = 20) -> list[str]:
        """The last `n` lines the engine printed."""
        ...


class Launcher(Protocol):
    """Starts and stops engines. `name` appears in `/status` ("standin", "tgi")."""

    name: str

    async def start(
        self, model_id: str, gpu: int, port: int, *, memory_fraction: float = 1.0
    ) -> EngineProcess:
        """Start an engine for `model_id` on GPU `gpu`, serving HTTP on `port`, using at
        most `memory_fraction` of the GPU's memory."""
        ...

    async def stop(self, engine: EngineProcess, grace_s: float) -> None:
        """Stop the engine: politely, then by force after `grace_s` seconds."""
        ...


@runtime_checkable
class ScheduledEngine(Protocol):
    """An engine a batch scheduler places (a Slurm job): its URL is known only once it runs.

    The engine runner reads `endpoint()` instead of the URL the supervisor assigned, and
    shows `waiting()` while the scheduler has not started it (no GPU free yet)."""

    def endpoint(self) -> str | None:
        """The engine's base URL once the job runs, None while it waits."""
        ...

    def waiting(self) -> dict[str, object] | None:
        """While the job waits: `{"job_id", "reason", "queue_position"}`; else None."""
        ...


def engine_name(model_id: str, gpu: int, port: int) -> str:
    """A container-safe name for one engine, e.g. `arena-gpu0-8700`."""
    return f"arena-gpu{gpu}-{port}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class SubprocessEngine:
    """An engine running as a local child process (in its own process group)."""

    def __init__(self, proc: asyncio.subprocess.Process, label: str) -> None:
        self._proc = proc
        self.label = label
        self._lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES_KEPT)
        self._reader = asyncio.create_task(self._read_output(), name=f"output {label}")

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], label: str, env: dict[str, str] | None = None
    ) -> SubprocessEngine:
        preexec: Callable[[], None] | None = _die_with_parent if sys.platform == "linux" else None
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
            env=env,
            limit=_MAX_LINE,
        )
        return cls(proc, label)

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        code = await self._proc.wait()
        # The output pipe closes at exit; let the reader drain the last lines.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reader), 2.0)
        return code

    def log_tail(self, n: int = 20) -> list[str]:
        return list(self._lines)[-n:]

    async def _read_output(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: take what is buffered
                raw = await stream.read(_MAX_LINE)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip()
            level = relay_level(line)
            if level > logging.DEBUG:  # the tail shown on failure: no health-probe lines
                self._lines.append(line)
            log.log(level, "[%s] %s", self.label, line)

    def signal_group(self, sig: signal.Signals) -> None:
        """Send `sig` to the engine's process group (ignored if it is already gone)."""
        if self._proc.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    async def terminate(self, grace_s: float) -> int:
        """SIGTERM the process group, SIGKILL it after `grace_s`; return the exit status."""
        if self.returncode is None:
            self.signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), grace_s)
            except TimeoutError:
                log.warning("[%s] no exit %.0f s after SIGTERM: SIGKILL", self.label, grace_s)
        # Children that ignored SIGTERM (or outlived the leader) go now.
        self.signal_group(signal.SIGKILL)
        return await self.wait()


class StandinLauncher:
    """Runs `python -m tgi.standin.engine` as a child process: the demo and CI engine.

    Its simulated load time is `startup_delay_s` plus `startup_s_per_billion` per billion
    parameters of the model (see `tgi.residency.params_billion`), so bigger models load
    slower as they would for real. `faults` maps model ids (or glob patterns) to a
    start-up fault spec (`exit:N`, `never-ready`, ...) for demos and tests of failures.
    """

    name = "standin"

    def __init__(
        self,
        token_interval_s: float = 0.03,
        startup_delay_s: float = 1.0,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        *,
        startup_s_per_billion: float = 0.0,
        faults: Mapping[str, str] | None = None,
    ) -> None:
        self.token_interval_s = token_interval_s
        self.startup_delay_s = startup_delay_s
        self.startup_s_per_billion = startup_s_per_billion
        self.host = host
        self.extra_args = list(extra_args)
        self.faults = dict(faults or {})

    def startup_delay(self, model_id: str) -> float:
        from tgi.residency import params_billion

        extra = self.startup_s_per_billion * params_billion(model_id)
        return round(self.startup_delay_s + extra, 3)

    def fault_for(self, model_id: str) -> str | None:
        if model_id in self.faults:
            return self.faults[model_id]
        return next(
            (f for pat, f in self.faults.items() if fnmatch.fnmatchcase(model_id, pat)), None
        )

    def argv(self, model_id: str, gpu: int, port: int | str) -> list[str]:
        """The engine's command line (`port` may be a placeholder the caller fills)."""
        fault = self.fault_for(model_id)
        return [
            sys.executable,
            "-m",
            "tgi.standin.engine",
            "--model-id",
            model_id,
            "--port",
            str(port),
            "--host",
            self.host,
            "--token-interval",
            str(self.token_interval_s),
            "--startup-delay",
            str(self.startup_delay(model_id)),
            *(["--fault", fault] if fault else []),
            *self.extra_args,
        ]

    async def start(
        self, model_id: str, gpu: int, port: int, *, memory_fraction: float = 1.0
    ) -> SubprocessEngine:
        return await SubprocessEngine.spawn(self.argv(model_id, gpu, port), f"{model_id}@{port}")

    async def stop(self, engine: EngineProcess, grace_s: float) -> None:
        assert isinstance(engine, SubprocessEngine)
        await engine.terminate(grace_s)


class CommandLauncher:
    """Runs an argv template per engine; for TGI containers or bare-metal launchers.

    Placeholders `{model_id}`, `{gpu}`, `{port}`, `{name}` and `{memory_fraction}` are
    filled in each argument, e.g. `tgi/launch.sh --foreground --gpu {gpu} --model-id
    {model_id} --port {port} --name {name} --memory-fraction {memory_fraction}`.

    The command must stay in the foreground for the engine's lifetime: its exit is read as
    the engine's exit and its output is the engine's log. For containers that means
    `docker run` without `-d` (`launch.sh --foreground`); a detached `docker run -d` returns
    at once and would read as an engine that exited while loading (the error says so).
    Foreground also means a supervisor killed outright takes its containers along: the
    kernel sends the `docker run` client SIGTERM, which docker forwards to the container.

    Stopping runs `stop_template` first when one is given (`docker stop {name}`, since
    signalling the `docker run` client alone does not reliably stop the container), then
    terminates the command's process group as for any child process.
    """

    def __init__(
        self,
        argv_template: Sequence[str],
        stop_template: Sequence[str] | None = None,
        name: str = "tgi",
        env: dict[str, str] | None = None,
    ) -> None:
        if not argv_template:
            raise ValueError("CommandLauncher needs a command")
        self.argv_template = list(argv_template)
        self.stop_template = list(stop_template) if stop_template else None
        self.name = name
        self.env = env
        self._started: dict[int, dict[str, str]] = {}

    @classmethod
    def from_strings(
        cls, command: str, stop_command: str | None = None, name: str = "tgi"
    ) -> CommandLauncher:
        """Build from shell-like strings (split with `shlex`, never run through a shell)."""
        stop = shlex.split(stop_command) if stop_command else None
        return cls(shlex.split(command), stop, name=name)

    @staticmethod
    def _fill(template: Sequence[str], values: dict[str, str]) -> list[str]:
        return [part.format(**values) for part in template]

    def argv(self, model_id: str, gpu: int, port: int, memory_fraction: float = 1.0) -> list[str]:
        return self._fill(self.argv_template, self._values(model_id, gpu, port, memory_fraction))

    @staticmethod
    def _values(model_id: str, gpu: int, port: int, memory_fraction: float) -> dict[str, str]:
        return {
            "model_id": model_id,
            "gpu": str(gpu),
            "port": str(port),
            "name": engine_name(model_id, gpu, port),
            "memory_fraction": f"{memory_fraction:.2f}",
        }

    async def start(
        self, model_id: str, gpu: int, port: int, *, memory_fraction: float = 1.0
    ) -> SubprocessEngine:
        env = {**os.environ, **self.env} if self.env else None
        values = self._values(model_id, gpu, port, memory_fraction)
        engine = await SubprocessEngine.spawn(
            self._fill(self.argv_template, values), f"{model_id}@{port}", env=env
        )
        if engine.pid is not None:
            self._started[engine.pid] = values
        return engine

    async def stop(self, engine: EngineProcess, grace_s: float) -> None:
        assert isinstance(engine, SubprocessEngine)
        values = self._started.pop(engine.pid or -1, None)
        if self.stop_template and values is not None:
            running = engine.returncode is None
            await self._run_stop(self._fill(self.stop_template, values), grace_s, running)
        await engine.terminate(grace_s)

    async def _run_stop(self, argv: list[str], grace_s: float, running: bool = True) -> None:
        try:
            stopper = await SubprocessEngine.spawn(argv, f"stop {argv[-1]}")
        except OSError as exc:
            log.error("stop command %s failed to start: %s", shlex.join(argv), exc)
            return
        try:
            code = await asyncio.wait_for(stopper.wait(), grace_s + 5)
        except TimeoutError:
            code = await stopper.terminate(1.0)
        if code != 0:  # after a crash the container is usually gone already: no news
            level = logging.WARNING if running else logging.DEBUG
            log.log(level, "stop command %s exited %s", shlex.join(argv), code)
