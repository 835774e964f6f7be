"""`oellm-arena loadtest`: how many concurrent voters one arena server carries.

The logic is `benchmark/loadtest.py` (voters over the real websocket protocol); this module
maps options onto its config and prints the summary, whose last line is one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command(name="loadtest")
@click.option("--voters", type=click.IntRange(min=1), required=True, help="Concurrent voters.")
@click.option(
    "--duration", type=click.FloatRange(min=1), default=60.0, show_default=True, help="Seconds."
)
@click.option("--standin", is_flag=True, help="Start `oellm-arena demo` (stand-in engines) itself.")
@click.option("--url", help="The /arena page of a running server (without --standin).")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Without --standin: the server's battle log, audited after the run (stop it first).",
)
@click.option("--server-pid", type=int, help="The running server's PID, for its CPU share.")
@click.option("--supervisor-url", help="The running supervisor, probed for responsiveness.")
@click.option("--languages", help="Comma-separated codes (default: the legacy log's mix).")
@click.option(
    "--token-interval",
    type=click.FloatRange(min=0.001),
    default=0.03,
    show_default=True,
    help="Stand-in seconds per token.",
)
@click.option("--max-new-tokens", type=click.IntRange(1, 2048), default=112, show_default=True)
@click.option(
    "--think", type=click.FloatRange(min=0), default=0.0, help="Mean pause between rounds, s."
)
@click.option(
    "--double-click-rate",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="Share of votes clicked twice.",
)
@click.option(
    "--round-timeout",
    type=click.FloatRange(min=1),
    help="Seconds before a silent page counts as stuck (default: 10x the ideal battle).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="With --standin: a server setting, e.g. --set ARENA_STREAM_PUSHES_PER_S=50 "
    "(repeatable; for A/B runs).",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write py-spy's collapsed stacks of the server over the measured window here.",
)
def command(
    voters: int,
    duration: float,
    standin: bool,
    url: str | None,
    db: Path | None,
    server_pid: int | None,
    supervisor_url: str | None,
    languages: str | None,
    token_interval: float,
    max_new_tokens: int,
    think: float,
    double_click_rate: float,
    round_timeout: float | None,
    settings: tuple[str, ...],
    seed: int,
    profile: Path | None,
) -> None:
    """Drive N simulated voters through the web server; print a JSON summary (last line)."""
    from app.core.registry import load_registry
    from benchmark.loadtest import LoadTestConfig, run_loadtest
    from benchmark.loadtest_mix import language_mix

    if not standin and not url:
        raise click.UsageError("Pass --standin, or --url of a running arena page.")
    codes = [c.strip() for c in languages.split(",") if c.strip()] if languages else None
    try:
        language_mix(load_registry(), codes)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--languages") from exc
    extra_env = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--set")
        name = name.strip().upper()
        extra_env[name if name.startswith("ARENA_") else f"ARENA_{name}"] = value
    config = LoadTestConfig(
        voters=voters,
        duration_s=duration,
        standin=standin,
        url=url,
        db_path=db,
        server_pid=server_pid,
        supervisor_url=supervisor_url,
        token_interval_s=token_interval,
        max_new_tokens=max_new_tokens,
        languages=codes,
        think_s=think,
        double_click_rate=double_click_rate,
        round_timeout_s=round_timeout,
        seed=seed,
        profile_path=profile,
        extra_env=extra_env,
    )
    summary = run_loadtest(config, log=lambda line: click.echo(line, err=True))
    click.echo(json.dumps(summary))
