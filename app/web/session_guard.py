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
- **Turns to build** (`session_limits.BuildTurns`): one address builds one session at a
  time, at most one a second; its other requests wait their turn (within the cap).
- **Message size** (`ARENA_TRUST__WEBSOCKET_MESSAGE_MAX_BYTES`). Tornado bounds one
  websocket frame (`websocket_max_message_size`, from the same number, see
  `server_options`); `session_limits.MessageBounds` bounds a Bokeh message's frames
  together and the buffers it may announce. Past either the websocket is closed (1009).

The client address is the real HTTP request's (`app/core/client_address.py`), kept only
as a keyed hash. Refusals are logged once per address per 10 s, with a count. `install()`
puts these checks into Panel's own handlers (the classes in Bokeh's per-application route
table, which Panel itself fills), before the server is made.
"""

from __future__ import annotations

import hashlib
import html
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.core.client_address import (
    TrustedProxies,
    parse_trusted,
    request_client_address,
    session_http_request,
)
from app.core.i18n import UI_COOKIE, load_catalogue, negotiate
from app.core.settings import Settings
from app.web.session_limits import BuildTurns, LogThrottle, MessageBounds, SessionCounter

log = logging.getLogger(__name__)

RETRY_AFTER_S = 30  # about when a closed page's session has been discarded
REFUSED_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OELLM Arena</title></head>
<body><h1>{title}</h1>
<p>{text}</p></body></html>
"""


def refused_page(request: Any, cap: int) -> str:
    """The page refused past the session cap, in the interface language the request asks
    for (`?ui=`, then the remembered choice, then the browser's languages), escaped."""
    headers = getattr(request, "headers", None) or {}
    requested = (getattr(request, "cookies", None) or {}).get(UI_COOKIE)
    requested = getattr(requested, "value", requested)  # a tornado Morsel, or a plain str
    ui = (getattr(request, "query_arguments", None) or {}).get("ui")
    if ui:
        requested = ui[0].decode("utf-8", "replace") if isinstance(ui[0], bytes) else ui[0]
    catalogue = load_catalogue()
    code = negotiate(headers.get("Accept-Language"), requested, catalogue)
    t = catalogue.translator(code)
    return REFUSED_PAGE.format(
        lang=html.escape(catalogue.languages[code].html_lang),
        title=html.escape(t("refused_title")),
        text=html.escape(t("refused_text", cap=cap)),
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """Bokeh server options for `pn.io.server.get_server` (passed on to Bokeh's `Server`):
    signed sessions and the bounds on what a request or websocket frame may carry.
    ValueError if `settings` has no secret key."""
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


@dataclass
class SessionGuard:
    """The server's limits on one client (see the module docstring)."""

    trusted: TrustedProxies
    sessions: SessionCounter
    message_max_bytes: int
    turns: BuildTurns = field(default_factory=BuildTurns)
    log_throttle: LogThrottle = field(default_factory=LogThrottle)
    _key_salt: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    @classmethod
    def create(
        cls, trusted: Iterable[str], sessions_per_address: int, message_max_bytes: int
    ) -> SessionGuard:
        return cls(parse_trusted(trusted), SessionCounter(sessions_per_address), message_max_bytes)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionGuard:
        """From the app's settings: its trusted proxies and `trust` limits."""
        trust = settings.trust
        return cls.create(
            settings.trusted_proxies, trust.sessions_per_address, trust.websocket_message_max_bytes
        )

    def request_key(self, request: object) -> str:
        """The keyed hash of the client address of a real HTTP request."""
        address = request_client_address(request, self.trusted)
        digest = hashlib.blake2b(address.encode(), key=self._key_salt, digest_size=8)
        return digest.hexdigest()

    def refused(self, key: str, what: str) -> None:
        """Log a refusal for `key`, once per `LogThrottle.every_s` (with how many more)."""
        skipped = self.log_throttle.due(key + what)
        if skipped is not None:
            more = f" (and {skipped} more since the last line)" if skipped else ""
            log.warning("%s from one address (%s)%s", what, key, more)

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
    # Tornado logs every 4xx; a flood of 429s is logged above, once per address and 10 s.
    access = logging.getLogger("tornado.access")
    if not any(isinstance(f, _QuietRefusals) for f in access.filters):
        access.addFilter(_QuietRefusals())


class _QuietRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.args and isinstance(record.args, tuple) and record.args[0] == 429)


def _active() -> SessionGuard:
    if _guard is None:
        raise RuntimeError("session_guard.install() was not called")
    return _guard


class _GuardedPage:
    """Mixed into Panel's DocHandler and AutoloadJsHandler: refuses a session past the cap,
    and builds one per address at a time."""

    request: Any

    async def get(self, *args: Any, **kwargs: Any) -> None:
        guard = _active()
        key = guard.request_key(self.request)
        if not guard.sessions.admits(key):
            guard.refused(key, f"page refused: too many open sessions ({guard.sessions.cap})")
            self.set_status(429)  # type: ignore[attr-defined]
            self.set_header("Retry-After", str(RETRY_AFTER_S))  # type: ignore[attr-defined]
            self.set_header("Content-Type", "text/html; charset=utf-8")  # type: ignore[attr-defined]
            self.finish(refused_page(self.request, guard.sessions.cap))  # type: ignore[attr-defined]
            return
        with guard.sessions.making(key):
            async with guard.turns.turn(key):
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
            guard = _active()
            guard.refused(guard.request_key(self.request), f"session token refused ({why})")
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
                what = f"websocket refused: too many open sessions ({guard.sessions.cap})"
                guard.refused(key, what)
                self.close(1008, "too many open pages from this address")  # type: ignore[attr-defined]
                return None
            with guard.sessions.making(key):
                async with guard.turns.turn(key):
                    return await super()._async_open(token)  # type: ignore[misc]
        return await super()._async_open(token)  # type: ignore[misc]

    async def on_message(self, fragment: str | bytes) -> None:
        bounds = getattr(self, "_arena_bounds", None)
        if bounds is None:
            bounds = self._arena_bounds = MessageBounds(_active().message_max_bytes)
        problem = bounds.check(fragment)
        if problem is not None:
            guard = _active()
            guard.refused(guard.request_key(self.request), f"websocket closed: {problem}")
            self.close(1009, "message too big")  # type: ignore[attr-defined]
            return None
        return await super().on_message(fragment)  # type: ignore[misc]
