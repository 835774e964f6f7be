"""A web port that is already taken: one line that names it, no traceback, nothing left
running (`oellm-arena demo` and `serve` as real processes, the port held by the test)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.web.listen import ListenError, check_listen, listen_error
from tests.conftest import free_port


@contextmanager
def held_port() -> Iterator[int]:
    """A port another server listens on, for as long as the block runs."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_check_listen_refuses_a_held_port_and_accepts_a_free_one() -> None:
    with held_port() as port, pytest.raises(ListenError) as caught:
        check_listen("127.0.0.1", port)
    assert str(caught.value) == (
        f"port {port} is in use (another arena?): stop it or pass --port N"
    )
    port = free_port()
    check_listen("127.0.0.1", port)  # no exception
    with socket.socket() as again:  # and the check let go of the port
        again.bind(("127.0.0.1", port))


def test_other_bind_failures_have_a_one_line_message_too() -> None:
    denied = listen_error(OSError(errno.EACCES, "Permission denied"), "0.0.0.0", 80)
    assert "port 80" in str(denied) and "--port" in str(denied)
    with pytest.raises(ListenError, match="not an address of this machine"):
        check_listen("192.0.2.1", free_port())  # TEST-NET-1: never a local address


@pytest.mark.slow
@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_busy_web_port_is_one_line_and_starts_nothing(tmp_path: Path, command: str) -> None:
    db = tmp_path / "arena.duckdb"
    supervisor_port = free_port()
    env = _cli_env() | {"ARENA_SUPERVISOR__PORT": str(supervisor_port)}
    with held_port() as port:
        proc = subprocess.run(
            [sys.executable, "-m", "app.cli", command, "--port", str(port), "--db", str(db)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == (
        f"Error: port {port} is in use (another arena?): stop it or pass --port N\n"
    )
    assert not db.exists()  # nothing started: not even the battle log was opened
    assert not _port_open(supervisor_port)


@pytest.mark.slow
def test_a_port_taken_while_the_demo_starts_stops_its_supervisor(tmp_path: Path) -> None:
    """The race: the port is free at the check and taken before the web app binds it."""
    port, supervisor_port = free_port(), free_port()
    log_path = tmp_path / "demo.log"
    env = _cli_env() | {
        "ARENA_SUPERVISOR__PORT": str(supervisor_port),
        "ARENA_SUPERVISOR__FIRST_ENGINE_PORT": str(free_port()),
    }
    cmd = [sys.executable, "-m", "app.cli", "demo", "--port", str(port)]
    cmd += ["--db", str(tmp_path / "arena.duckdb")]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with socket.socket() as busy:
            # The demo checked the port and is starting its supervisor: take the port now,
            # seconds before the web app binds it.
            deadline = time.monotonic() + 30
            while "starting the supervisor" not in log_path.read_text(errors="replace"):
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.02)
            busy.bind(("127.0.0.1", port))
            busy.listen()
            assert proc.wait(60) == 1, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log_path.read_text(errors="replace")
    assert "Traceback" not in output, output
    assert "garbage collector:" in output  # logged just before the bind: the race path ran
    lines = output.strip().splitlines()
    assert lines[-1] == f"Error: port {port} is in use (another arena?): stop it or pass --port N"
    assert "supervisor stopped" in output  # its shutdown ran (engines stopped with it)
    assert not _port_open(supervisor_port)
    assert "is running" not in output
