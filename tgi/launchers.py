"""How the supervisor starts, stops and probes one inference engine on one GPU slot.

A `Launcher` turns (model, gpu, port) into a running `EngineProcess`; the supervisor never
cares whether that is the stand-in engine (demo, CI), a TGI container started through
`tgi/launch.sh`, or a bare-metal `text-generation-launcher`.

Every engine runs as a child process in its own process group, so stopping it reaches
whatever it spawned (a shell script's children, a launcher's shards): SIGTERM to the group,
then SIGKILL after a grace period. On Linux the child also asks the kernel for SIGTERM when
the supervisor dies, so engines do not outlive a supervisor that was killed outright.

Output (stdout and stderr, merged) is read asynchronously, kept in a ring buffer of the
last lines (shown in `/status` and in errors) and forwarded to the supervisor's log with a
`[model@port]` prefix.

`HttpProbe` decides when an engine is ready, and `Engine` is the supervisor's record of one
launch (state, port, leases, timings, last output).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx

log = logging.getLogger("tgi.supervisor.engine")

LOG_LINES_KEPT = 200
LOG_TAIL_LINES = 20  # shown in /status and in errors
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

    async def start(self, model_id: str, gpu: int, port: int) -> EngineProcess:
        """Start an engine for `model_id` on GPU `gpu`, serving HTTP on `port`."""
        ...

    async def stop(self, engine: EngineProcess, grace_s: float) -> None:
        """Stop the engine: politely, then by force after `grace_s` seconds."""
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
            self._lines.append(line)
            log.info("[%s] %s", self.label, line)

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
    """Runs `python -m tgi.standin_engine` as a child process: the demo and CI engine."""

    name = "standin"

    def __init__(
        self,
        token_interval_s: float = 0.03,
        startup_delay_s: float = 1.0,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.token_interval_s = token_interval_s
        self.startup_delay_s = startup_delay_s
        self.host = host
        self.extra_args = list(extra_args)

    def argv(self, model_id: str, gpu: int, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tgi.standin_engine",
            "--model-id",
            model_id,
            "--port",
            str(port),
            "--host",
            self.host,
            "--token-interval",
            str(self.token_interval_s),
            "--startup-delay",
            str(self.startup_delay_s),
            *self.extra_args,
        ]

    async def start(self, model_id: str, gpu: int, port: int) -> SubprocessEngine:
        return await SubprocessEngine.spawn(self.argv(model_id, gpu, port), f"{model_id}@{port}")

    async def stop(self, engine: EngineProcess, grace_s: float) -> None:
        assert isinstance(engine, SubprocessEngine)
        await engine.terminate(grace_s)


class CommandLauncher:
    """Runs an argv template per engine; for TGI containers or bare-metal launchers.

    Placeholders `{model_id}`, `{gpu}`, `{port}` and `{name}` are filled in each argument,
    e.g. `tgi/launch.sh --gpu {gpu} --model-id {model_id} --port {port} --name {name}`.
    The command must stay in the foreground for the engine's lifetime (`docker run` without
    `-d`, or the launcher itself): its exit is read as the engine's exit.

    Stopping runs `stop_template` first when one is given (e.g. `docker stop {name}`, since
    signalling the `docker run` client does not reliably stop the container), then
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
        self._started: dict[int, tuple[str, int, int]] = {}

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

    def argv(self, model_id: str, gpu: int, port: int) -> list[str]:
        return self._fill(self.argv_template, self._values(model_id, gpu, port))

    @staticmethod
    def _values(model_id: str, gpu: int, port: int) -> dict[str, str]:
        name = engine_name(model_id, gpu, port)
        return {"model_id": model_id, "gpu": str(gpu), "port": str(port), "name": name}

    async def start(self, model_id: str, gpu: int, port: int) -> SubprocessEngine:
        env = {**os.environ, **self.env} if self.env else None
        engine = await SubprocessEngine.spawn(
            self.argv(model_id, gpu, port), f"{model_id}@{port}", env=env
        )
        if engine.pid is not None:
            self._started[engine.pid] = (model_id, gpu, port)
        return engine

    async def stop(self, engine: EngineProcess, grace_s: float) -> None:
        assert isinstance(engine, SubprocessEngine)
        key = self._started.pop(engine.pid or -1, None)
        if self.stop_template and key is not None:
            await self._run_stop(self._fill(self.stop_template, self._values(*key)), grace_s)
        await engine.terminate(grace_s)

    async def _run_stop(self, argv: list[str], grace_s: float) -> None:
        try:
            stopper = await SubprocessEngine.spawn(argv, f"stop {argv[-1]}")
        except OSError as exc:
            log.error("stop command %s failed to start: %s", shlex.join(argv), exc)
            return
        try:
            code = await asyncio.wait_for(stopper.wait(), grace_s + 5)
        except TimeoutError:
            code = await stopper.terminate(1.0)
        if code != 0:
            log.warning("stop command %s exited %s", shlex.join(argv), code)


