"""Debian's nginx in the foreground with the rendered arena site, for the deploy tests
and the flood benchmark.

The site file is rendered by `deploy/nginx/render.sh`, exactly as ops do, and included in
a minimal nginx.conf whose pid, logs and temp files all live in the test's folder, so the
test needs no root, touches nothing in /etc or /var, and runs beside a system nginx.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmark.harness import free_port

ROOT = Path(__file__).resolve().parents[1]
RENDER = ROOT / "deploy" / "nginx" / "render.sh"
TEMPLATE = ROOT / "deploy" / "nginx" / "oellmarena.conf.template"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)
VARIABLES = (
    "DOMAIN",
    "SSL_CERTIFICATE",
    "SSL_CERTIFICATE_KEY",
    "HTTP_PORT",
    "HTTPS_PORT",
    "UPSTREAM",
    "PREFIX",
)

MAIN_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/temp/body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;
    include {site};
}}
"""


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def render(variables: dict[str, str], out: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run render.sh with exactly `variables` in its environment (plus PATH)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables}
    args = [str(RENDER)] + ([str(out)] if out else [])
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)


@dataclass
class Proxy:
    folder: Path
    http_port: int
    https_port: int
    prefix: str
    proc: subprocess.Popen[bytes] | None = None
    returncode: int | None = None

    @property
    def http(self) -> str:
        return f"http://localhost:{self.http_port}"

    @property
    def https(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def conf(self) -> Path:
        return self.folder / "nginx.conf"

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def test_config(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the config."""
        return subprocess.run(
            [str(NGINX), "-t", "-p", str(self.folder), "-c", str(self.conf), "-e", "stderr"],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def stop(self, timeout_s: float = 15.0) -> int:
        """Fast shutdown (SIGTERM); returns nginx's exit code."""
        proc = self.proc
        if proc is None:
            raise RuntimeError("nginx was not started")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"nginx did not stop on SIGTERM:\n{self.error_log()}") from None
        self.returncode = proc.returncode
        return self.returncode


def configure(
    folder: Path,
    upstream: str,
    *,
    prefix: str = "/oellmarena",
    http_port: int | None = None,
    https_port: int | None = None,
) -> Proxy:
    """Certificate, rendered site and nginx.conf in `folder` (not started)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "temp").mkdir(exist_ok=True)
    cert, key = make_certificate(folder)
    proxy = Proxy(folder, http_port or free_port(), https_port or free_port(), prefix)
    site = folder / "oellmarena.conf"
    result = render(
        {
            "DOMAIN": "localhost",
            "SSL_CERTIFICATE": str(cert),
            "SSL_CERTIFICATE_KEY": str(key),
            "HTTP_PORT": str(proxy.http_port),
            "HTTPS_PORT": str(proxy.https_port),
            "UPSTREAM": upstream,
            "PREFIX": prefix,
        },
        site,
    )
    if result.returncode != 0:
        raise RuntimeError(f"render.sh failed: {result.stderr}")
    if not _ipv6_available():  # some CI containers have no IPv6: as the template says
        site.write_text(re.sub(r"(?m)^\s*listen \[::\].*\n", "", site.read_text()))
    # As root, workers would drop to `nobody`, who cannot enter pytest's private tmp dir.
    user = "user root;" if os.geteuid() == 0 else ""
    proxy.conf.write_text(MAIN_CONF.format(user=user, dir=folder, site=site))
    return proxy


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def run_nginx(proxy: Proxy, start_timeout_s: float = 15.0) -> Iterator[Proxy]:
    """nginx in the foreground on `proxy`'s config until the block ends (then SIGTERM)."""
    log = (proxy.folder / "nginx.out").open("wb")
    proxy.proc = subprocess.Popen(
        [str(NGINX), "-p", str(proxy.folder), "-c", str(proxy.conf), "-e", "stderr"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not (_accepting(proxy.http_port) and _accepting(proxy.https_port)):
            if proxy.proc.poll() is not None:
                output = (proxy.folder / "nginx.out").read_text(errors="replace")
                raise RuntimeError(f"nginx exited with {proxy.proc.returncode}:\n{output}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not listen within {start_timeout_s}s")
            time.sleep(0.05)
        yield proxy
    finally:
        if proxy.proc.poll() is None:
            proxy.stop()
        log.close()
