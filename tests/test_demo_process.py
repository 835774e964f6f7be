"""`oellm-arena demo` as a process: Ctrl-C or SIGTERM stops every child it started."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from benchmark.harness import run_demo, warm_up

pytestmark = pytest.mark.slow

MODELS = ["MultiSynt/nemotron-cc-danish-opus", "HPLT/hplt2c_dan_checkpoints"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has already exited


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopping_the_demo_stops_supervisor_and_engines(tmp_path: Path, sig: int) -> None:
    with run_demo(tmp_path) as demo:
        warm_up(demo.supervisor_url, MODELS)
        status = httpx.get(f"{demo.supervisor_url}/status").json()
        engines = [e for slot in status["slots"] for e in slot["engines"]]
        assert {e["model"] for e in engines} == set(MODELS)
        pids = [e["pid"] for e in engines]
        ports = [e["port"] for e in engines]
        supervisor_port = int(demo.supervisor_url.rsplit(":", 1)[1])
        assert all(_alive(p) for p in pids)

        demo.proc.send_signal(sig)
        assert demo.proc.wait(30) == 0, demo.log_text()

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), demo.log_text()
    assert not any(_port_open(p) for p in [*ports, supervisor_port])