class HttpProbe:
    """Is the engine at `url` ready to serve `model_id`? The same test for every engine.

    Connection refused means still loading. Ready means `GET /health` answers 200 and
    `GET /info` names the model (TGI, the stand-in) or, for OpenAI-compatible engines
    without `/info`, `GET /v1/models` lists it. A different model id on that port (another
    engine squatting on it) is never taken for ready. Returns None when ready, else a short
    reason for error messages.
    """

    def __init__(self, timeout_s: float = 3.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False)

    async def __call__(self, url: str, model_id: str) -> str | None:
        try:
            health = await self._client.get(f"{url}/health")
            if health.status_code != 200:
                return f"/health answered {health.status_code}"
            info = await self._client.get(f"{url}/info")
            if info.status_code == 200:
                served = info.json().get("model_id")
                return None if served == model_id else f"/info names {served!r}"
            models = await self._client.get(f"{url}/v1/models")
            if models.status_code == 200:
                ids = [m.get("id") for m in models.json().get("data", [])]
                return None if model_id in ids else f"/v1/models lists {ids}"
            return f"/info answered {info.status_code}"
        except httpx.ConnectError:
            return "not accepting connections yet"
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            return f"{type(exc).__name__}: {exc}"

    async def aclose(self) -> None:
        await self._client.aclose()


def port_is_free(host: str, port: int) -> bool:
    """Can a server bind `port` now? (SO_REUSEADDR, like the servers, so TIME_WAIT is free.)"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class EngineState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    STOPPING = "stopping"


@dataclass(eq=False)
class Engine:
    """One engine process serving one model in one slot (a new record per launch)."""

    model_id: str
    gpu: int
    port: int
    url: str
    state: EngineState = EngineState.LOADING
    process: EngineProcess | None = None
    leases: dict[str, str] = field(default_factory=dict)  # lease id -> holder
    loading_since: float | None = None
    load_seconds: float | None = None
    last_used: float = field(default_factory=time.time)
    error: str | None = None
    final_log: list[str] | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # ready or failed
    task: asyncio.Task[None] | None = None

    @property
    def resident(self) -> bool:
        return self.state in (EngineState.LOADING, EngineState.READY)

    def log_tail(self, n: int = LOG_TAIL_LINES) -> list[str]:
        if self.final_log is not None:
            return self.final_log[-n:]
        return self.process.log_tail(n) if self.process else []

    def as_status(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "state": str(self.state),
            "url": self.url,
            "port": self.port,
            "pid": self.process.pid if self.process else None,
            "leases": len(self.leases),
            "holders": sorted(set(self.leases.values())),
            "loading_since": self.loading_since,
            "load_seconds": self.load_seconds,
            "last_used": self.last_used,
            "error": self.error,
            "log_tail": self.log_tail() if self.state is EngineState.FAILED else [],
        }
