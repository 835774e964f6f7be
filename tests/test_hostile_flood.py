"""One client trying to exhaust a real `oellm-arena demo`'s memory and CPU on the app port:
a Bokeh message announcing a thousand buffers, an oversized websocket frame, more pages than
a voter opens, a request body of many megabytes. Each is refused early and cheaply, and a
voter at another address is served meanwhile."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from benchmark.bokeh_client import BokehPageClient, ProtocolFailure, page_token
from benchmark.harness import DemoServer, run_demo

pytestmark = pytest.mark.slow

MB = 1 << 20


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def _send_until_closed(client: BokehPageClient, fragments: list[str | bytes]) -> int:
    """Send `fragments` until the server closes the websocket; how many went out."""
    sent = 0
    for fragment in fragments:
        if client.closed:
            break
        try:
            await client.send_fragment(fragment)
        except (WebSocketClosedError, StreamClosedError):
            break
        sent += 1
    await client.wait_until(lambda: False, 10)  # returns at once when closed, else after 10 s
    return sent


def test_a_message_of_many_buffers_or_an_oversized_frame_is_refused(tmp_path: Path) -> None:
    header = {"msgid": "flood", "msgtype": "PATCH-DOC", "num_buffers": 1000}
    payload = b"\0" * MB

    async def attack(demo: DemoServer) -> None:
        before = rss_bytes(demo.proc.pid)
        # A thousand buffers announced, 40 MB of them sent: the server closes at the header.
        client = BokehPageClient(demo.url)
        await client.connect()
        fragments: list[str | bytes] = [json.dumps(header), "{}", json.dumps({"events": []})]
        for i in range(40):
            fragments += [json.dumps({"id": f"b{i}"}), payload]
        sent = await _send_until_closed(client, fragments)
        assert client.closed, "the server kept reading a message of 1,000 buffers"
        assert sent < 20, sent  # of 83 fragments: closed at the header, not at the end
        grown = rss_bytes(demo.proc.pid) - before
        assert grown < 20 * MB, f"the app grew by {grown / MB:.0f} MB"

        # One message of 2 MB, otherwise valid: over the bound, the socket is closed.
        client = BokehPageClient(demo.url)
        await client.connect()
        content = json.dumps({"events": [], "padding": "x" * (2 * MB)})
        msg = {"msgid": "big", "msgtype": "PATCH-DOC"}
        await _send_until_closed(client, [json.dumps(msg), "{}", content])
        assert client.closed, "a 2 MB message was accepted"

        # The arena goes on for everyone else.
        voter = BokehPageClient(demo.url, local_address="127.0.0.3")
        await voter.connect()
        assert await voter.round_trip() < 5
        await voter.close()

    with run_demo(tmp_path) as demo:
        asyncio.run(attack(demo))
        assert demo.stop() == 0
    assert "Traceback" not in demo.log_text()


def test_one_address_holds_at_most_its_share_of_sessions(tmp_path: Path) -> None:
    """Pages (sessions) per address are capped; the cap is freed when a page's session
    ends, and counts a session that a websocket brings back as well."""
    cap = {"ARENA_TRUST__SESSIONS_PER_ADDRESS": "3"}

    async def attack(url: str) -> None:
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(trust_env=False, transport=transport, timeout=30) as http:
            pages = [await http.get(url) for _ in range(3)]
            assert [p.status_code for p in pages] == [200, 200, 200]
            refused = await http.get(url)
            assert refused.status_code == 429, refused.status_code
            assert "Too many open pages" in refused.text
            assert "retry-after" in {k.lower() for k in refused.headers}
            # In the voter's language: the browser's, or the one chosen on the page.
            swedish = await http.get(url, headers={"Accept-Language": "sv-SE,sv;q=0.9"})
            assert swedish.status_code == 429 and '<html lang="sv">' in swedish.text
            assert "För många öppna sidor" in swedish.text
            finnish = await http.get(url, params={"ui": "fin"})
            assert "Liian monta avointa sivua" in finnish.text
            # Another address is not affected.
            other = BokehPageClient(url, local_address="127.0.0.3")
            await other.connect()
            await other.close()
        # The three sessions were never connected: Bokeh ends them after its unused session
        # lifetime (15 s), and the address may open pages again: three, once all three have
        # ended (these connect, so that they stay).
        fresh: list[BokehPageClient] = []
        deadline = time.monotonic() + 120
        while len(fresh) < 3:
            client = BokehPageClient(url, local_address="127.0.0.2")
            try:
                await client.connect()
                fresh.append(client)
            except ProtocolFailure as exc:
                assert "429" in str(exc) and time.monotonic() < deadline, exc
                await asyncio.sleep(1)
        # A websocket that would bring back the first page's ended session (its token is
        # still valid) would be a fourth: refused too.
        first_token = page_token(pages[0].text)
        assert first_token is not None
        revived = BokehPageClient(url, local_address="127.0.0.2")
        try:
            await revived.connect(timeout_s=20, token=first_token)
            accepted = True
        except ProtocolFailure:
            accepted = False
        for client in [*fresh, revived]:
            await client.close()
        assert not accepted, "a websocket brought back a session past the address's cap"

    with run_demo(tmp_path, extra_env=cap) as demo:
        asyncio.run(attack(demo.url))
        assert demo.stop() == 0
        log = demo.log_text()
    assert "too many open sessions" in log
    assert "Traceback" not in log


def test_a_large_request_body_is_refused_before_it_is_read(tmp_path: Path) -> None:
    with run_demo(tmp_path) as demo:
        host, port = demo.url.split("//", 1)[1].split("/", 1)[0].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /arena HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 50000000\r\n\r\n" + b"x" * 1000
            )
            sock.settimeout(10)
            try:
                answer = sock.recv(200)
            except TimeoutError:
                answer = b"(no answer: the server is reading the 50 MB body)"
        assert answer.startswith(b"HTTP/1.1 400"), answer
        # A small body still reaches the route, which does not take POST.
        small = httpx.post(demo.url, content=b"x" * 1000, timeout=20)
        assert small.status_code == 405
        assert demo.stop() == 0
