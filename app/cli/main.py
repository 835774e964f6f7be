"""The `oellm-arena` command line."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import SecretStr

from app.core.logs import setup_logging
from app.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from app.core.store.battle_store import BattleStore

log = logging.getLogger("oellm_arena")


def _setup_logging(verbose: bool) -> None:
    setup_logging(logging.DEBUG if verbose else logging.INFO)
    # One line per HTTP request (page loads, engine streams, supervisor polls): failures
    # are logged by the code that sees them, with what they mean.
    for noisy in ("bokeh", "tornado.access", "httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings(ctx: click.Context, **overrides: object) -> Settings:
    config: Path | None = ctx.obj.get("config") if ctx.obj else None
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return load_settings(config, **clean)
    except Exception as exc:  # pydantic's ValidationError names the bad field
        raise click.ClickException(f"invalid settings: {exc}") from exc


@click.group()
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML settings file (the environment, ARENA_*, overrides it).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="oellm-arena")
@click.pass_context
def main(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """OELLM Arena: blind fluency battles between open European language models."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    _setup_logging(verbose)


def _web_options(fn):  # type: ignore[no-untyped-def]
    fn = click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        help="DuckDB battle log (default: ARENA_DB_PATH or data/arena.duckdb).",
    )(fn)
    fn = click.option(
        "--adopt-foreign-db",
        is_flag=True,
        default=None,
        help="Let the arena add its tables to a --db that is another DuckDB database "
        "(refused otherwise; ARENA_ADOPT_FOREIGN_DB).",
    )(fn)
    fn = click.option(
        "--allow-websocket-origin",
        multiple=True,
        help="Public host[:port] the browser connects from (behind a proxy).",
    )(fn)
    fn = click.option("--prefix", default="", help="URL sub-path, e.g. /oellmarena.")(fn)
    fn = click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")(fn)
    fn = click.option("--port", default=5006, show_default=True, help="Web app port.")(fn)
    return fn


def _open_store(settings: Settings) -> BattleStore:
    """The battle log, checked (app.core.store.integrity); a refusal ends the command."""
    from app.core.store.battle_store import BattleStore, StoreError

    try:
        return BattleStore(settings.db_path, adopt_foreign=settings.adopt_foreign_db)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def _check_listen(host: str, port: int) -> None:
    """Fail with one line, before anything starts, if the web app cannot listen there."""
    from app.web.listen import ListenError, check_listen

    try:
        check_listen(host, port)
    except ListenError as exc:
        raise click.ClickException(str(exc)) from None


def _run_web(
    settings: Settings,
    host: str,
    port: int,
    prefix: str,
    origins: tuple[str, ...],
    store: BattleStore | None = None,
) -> None:
    """Serve the app on `store` (opened here if not given), closing it at the end."""
    from app.web.listen import ListenError
    from app.web.panel_patches import PatchError
    from app.web.server import ConfigError, ServeOptions, build_services, serve_app

    store = store or _open_store(settings)
    try:
        log.info(store.apply_retention_sync(settings.trust).describe())
        try:
            services = build_services(settings, store)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        options = ServeOptions(host=host, port=port, prefix=prefix, allow_websocket_origin=origins)

        def ready(url: str) -> None:
            click.echo(f"OELLM Arena is running: {url}  (Ctrl-C to stop)", err=True)
            click.echo(f"Battle log: {settings.db_path.resolve()}", err=True)

        try:
            serve_app(services, options, on_ready=ready)
        except ListenError as exc:  # the port was taken after the check: same message
            raise click.ClickException(str(exc)) from None
        except PatchError as exc:  # raised before it serves anything
            raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


def _demo_secret(settings: Settings) -> SecretStr:
    """The demo's session-signing secret, kept beside its battle log (made on first run)."""
    from app.core.session_secret import SecretError, demo_secret_path, load_or_create

    path = demo_secret_path(settings.db_path)
    try:
        return SecretStr(load_or_create(path))
    except (SecretError, OSError) as exc:
        raise click.ClickException(f"cannot use the session secret {path}: {exc}") from exc


