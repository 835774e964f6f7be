"""Exports: what goes in (and what stays out), and that both formats read back intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from app.cli import main
from app.core.store import BattleRecord, BattleStore, StoreError, StoreLockedError, export_battles
from app.core.store.export import export_columns
from app.core.store.migrations import ANALYST_COLUMNS, MIGRATIONS, migrate
from tests.analytics_helpers import log_held_open

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
TRICKY_PROMPT = 'Hon sa: "Nej, tack"\nOch sedan, med ett komma; och åäö ✓'


@pytest.fixture
def filled_db(db_path: Path) -> Path:
    with BattleStore(db_path) as store:
        for i, (language, status) in enumerate(
            [("swe", "completed"), ("fin", "failed"), ("isl", "completed")]
        ):
            store.record_battle_sync(
                BattleRecord(
                    battle_id=f"b{i}",
                    language=language,
                    prompt=TRICKY_PROMPT if i == 0 else f"prompt {i}",
                    model_a="MultiSynt/x",
                    model_b="HPLT/y",
                    family_a="multisynt",
                    family_b="hplt",
                    response_a="svar A",
                    response_b="",
                    created_at=T0 + timedelta(minutes=i),
                    status=status,  # type: ignore[arg-type]
                    error="b: unavailable: refused" if status == "failed" else None,
                    ttft_ms_a=10.5,
                    tokens_a=7,
                    seed=123,
                    session_hash=f"secret{i}",
                )
            )
        store.record_vote_sync("b0", "tie")
    return db_path


def read_back(path: Path, fmt: str) -> list[dict[str, object]]:
    reader = "read_csv" if fmt == "csv" else "read_parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cur = con.execute(f"SELECT * FROM {reader}(?)", [str(path)])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    con.close()
    return rows


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip(filled_db: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "exports" / f"battles.{fmt}"
    assert export_battles(filled_db, out, fmt) == 3  # type: ignore[arg-type]
    rows = read_back(out, fmt)
    assert list(rows[0]) == list(export_columns())
    assert list(rows[0])[: len(ANALYST_COLUMNS)] == list(ANALYST_COLUMNS)
    assert "session_hash" not in rows[0]
    assert [r["battle_id"] for r in rows] == ["b0", "b1", "b2"]
    first = rows[0]
    assert first["prompt"] == TRICKY_PROMPT
    assert first["winner"] == "tie" and first["voted_at"] is not None
    assert first["created_at"] == T0
    assert first["ttft_ms_a"] == 10.5 and first["tokens_a"] == 7 and first["seed"] == 123
    assert rows[1]["status"] == "failed" and rows[1]["error"] == "b: unavailable: refused"
    assert rows[2]["winner"] is None
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temp file left


def test_pandas_reads_the_csv(filled_db: Path, tmp_path: Path) -> None:
    import pandas as pd

    out = tmp_path / "battles.csv"
    export_battles(filled_db, out, "csv")
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(export_columns())
    assert frame.loc[0, "prompt"] == TRICKY_PROMPT
    assert len(frame) == 3


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_session_hash_only_when_asked(filled_db: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"private.{fmt}"
    export_battles(filled_db, out, fmt, include_private=True)  # type: ignore[arg-type]
    rows = read_back(out, fmt)
    assert list(rows[0]) == list(export_columns(include_private=True))
    assert [r["session_hash"] for r in rows] == ["secret0", "secret1", "secret2"]


def test_existing_output_is_replaced(filled_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "battles.csv"
    out.write_text("old content\n")
    assert export_battles(filled_db, out, "csv") == 3
    assert out.read_text().startswith("battle_id,")


def test_empty_log_exports_header_only(db_path: Path, tmp_path: Path) -> None:
    BattleStore(db_path).close()
    out = tmp_path / "empty.csv"
    assert export_battles(db_path, out, "csv") == 0
    assert out.read_text().strip() == ",".join(export_columns())


def test_export_does_not_modify_the_database(filled_db: Path, tmp_path: Path) -> None:
    before = filled_db.read_bytes()
    export_battles(filled_db, tmp_path / "a.parquet", "parquet")
    assert filled_db.read_bytes() == before


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.duckdb"
    out = tmp_path / "out.csv"
    with pytest.raises(StoreError, match="No battle log at"):
        export_battles(missing, out, "csv")
    assert not missing.exists() and not out.exists()


def test_unknown_format_is_rejected(filled_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        export_battles(filled_db, tmp_path / "x.json", "json")  # type: ignore[arg-type]


def test_older_schema_asks_for_an_upgrade(db_path: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(db_path))
    migrate(con, MIGRATIONS[:1])
    con.close()
    with pytest.raises(StoreError, match="older schema"):
        export_battles(db_path, tmp_path / "out.csv", "csv")
    assert not (tmp_path / "out.csv").exists()


HOLDER = """
    import sys, time
    from app.core.store import BattleStore
    store = BattleStore(sys.argv[1])
    print("READY", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_database_open_in_a_running_app_is_a_clear_error(filled_db: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(filled_db)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        with pytest.raises(StoreLockedError, match=f"PID {proc.pid}"):
            export_battles(filled_db, tmp_path / "out.csv", "csv")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.slow
def test_export_command_reads_the_snapshot_while_another_process_holds_the_log(
    filled_db: Path, tmp_path: Path
) -> None:
    """`oellm-arena export` while the app runs: the snapshot, announced in one line with its
    age; where the snapshot will not do (no session hashes) or is missing, a message
    saying what to do instead, and no output file."""
    snapshot = tmp_path / "arena.snapshot.duckdb"
    with BattleStore(filled_db) as store:
        store.snapshot(snapshot)
        store.record_battle_sync(  # after the snapshot: the log has 4 battles, the copy 3
            BattleRecord("late", "swe", "p", "MultiSynt/x", "HPLT/y", "multisynt", "hplt")
        )
    ten_minutes_ago = time.time() - 10 * 60 - 5
    os.utime(snapshot, (ten_minutes_ago, ten_minutes_ago))
    runner = CliRunner()
    out = tmp_path / "battles.csv"
    with log_held_open(filled_db) as holder:
        result = runner.invoke(main, ["export", "--format", "csv", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert result.stdout == f"Exported 3 battles to {out}\n"
        assert result.stderr.count("\n") == 1 and f"PID {holder.pid}" in result.stderr
        assert f"reading its snapshot {snapshot}, written 10 min ago" in result.stderr
        assert [r["battle_id"] for r in read_back(out, "csv")] == ["b0", "b1", "b2"]

        private = tmp_path / "private.csv"
        result = runner.invoke(
            main, ["export", "--format", "csv", "--out", str(private), "--include-private"]
        )
        assert result.exit_code == 1
        assert "no session hashes" in result.stderr and "Stop the app" in result.stderr
        assert not private.exists()

        snapshot.unlink()
        result = runner.invoke(main, ["export", "--format", "parquet", "--out", str(private)])
        assert result.exit_code == 1
        assert f"No snapshot at {snapshot}" in result.stderr
        assert "oellm-arena snapshot" in result.stderr
        assert not private.exists()
        assert holder.poll() is None
    # The app gone, the export reads the log itself again: all four, and nothing on stderr.
    result = runner.invoke(main, ["export", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0 and result.stderr == ""
    assert len(read_back(out, "csv")) == 4
