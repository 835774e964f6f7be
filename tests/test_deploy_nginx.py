"""The nginx site: rendering, `nginx -t`, and the proxy's behaviour with Debian's real nginx.

An echo upstream stands in for the app here (the browser test puts the real one behind
nginx), so each promise of the site is checked on its own: redirects, the ACME path, the
forwarded headers, no buffering of streamed responses, TLS 1.2 and 1.3, /metrics kept
private.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from app.core.client_address import client_address
from benchmark.nginx_proxy import NGINX, RENDER, TEMPLATE, VARIABLES, configure, render, run_nginx

needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run does)"
)

GOOD = {
    "DOMAIN": "arena.example.org",
    "SSL_CERTIFICATE": "/etc/letsencrypt/live/arena.example.org/fullchain.pem",
    "SSL_CERTIFICATE_KEY": "/etc/letsencrypt/live/arena.example.org/privkey.pem",
    "HTTP_PORT": "80",
    "HTTPS_PORT": "443",
    "UPSTREAM": "127.0.0.1:5006",
    "PREFIX": "/oellmarena",
}


# ---- rendering --------------------------------------------------------------------------


def test_the_template_uses_exactly_the_seven_variables() -> None:
    assert set(re.findall(r"\$\{([A-Za-z_]+)\}", TEMPLATE.read_text())) == set(VARIABLES)
    assert set(GOOD) == set(VARIABLES)


def test_render_substitutes_only_its_variables(tmp_path: Path) -> None:
    result = render(GOOD)
    assert result.returncode == 0, result.stderr
    site = result.stdout
    assert "${" not in site
    for nginx_variable in ("$host", "$request_uri", "$http_upgrade", "$proxy_add_x_forwarded_for"):
        assert nginx_variable in site
    assert "server_name arena.example.org;" in site
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in site
    assert "location ^~ /oellmarena/ {" in site
    assert "server 127.0.0.1:5006;" in site
    # Written to a file, the same text, readable by nginx's workers.
    out = tmp_path / "oellmarena.conf"
    result = render(GOOD, out)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == site
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["oellmarena.conf"]  # no temp file left


def test_render_refuses_missing_variables_naming_them() -> None:
    partial = {k: v for k, v in GOOD.items() if k not in ("UPSTREAM", "PREFIX")}
    result = render(partial)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "missing UPSTREAM PREFIX" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOMAIN", "arena.example.org; include /etc/passwd"),
        ("DOMAIN", "https://arena.example.org"),
        ("SSL_CERTIFICATE", "certs/fullchain.pem"),
        ("SSL_CERTIFICATE_KEY", "/etc/key.pem;"),
        ("HTTP_PORT", "80x"),
        ("HTTPS_PORT", "70000"),
        ("HTTPS_PORT", "80"),  # same as HTTP_PORT
        ("UPSTREAM", "http://127.0.0.1:5006"),
        ("UPSTREAM", "127.0.0.1"),
        ("PREFIX", "oellmarena"),
        ("PREFIX", "/oellmarena/"),
        ("PREFIX", "/"),
        ("PREFIX", "/a b"),
    ],
)
def test_render_refuses_malformed_values(name: str, value: str) -> None:
    result = render({**GOOD, name: value})
    assert result.returncode == 2, result.stdout
    assert name in result.stderr and result.stdout == ""


def test_render_sh_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, str(RENDER)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_nginx
def test_the_rendered_site_passes_nginx_t(tmp_path: Path) -> None:
    proxy = configure(tmp_path, "127.0.0.1:5006")
    result = proxy.test_config()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# ---- the proxy, with an echo upstream -----------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers with what it received; `/stream` sends a chunk, then waits for the test."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, dict[str, str]]]
    release: threading.Event

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers.items())))
        if self.path.endswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(b"first\n")
            # Buffered by the proxy, "first" would not reach the test, which would never
            # release us: after the timeout the answer says so.
            self._chunk(b"second\n" if self.release.wait(10) else b"late\n")
            self._chunk(b"")
            return
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def echo() -> Iterator[tuple[ThreadingHTTPServer, type[_Echo]]]:
    handler = type("Echo", (_Echo,), {"seen": [], "release": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def _tls_handshake(port: int, version: ssl.TLSVersion) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return str(tls.version())


@pytest.mark.slow
@needs_nginx
def test_the_proxy_redirects_forwards_and_streams(
    tmp_path: Path, echo: tuple[ThreadingHTTPServer, type[_Echo]]
) -> None:
    server, handler = echo
    proxy = configure(tmp_path / "nginx", f"127.0.0.1:{server.server_address[1]}")
    assert proxy.test_config().returncode == 0
    with run_nginx(proxy), httpx.Client(verify=False, timeout=20) as client:
        # HTTP: everything goes to HTTPS on the canonical host, path and query kept...
        r = client.get(f"{proxy.http}/oellmarena/arena?lang=swe")
        assert r.status_code == 301
        assert r.headers["location"] == f"{proxy.https}/oellmarena/arena?lang=swe"
        # ...except Let's Encrypt's challenge, answered here (no such token: 404).
        r = client.get(f"{proxy.http}/.well-known/acme-challenge/token123")
        assert r.status_code == 404

        # HTTPS: the bare prefix gets its slash, query kept.
        r = client.get(f"{proxy.https}/oellmarena")
        assert (r.status_code, r.headers["location"]) == (301, "/oellmarena/")
        r = client.get(f"{proxy.https}/oellmarena?x=1")
        assert r.headers["location"] == "/oellmarena/?x=1"
        assert client.get(f"{proxy.https}/").status_code == 404
        assert client.get(f"{proxy.https}/elsewhere/arena").status_code == 404
        # The app's metrics name loaded models: not through the public proxy.
        assert client.get(f"{proxy.https}/oellmarena/metrics").status_code == 404
        assert not [p for p, _ in handler.seen if p.endswith("/metrics")]

        # Proxied unchanged, with the forwarding headers; a forged X-Forwarded-For is kept
        # on the left, where the app's client_address ignores it. The voter comes from
        # 127.0.0.2, an address that is not a trusted proxy, as a voter on the internet.
        forged = {"X-Forwarded-For": "6.6.6.6", "Upgrade": "websocket", "Connection": "Upgrade"}
        voter = httpx.Client(
            verify=False,
            timeout=20,
            transport=httpx.HTTPTransport(local_address="127.0.0.2", verify=False),
        )
        with voter:
            r = voter.get(f"{proxy.https}/oellmarena/arena?x=1", headers=forged)
        assert r.status_code == 200, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        path, headers = handler.seen[-1]
        h = {k.lower(): v for k, v in headers.items()}
        assert path == "/oellmarena/arena?x=1"
        assert h["host"] == "localhost"
        assert h["x-forwarded-for"] == "6.6.6.6, 127.0.0.2"
        assert h["x-real-ip"] == "127.0.0.2"
        assert h["x-forwarded-proto"] == "https"
        assert h["x-forwarded-host"] == "localhost"
        assert h["x-forwarded-port"] == str(proxy.https_port)
        assert h["x-forwarded-prefix"] == "/oellmarena"
        assert (h["upgrade"], h["connection"].lower()) == ("websocket", "upgrade")
        assert client_address("127.0.0.1", headers, ["127.0.0.1", "::1"]) == "127.0.0.2"
        # A plain request keeps the upstream connection alive instead of closing it.
        client.get(f"{proxy.https}/oellmarena/plain")
        assert "connection" not in {k.lower() for k in handler.seen[-1][1]}

        # No buffering: the first chunk arrives while the upstream is still writing.
        with client.stream("GET", f"{proxy.https}/oellmarena/stream") as stream:
            chunks = stream.iter_raw()
            assert next(chunks).startswith(b"first")
            handler.release.set()
            rest = b"".join(chunks)
        assert rest.endswith(b"second\n"), rest

        assert _tls_handshake(proxy.https_port, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        assert _tls_handshake(proxy.https_port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        assert proxy.stop() == 0, proxy.error_log()
    assert "[emerg]" not in proxy.error_log()


def _site_limits(site: str) -> dict[str, int]:
    """The per-client numbers of the rendered site, by name."""
    found = {
        name: re.search(pattern, site)
        for name, pattern in {
            "pages_rate": r"zone=oellmarena_pages:\S+ rate=(\d+)r/s",
            "pages_burst": r"limit_req zone=oellmarena_pages burst=(\d+) nodelay",
            "static_rate": r"zone=oellmarena_static:\S+ rate=(\d+)r/s",
            "static_burst": r"limit_req zone=oellmarena_static burst=(\d+) nodelay",
            "conn": r"limit_conn oellmarena_conn (\d+);",
        }.items()
    }
    missing = [name for name, match in found.items() if match is None]
    assert not missing, f"the site has no {missing}"
    return {name: int(match.group(1)) for name, match in found.items() if match}


def _client(address: str) -> httpx.Client:
    """A client whose connections come from `address` (a distinct voter on this machine)."""
    transport = httpx.HTTPTransport(local_address=address, verify=False)
    return httpx.Client(verify=False, timeout=20, transport=transport)


def _burst(client: httpx.Client, url: str, most: int) -> tuple[list[int], float]:
    """GET `url` back to back until refused (at most `most` times); the codes and seconds."""
    start = time.monotonic()
    codes: list[int] = []
    while len(codes) < most and 429 not in codes:
        codes.append(client.get(url).status_code)
    return codes, time.monotonic() - start


@pytest.mark.slow
@needs_nginx
def test_one_client_is_held_to_its_share_while_another_is_served(
    tmp_path: Path, echo: tuple[ThreadingHTTPServer, type[_Echo]]
) -> None:
    """Requests per second (a burst for a page load) and concurrent requests per client
    address, at nginx: the flood never reaches the app, and another client is served."""
    server, handler = echo
    proxy = configure(tmp_path / "nginx", f"127.0.0.1:{server.server_address[1]}")
    limits = _site_limits(proxy.folder.joinpath("oellmarena.conf").read_text())
    pages, static = f"{proxy.https}/oellmarena/arena", f"{proxy.https}/oellmarena/static/js/x.js"
    with run_nginx(proxy):
        for url, rate, burst in (
            (pages, limits["pages_rate"], limits["pages_burst"]),
            (static, limits["static_rate"], limits["static_burst"]),
        ):
            with _client("127.0.0.2") as flooder, _client("127.0.0.3") as voter:
                codes, took = _burst(flooder, url, 3 * burst + 50)
                passed = codes.count(200)
                assert set(codes) == {200, 429}, codes
                # The burst passes at once, then about `rate` a second.
                assert burst <= passed <= burst + 1 + rate * took + 1, (passed, took)
                assert voter.get(url).status_code == 200
        # Concurrent requests (a websocket is one for as long as it is open).
        before = len(handler.seen)
        with contextlib.ExitStack() as held, _client("127.0.0.4") as flooder:
            readers = []  # kept: a dropped reader closes its connection
            for _ in range(limits["conn"]):
                stream = held.enter_context(flooder.stream("GET", f"{pages}/stream"))
                assert stream.status_code == 200
                readers.append(stream.iter_raw())
                assert next(readers[-1]).startswith(b"first")  # the upstream holds it open
            assert flooder.get(pages).status_code == 429
            with _client("127.0.0.5") as voter:
                assert voter.get(pages).status_code == 200
            handler.release.set()
        # Refused requests never reached the upstream.
        assert len(handler.seen) - before == limits["conn"] + 1
        assert proxy.stop() == 0, proxy.error_log()
    assert "limiting requests" in proxy.error_log()
    assert "limiting connections" in proxy.error_log()
