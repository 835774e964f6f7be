"""The battle log as the app sees it: every write through one thread, reads on the side.

DuckDB allows one writing process and is happiest with one writing connection, while the
Panel server has many sessions voting at once. So, as in datasette's `database.py`, one
dedicated thread owns the connection and takes write jobs from a queue; callers get a
`concurrent.futures.Future` (or await it), and it resolves only after DuckDB has committed,
so a voter who sees "vote recorded" has a vote that survives the process being killed.
Serialising writes also makes "first vote wins" trivially exact. Reads open short-lived
cursors (separate DuckDB connections on the same database) so they never wait on the queue.

The writer thread shares the GIL with the server's event loop. DuckDB releases the GIL
while it works, so every call takes it back, and a thread waiting for the GIL gets it only
when the holder lets go or after `sys.getswitchinterval()` (5 ms by default). With a busy
event loop, a battle's insert and vote (a few dozen such hand-overs) took ~118 ms
instead of 7 ms, and the writer carried only ~8.5 battles a second: the battle log sat on
the voters' critical path (the vote buttons wait for the battle's row). The server
therefore shortens the interval (`share_gil_with_writer`): ~33 ms per battle under the
same contention (`uv run python -m benchmark.store_contention`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import duckdb
import pandas as pd

from app.core.settings import TrustSettings
from app.core.store import model_tallies, writes
from app.core.store.database import (
    StoreClosedError,
    StoreError,
    StoreLockedError,
    one_line,
    open_database,
)
from app.core.store.integrity import (
    has_battles_table,
    is_storage_failure,
    probe_writes,
    verify_log,
)
from app.core.store.migrations import migrate
from app.core.store.records import BattleRecord, VoteOutcome, Winner
from app.core.store.retention import RetentionResult, apply_retention
from app.core.store.snapshot_copy import write_snapshot

T = TypeVar("T")
WriteFn = Callable[[duckdb.DuckDBPyConnection], T]
Job = tuple[WriteFn[Any], Future[Any]]


# Two stores on one file in one process would be two writers; DuckDB would allow it
# (one shared instance) but the single-writer guarantee would be gone.
_open_paths: set[str] = set()
_open_paths_lock = threading.Lock()
log = logging.getLogger(__name__)


class BattleStore:
    """The DuckDB battle log at `path`, checked, created and migrated on open.

    Opening refuses (with a `StoreError`, the file untouched) a damaged file and a DuckDB
    file that is not an arena log; `adopt_foreign` lets the arena add its tables to the
    latter (see `app.core.store.integrity`). Use it as a context manager or call
    `close()`; an open store is also closed at interpreter exit, after the writes already
    queued have been committed.
    """

    def __init__(self, path: str | os.PathLike[str], *, adopt_foreign: bool = False) -> None:
        self.path = Path(path)
        self._adopt_foreign = adopt_foreign
        self._key = os.path.realpath(self.path)
        with _open_paths_lock:
            if self._key in _open_paths:
                raise StoreLockedError(
                    f"This process already has a BattleStore open on {self.path}; share "
                    "that one, since all writes must go through a single writer."
                )
            _open_paths.add(self._key)
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._writer_stopped: str | None = None  # why the writer thread ended early
        # Writes lost to the file or the database (not to their data) since start. Never
        # reset: a battle was lost, and a write that works later (a new battle) does not
        # mean the one that failed (a vote on an old battle) would work now.
        self._write_failures = 0
        self._write_failure: str | None = None  # the last one's error
        self._reader_root: duckdb.DuckDBPyConnection | None = None
        self._reading: set[duckdb.DuckDBPyConnection] = set()  # cursors of running reads
        self._reads_done = threading.Condition(self._lock)
        self._snapshot_lock = threading.Lock()
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name=f"battle-store:{self.path.name}", daemon=True
        )
        self._thread.start()
        try:
            started.result()
        except BaseException:
            self._thread.join()
            with _open_paths_lock:
                _open_paths.discard(self._key)
            raise
        atexit.register(self.close)

    # -- the writer thread -------------------------------------------------------------

    def _run(self, started: Future[None]) -> None:
        try:
            con, reader_root = self._open()
        except BaseException as exc:  # the constructor re-raises it; never leave it waiting
            started.set_exception(exc)
            return
        self._reader_root = reader_root
        started.set_result(None)
        try:
            while (job := self._queue.get()) is not None:
                fn, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(con))
                except Exception as exc:
                    if is_storage_failure(exc):
                        self._write_failures += 1
                        self._write_failure = f"{type(exc).__name__}: {one_line(exc)}"
                        log.error("a write to the battle log %s failed: %s", self.path, exc)
                    future.set_exception(exc)
                except BaseException as exc:  # SystemExit & co. end the thread: say so
                    self._stop_writer(f"{type(exc).__name__}: {one_line(exc)}")
                    future.set_exception(exc)
                    log.critical("the battle log's writer for %s stopped: %r", self.path, exc)
                    return
        finally:
            self._stop_writer("the writer thread ended")
            try:
                self._stop_reads()
                reader_root.close()
            except duckdb.Error as exc:  # a read that would not stop: the file still closes
                log.warning("closing %s with a read still running: %s", self.path, exc)
            finally:
                con.close()

    def _stop_reads(self, timeout_s: float = 10.0) -> None:
        """Interrupt the reads still running (a leaderboard refresh, a snapshot) and wait
        for them to let go, so that the file is closed cleanly at shutdown."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            # Again and again: a query that began just after an interrupt would run on.
            while self._reading and (left := deadline - time.monotonic()) > 0:
                for cursor in self._reading:
                    with contextlib.suppress(duckdb.Error):
                        cursor.interrupt()
                self._reads_done.wait(min(left, 0.05))

    def _stop_writer(self, why: str) -> None:
        """Refuse writes from now on, and fail those still queued, so no caller waits for
        a writer that is gone."""
        with self._lock:
            if self._writer_stopped is None:
                self._writer_stopped = why
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None and job[1].set_running_or_notify_cancel():
                    job[1].set_exception(self._writer_error())

    def _writer_error(self) -> StoreError:
        return StoreError(
            f"The battle log's writer for {self.path} has stopped ({self._writer_stopped}); "
            "nothing more can be recorded until the app is restarted."
        )

    def _open(self) -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]:
        # Everything that can refuse the file runs read-only first: a file refused here
        # has not been written to, not even by a migration.
        verify_log(self.path, adopt_foreign=self._adopt_foreign)
        con = open_database(self.path)
        try:
            if has_battles_table(con):
                probe_writes(con)  # before our first write, so a refused log stays as it was
            migrate(con)
            return con, con.cursor()
        except duckdb.Error as exc:
            con.close()
            raise StoreError(
                f"The battle log {self.path} cannot be written ({one_line(exc)}). Nothing was "
                "changed in it (a failed schema step is rolled back). Restore a backup, or "
                "point --db / ARENA_DB_PATH at the right file."
            ) from exc
        except BaseException:
            con.close()
            raise

    # -- writes --------------------------------------------------------------------------

    def submit_write(self, fn: WriteFn[T]) -> Future[T]:
        """Queue `fn(connection)` for the writer thread; the future holds its result.

        `fn` runs alone on the writing connection. A single statement commits on its own;
        for several, `fn` must wrap them in `begin()`/`commit()` and roll back on error.
        """
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise StoreClosedError(f"the battle store for {self.path} is closed")
            if self._writer_stopped is not None:
                raise self._writer_error()
            self._queue.put((fn, future))
        return future

    async def write(self, fn: WriteFn[T]) -> T:
        """`submit_write`, awaited. Cancelling the awaiting task does not cancel the write:
        a battle that happened is logged even if the voter's session has gone."""
        return await asyncio.shield(asyncio.wrap_future(self.submit_write(fn)))

    def record_battle_sync(self, record: BattleRecord) -> None:
        self.submit_write(lambda con: writes.insert(con, [record])).result()

    async def record_battle(self, record: BattleRecord) -> None:
        """Insert one battle (completed or failed); returns once it is committed."""
        await self.write(lambda con: writes.insert(con, [record]))

    def record_battles_sync(
        self, records: Iterable[BattleRecord], *, only_new: bool = False
    ) -> int:
        """Insert many battles in one transaction (all or none); returns how many. With
        `only_new`, battles whose id is already in the log are left as they are (an import
        run twice adds nothing)."""
        batch = list(records)
        insert = writes.insert_new if only_new else writes.insert
        return self.submit_write(lambda con: insert(con, batch)).result()

    def append_frame_sync(self, frame: pd.DataFrame) -> int:
        """Append a data frame of battle columns in one statement (synthetic logs of a
        million battles for benchmarks and tests, where per-row inserts take minutes)."""
        return self.submit_write(lambda con: writes.append_frame(con, frame)).result()

    def record_vote_sync(
        self, battle_id: str, winner: Winner, flags: Sequence[str] = ()
    ) -> VoteOutcome:
        writes.check_winner(winner)
        return self.submit_write(lambda con: writes.vote(con, battle_id, winner, flags)).result()

    async def record_vote(
        self, battle_id: str, winner: Winner, flags: Sequence[str] = ()
    ) -> VoteOutcome:
        """Record the first vote on a completed battle, with `flags` it earns (e.g.
        `vote_burst`), in one transaction; any later vote is refused and flags nothing."""
        writes.check_winner(winner)
        return await self.write(lambda con: writes.vote(con, battle_id, winner, flags))

    async def record_reasons(
        self, battle_id: str, tags_a: list[str], tags_b: list[str], comment: str | None
    ) -> bool:
        """Store a voter's reasons on a voted battle (a later call replaces them); False if
        the battle has no vote. Validation is the caller's (`app.arena.vote_reasons`)."""
        return await self.write(lambda con: writes.reasons(con, battle_id, tags_a, tags_b, comment))

    def apply_retention_sync(
        self, trust: TrustSettings, *, dry_run: bool = False
    ) -> RetentionResult:
        """Erase expired session hashes and delete expired battles (`retention`)."""
        return self.submit_write(lambda con: apply_retention(con, trust, dry_run=dry_run)).result()

    async def write_problem(self) -> str | None:
        """None while the log takes writes, else why not (for the readiness check).

        The writer thread must be running and must carry a battle and its vote through
        (`probe_writes`, rolled back), and no write may have failed for a storage reason
        (a full disk, a damaged or missing block) since start: such a failure lost a
        battle, so it is reported until the app is restarted (which checks the file again).
        """
        if self._writer_stopped is not None:
            return str(self._writer_error())
        try:
            await asyncio.wrap_future(self.submit_write(_probe))
        except StoreError as exc:  # the writer stopped meanwhile
            return str(exc)
        except duckdb.Error as exc:
            if self._write_failure is None:
                return (
                    f"a test write to the battle log failed: {type(exc).__name__}: {one_line(exc)}"
                )
        if self._write_failure is not None:
            return (
                f"{self._write_failures} write(s) to the battle log failed since start, the "
                f"last with {self._write_failure}; restart the app once the cause is fixed"
            )
        return None

    def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `fn` on a fresh cursor of its own (sees every committed write); blocking."""
        with self._lock:
            if self._closed or self._reader_root is None:
                raise StoreClosedError(f"the battle store for {self.path} is closed")
            cursor = self._reader_root.cursor()
            self._reading.add(cursor)
        try:
            return fn(cursor)
        finally:
            cursor.close()
            with self._lock:
                self._reading.discard(cursor)
                self._reads_done.notify_all()

    def get_battle(self, battle_id: str) -> dict[str, Any] | None:
        def fetch(cur: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
            cur.execute("SELECT * FROM battles WHERE battle_id = ?", [battle_id])
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cur.description], row, strict=True))

        return self.read(fetch)

    def votes_per_model(self) -> dict[str, int]:
        """Votes per model over every voted, completed battle (both sides counted): what
        matchmaking balances. One grouped scan; callers cache it."""
        return self.read(model_tallies.votes_per_model)

    def decisive_per_model(self) -> dict[str, tuple[int, int]]:
        """MultiSynt model id -> (MultiSynt wins, HPLT wins) over voted, completed
        MultiSynt-against-HPLT battles: where matchmaking sends votes. One grouped scan;
        callers cache it."""
        return self.read(model_tallies.decisive_per_model)

    def count(self) -> int:
        row = self.read(lambda cur: cur.execute("SELECT count(*) FROM battles").fetchone())
        return int(row[0]) if row else 0

    # -- analysts' snapshot ------------------------------------------------------------

    def snapshot(self, path: str | os.PathLike[str]) -> int:
        """Write a consistent copy of the whole log to `path`; return its battle count.

        Analysts cannot open the live file while the app runs (DuckDB allows one process),
        so they get a copy. It is made in one read transaction, so it is exactly the log
        as of one commit, while votes go on being written: on a million battles the copy
        takes seconds, which the writer thread must not spend. (The copy's only writes go
        to the new file, never to the log.) It is written to a temporary file in the same
        folder and renamed, so a reader never sees half a file and one that has the old
        copy open keeps it. Session hashes are blanked, as `export` leaves them out.
        """
        with self._snapshot_lock:  # one copy at a time (scheduler, command, page)
            return self.read(lambda cur: write_snapshot(cur, Path(path)))

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is queued, stop the writer thread, close the file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        atexit.unregister(self.close)
        with _open_paths_lock:
            _open_paths.discard(self._key)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


WRITER_SWITCH_INTERVAL_S = 0.001


def share_gil_with_writer(interval_s: float = WRITER_SWITCH_INTERVAL_S) -> float:
    """Let the writer thread take the GIL back within `interval_s` of asking (the server
    calls this once at start; see the module docstring). Returns the previous interval."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    return previous


def _probe(con: duckdb.DuckDBPyConnection) -> None:
    if has_battles_table(con):
        probe_writes(con)
