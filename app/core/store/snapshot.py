"""The analysts' snapshot: a read-only copy of the battle log, refreshed while the app runs.

DuckDB lets one process open a database file for writing and then no other process may
open it at all, so analysts cannot query the live log while the arena runs. The app
therefore writes a consistent copy (`BattleStore.snapshot`, made on its writer thread)
every `ARENA_ANALYTICS__SNAPSHOT_INTERVAL_S` seconds; analysts open that file read-only,
as many at once as they like.

On-demand refresh reaches a running app through a *request file*: `oellm-arena snapshot`
cannot open the log the app holds, so it creates `<snapshot>.request`; the scheduler
looks for that file every second, removes it, refreshes, and the command waits until the
snapshot is newer than its request. A file beside the data needs no open port, no
credentials and works for whoever may write the data folder, who could replace the log
anyway. Signals were rejected because the process holding the lock is not always the
app (a stray `duckdb` CLI would be killed by SIGUSR1), HTTP because the web app sits
behind a public proxy.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

from app.core.settings import Settings
from app.core.store.battle_store import BattleStore

log = logging.getLogger(__name__)


def snapshot_path_for(settings: Settings) -> Path:
    """The configured snapshot file, or `<log>.snapshot.duckdb` beside the battle log."""
    configured = settings.analytics.snapshot_path
    if configured is not None:
        return Path(configured)
    db = Path(settings.db_path)
    return db.with_name(f"{db.stem}.snapshot.duckdb")


def request_path_for(snapshot: Path) -> Path:
    return snapshot.with_name(f"{snapshot.name}.request")


def served_path_for(snapshot: Path) -> Path:
    return snapshot.with_name(f"{snapshot.name}.served")


def _read_stamp(path: Path) -> float | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return float(text or 0)
    except ValueError:  # a hand-made request file still asks for a refresh
        return 0.0


def request_refresh(snapshot: Path) -> float:
    """Ask a running app to refresh `snapshot`; returns the request's stamp (epoch s)."""
    request = request_path_for(snapshot)
    request.parent.mkdir(parents=True, exist_ok=True)
    requested_at = time.time()
    request.write_text(f"{requested_at!r}\n")
    return requested_at


def wait_for_refresh(snapshot: Path, requested_at: float, timeout_s: float) -> bool:
    """Whether the app served a request made at `requested_at` or later, within `timeout_s`.

    The app writes the stamp of the request it served to `<snapshot>.served` after a
    refresh that *started* after it claimed the request, so a refresh already under way
    when the request was made never counts. The CLI polls (the app is another process).
    """
    served = served_path_for(snapshot)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stamp = _read_stamp(served)
        if stamp is not None and stamp >= requested_at:
            return True
        time.sleep(0.1)
    return False


class SnapshotScheduler:
    """Refreshes one snapshot on a schedule, on `request()`, and on a request file.

    Runs in a daemon thread of its own; the copy itself happens on the store's writer
    thread, between two votes. A failed refresh is logged and retried at the next tick:
    the previous snapshot stays in place.
    """

    def __init__(
        self,
        store: BattleStore,
        path: Path,
        interval_s: float,
        poll_s: float = 1.0,
    ) -> None:
        self.store = store
        self.path = Path(path)
        self.interval_s = interval_s
        self.poll_s = poll_s
        self.refreshed = 0  # completed refreshes, for tests and logs
        self.last_error: BaseException | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="arena-snapshot", daemon=True)

    def start(self) -> SnapshotScheduler:
        self._thread.start()
        return self

    def request(self) -> None:
        """Refresh as soon as possible (in-process on-demand refresh)."""
        self._wake.set()

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Block until `count` refreshes have completed (for callers that must know)."""
        with self._done:
            return self._done.wait_for(lambda: self.refreshed >= count, timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def refresh_now(self) -> int:
        """Write the snapshot now, in the calling thread's turn; returns the battle count."""
        count = self.store.snapshot(self.path)
        with self._done:
            self.refreshed += 1
            self._done.notify_all()
        log.info("analysts' snapshot %s refreshed (%d battles)", self.path, count)
        return count

    def _run(self) -> None:
        request_file = request_path_for(self.path)
        next_due = time.monotonic() if self.interval_s > 0 else float("inf")
        while not self._stop.is_set():
            timeout = max(0.0, min(self.poll_s, next_due - time.monotonic()))
            woken = self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                break
            # Claim a request before copying, so one made during the copy gets its own.
            stamp = _read_stamp(request_file)
            if stamp is not None:
                with contextlib.suppress(FileNotFoundError):
                    request_file.unlink()
            if not (woken or stamp is not None or time.monotonic() >= next_due):
                continue
            try:
                self.refresh_now()
                self.last_error = None
                if stamp is not None:
                    _write_atomically(served_path_for(self.path), f"{stamp!r}\n")
            except Exception as exc:  # keep the schedule alive; the old snapshot stays
                self.last_error = exc
                log.error("could not refresh the analysts' snapshot %s: %s", self.path, exc)
            if self.interval_s > 0:
                next_due = time.monotonic() + self.interval_s


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def start_snapshot_scheduler(store: BattleStore, settings: Settings) -> SnapshotScheduler:
    """The running app's scheduler, started: call `stop()` when the app stops."""
    scheduler = SnapshotScheduler(
        store,
        snapshot_path_for(settings),
        interval_s=settings.analytics.snapshot_interval_s,
        poll_s=settings.analytics.snapshot_request_poll_s,
    )
    return scheduler.start()
