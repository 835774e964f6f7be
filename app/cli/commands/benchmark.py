"""`oellm-arena benchmark`: every contender, language by language, on the real engines.

The logic is `benchmark/backend.py`; this module turns options into a plan, finds (or, with
`--standin`, starts) the supervisor, and reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import click
import httpx

from app.cli.commands.analytics_common import DB_OPTION_HELP, settings_from
from app.core.registry import load_registry
from app.core.store.battle_store import BattleStore, StoreError

DEFAULT_OUT = Path("backend_benchmark_results.csv")


def _codes(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@click.command(name="benchmark")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N languages.")
@click.option("--languages", help="Comma-separated language codes, e.g. swe,fin (default: all).")
@click.option(
    "--prompts-per-language",
    type=click.IntRange(1, 3),
    default=3,
    show_default=True,
    help="How many of each language's example prompts to run.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="CSV to write (appended to when it has the same columns).",
)
@click.option("--standin", is_flag=True, help="Start a supervisor with stand-in engines (no GPU).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help=DB_OPTION_HELP)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.pass_context
def command(
    ctx: click.Context,
    limit: int | None,
    languages: str | None,
    prompts_per_language: int,
    out: Path,
    standin: bool,
    db: Path | None,
    seed: int,
) -> None:
    """Benchmark every model per language (load, TTFT, tokens/s); CSV + DuckDB benchmark_runs."""
    from app.cli.supervisor_process import SupervisorProcess
    from benchmark.backend import BenchmarkPlan, choose_languages, run_benchmark
    from benchmark.backend_output import CsvHeaderMismatch, ResultSink
    from benchmark.backend_report import Progress, summary_table

    logging.getLogger("httpx2").setLevel(logging.WARNING)  # a line per generation otherwise
    settings = settings_from(ctx, db_path=db)
    registry = load_registry(settings.registry_path)
    try:
        chosen = choose_languages(list(registry.languages.values()), _codes(languages), limit)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--languages") from exc
    if not standin and not settings.supervisor.url:
        raise click.ClickException(
            "No supervisor: set ARENA_SUPERVISOR__URL to a running `oellm-arena supervisor`, "
            "or pass --standin to start one with stand-in engines."
        )
    try:
        store = BattleStore(settings.db_path, adopt_foreign=settings.adopt_foreign_db)
    except StoreError as exc:
        raise click.ClickException(f"{exc} (or choose another file with --db)") from exc
    interrupted = False
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        try:
            sink = stack.enter_context(ResultSink(out, store))
        except CsvHeaderMismatch as exc:
            raise click.ClickException(str(exc)) from exc
        url = settings.supervisor.url
        if standin:
            url = stack.enter_context(SupervisorProcess(settings)).url
        assert url is not None
        plan = BenchmarkPlan(
            chosen,
            prompts_per_language,
            settings.generation.with_seed(seed),
            launcher=_launcher(url),
        )
        click.echo(
            f"Benchmark {plan.run_id}: {len(chosen)} language(s), {plan.generations} "
            f"generations through {url} ({plan.launcher})",
            err=True,
        )
        progress = Progress(len(chosen), plan.generations)
        try:
            asyncio.run(run_benchmark(plan, settings, url, sink, progress))
        except KeyboardInterrupt:
            interrupted = True
        click.echo(summary_table(sink.rows))
        click.echo(
            f"{len(sink.rows)} row(s) written to {out} and to benchmark_runs in "
            f"{settings.db_path} (run {plan.run_id})" + (": interrupted" if interrupted else ""),
            err=True,
        )
    if interrupted:
        ctx.exit(130)


def _launcher(url: str) -> str:
    """What runs the engines (standin, tgi, vllm, ...), as the supervisor reports it."""
    try:
        data = httpx.get(f"{url.rstrip('/')}/status", timeout=10.0, trust_env=False).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise click.ClickException(f"The supervisor at {url} does not answer: {exc}") from exc
    return str(data.get("launcher") or "unknown")
