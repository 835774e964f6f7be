"""The client address: X-Forwarded-For believed only from trusted proxies, walked from the right."""

from __future__ import annotations

import threading

import httpx
import panel as pn
import pytest

from app.core.client_address import (
    client_address,
    forwarded_hops,
    parse_ip,
    parse_trusted,
    session_client_address,
)
from app.core.settings import Settings
from tests.conftest import free_port

LOOPBACK = ["127.0.0.1", "::1"]


def test_a_direct_client_is_its_peer_address_whatever_it_claims() -> None:
    headers = {"X-Forwarded-For": "10.9.8.7"}
    assert client_address("203.0.113.5", headers, LOOPBACK) == "203.0.113.5"


def test_behind_the_trusted_proxy_the_client_is_the_hop_the_proxy_appended() -> None:
    # nginx appends the address it saw ($proxy_add_x_forwarded_for) to what the client sent.
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.23"}
    assert client_address("127.0.0.1", headers, LOOPBACK) == "198.51.100.23"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    trusted = ["127.0.0.1", "10.0.0.0/8"]
    headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.23, 10.1.2.3"}
    assert client_address("127.0.0.1", headers, trusted) == "198.51.100.23"


def test_repeated_headers_are_one_list_in_order() -> None:
    headers = {"X-Forwarded-For": ["6.6.6.6", "198.51.100.23, 10.1.2.3"]}
    assert forwarded_hops(headers) == ["6.6.6.6", "198.51.100.23", "10.1.2.3"]
    assert client_address("127.0.0.1", headers, ["127.0.0.1", "10.0.0.0/8"]) == "198.51.100.23"


def test_without_the_header_or_with_only_proxies_the_leftmost_known_address_wins() -> None:
    assert client_address("127.0.0.1", {}, LOOPBACK) == "127.0.0.1"
    assert client_address("127.0.0.1", None, LOOPBACK) == "127.0.0.1"
    assert client_address("127.0.0.1", {"X-Forwarded-For": "127.0.0.1"}, LOOPBACK) == "127.0.0.1"


def test_garbage_in_the_header_stops_the_walk_at_the_last_vouched_hop() -> None:
    headers = {"X-Forwarded-For": "198.51.100.23, not-an-ip, 10.1.2.3"}
    trusted = ["127.0.0.1", "10.0.0.0/8"]
    assert client_address("127.0.0.1", headers, trusted) == "10.1.2.3"
    assert client_address("127.0.0.1", {"X-Forwarded-For": " , ,"}, LOOPBACK) == "127.0.0.1"


def test_nothing_is_trusted_when_the_list_is_empty() -> None:
    assert client_address("127.0.0.1", {"X-Forwarded-For": "198.51.100.23"}, []) == "127.0.0.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("198.51.100.23", "198.51.100.23"),
        ("198.51.100.23:4711", "198.51.100.23"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:198.51.100.23", "198.51.100.23"),
        ('"198.51.100.23"', "198.51.100.23"),
        ("unknown", None),
        ("[2001:db8::1", None),
        ("", None),
        (None, None),
    ],
)
def test_addresses_are_parsed_with_ports_brackets_and_mapped_ipv4(
    text: str | None, expected: str | None
) -> None:
    parsed = parse_ip(text)
    assert (str(parsed) if parsed else None) == expected


def test_ipv6_proxies_and_clients() -> None:
    headers = {"X-Forwarded-For": "2001:db8::7"}
    assert client_address("::1", headers, LOOPBACK) == "2001:db8::7"
    assert client_address("::ffff:127.0.0.1", headers, LOOPBACK) == "2001:db8::7"


def test_an_unusable_peer_is_reported_as_is() -> None:
    assert client_address(None, {"X-Forwarded-For": "1.2.3.4"}, LOOPBACK) == "unknown"
    assert client_address("unix-socket", {}, LOOPBACK) == "unix-socket"


