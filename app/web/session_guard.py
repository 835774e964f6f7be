"""What one client may make the server hold: sessions, and the size of its messages.

Every page a browser opens is a Bokeh session on the server (about 1.5 MB, and some
140 ms of CPU to build the arena page), made by the page's GET (or `autoload.js`), or by a
websocket bringing an ended session back with its still-valid token. So:

- **Signed tokens only.** A websocket whose token the server did not sign (a client's
  own session id and headers) is closed before any session exists, with one log line.
  Bokeh checks the signature too, but by raising, which logs a traceback per attempt.
- **Sessions per client address** (`ARENA_TRUST__SESSIONS_PER_ADDRESS`). A request that
  would make one more session for an address that holds the cap is refused: the page with
  `429` and a short message, the websocket with close code 1008. Sessions in the making
  count, so concurrent requests cannot slip past. A session counts from the page's build
  until Bokeh discards it (15-30 s after its last websocket closed, or after the page was
  loaded and never connected).
- **Message size** (`ARENA_TRUST__WEBSOCKET_MESSAGE_MAX_BYTES`). Tornado bounds one
  websocket frame (`websocket_max_message_size`, set from the same number by the server),
  but a Bokeh message is several frames: a header announcing `num_buffers`, metadata,
  content, then a header and a payload per buffer, which Bokeh's receiver keeps until the
  last arrives, and nothing bounds their number. Here a message may announce at most
  `MAX_BUFFERS` buffers (the arena's pages send none), and all its frames together may
  not exceed the bound; past either the websocket is closed (1009) at once.

The client address is the real HTTP request's (`app/core/client_address.py`). Counts are
kept under keyed hashes, not raw addresses. `install()` puts these checks into Panel's own
handlers (the classes in Bokeh's per-application route table, which Panel itself fills),
before the server is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from app.core.client_address import (
    TrustedProxies,
    parse_trusted,
    request_client_address,
    session_http_request,
)

log = logging.getLogger(__name__)

MAX_BUFFERS = 8  # binary buffers one browser message may announce
RETRY_AFTER_S = 30  # about when a closed page's session has been discarded
REFUSED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OELLM Arena</title></head>
<body><h1>Too many open pages</h1>
<p>Too many open pages from your address (at most {cap} at once). Close other arena tabs,
or wait half a minute, then reload this page.</p></body></html>
"""


@dataclass
class SessionCounter:
    """Live sessions (and sessions in the making) per address key, at most `cap` each."""

    cap: int
    _live: dict[str, set[str]] = field(default_factory=dict)
    _pending: Counter[str] = field(default_factory=Counter)

    def held(self, key: str) -> int:
        return len(self._live.get(key, ())) + self._pending[key]

    def admits(self, key: str) -> bool:
        """Whether `key` may make one more session now."""
        return self.held(key) < self.cap

    @contextmanager
    def making(self, key: str) -> Iterator[None]:
        """Count a session being made for `key` until it is live (or was not made)."""
        self._pending[key] += 1
        try:
            yield
        finally:
            self._pending[key] -= 1
            if self._pending[key] <= 0:
                del self._pending[key]

    def opened(self, key: str, session_id: str) -> None:
        self._live.setdefault(key, set()).add(session_id)

    def closed(self, key: str, session_id: str) -> None:
        ids = self._live.get(key)
        if ids is not None:
            ids.discard(session_id)
            if not ids:
                del self._live[key]


@dataclass
class MessageBounds:
    """Frames of the Bokeh messages arriving on one websocket, checked as they come."""

    max_bytes: int
    max_buffers: int = MAX_BUFFERS
    _frames_left: int = 0
    _bytes: int = 0

    def check(self, fragment: str | bytes) -> str | None:
        """None if `fragment` may be passed on; else why the websocket must close."""
        if self._frames_left <= 0:  # a message begins: its header says how many frames
            announced = _announced_buffers(fragment)
            if announced > self.max_buffers or announced < 0:
                return f"a message announcing {announced} buffers (at most {self.max_buffers})"
            self._frames_left, self._bytes = 3 + 2 * announced, 0
        self._frames_left -= 1
        self._bytes += len(fragment)
        if self._bytes > self.max_bytes:
            return f"a message over {self.max_bytes} bytes"
        return None


def _announced_buffers(header: str | bytes) -> int:
    try:
        value = json.loads(header)
    except ValueError:
        return 0  # not a header: Bokeh's receiver refuses it
    number = value.get("num_buffers", 0) if isinstance(value, dict) else 0
    return number if isinstance(number, int) else 0


@dataclass
class SessionGuard:
    """The server's limits on one client (see the module docstring)."""

    trusted: TrustedProxies
    sessions: SessionCounter
    message_max_bytes: int
    _key_salt: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    @classmethod
    def create(
        cls, trusted: Iterable[str], sessions_per_address: int, message_max_bytes: int
    ) -> SessionGuard:
        return cls(parse_trusted(trusted), SessionCounter(sessions_per_address), message_max_bytes)

    @classmethod
    def from_settings(cls, settings: Any) -> SessionGuard:
        """From the app's `Settings`: its trusted proxies and `trust` limits."""
        trust = settings.trust
        return cls.create(
            settings.trusted_proxies, trust.sessions_per_address, trust.websocket_message_max_bytes
        )

    def key(self, address: str) -> str:
        digest = hashlib.blake2b(address.encode(), key=self._key_salt, digest_size=8)
        return digest.hexdigest()

    def request_key(self, request: object) -> str:
        return self.key(request_client_address(request, self.trusted))

    def track_current_session(self) -> None:
        """Count the Panel session being built against its address until it is destroyed.
        Called by the server's page function, inside the session."""
        import panel as pn

        doc = pn.state.curdoc
        context = getattr(doc, "session_context", None) if doc is not None else None
        request = session_http_request(context)
        if context is None or request is None:
            return
        key, session_id = self.request_key(request), str(context.id)
        self.sessions.opened(key, session_id)
        pn.state.on_session_destroyed(lambda _ctx: self.sessions.closed(key, session_id))


