"""The pieces behind signed sessions and per-client bounds: the session secret, the session
counter, the message bounds, and the options the server passes to Bokeh. The attacks
themselves run against real processes in test_hostile_sessions.py and test_hostile_flood.py."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr, ValidationError

from app.cli.main import main
from app.core.session_secret import (
    MIN_SECRET_BYTES,
    SecretError,
    demo_secret_path,
    load_or_create,
    make_secret,
)
from app.core.settings import Settings
from app.web.session_guard import server_options
from app.web.session_limits import (
    MAX_BUFFERS,
    BuildTurns,
    LogThrottle,
    MessageBounds,
    SessionCounter,
)

# ---- the secret ---------------------------------------------------------------------------


def test_the_demo_secret_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = demo_secret_path(tmp_path / "data" / "arena.duckdb")
    assert path == tmp_path / "data" / "arena.secret_key"
    first = load_or_create(path)
    assert len(first.encode()) >= MIN_SECRET_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path) == first  # kept: open pages survive a restart
    assert make_secret() != first


def test_a_short_secret_is_refused_saying_how_to_make_one(tmp_path: Path) -> None:
    path = tmp_path / "arena.secret_key"
    path.write_text("short\n")
    with pytest.raises(SecretError, match="bokeh secret"):
        load_or_create(path)
    with pytest.raises(ValidationError, match="ARENA_SECRET_KEY must be at least 32 bytes"):
        Settings(secret_key=SecretStr("CHANGE-ME"))
    assert Settings(secret_key=SecretStr("k" * 32)).secret_key.get_secret_value() == "k" * 32
    assert Settings().secret_key.get_secret_value() == ""  # unset is allowed here; serve refuses


def test_serve_requires_the_secret_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_SUPERVISOR__STATIC_ENDPOINTS", '{"m": "http://127.0.0.1:9"}')
    result = CliRunner().invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert "ARENA_SECRET_KEY is not set" in line and "bokeh secret" in line


def test_the_server_signs_sessions_and_bounds_requests() -> None:
    settings = Settings(secret_key=SecretStr("s" * 44))
    options = server_options(settings)
    assert options["sign_sessions"] is True and options["generate_session_ids"] is True
    assert options["secret_key"] == b"s" * 44
    assert options["websocket_max_message_size"] == 256 * 1024
    assert options["http_server_kwargs"]["max_body_size"] == 64 * 1024
    assert options["http_server_kwargs"]["max_buffer_size"] >= 2 * 256 * 1024
    with pytest.raises(ValueError, match="ARENA_SECRET_KEY"):
        server_options(Settings())


# ---- sessions per address -----------------------------------------------------------------


def test_sessions_in_the_making_count_against_the_cap() -> None:
    counter = SessionCounter(cap=2)
    with counter.making("a"), counter.making("a"):
        assert not counter.admits("a")  # two concurrent page loads hold both places
        assert counter.admits("b")
        counter.opened("a", "s1")
        counter.opened("a", "s2")
    assert counter.held("a") == 2 and not counter.admits("a")
    counter.closed("a", "s1")
    counter.closed("a", "s1")  # twice: no harm
    assert counter.admits("a") and counter.held("a") == 1
    counter.closed("a", "s2")
    assert counter.held("a") == 0 and counter._live == {} and not counter._pending


def test_a_refused_or_failed_build_frees_its_place() -> None:
    counter = SessionCounter(cap=1)
    with pytest.raises(RuntimeError), counter.making("a"):
        raise RuntimeError("the page failed to build")
    assert counter.admits("a")


# ---- message bounds -----------------------------------------------------------------------


def _header(buffers: int = 0) -> str:
    header: dict[str, object] = {"msgid": "1", "msgtype": "PATCH-DOC"}
    if buffers:
        header["num_buffers"] = buffers
    return json.dumps(header)


def test_ordinary_messages_pass_one_after_another() -> None:
    bounds = MessageBounds(max_bytes=1000)
    for _ in range(3):  # header, metadata, content; three messages in a row
        assert bounds.check(_header()) is None
        assert bounds.check("{}") is None
        assert bounds.check('{"events": []}') is None
    # With two buffers: header and payload each.
    frames: list[str | bytes] = [_header(2), "{}", "{}", '{"id": "a"}', b"x" * 100]
    frames += ['{"id": "b"}', b"y" * 100]
    assert [bounds.check(f) for f in frames] == [None] * 7
    assert bounds.check(_header()) is None  # the next message starts cleanly


def test_too_many_buffers_are_refused_at_the_header() -> None:
    assert MessageBounds(1 << 20).check(_header(MAX_BUFFERS)) is None
    why = MessageBounds(1 << 20).check(_header(1000))
    assert why is not None and "1000 buffers" in why
    assert MessageBounds(1 << 20).check(_header(-1)) is not None


def test_a_message_is_bounded_across_its_frames() -> None:
    bounds = MessageBounds(max_bytes=1000)
    assert bounds.check(_header(4)) is None
    assert bounds.check("{}") is None
    assert bounds.check("{}") is None
    assert bounds.check('{"id": "a"}') is None
    assert bounds.check(b"x" * 600) is None
    assert bounds.check('{"id": "b"}') is None
    why = bounds.check(b"x" * 600)
    assert why is not None and "over 1000 bytes" in why


# ---- turns to build, and the log -----------------------------------------------------------


def test_one_address_builds_one_session_at_a_time_spaced_others_at_once() -> None:
    async def run() -> list[tuple[str, float]]:
        turns = BuildTurns(spacing_s=0.2)
        started: list[tuple[str, float]] = []
        t0 = time.monotonic()

        async def build(key: str) -> None:
            async with turns.turn(key):
                started.append((key, time.monotonic() - t0))
                await asyncio.sleep(0.05)  # the build

        await asyncio.gather(build("a"), build("a"), build("a"), build("b"))
        assert turns._locks == {}  # nothing kept for idle keys
        return started

    started = asyncio.run(run())
    a = [t for key, t in started if key == "a"]
    b = [t for key, t in started if key == "b"]
    assert a[0] < 0.05 and b[0] < 0.05  # the first of each address at once
    assert a[1] - a[0] >= 0.19 and a[2] - a[1] >= 0.19  # then one per spacing


def test_a_flood_of_refusals_is_one_line_per_interval_with_a_count() -> None:
    now = [0.0]
    throttle = LogThrottle(every_s=10.0, clock=lambda: now[0])
    assert throttle.due("k") == 0  # the first: logged
    assert [throttle.due("k") for _ in range(5)] == [None] * 5
    assert throttle.due("other") == 0
    now[0] = 10.0
    assert throttle.due("k") == 5  # the next line says how many were left out
    assert throttle.due("k") is None


def test_the_refused_page_speaks_the_voters_language() -> None:
    from http.cookies import SimpleCookie
    from types import SimpleNamespace

    from app.web.session_guard import refused_page

    def request(accept: str | None = None, cookie: str | None = None, ui: str | None = None):  # type: ignore[no-untyped-def]
        cookies: SimpleCookie = SimpleCookie()
        if cookie:
            cookies["arena_ui"] = cookie
        return SimpleNamespace(
            headers={"Accept-Language": accept} if accept else {},
            cookies=cookies,
            query_arguments={"ui": [ui.encode()]} if ui else {},
        )

    english = refused_page(request(), 8)
    assert '<html lang="en">' in english and "(at most 8 at once)" in english
    assert "Zu viele offene Seiten" in refused_page(request("de-CH,de;q=0.9"), 8)
    assert "For mange åpne sider" in refused_page(request("de", cookie="nob"), 8)  # chosen
    assert "Orri ireki gehiegi" in refused_page(request("de", cookie="nob", ui="eus"), 8)
    assert '<html lang="en">' in refused_page(request("xx-YY", ui="<script>"), 8)
