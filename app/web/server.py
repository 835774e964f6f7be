"""The web app process: shared services built once, one arena page per browser session."""

from __future__ import annotations

import logging
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass

import panel as pn
from pydantic import SecretStr
from tornado.web import RequestHandler

from app.arena.engines import EngineDirectory, directory_from_settings
from app.arena.services import ArenaServices, battle_limits
from app.core.inference.factory import make_client
from app.core.registry import load_registry
from app.core.session_secret import HOW_TO_MAKE
from app.core.settings import Settings
from app.core.store.battle_store import BattleStore, share_gil_with_writer
from app.core.store.snapshot import start_snapshot_scheduler
from app.web import client_errors, health, panel_patches, session_guard
from app.web.gc_policy import THRESHOLDS, tune_gc
from app.web.listen import listen_error
from app.web.page_document import use_page_template
from app.web.pages.about import build_about_page
from app.web.pages.arena import build_arena_page
from app.web.pages.leaderboard import build_leaderboard_page

log = logging.getLogger(__name__)


PageBuilder = Callable[[ArenaServices, str], pn.viewable.Viewable]

# The web pages, by route (relative to the server root or its --prefix).
PAGES: dict[str, PageBuilder] = {
    "arena": build_arena_page,
    "leaderboard": build_leaderboard_page,
    "about": build_about_page,
}


# Plain HTTP routes beside the pages (health, metrics, ...): (pattern, handler class,
# init kwargs); each handler receives `services` among its kwargs.
ExtraRoute = tuple[str, type, dict]
EXTRA_ROUTES: list[Callable[[ArenaServices], ExtraRoute]] = [*health.ROUTES]


class RootRedirect(RequestHandler):
    """`/` (or the bare `--prefix`, with or without its slash) leads to the arena page.

    Without it, Panel answers with its index of apps, whose logo comes from a CDN (broken
    offline) and which lists routes no voter needs. The query string (`?ui=fin`) is kept."""

    def initialize(self, target: str) -> None:
        self.target = target

    def get(self) -> None:
        query = self.request.query
        self.redirect(f"{self.target}?{query}" if query else self.target)

    head = get


def root_route(prefix: str) -> ExtraRoute:
    # Bokeh puts the prefix in front of every extra pattern, and tries them before its own
    # index handler (also `/?`), so this one answers first.
    return (r"/?", RootRedirect, {"target": f"{prefix}/arena"})


class ConfigError(RuntimeError):
    """The configuration cannot work; the message says what to set."""


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 5006
    prefix: str = ""
    allow_websocket_origin: tuple[str, ...] = ()


def make_directory(settings: Settings) -> EngineDirectory:
    sup = settings.supervisor
    if sup.url or sup.remote_endpoints or sup.static_endpoints:
        return directory_from_settings(settings)
    raise ConfigError(
        "no inference engines configured: set ARENA_SUPERVISOR__URL to a running supervisor, "
        "or ARENA_SUPERVISOR__REMOTE_ENDPOINTS (probed) or ARENA_SUPERVISOR__STATIC_ENDPOINTS "
        "to a JSON object of model id -> engine URL, "
        "or run `oellm-arena demo` for stand-in engines"
    )


def build_services(settings: Settings, store: BattleStore) -> ArenaServices:
    if not settings.session_salt.get_secret_value():
        # Hashes stay unlinkable across restarts, which is safe but splits sessions.
        log.warning("ARENA_SESSION_SALT is not set: using a random salt for this process")
        settings = settings.model_copy(update={"session_salt": SecretStr(secrets.token_hex(16))})
    directory = make_directory(settings)
    if not settings.secret_key.get_secret_value():
        raise ConfigError(
            f"ARENA_SECRET_KEY is not set: it signs the browser sessions; {HOW_TO_MAKE} "
            "and set it in the environment (`oellm-arena demo` makes its own)"
        )
    engine_settings = settings.engine
    return ArenaServices(
        settings=settings,
        registry=load_registry(settings.registry_path),
        store=store,
        directory=directory,
        make_client=lambda url, model_id: make_client(url, model_id, engine_settings),
        limits=battle_limits(settings.trust),
    )


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip().strip("/")
    return f"/{prefix}" if prefix else ""


def serve_app(
    services: ArenaServices,
    options: ServeOptions,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the arena until SIGINT or SIGTERM; blocks. Raises `panel_patches.PatchError`,
    before serving anything, where its websocket fixes do not fit the installed Panel."""
    # Two Panel/Bokeh websocket fixes found by the load test (see app/web/panel_patches.py).
    for fix in panel_patches.apply():
        log.info("panel patch applied: %s", fix)
    prefix = _normalise_prefix(options.prefix)
    # Signed sessions, sessions per address, message sizes (app/web/session_guard.py).
    guard = session_guard.SessionGuard.from_settings(services.settings)
    session_guard.install(guard)

    def page(builder: PageBuilder) -> Callable[[], pn.viewable.Viewable]:
        def build() -> pn.viewable.Viewable:
            session_id = pn.state.curdoc.session_context.id if pn.state.curdoc else "none"
            guard.track_current_session()
            use_page_template()  # a viewport for phones (app/web/page_document.py)
            return builder(services, session_id)

        return build

    origins = list(options.allow_websocket_origin) or [
        f"{options.host}:{options.port}",
        f"localhost:{options.port}",
        f"127.0.0.1:{options.port}",
    ]
    client_errors.install()  # a forged value: one log line, and the page goes on
    share_gil_with_writer()  # the battle log's writer thread must not wait on a busy loop
    frozen = tune_gc()  # fewer, shorter collector pauses (app/web/gc_policy.py)
    log.info("garbage collector: %d start-up objects frozen, thresholds %s", frozen, THRESHOLDS)
    try:  # binds the port: the CLI checked it, but another process may have taken it since
        server = pn.io.server.get_server(
            {route: page(builder) for route, builder in PAGES.items()},
            port=options.port,
            address=options.host,
            websocket_origin=origins,
            prefix=prefix,
            title={route: f"OELLM Arena: {route}" for route in PAGES},
            show=False,
            start=False,
            extra_patterns=[root_route(prefix), *(route(services) for route in EXTRA_ROUTES)],
            **session_guard.server_options(services.settings),
        )
    except OSError as exc:
        raise listen_error(exc, options.host, options.port) from None
    loop = server.io_loop

    def stop(signum: int, _frame: object) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    url = f"http://{options.host}:{options.port}{prefix}/arena"
    server.start()
    snapshots = start_snapshot_scheduler(services.store, services.settings)  # analysts' copy
    if on_ready:
        on_ready(url)
    try:
        loop.start()
    finally:
        # Without waiting: Bokeh 3.10's waiting stop runs the stopped loop again to discard
        # every session, detaching each from its still-open websocket first, so a message a
        # browser sends meanwhile (a resize) hits a detached connection and Bokeh logs an
        # AssertionError. Nothing in a session needs an orderly end when the process exits
        # (Bokeh 3.9 never discarded sessions at stop).
        server.stop(wait=False)
        snapshots.stop()
