"""The command line, invoked as users invoke it (click's runner, or a real process)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from app.cli import main
from app.core.store.battle_store import BattleStore
from app.core.store.records import BattleRecord


def _one_battle(db: Path) -> None:
    with BattleStore(db) as store:
        store.record_battle_sync(
            BattleRecord(
                battle_id="b1",
                language="swe",
                prompt="Det var en gång",
                model_a="MultiSynt/nemotron-cc-swedish-opus",
                model_b="HPLT/hplt2c_swe_checkpoints",
                family_a="multisynt",
                family_b="hplt",
                response_a=" en katt.",
                response_b=" en hund.",
                session_hash="secret-hash",
            )
        )
        store.record_vote_sync("b1", "model_b")


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "serve", "supervisor", "export"):
        assert command in result.output


def test_the_console_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "--prefix" in proc.stdout and "--allow-websocket-origin" in proc.stdout


def test_export_csv_through_the_cli(db_path: Path, tmp_path: Path) -> None:
    _one_battle(db_path)
    out = tmp_path / "battles.csv"
    result = CliRunner().invoke(main, ["export", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Exported 1 battles" in result.output
    rows = duckdb.sql(f"SELECT winner, response_b FROM read_csv('{out}')").fetchall()
    assert rows == [("model_b", " en hund.")]
    assert "secret-hash" not in out.read_text()


def test_settings_come_from_a_toml_file(tmp_path: Path) -> None:
    db = tmp_path / "from-toml.duckdb"
    _one_battle(db)
    config = tmp_path / "arena.toml"
    config.write_text(f'db_path = "{db}"\n[generation]\ntemperature = 0.5\n')
    out = tmp_path / "x.parquet"
    result = CliRunner().invoke(
        main,
        ["--config", str(config), "export", "--format", "parquet", "--out", str(out)],
        env={"ARENA_DB_PATH": None},
    )
    assert result.exit_code == 0, result.output
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall() == [(1,)]


def test_serve_without_engines_says_what_to_configure() -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 1
    assert "ARENA_SUPERVISOR__URL" in result.output
    assert "oellm-arena demo" in result.output


def test_demo_refuses_a_corrupt_database_and_leaves_it_alone(tmp_path: Path) -> None:
    db = tmp_path / "broken.duckdb"
    db.write_bytes(b"this is not a duckdb file" * 100)
    before = db.read_bytes()
    result = CliRunner().invoke(main, ["demo", "--port", "0", "--db", str(db)])
    assert result.exit_code == 1
    assert str(db) in result.output
    assert db.read_bytes() == before


@pytest.mark.parametrize("bad", ["ARENA_GENERATION__TEMPERATURE=-1", "ARENA_GENERATION__TOP_P=1"])
def test_invalid_settings_are_reported_by_name(bad: str) -> None:
    key, value = bad.split("=")
    result = CliRunner().invoke(main, ["serve"], env={key: value})
    assert result.exit_code == 1
    assert "invalid settings" in result.output
    assert key.split("__")[1].lower() in result.output


def test_demo_refuses_a_supervisor_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["--port", "0", "--db", str(tmp_path / "a.duckdb"), "--supervisor-port", str(port)]
        result = CliRunner().invoke(main, ["demo", *args])
    assert result.exit_code == 1
    assert f"supervisor port {port} is already in use" in result.output
