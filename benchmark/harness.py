"""Start `oellm-arena demo` as a real process and drive it with Debian's Chromium.

Shared by the browser tests and the arena benchmark, so both measure the product exactly
as a newcomer runs it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DemoServer:
    url: str  # the arena page
    supervisor_url: str
    db_path: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    returncode: int | None = field(default=None)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM the demo (as Ctrl-C would) and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                message = f"the demo did not stop within {timeout_s}s of SIGTERM"
                raise RuntimeError(message) from None
        self.returncode = self.proc.returncode
        return self.returncode


@contextmanager
def run_demo(
    workdir: Path,
    *,
    token_interval_s: float = 0.02,
    startup_delay_s: float = 0.2,
    extra_env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    prefix: str = "",
    start_timeout_s: float = 60.0,
) -> Iterator[DemoServer]:
    """`oellm-arena demo` in a subprocess on free ports; yields once the page answers."""
    port = free_port()
    supervisor_port = free_port()
    db_path = workdir / "arena.duckdb"
    log_path = workdir / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(
        ARENA_STANDIN__TOKEN_INTERVAL_S=str(token_interval_s),
        ARENA_STANDIN__STARTUP_DELAY_S=str(startup_delay_s),
        ARENA_SUPERVISOR__PORT=str(supervisor_port),
        ARENA_SUPERVISOR__FIRST_ENGINE_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})  # the caller's settings win over these defaults
    cmd = [sys.executable, "-m", "app.cli", "demo", "--port", str(port), "--db", str(db_path)]
    if prefix:
        cmd += ["--prefix", prefix]
    cmd += extra_args or []
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}{prefix}/arena"
    server = DemoServer(
        url=url,
        supervisor_url=f"http://127.0.0.1:{supervisor_port}",
        db_path=db_path,
        proc=proc,
        log_path=log_path,
    )
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"demo exited with {proc.returncode}:\n{server.log_text()}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"demo did not serve {url}:\n{server.log_text()}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            server.stop()


def warm_up(supervisor_url: str, models: list[str], timeout_s: float = 60.0) -> None:
    """Load `models` before measuring, so no measured battle waits for an engine start."""
    httpx.post(f"{supervisor_url}/prefetch", json={"models": models}, timeout=10).raise_for_status()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = httpx.get(f"{supervisor_url}/status", timeout=10).json()
        ready = {
            e["model"] for slot in status["slots"] for e in slot["engines"] if e["state"] == "ready"
        }
        if set(models) <= ready:
            return
        time.sleep(0.1)
    raise RuntimeError(f"models not ready within {timeout_s}s: {models}")


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright (no downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
