"""The bare URL leads to the arena page (not Panel's index of apps, whose logo comes from a
CDN), with and without a URL prefix: `oellm-arena serve` as a real process, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.core.session_secret import make_secret
from tests.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("prefix", ["", "/oellmarena"])
def test_the_bare_url_redirects_to_the_arena(tmp_path: Path, prefix: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    # Engines are never contacted to serve these pages: any static endpoint will do.
    env["ARENA_SUPERVISOR__STATIC_ENDPOINTS"] = json.dumps(
        {"HPLT/hplt2c_swe_checkpoints": f"http://127.0.0.1:{free_port()}"}
    )
    env["ARENA_SECRET_KEY"] = make_secret()
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    cmd += ["--db", str(tmp_path / "arena.duckdb")]
    if prefix:
        cmd += ["--prefix", prefix]
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}{prefix}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)

        with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as http:
            for path in {f"{prefix}/", prefix or "/"}:
                answer = http.get(path)
                assert answer.status_code == 302, (path, answer.text[:300])
                assert answer.headers["location"] == f"{prefix}/arena", path
            kept = http.get(f"{prefix}/?ui=fin")
            assert kept.headers["location"] == f"{prefix}/arena?ui=fin"
            if prefix:  # nothing is served outside the prefix
                assert http.get("/").status_code == 404
            page = http.get(f"{prefix}/", follow_redirects=True)
        assert page.status_code == 200
        assert str(page.url) == f"{base}{prefix}/arena"
        assert "OELLM Arena: arena" in page.text  # the arena page's title, not an index
        assert "cdn.holoviz.org" not in page.text
    finally:
        proc.terminate()
        assert proc.wait(30) == 0, log_path.read_text()