def test_trusted_entries_are_validated() -> None:
    assert [str(n) for n in parse_trusted(["10.0.0.0/8", " ::1 ", ""])] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match=r"10\.0\.0\.x"):
        parse_trusted(["10.0.0.x"])


def test_the_setting_accepts_a_comma_list_or_json_and_refuses_typos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().trusted_proxies == ["127.0.0.1", "::1"]
    monkeypatch.setenv("ARENA_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    assert Settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    monkeypatch.setenv("ARENA_TRUSTED_PROXIES", '["192.0.2.1"]')
    assert Settings().trusted_proxies == ["192.0.2.1"]
    monkeypatch.setenv("ARENA_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == []
    monkeypatch.setenv("ARENA_TRUSTED_PROXIES", "10.0.0.x")
    with pytest.raises(ValueError, match=r"10\.0\.0\.x"):
        Settings()


def test_outside_a_session_there_is_no_address() -> None:
    assert session_client_address(LOOPBACK) is None


def test_page_code_reads_the_address_of_the_request_that_opened_the_page() -> None:
    """Through a real Panel server: the helper sees Bokeh's request of this session."""
    seen: list[str | None] = []

    def page() -> pn.viewable.Viewable:
        seen.append(session_client_address(LOOPBACK))
        return pn.pane.Markdown("address")

    port = free_port()
    server = pn.io.server.get_server(
        {"arena": page}, port=port, address="127.0.0.1", prefix="/oellmarena", start=False
    )
    answers: list[int] = []

    def fetch() -> None:
        try:
            url = f"http://127.0.0.1:{port}/oellmarena/arena"
            headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.23"}
            answers.append(httpx.get(url, headers=headers, timeout=30).status_code)
            answers.append(httpx.get(url, timeout=30).status_code)
        finally:
            server.io_loop.add_callback(server.io_loop.stop)

    server.start()
    client = threading.Thread(target=fetch)
    client.start()
    try:
        server.io_loop.start()
    finally:
        client.join()
        server.stop()
    assert answers == [200, 200]
    assert seen == ["198.51.100.23", "127.0.0.1"]


def test_a_session_made_by_a_websocket_takes_the_address_of_its_real_request() -> None:
    """Bokeh builds `session_context.request`'s headers from the session token, which a
    client can write when sessions are not signed: the address comes from the websocket's
    own HTTP request instead (here, even on a server that does not sign its sessions)."""
    import asyncio

    from bokeh.util.token import generate_jwt_token, generate_session_id
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    seen: list[tuple[str | None, object]] = []

    def page() -> pn.viewable.Viewable:
        context = pn.state.curdoc.session_context
        seen.append((session_client_address(LOOPBACK), context.request.headers))
        return pn.pane.Markdown("address")

    port = free_port()
    server = pn.io.server.get_server(
        {"arena": page}, port=port, address="127.0.0.1", start=False, websocket_origin=["*"]
    )
    forged = {"X-Forwarded-For": "203.0.113.7"}
    token = generate_jwt_token(
        generate_session_id(signed=False),
        signed=False,
        extra_payload={"headers": forged, "cookies": {}, "arguments": {}},
    )

    async def connect() -> None:
        request = HTTPRequest(f"ws://127.0.0.1:{port}/arena/ws", headers={"Origin": "http://x"})
        socket = await websocket_connect(request, subprotocols=["bokeh", token])
        await socket.read_message()  # the ACK: the session exists
        socket.close()

    def client() -> None:
        try:
            asyncio.run(connect())
        finally:
            server.io_loop.add_callback(server.io_loop.stop)

    server.start()
    thread = threading.Thread(target=client)
    thread.start()
    try:
        server.io_loop.start()
    finally:
        thread.join()
        server.stop()
    assert len(seen) == 1
    address, token_headers = seen[0]
    # What Bokeh shows page code: the client's own words.
    assert token_headers["X-Forwarded-For"] == "203.0.113.7"  # type: ignore[index]
    assert address == "127.0.0.1"  # what the arena uses: the real request's peer
