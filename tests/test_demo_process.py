"""`oellm-arena demo` as a process: Ctrl-C or SIGTERM stops every child it started."""

from __future__ import annotations

import re
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
        # The page prefetches the default language's models too; ours must be among them.
        assert set(MODELS) <= {e["model"] for e in engines}
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


def test_the_demo_serves_under_a_url_prefix(tmp_path: Path) -> None:
    """Behind a proxy at /oellmarena/, the page and every resource it loads live there."""
    with run_demo(tmp_path, prefix="/oellmarena") as demo:
        assert demo.url.endswith("/oellmarena/arena")
        page = httpx.get(demo.url)
        assert page.status_code == 200
        base = demo.url.rsplit("/oellmarena/", 1)[0]
        sources = re.findall(r'src="([^"]+\.js[^"]*)"', page.text)
        assert sources, page.text[:500]
        for src in sources:
            if src.startswith("http"):
                continue
            assert src.startswith(("/oellmarena/", "static/", "./")), src
            url = src if src.startswith("/") else f"/oellmarena/{src.lstrip('./')}"
            assert httpx.get(base + url).status_code == 200, src
        assert httpx.get(f"{base}/arena").status_code == 404  # nothing outside the prefix