def server_options(settings: Any) -> dict[str, Any]:
    """Bokeh server options for `pn.io.server.get_server` (passed on to Bokeh's `Server`):
    signed sessions and the bounds on what a request or websocket frame may carry.
    `settings` is the app's `Settings`; ValueError if it has no secret key."""
    secret = settings.secret_key.get_secret_value()
    if not secret:
        raise ValueError("no secret key to sign sessions with (ARENA_SECRET_KEY)")
    trust = settings.trust
    return {
        "sign_sessions": True,
        "secret_key": secret.encode(),
        "generate_session_ids": True,
        # One websocket frame; MessageBounds bounds a message's frames together.
        "websocket_max_message_size": trust.websocket_message_max_bytes,
        "http_server_kwargs": {
            # Refused (400) from its Content-Length, before it is read. Tornado's defaults
            # let a body of 100 MB be buffered before the route answers 405.
            "max_body_size": trust.request_body_max_bytes,
            # What the connection may buffer: a header block, a body, a websocket frame.
            "max_buffer_size": max(1 << 20, 2 * trust.websocket_message_max_bytes),
        },
    }


_guard: SessionGuard | None = None


def install(guard: SessionGuard) -> None:
    """Route Panel's page, autoload and websocket handlers through `guard` (idempotent for
    the classes; the latest guard is the one used)."""
    global _guard
    _guard = guard
    from bokeh.server.urls import per_app_patterns
    from bokeh.server.views.autoload_js_handler import AutoloadJsHandler
    from bokeh.server.views.doc_handler import DocHandler
    from bokeh.server.views.ws import WSHandler

    for index, (pattern, handler) in enumerate(per_app_patterns):
        if issubclass(handler, (_GuardedPage, _GuardedSocket)):
            continue
        if issubclass(handler, WSHandler):
            mixin: type = _GuardedSocket
        elif issubclass(handler, (DocHandler, AutoloadJsHandler)):  # these make sessions
            mixin = _GuardedPage
        else:
            continue
        guarded = type(f"Guarded{handler.__name__}", (mixin, handler), {})
        per_app_patterns[index] = (pattern, guarded)


def _active() -> SessionGuard:
    if _guard is None:
        raise RuntimeError("session_guard.install() was not called")
    return _guard


class _GuardedPage:
    """Mixed into Panel's DocHandler and AutoloadJsHandler: refuses a session past the cap."""

    request: Any

    async def get(self, *args: Any, **kwargs: Any) -> None:
        guard = _active()
        key = guard.request_key(self.request)
        if not guard.sessions.admits(key):
            log.warning(
                "page refused: too many open sessions (%d) from one address (%s)",
                guard.sessions.cap,
                key,
            )
            self.set_status(429)  # type: ignore[attr-defined]
            self.set_header("Retry-After", str(RETRY_AFTER_S))  # type: ignore[attr-defined]
            self.set_header("Content-Type", "text/html; charset=utf-8")  # type: ignore[attr-defined]
            self.finish(REFUSED_PAGE.format(cap=guard.sessions.cap))  # type: ignore[attr-defined]
            return
        with guard.sessions.making(key):
            await super().get(*args, **kwargs)  # type: ignore[misc]


class _GuardedSocket:
    """Mixed into Panel's WSHandler: signed tokens only, the session cap, message bounds."""

    request: Any
    application: Any
    application_context: Any
    _token: str | None

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from bokeh.util.token import check_token_signature, get_token_payload

        token, why = self._token, None
        try:
            if token is None:
                why = "no session token"
            elif not check_token_signature(
                token,
                secret_key=self.application.secret_key,
                signed=self.application.sign_sessions,
            ):
                why = "not signed by this server"
            elif get_token_payload(token).get("session_expiry", 0) <= time.time():
                why = "expired"
        except Exception:  # a token that does not even parse
            why = "malformed"
        if why is not None:
            key = _active().request_key(self.request)
            log.warning("websocket refused: session token refused (%s) from %s", why, key)
            self.close(1008, "invalid session token")  # type: ignore[attr-defined]
            return None
        return super().open(*args, **kwargs)  # type: ignore[misc]

    async def _async_open(self, token: str) -> None:
        from bokeh.protocol.exceptions import ProtocolError
        from bokeh.util.token import get_session_id

        guard = _active()
        try:
            self.application_context.get_session(get_session_id(token))
        except ProtocolError:  # no such session: this websocket would make one
            key = guard.request_key(self.request)
            if not guard.sessions.admits(key):
                log.warning(
                    "websocket refused: too many open sessions (%d) from one address (%s)",
                    guard.sessions.cap,
                    key,
                )
                self.close(1008, "too many open pages from this address")  # type: ignore[attr-defined]
                return None
            with guard.sessions.making(key):
                return await super()._async_open(token)  # type: ignore[misc]
        return await super()._async_open(token)  # type: ignore[misc]

    async def on_message(self, fragment: str | bytes) -> None:
        bounds = getattr(self, "_arena_bounds", None)
        if bounds is None:
            bounds = self._arena_bounds = MessageBounds(_active().message_max_bytes)
        problem = bounds.check(fragment)
        if problem is not None:
            key = _active().request_key(self.request)
            log.warning("websocket closed: %s from %s", problem, key)
            self.close(1009, "message too big")  # type: ignore[attr-defined]
            return None
        return await super().on_message(fragment)  # type: ignore[misc]
