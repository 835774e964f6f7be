"""`oellm-arena sql [QUERY]`: SQL on the battle log, read-only, no other program needed.

It opens the log the way `leaderboard` does: the file itself, or the analysts' snapshot
while the app holds the log (DuckDB lets no other process open it then). Writing is
impossible twice over: the connection is read-only, so INSERT, DROP and the like are
refused, and file access is switched off for the session (`enable_external_access`, which
DuckDB lets no statement switch back on), so no `ATTACH ... (READ_WRITE)` or `COPY TO`
can reach the log or any other file. Temporary tables, views and macros still work: they
live in memory.

Without QUERY it reads statements from stdin until end of input, each ended by `;` (a
small shell, with a prompt when stdin is a terminal). An error is one line; in the shell
the next statement runs anyway.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import click
import duckdb

from app.cli.commands.analytics_common import DB_OPTION_HELP, read_battle_log, settings_from
from app.cli.commands.sql_output import FORMATS, render

PROMPT, MORE = "arena> ", "  ...> "
# Statements whose result is rows to show; the others (SET, CREATE TEMP ...) answer only
# "Success" or a count, which the duckdb shell does not print either.
SHOWN = {"SELECT", "EXPLAIN", "PRAGMA", "CALL", "EXECUTE", "RELATION"}
QUIT = {".quit", ".exit", "\\q", "exit", "quit"}


class SqlError(Exception):
    """A statement failed; the message is one line."""


@click.command("sql")
@click.argument("query", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help=DB_OPTION_HELP)
@click.pass_context
def command(ctx: click.Context, query: str | None, fmt: str, db: Path | None) -> None:
    """Run SQL on the battle log (read-only); without QUERY, read statements from stdin."""
    settings = settings_from(ctx, db_path=db)
    with read_battle_log(settings) as con:
        con.execute("SET enable_external_access = false")
        if query is not None:
            try:
                run_statements(con, query, fmt)
            except SqlError as exc:
                raise click.ClickException(str(exc)) from None
            return
        stdin = sys.stdin  # click's runner swaps it too, so tests feed it
        interactive = stdin.isatty()
        if interactive:
            _greet(con, settings.db_path)
        failed = shell(con, stdin, fmt, interactive)
    if failed and not interactive:
        ctx.exit(1)  # a script that ran into errors must not look like it succeeded


def _greet(con: duckdb.DuckDBPyConnection, log: Path) -> None:
    row = con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchone()
    path = Path(row[0]) if row and row[0] else log
    note = ""
    if path.resolve() == log.resolve():  # not the snapshot: this shell holds the log itself
        note = " While it is open, an arena app cannot open this log."
    click.echo(
        f"Reading {path} (read-only).{note} End each statement with ';'; "
        "SHOW ALL TABLES lists the tables and views; Ctrl-D quits.",
        err=True,
    )


def run_statements(con: duckdb.DuckDBPyConnection, text: str, fmt: str) -> None:
    """Run each statement of `text` and print the results; raise `SqlError` at the first
    that fails (the ones before it have run)."""
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise SqlError(one_line(exc)) from None
    for statement in statements:
        try:
            cursor = con.execute(statement)
            kind = statement.type.name
            columns = [d[0] for d in cursor.description or ()]
            if kind not in SHOWN or columns == ["Success"]:
                continue
            if kind == "EXPLAIN":  # the plan is drawn already; a table would flatten it
                for _, plan in cursor.fetchall():
                    click.echo(plan)
                continue
            for piece in render(fmt, columns, _rows(cursor)):
                click.echo(piece, nl=False)
        except duckdb.Error as exc:
            raise SqlError(one_line(exc)) from None


def _rows(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple]:
    while batch := cursor.fetchmany(1000):
        yield from batch


def shell(con: duckdb.DuckDBPyConnection, stdin: TextIO, fmt: str, interactive: bool) -> bool:
    """Read statements until end of input and run each; whether any failed."""
    failed = False
    buffer: list[str] = []
    for line in _lines(stdin, interactive, lambda: MORE if buffer else PROMPT):
        if line is None:  # Ctrl-C at the prompt: drop the statement being typed
            buffer.clear()
            continue
        if not buffer and line.strip().lower().rstrip(";") in QUIT:
            break
        buffer.append(line)
        text = "\n".join(buffer)
        if not text.strip():
            buffer.clear()
        elif sqlite3.complete_statement(text):  # a `;` outside quotes and comments
            buffer.clear()
            failed |= not _run_reporting(con, text, fmt)
    rest = "\n".join(buffer)
    if rest.strip():  # the last statement may lack its `;`
        failed |= not _run_reporting(con, rest, fmt)
    return failed


def _run_reporting(con: duckdb.DuckDBPyConnection, text: str, fmt: str) -> bool:
    try:
        run_statements(con, text, fmt)
    except SqlError as exc:
        click.echo(f"Error: {exc}", err=True)
        return False
    except KeyboardInterrupt:
        con.interrupt()
        click.echo("Interrupted.", err=True)
        return False
    return True


def _lines(stdin: TextIO, interactive: bool, prompt: Callable[[], str]) -> Iterator[str | None]:
    """Lines of input; at a terminal with a prompt, line editing and history."""
    if not interactive:
        for line in stdin:
            yield line.rstrip("\n")
        return
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (input() then edits lines and keeps a history)
    while True:
        try:
            yield input(prompt())
        except EOFError:
            sys.stderr.write("\n")
            return
        except KeyboardInterrupt:
            sys.stderr.write("\n")
            yield None


def one_line(exc: BaseException) -> str:
    """DuckDB's message up to its first blank line (the caret drawing), on one line, with
    a word on what this command allows where the refusal comes from it."""
    text = str(exc).strip().split("\n\n", 1)[0]
    message = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if "read-only mode" in message:
        message += " (`oellm-arena sql` only reads; CREATE TEMP TABLE works)"
    elif "disabled by configuration" in message:
        message += (
            " (`oellm-arena sql` reads only the battle log; `oellm-arena export` writes files)"
        )
    return message
