"""The analysts' snapshot: consistent, atomic, private columns blanked, refreshed on a
schedule and on demand, also when another process (the app) holds the battle log."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from analytics.synthetic import synthetic_battles
from app.cli import main
from app.core.store import BattleStore
from app.core.store.snapshot import SnapshotScheduler, request_refresh, wait_for_refresh
from tests.analytics_helpers import REPO, fill_fixture, fixture_battles


def read_only(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_snapshot_is_a_complete_readable_copy_without_session_hashes(tmp_path: Path) -> None:
    db = fill_fixture(tmp_path / "arena.duckdb")
    snap = tmp_path / "out" / "snap.duckdb"
    with BattleStore(db) as store:
        assert store.snapshot(snap) == 14
        # Readable while the store (the "app") keeps the live file open.
        assert read_only(snap, "SELECT count(*) FROM analytics.voted_battles") == [(12,)]
        assert read_only(snap, "SELECT count(*) FROM battles WHERE session_hash IS NOT NULL") == [
            (0,)
        ]
        live = store.read(
            lambda c: c.execute(
                "SELECT count(*) FROM battles WHERE session_hash IS NOT NULL"
            ).fetchone()
        )
        assert live == (14,)  # the live log keeps them
        # A reader holding the old copy keeps it while a new one replaces the file.
        reader = duckdb.connect(str(snap), read_only=True)
        store.record_vote_sync("x2", "model_a")
        store.snapshot(snap)
        assert reader.execute("SELECT count(*) FROM analytics.voted_battles").fetchone() == (12,)
        reader.close()
    assert read_only(snap, "SELECT count(*) FROM analytics.voted_battles") == [(13,)]
    assert sorted(p.name for p in snap.parent.iterdir()) == ["snap.duckdb"]  # no temp files


def test_snapshot_is_consistent_while_votes_keep_being_written(tmp_path: Path) -> None:
    """Battles are inserted one after another during the copy; a consistent copy holds
    exactly the first k of them, for some k, and says so in its count."""
    snap = tmp_path / "snap.duckdb"
    base = fixture_battles()[0]
    done = threading.Event()
    written: list[int] = []
    with BattleStore(tmp_path / "arena.duckdb") as store:
        store.append_frame_sync(synthetic_battles(50_000).battles)
        started = threading.Event()

        def keep_writing() -> None:
            k = 0
            while not done.is_set() or k < 5:
                store.record_battle_sync(replace(base, battle_id=f"w{k:06d}"))
                written.append(k)
                started.set()
                k += 1

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            assert started.wait(30)  # the copy starts while battles are being written
            count = store.snapshot(snap)
        finally:
            done.set()
            writer.join()
    ids = [r[0] for r in read_only(snap, "SELECT battle_id FROM battles WHERE battle_id LIKE 'w%'")]
    assert sorted(ids) == [f"w{k:06d}" for k in range(len(ids))]  # a prefix: one instant
    assert count == 50_000 + len(ids) and len(ids) >= 1
    assert len(written) >= len(ids)


def test_scheduler_refreshes_on_request_and_on_its_schedule(tmp_path: Path) -> None:
    db = fill_fixture(tmp_path / "arena.duckdb")
    snap = tmp_path / "snap.duckdb"
    with BattleStore(db) as store:
        on_demand = SnapshotScheduler(store, snap, interval_s=0, poll_s=0.05).start()
        try:
            assert not snap.exists()  # no schedule: nothing until asked
            stamp = request_refresh(snap)  # what `oellm-arena snapshot` does
            assert wait_for_refresh(snap, stamp, timeout_s=20)
            assert on_demand.refreshed == 1 and snap.exists()
            on_demand.request()  # in-process request
            assert on_demand.wait_for(2, timeout_s=20)
        finally:
            on_demand.stop()
        scheduled = SnapshotScheduler(store, snap, interval_s=0.05, poll_s=0.05).start()
        try:
            assert scheduled.wait_for(3, timeout_s=20)
        finally:
            scheduled.stop()
        assert scheduled.last_error is None


# An arena app stand-in: holds the battle log (so no other process may open it) and runs
# the snapshot scheduler exactly as `serve_app` does, with no schedule, on demand only.
APP = """
    import sys, time
    from app.core.settings import load_settings
    from app.core.store import BattleStore
    from app.core.store.snapshot import start_snapshot_scheduler
    settings = load_settings(db_path=sys.argv[1])
    settings.analytics.snapshot_interval_s = 0
    settings.analytics.snapshot_request_poll_s = 0.05
    store = BattleStore(settings.db_path)
    scheduler = start_snapshot_scheduler(store, settings)
    print("READY", flush=True)
    time.sleep(120)
"""


def _read_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            pytest.fail(f"no output from the app within {timeout}s: {proc.stderr.read()}")  # type: ignore[union-attr]
    return proc.stdout.readline().strip()


@pytest.mark.slow
def test_commands_reach_a_running_app_through_its_snapshot(tmp_path: Path) -> None:
    db = fill_fixture(tmp_path / "arena.duckdb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    app = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(APP), str(db)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _read_line(app) == "READY"
        runner = CliRunner()
        copy = tmp_path / "elsewhere" / "copy.duckdb"
        result = runner.invoke(
            main, ["snapshot", "--db", str(db), "--out", str(copy), "--wait", "30"]
        )
        assert result.exit_code == 0, result.output
        assert "asked it to refresh" in result.output
        assert read_only(copy, "SELECT count(*) FROM analytics.voted_battles") == [(12,)]
        # A read command falls back to the app's snapshot and says so.
        result = runner.invoke(main, ["leaderboard", "--db", str(db), "--format", "json"])
        assert result.exit_code == 0, result.output
        assert "reading its snapshot" in result.output
    finally:
        app.kill()
        app.wait(30)
    assert app.returncode == -9
