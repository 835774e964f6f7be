"""A blind battle in a real browser through nginx: TLS, the /oellmarena sub-path, websockets.

The production path end to end on one machine: `oellm-arena demo --prefix /oellmarena
--allow-websocket-origin localhost:<https port>` behind the rendered nginx site with a
self-signed certificate; Chromium opens https://localhost:<port>/oellmarena/arena, plays a
battle and votes. Then the health endpoints answer through the proxy, /metrics only on
the app port, where it has counted the battle and the vote.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from benchmark.harness import CHROMIUM, chromium, run_demo
from benchmark.nginx_proxy import NGINX, configure, run_nginx
from tests.conftest import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(
        NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run does)"
    ),
]


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in:\n{text}"
    return float(match.group(1))


def test_a_blind_battle_through_nginx(tmp_path: Path) -> None:
    https_port = free_port()
    origin = f"localhost:{https_port}"
    (tmp_path / "demo").mkdir()
    with run_demo(
        tmp_path / "demo", prefix="/oellmarena", extra_args=["--allow-websocket-origin", origin]
    ) as demo:
        app_root = demo.url.rsplit("/arena", 1)[0]  # http://127.0.0.1:PORT/oellmarena
        upstream = app_root.split("//", 1)[1].split("/", 1)[0]
        proxy = configure(tmp_path / "nginx", upstream, https_port=https_port)
        with run_nginx(proxy), chromium() as browser:
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()
            sockets: list[str] = []
            failed: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.on(
                "response",
                lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(f"{proxy.https}/oellmarena/arena")

            page.get_by_label("Language").select_option(label="Swedish · Svenska")
            page.get_by_label("Prompt").fill("Det var en gång en liten katt som")
            page.get_by_role("button", name="Generate").click()
            vote_a = page.get_by_role("button", name="A is better")
            expect(vote_a).to_be_enabled(timeout=60_000)
            vote_a.click()
            expect(page.get_by_text("Thank you, your vote is saved")).to_be_visible(timeout=15_000)
            context.close()

            assert failed == []
            assert sockets and all(
                s.startswith(f"wss://localhost:{https_port}/oellmarena/arena/ws") for s in sockets
            ), sockets

            with httpx.Client(verify=False, timeout=20) as client:
                assert client.get(f"{proxy.https}/oellmarena/healthz").text == "ok\n"
                ready = client.get(f"{proxy.https}/oellmarena/readyz")
                assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
                assert client.get(f"{proxy.https}/oellmarena/metrics").status_code == 404
                # Prometheus scrapes the app port, under the same prefix.
                scrape = client.get(f"{app_root}/metrics")
            assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
            text = scrape.text
            assert _sample(text, 'oellm_arena_battles_started_total{language="swe"}') == 1
            assert _sample(text, 'oellm_arena_battles_completed_total{language="swe"}') == 1
            assert _sample(text, 'oellm_arena_votes_total{winner="model_a"}') == 1
            for family in ("multisynt", "hplt"):
                name = f'oellm_arena_stream_first_token_seconds_count{{family="{family}"}}'
                assert _sample(text, name) == 1
            assert _sample(text, "oellm_arena_engine_directory_up") == 1
            assert 'state="ready"} 1' in text

            assert proxy.stop() == 0, proxy.error_log()
        assert demo.stop() == 0, demo.log_text()
    assert "Refusing websocket connection" not in demo.log_text()
