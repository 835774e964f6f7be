"""The demo's supervisor: a real supervisor process with the stand-in launcher (or, with
`ARENA_SUPERVISOR__LAUNCHER=slurm`, stand-in engines as Slurm jobs).

`oellm-arena demo` runs the production path with stand-in engines: this module starts the
supervisor as a child process, waits until it answers, and stops it (and so every engine it
launched) when the demo ends, however it ends.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import TracebackType

import httpx

from app.core.procutil import child_preexec
from app.core.settings import Settings

log = logging.getLogger(__name__)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SupervisorProcess:
    """Context manager: a supervisor child process using stand-in engines."""

    def __init__(self, settings: Settings, start_timeout_s: float = 30.0) -> None:
        sup = settings.supervisor
        self.host = "127.0.0.1"
        if not _port_is_free(self.host, sup.port):
            if "port" in sup.model_fields_set:  # asked for explicitly: say so, don't move
                raise RuntimeError(f"the supervisor port {sup.port} is already in use")
            log.info("port %d is busy; the supervisor takes a free one", sup.port)
        self.port = sup.port if _port_is_free(self.host, sup.port) else _free_port(self.host)
        self.url = f"http://{self.host}:{self.port}"
        self._timeout = start_timeout_s
        self._slurm = sup.launcher == "slurm"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SupervisorProcess:
        env = dict(os.environ, ARENA_SUPERVISOR__LAUNCHER="standin", PYTHONUNBUFFERED="1")
        if self._slurm:  # stand-in engines as Slurm jobs (deploy/slurm/local-cluster.sh)
            env.update(ARENA_SUPERVISOR__LAUNCHER="slurm", ARENA_SLURM__ENGINE="standin")
        # The same command an operator runs (`oellm-arena supervisor`); `--config`, if the
        # demo had one, reaches it through ARENA_CONFIG_FILE in the environment.
        cmd = [
            sys.executable,
            "-m",
            "app.cli",
            "supervisor",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        log.info("starting the supervisor with stand-in engines on %s", self.url)
        self._proc = subprocess.Popen(cmd, env=env, preexec_fn=child_preexec)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._timeout
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the supervisor exited with code {self._proc.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the supervisor did not answer on {self.url} within {self._timeout}s")

    def stop(self, grace_s: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            log.warning("the supervisor did not stop within %.0fs; killing it", grace_s)
            proc.kill()
            proc.wait()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