@main.command()
@_web_options
@click.option(
    "--supervisor-port",
    type=int,
    help="Fix the supervisor's port (default: ARENA_SUPERVISOR__PORT if free, else any).",
)
@click.pass_context
def demo(
    ctx: click.Context,
    port: int,
    host: str,
    prefix: str,
    allow_websocket_origin: tuple[str, ...],
    db: Path | None,
    adopt_foreign_db: bool | None,
    supervisor_port: int | None,
) -> None:
    """Run the whole arena locally: supervisor, stand-in engines and the web app."""
    from app.cli.supervisor_process import SupervisorProcess

    settings = _settings(ctx, db_path=db, adopt_foreign_db=adopt_foreign_db, demo=True)
    if supervisor_port:
        settings.supervisor.port = supervisor_port
    _check_listen(host, port)  # a busy web port: say so before the supervisor starts
    # Fail on a locked, damaged or foreign DB before spawning anything; the check reads the
    # whole log, so the web app gets this store rather than checking it a second time.
    store = _open_store(settings)
    if not settings.secret_key.get_secret_value():
        settings.secret_key = _demo_secret(settings)
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        try:
            supervisor = stack.enter_context(SupervisorProcess(settings))
        except RuntimeError as exc:  # port taken, or the supervisor would not start
            raise click.ClickException(f"cannot start the supervisor: {exc}") from exc
        settings.supervisor.url = supervisor.url
        _run_web(settings, host, port, prefix, allow_websocket_origin, store)


@main.command()
@_web_options
@click.option("--supervisor-url", help="Supervisor base URL (default: ARENA_SUPERVISOR__URL).")
@click.pass_context
def serve(
    ctx: click.Context,
    port: int,
    host: str,
    prefix: str,
    allow_websocket_origin: tuple[str, ...],
    db: Path | None,
    adopt_foreign_db: bool | None,
    supervisor_url: str | None,
) -> None:
    """Run the web app against a running supervisor or static engine endpoints."""
    settings = _settings(ctx, db_path=db, adopt_foreign_db=adopt_foreign_db)
    if supervisor_url:
        settings.supervisor.url = supervisor_url
    _check_listen(host, port)
    _run_web(settings, host, port, prefix, allow_websocket_origin)


@main.command()
@click.option("--host", default=None, help="Listen address (default: ARENA_SUPERVISOR__HOST).")
@click.option("--port", type=int, default=None, help="Port (default: ARENA_SUPERVISOR__PORT).")
@click.option(
    "--launch-command",
    metavar="TEMPLATE",
    help="Engine command with {model_id} {gpu} {port} {name} {memory_fraction}, staying in "
    "the foreground (default: ARENA_SUPERVISOR__LAUNCH_COMMAND; for launcher tgi or vllm, "
    "a tgi/launch.sh container).",
)
@click.option(
    "--stop-command",
    metavar="TEMPLATE",
    help="Run before stopping an engine (default: ARENA_SUPERVISOR__STOP_COMMAND; for "
    "containers, docker stop {name}).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log level (default: INFO, DEBUG with -v).",
)
@click.pass_context
def supervisor(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    launch_command: str | None,
    stop_command: str | None,
    log_level: str | None,
) -> None:
    """Run the supervisor: launches inference engines on the GPUs and leases them to the app."""
    from tgi.service import build_launcher, run_supervisor

    if log_level:
        logging.getLogger().setLevel(log_level.upper())
    settings = _settings(ctx)
    sup = settings.supervisor
    if host:
        sup.host = host
    if port:
        sup.port = port
    if launch_command:
        sup.launch_command = launch_command
    if stop_command:
        sup.stop_command = stop_command
    try:
        launcher = build_launcher(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    sys.exit(run_supervisor(settings, launcher))


# Commands that live in their own module (app/cli/commands/<name>.py, a click command named
# `command`), registered here so each capability owns its file.
COMMAND_MODULES: list[str] = [
    "export",
    "sql",
    "import_legacy",
    "leaderboard",
    "summary",
    "snapshot",
    "retention",
    "benchmark",
    "loadtest",
]


def _register_commands() -> None:
    import importlib

    for module_name in COMMAND_MODULES:
        main.add_command(importlib.import_module(f"app.cli.commands.{module_name}").command)


_register_commands()
