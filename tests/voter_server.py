"""`oellm-arena serve` as a real process over two stand-in engines of different speeds.

For the voter-experience browser tests: the demo's supervisor starts every stand-in at one
pace, but equal pace needs one side much faster than the other, so this serves one
language (Norwegian Bokmål, which has exactly one MultiSynt variant, so both models are
known) from two stand-ins started here, through `supervisor.static_endpoints`.

The battle log is held by the server (DuckDB allows one process), so `rows` reads it the
way analysts do: it asks the running app for a fresh snapshot and queries that copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx

from app.core.session_secret import make_secret
from app.core.store.snapshot import request_refresh, wait_for_refresh
from tests.conftest import free_port
from tests.standin import REPO_ROOT, Standin, start_standin

MULTISYNT = "MultiSynt/nemotron-cc-norwegian-tower9b"
HPLT = "HPLT/hplt2c_nob_checkpoints"


@dataclass
class VoterServer:
    url: str  # the arena page
    db_path: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    engines: dict[str, Standin]

    @property
    def snapshot(self) -> Path:
        return self.db_path.with_name(f"{self.db_path.stem}.snapshot.duckdb")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Query a snapshot of the battle log taken now (after every committed write)."""
        stamp = request_refresh(self.snapshot)
        assert wait_for_refresh(self.snapshot, stamp, 30.0), self.log_text()
        con = duckdb.connect(str(self.snapshot), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def run_voter_server(
    workdir: Path,
    *,
    fast_interval: float = 0.002,
    slow_interval: float = 0.03,
    max_new_tokens: int = 16,
    extra_env: dict[str, str] | None = None,
) -> Iterator[VoterServer]:
    """Two stand-ins (MultiSynt fast, HPLT slow) and the web app serving them."""
    with (
        start_standin(MULTISYNT, token_interval=fast_interval) as fast,
        start_standin(HPLT, token_interval=slow_interval) as slow,
    ):
        port = free_port()
        db_path = workdir / "arena.duckdb"
        log_path = workdir / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
        env.update(
            ARENA_SUPERVISOR__STATIC_ENDPOINTS=json.dumps({MULTISYNT: fast.url, HPLT: slow.url}),
            ARENA_GENERATION__MAX_NEW_TOKENS=str(max_new_tokens),
            ARENA_SESSION_SALT="voter-tests",
            ARENA_SECRET_KEY=make_secret(),
            # The tests open many pages, one after another, from this one address.
            ARENA_TRUST__SESSIONS_PER_ADDRESS="1000",
            ARENA_ANALYTICS__SNAPSHOT_INTERVAL_S="0",
            ARENA_ANALYTICS__SNAPSHOT_REQUEST_POLL_S="0.1",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env or {})
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
        cmd += ["--db", str(db_path)]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = VoterServer(
            f"http://127.0.0.1:{port}/arena", db_path, proc, log_path, {"fast": fast, "slow": slow}
        )
        try:
            deadline = time.monotonic() + 60.0
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited with {proc.returncode}:\n{server.log_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(server.url, timeout=2.0).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not answer:\n{server.log_text()}")
                time.sleep(0.1)
            yield server
        finally:
            server.stop()
