"""Forged session tokens against a real `oellm-arena demo`, on the app port and through the
project's nginx site, over Bokeh's websocket protocol (`benchmark/bokeh_client.py`).

A Bokeh session token is a JSON payload (session id, expiry, the page request's headers)
plus, when sessions are signed, an HMAC of it. Unsigned, anyone can write one: a new session
id and any `X-Forwarded-For`, and open the websocket without loading the page. The arena
must refuse such a token before any session exists, and take the client's address from the
real HTTP request (through its trusted proxies), never from the token.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest
from bokeh.util.token import generate_jwt_token, generate_session_id

from app.core.registry import load_registry
from benchmark.arena_voter import ArenaVoter, RoundResult
from benchmark.bokeh_client import BokehPageClient, ProtocolFailure
from benchmark.harness import free_port, run_demo
from benchmark.nginx_proxy import NGINX, configure, run_nginx

pytestmark = pytest.mark.slow

ROUND_TIMEOUT_S = 60.0
ATTACKER = "127.0.0.9"
RATE_LIMITED = "faster than the arena allows"


def forged_token(headers: dict[str, str], secret_key: str | None = None) -> str:
    """A session token made by the client: its own session id, the headers it likes;
    signed with `secret_key` when given (a guess), else unsigned."""
    signed = secret_key is not None
    session_id = generate_session_id(secret_key=secret_key, signed=signed)
    payload = {"headers": headers, "cookies": {}, "arguments": {}}
    return generate_jwt_token(
        session_id, secret_key=secret_key, signed=signed, extra_payload=payload
    )


async def _play(client: BokehPageClient, index: int) -> RoundResult:
    """One round in the page's own language (a change of language would race the page's
    check of the new models)."""
    language = client.attrs(client.find(title="Language"))["value"]
    voter = ArenaVoter(
        client,
        index,
        load_registry(),
        [(language, 1.0)],
        tag="forged",
        rng=random.Random(index),
        round_timeout_s=ROUND_TIMEOUT_S,
    )
    return await voter.play_round()


async def _refused(client: BokehPageClient, token: str) -> bool:
    """True when the server closes the websocket instead of acknowledging the session."""
    try:
        await client.connect(timeout_s=20, token=token)
    except ProtocolFailure:
        return True
    await client.close()
    return False


def test_a_forged_token_is_refused_before_a_session_exists(tmp_path: Path) -> None:
    headers = {"X-Forwarded-For": "203.0.113.7", "Host": "127.0.0.1"}

    async def attack(url: str) -> None:
        # All from one address of the test's own (the harness's readiness probe has made a
        # session from 127.0.0.1).
        def client() -> BokehPageClient:
            return BokehPageClient(url, local_address=ATTACKER)

        # Unsigned, and signed with a guessed key: both refused without an ACK.
        assert await _refused(client(), forged_token(headers))
        assert await _refused(client(), forged_token(headers, "x" * 44))
        # Nor can the page be asked to build a session for a forged token or session id.
        transport = httpx.AsyncHTTPTransport(local_address=ATTACKER)
        async with httpx.AsyncClient(trust_env=False, transport=transport, timeout=20) as http:
            for query in ("bokeh-token", "bokeh-session-id"):
                value = forged_token(headers) if query == "bokeh-token" else "made-up-id"
                page = await http.get(url, params={query: value})
                assert page.status_code == 403, (query, page.status_code)
        # The real page still works: with one session allowed per address, it proves
        # that none of the attempts above made a session.
        real = client()
        await real.connect()
        await real.close()

    with run_demo(tmp_path, extra_env={"ARENA_TRUST__SESSIONS_PER_ADDRESS": "1"}) as demo:
        asyncio.run(attack(demo.url))
        assert demo.stop() == 0
        log = demo.log_text()
    # Two refusals from one address within 10 s: one log line, no traceback.
    refused = [line for line in log.splitlines() if "session token refused" in line]
    assert len(refused) == 1, log
    assert "Traceback" not in log
    # The demo made its signing secret and kept it beside the battle log, owner-only.
    secret = tmp_path / "arena.secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
def test_the_per_address_limit_holds_through_nginx_against_forged_tokens(tmp_path: Path) -> None:
    """One battle per hour per address. The voter at 127.0.0.2 has had theirs; a token naming
    another address must not start a battle, nor spend 127.0.0.3's."""
    https_port = free_port()
    (tmp_path / "demo").mkdir()
    limit = {"ARENA_TRUST__BATTLES_PER_HOUR_PER_ADDRESS": "1"}
    origin = ["--allow-websocket-origin", f"localhost:{https_port}"]
    with run_demo(
        tmp_path / "demo", prefix="/oellmarena", extra_env=limit, extra_args=origin
    ) as demo:
        upstream = demo.url.split("//", 1)[1].split("/", 1)[0]
        proxy = configure(tmp_path / "nginx", upstream, https_port=https_port)

        def voter(address: str) -> BokehPageClient:
            return BokehPageClient(
                f"{proxy.https}/oellmarena/arena", local_address=address, verify=False
            )

        async def attack() -> None:
            first = voter("127.0.0.2")
            await first.connect()
            assert (await _play(first, 0)).outcome == "votable"
            await first.close()
            # Refused for the address, on a new page too: the limit is the address's.
            again = voter("127.0.0.2")
            await again.connect()
            result = await _play(again, 1)
            await again.close()
            assert result.outcome == "failed" and RATE_LIMITED in result.message, result
            # A token of its own making, naming a fresh address, then 127.0.0.3's.
            for named in ("198.51.100.23", "127.0.0.3"):
                token = forged_token({"X-Forwarded-For": named, "Host": "localhost"})
                forger = voter("127.0.0.2")
                try:
                    await forger.connect(timeout_s=20, token=token)
                except ProtocolFailure:
                    continue  # refused: what must happen
                result = await _play(forger, 2)
                await forger.close()
                raise AssertionError(f"a forged token was accepted; its battle: {result}")
            # 127.0.0.3's budget is intact.
            other = voter("127.0.0.3")
            await other.connect()
            assert (await _play(other, 3)).outcome == "votable"
            await other.close()

        with run_nginx(proxy):
            asyncio.run(attack())
            assert proxy.stop() == 0, proxy.error_log()
        assert demo.stop() == 0, demo.log_text()
