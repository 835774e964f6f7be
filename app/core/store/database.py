"""Opening the DuckDB file, and turning DuckDB's failures into messages an operator can act on.

DuckDB lets one process open a file for writing, refuses files it cannot parse, and says so
in terse IO errors. The arena is started by people who did not write it, so every way of
failing to open the battle log ends in a `StoreError` naming the file and the next step.
Nothing here ever deletes, truncates or rewrites a file it could not open.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

_LOCK_HOLDER = re.compile(r"held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class StoreError(Exception):
    """The battle log cannot be used; the message names the file and what to do."""


class StoreLockedError(StoreError):
    """Another process (or another store in this process) already has the file open."""

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class StoreClosedError(StoreError):
    """A write or read was attempted after `BattleStore.close()`."""


def one_line(exc: BaseException | str) -> str:
    """DuckDB's error text on one line (it adds context lines and a caret under the SQL)."""
    return " ".join(str(exc).split())


def open_database(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Connect to the DuckDB file at `path`, raising `StoreError` with advice on failure."""
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder for the battle log {path}: {exc}. "
                "Choose a writable location with --db or ARENA_DB_PATH."
            ) from exc
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise translate_open_error(path, exc) from exc
    # Timestamps are stored as instants; showing them in UTC keeps exports and
    # `get_battle` independent of the server's local zone.
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con


def translate_open_error(path: Path, exc: duckdb.Error) -> StoreError:
    """The `StoreError` that explains why DuckDB could not open `path`."""
    text = one_line(exc)
    if "Could not set lock" in text:
        holder = _LOCK_HOLDER.search(text)
        pid = int(holder["pid"]) if holder else None
        who = f"(PID {pid}, {holder['program']})" if holder else "(PID unknown)"
        return StoreLockedError(
            f"Another arena process {who} has the battle log {path} open. DuckDB lets only "
            "one process use a database file at a time: stop that process (a running "
            "`oellm-arena serve` or `demo`) first, or use another file with --db / "
            "ARENA_DB_PATH.",
            pid=pid,
        )
    if "different configuration" in text:
        return StoreLockedError(
            f"This process already has the battle log {path} open in another mode. "
            "Close the BattleStore first, or go through it."
        )
    if "Could not read enough bytes" in text:
        return StoreError(
            f"The battle log {path} is damaged: it is shorter than its own header says, so "
            f"it was cut short (an interrupted copy or a full disk) ({text}). It was left "
            "untouched. Restore a backup (or the analysts' snapshot), or point --db / "
            "ARENA_DB_PATH at the right file."
        )
    if "not a valid DuckDB database file" in text or "orrupt" in text:
        return StoreError(
            f"{path} exists but is not a readable DuckDB database ({text}). It was left "
            "untouched. Move it aside or restore a backup, then start again to create a "
            "fresh battle log, or point --db / ARENA_DB_PATH at the right file."
        )
    return StoreError(
        f"Cannot open the battle log {path}: {text}. Check that it is a DuckDB file that "
        "this user can read and write (and that this DuckDB version can read), or point "
        "--db / ARENA_DB_PATH elsewhere. The file was left untouched."
    )
