"""Retention: old session hashes are erased, expired battles deleted, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from app.core.store.battle_store import BattleStore
from app.core.store.records import BattleRecord

NOW = datetime.now(UTC)


def _battle(battle_id: str, age_days: int) -> BattleRecord:
    return BattleRecord(
        battle_id=battle_id,
        created_at=NOW - timedelta(days=age_days),
        language="ita",
        prompt="C'era una volta",
        model_a="MultiSynt/nemotron-cc-italian-opus",
        model_b="HPLT/hplt2c_ita_checkpoints",
        family_a="multisynt",
        family_b="hplt",
        session_hash=f"hash-{battle_id}",
    )


def _fill(db: Path) -> None:
    with BattleStore(db) as store:
        store.record_battles_sync([_battle("new", 1), _battle("month", 40), _battle("old", 400)])


def _rows(db: Path) -> dict[str, str | None]:
    with BattleStore(db) as store:
        rows = store.read(
            lambda con: con.execute("SELECT battle_id, session_hash FROM battles").fetchall()
        )
    return dict(rows)


def test_dry_run_changes_nothing_and_says_what_it_would_do(db_path: Path) -> None:
    _fill(db_path)
    result = CliRunner().invoke(
        main, ["retention", "--dry-run"], env={"ARENA_TRUST__HASH_RETENTION_DAYS": "30"}
    )
    assert result.exit_code == 0, result.output
    assert "would erase the session hashes of 2 battles, would delete 0" in result.output
    assert _rows(db_path) == {"new": "hash-new", "month": "hash-month", "old": "hash-old"}


def test_retention_erases_hashes_and_deletes_expired_battles(db_path: Path) -> None:
    _fill(db_path)
    env = {"ARENA_TRUST__HASH_RETENTION_DAYS": "30", "ARENA_TRUST__BATTLE_RETENTION_DAYS": "365"}
    result = CliRunner().invoke(main, ["retention"], env=env)
    assert result.exit_code == 0, result.output
    assert "erased the session hashes of 1 battles, deleted 1 battles" in result.output
    assert _rows(db_path) == {"new": "hash-new", "month": None}
    again = CliRunner().invoke(main, ["retention"], env=env)
    assert "of 0 battles, deleted 0" in again.output  # idempotent


def test_retention_without_a_database_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["retention", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "No battle log" in result.output
