"""Start a real stand-in engine process for a test (a helper module, not a fixture file).

    with start_standin("HPLT/hplt2c_swe_checkpoints", token_interval=0.005) as engine:
        httpx.get(f"{engine.url}/health")

The engine runs as `python -m tgi.standin.engine` on a free port, exactly as the supervisor
launches it. `start_standin` waits until `GET /health` answers 200 (polling against a
deadline), and on exit sends SIGTERM and checks that the engine shut down cleanly (exit
status 0). Its stderr log is kept in a temporary file: `engine.log()` reads it, and it is
included in every failure message.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from app.arena.engines import StaticDirectory
from app.arena.services import ArenaServices
from app.core.inference.factory import make_client
from app.core.registry import load_registry
from app.core.settings import Settings
from app.core.store.battle_store import BattleStore
from tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class StandinError(AssertionError):
    """The stand-in did not start, or did not stop cleanly; the message has its log."""


@dataclass
class Standin:
    """A running stand-in engine process."""

    model_id: str
    port: int
    proc: subprocess.Popen[bytes]
    log_file: IO[bytes]
    host: str = "127.0.0.1"
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def http(self) -> httpx.Client:
        """A client for this engine (`base_url` set), reused across calls: building an
        httpx client costs tens of milliseconds."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=10.0)
        return self._http

    def log(self) -> str:
        self.log_file.flush()
        return Path(self.log_file.name).read_text("utf-8", errors="replace")

    def set_fault(self, fault: str | None, times: int | None = None) -> dict:
        """Set (or clear, with None) the request-level fault via `POST /standin/fault`."""
        response = self.http.post("/standin/fault", json={"fault": fault, "times": times})
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        return self.http.get("/standin/faults").json()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll `GET /health` until 200; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StandinError(
                    f"stand-in exited with {self.proc.returncode} before ready:\n{self.log()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.02)
        raise StandinError(f"stand-in not ready after {timeout} s:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM (if still running) and wait; the exit status."""
        if self._http is not None:
            self._http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise StandinError(f"stand-in ignored SIGTERM:\n{self.log()}") from None
        return self.proc.returncode


def standin_argv(
    model_id: str,
    port: int,
    *,
    token_interval: float = 0.0,
    startup_delay: float = 0.0,
    fault: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    argv = [sys.executable, "-m", "tgi.standin.engine", "--model-id", model_id]
    argv += ["--port", str(port), "--token-interval", str(token_interval)]
    argv += ["--startup-delay", str(startup_delay)]
    if fault:
        argv += ["--fault", fault]
    return [*argv, *extra_args]


@contextlib.contextmanager
def start_standin(
    model_id: str,
    *,
    token_interval: float = 0.0,
    startup_delay: float = 0.0,
    fault: str | None = None,
    extra_args: Sequence[str] = (),
    wait_ready: bool = True,
    expect_clean_exit: bool = True,
) -> Iterator[Standin]:
    """Run a stand-in engine for the duration of the `with` block.

    `wait_ready=False` returns as soon as the process is started (for `never-ready` or
    start-up tests). With `expect_clean_exit`, an engine still running at the end must stop
    on SIGTERM with status 0; one that already exited (e.g. the `exit:N` fault) is left
    for the test to judge through `proc.returncode`.
    """
    port = free_port()
    argv = standin_argv(
        model_id,
        port,
        token_interval=token_interval,
        startup_delay=startup_delay,
        fault=fault,
        extra_args=extra_args,
    )
    with tempfile.NamedTemporaryFile(prefix="standin-", suffix=".log") as log_file:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=log_file, stderr=log_file)
        engine = Standin(model_id, port, proc, log_file)
        try:
            if wait_ready:
                engine.wait_ready()
            yield engine
        finally:
            exited_on_its_own = proc.poll() is not None
            status = engine.stop()
        if expect_clean_exit and not exited_on_its_own and status != 0:
            raise StandinError(f"stand-in exited with {status} on SIGTERM:\n{engine.log()}")


def standin_services(
    settings: Settings, store: BattleStore, endpoints: Mapping[str, str], **extra: Any
) -> ArenaServices:
    """The arena's shared services over engines at fixed URLs (`{model id: url}`), as the
    session tests use them: the built-in registry, the real clients over real HTTP."""
    return ArenaServices(
        settings=settings,
        registry=load_registry(),
        store=store,
        directory=StaticDirectory(dict(endpoints)),
        make_client=lambda url, model: make_client(url, model, settings.engine),
        **extra,
    )


@contextlib.contextmanager
def start_standins(paces: Mapping[str, float]) -> Iterator[dict[str, Standin]]:
    """One stand-in per model, `{model id: seconds per token}`; all stopped on exit."""
    with contextlib.ExitStack() as stack:
        yield {
            model: stack.enter_context(start_standin(model, token_interval=pace))
            for model, pace in paces.items()
        }
