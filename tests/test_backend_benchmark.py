"""`oellm-arena benchmark`: the real path (supervisor process, stand-in engines, DuckDB)
run as a user runs it, plus its pieces (rows, CSV, table) on their own."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from app.core.registry import load_registry
from app.core.store.migrations import migrate
from benchmark.backend import choose_languages
from benchmark.backend_output import (
    CSV_COLUMNS,
    DB_COLUMNS,
    BenchmarkRow,
    CsvHeaderMismatch,
    ResultSink,
)
from benchmark.backend_report import Progress, summary_table
from benchmark.loadtest import port_block
from tests.conftest import free_port

OLD_COLUMNS = (
    "Language",
    "Prompt",
    "HPLT_Model",
    "MultiSynt_Model",
    "HPLT_Output",
    "MultiSynt_Output",
)
REPO = Path(__file__).resolve().parents[1]
BROKEN_STREAM = "MultiSynt/nemotron-cc-icelandic-opus"  # answers every request with HTTP 500
BROKEN_START = "MultiSynt/nemotron-cc-swedish-tower72b"  # exits at start-up


def _row(**changes: object) -> BenchmarkRow:
    values: dict[str, object] = {name: None for name in CSV_COLUMNS}
    values.update(
        Language="Swedish",
        Prompt="Det var en gång",
        HPLT_Model="HPLT/hplt2c_swe_checkpoints",
        MultiSynt_Model="MultiSynt/nemotron-cc-swedish-opus",
        HPLT_Output=" en katt",
        MultiSynt_Output=" en hund",
        Language_Code="swe",
        Prompt_Kind="story",
        HPLT_TTFT_ms=40.0,
        MultiSynt_TTFT_ms=50.0,
        HPLT_Tokens=12,
        MultiSynt_Tokens=12,
        Run_Id="r1",
        Started_At=datetime(2026, 1, 1, tzinfo=UTC),
        Launcher="standin",
        Max_New_Tokens=12,
        Seed=0,
    )
    values.update(changes)
    return BenchmarkRow(**values)  # type: ignore[arg-type]


def test_the_old_columns_come_first_and_the_table_has_the_same_columns(db_path: Path) -> None:
    assert CSV_COLUMNS[:6] == OLD_COLUMNS
    con = duckdb.connect(str(db_path))
    migrate(con)
    columns = tuple(r[0] for r in con.execute("DESCRIBE benchmark_runs").fetchall())
    assert columns == DB_COLUMNS


def test_the_csv_is_appended_to_only_with_the_same_header(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    with ResultSink(out, store=None) as sink:
        sink.write(_row())
    with ResultSink(out, store=None) as sink:
        sink.write(_row(Run_Id="r2"))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["Run_Id"] for r in rows] == ["r1", "r2"]
    assert rows[0]["HPLT_Error"] == ""  # None is an empty cell, as pandas writes it
    other = tmp_path / "old.csv"
    other.write_text(",".join(OLD_COLUMNS) + "\n", encoding="utf-8")
    with pytest.raises(CsvHeaderMismatch, match="--out"):
        ResultSink(other, store=None)


def test_summary_table_counts_each_hplt_generation_once() -> None:
    rows = [
        _row(),
        _row(MultiSynt_Model="MultiSynt/nemotron-cc-swedish-tower9b", MultiSynt_Error="x"),
    ]
    table = summary_table(rows).splitlines()
    assert table[0].split()[:3] == ["lang", "model", "family"]
    hplt = next(line for line in table if "hplt2c_swe" in line).split()
    assert hplt[3:5] == ["1", "0"]  # one generation (shared by both rows), no error
    broken = next(line for line in table if "tower9b" in line).split()
    assert broken[3:5] == ["1", "1"]


def test_progress_line_and_language_choice() -> None:
    languages = list(load_registry().languages.values())
    assert [lang.code for lang in choose_languages(languages, None, 2)] == ["isl", "swe"]
    assert [lang.code for lang in choose_languages(languages, ["fin", "isl"], None)] == [
        "isl",
        "fin",
    ]
    with pytest.raises(KeyError, match="xxx"):
        choose_languages(languages, ["xxx"], None)
    progress = Progress(2, 10, out=open(os.devnull, "w"))  # noqa: SIM115
    progress.step()
    assert progress.line(width=10).startswith("[#.........] 1/10 generations")


@pytest.mark.slow
def test_standin_run_writes_csv_and_table_and_survives_broken_models(tmp_path: Path) -> None:
    out, db = tmp_path / "bench.csv", tmp_path / "bench.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(
        ARENA_STANDIN__TOKEN_INTERVAL_S="0.002",
        ARENA_STANDIN__STARTUP_DELAY_S="0.05",
        ARENA_GENERATION__MAX_NEW_TOKENS="16",
        ARENA_SUPERVISOR__PORT=str(free_port()),
        ARENA_SUPERVISOR__FIRST_ENGINE_PORT=str(port_block(20)),
        ARENA_SUPERVISOR__MAX_RESTARTS="0",
        ARENA_STANDIN__FAULTS=json.dumps({BROKEN_STREAM: "error:500", BROKEN_START: "exit:0"}),
    )
    cmd = [sys.executable, "-m", "app.cli", "benchmark", "--standin", "--limit", "2"]
    cmd += ["--prompts-per-language", "1", "--out", str(out), "--db", str(db)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert tuple(rows[0]) == CSV_COLUMNS
    # Icelandic has two MultiSynt variants, Swedish three: one row per prompt and variant.
    assert [(r["Language"], r["MultiSynt_Model"].rsplit("-", 1)[1]) for r in rows] == [
        ("Icelandic", "tower9b"),
        ("Icelandic", "opus"),
        ("Swedish", "tower9b"),
        ("Swedish", "tower72b"),
        ("Swedish", "opus"),
    ]
    by_model = {r["MultiSynt_Model"]: r for r in rows}
    assert by_model[BROKEN_STREAM]["MultiSynt_Error"].startswith("server_error")
    assert by_model[BROKEN_START]["MultiSynt_Error"].startswith("load: ")
    for row in rows:  # the HPLT side and every healthy variant were measured
        assert not row["HPLT_Error"] and int(row["HPLT_Tokens"]) == 16
        assert float(row["HPLT_TTFT_ms"]) > 0 and float(row["HPLT_Tokens_per_s"]) > 0
        assert row["HPLT_Output"] and row["Prompt"] and row["Launcher"] == "standin"
        if row["MultiSynt_Model"] not in (BROKEN_STREAM, BROKEN_START):
            assert not row["MultiSynt_Error"] and int(row["MultiSynt_Tokens"]) == 16
            assert float(row["MultiSynt_Total_ms"]) >= float(row["MultiSynt_TTFT_ms"]) > 0
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute(
        "SELECT language, multisynt_model, multisynt_error IS NOT NULL, hplt_tokens "
        "FROM benchmark_runs ORDER BY language_code, multisynt_model"
    ).fetchall()
    assert len(stored) == len(rows)
    assert sum(1 for _, _, failed, _ in stored if failed) == 2
    assert {tokens for *_, tokens in stored} == {16}
    assert "gens" in proc.stdout and BROKEN_STREAM in proc.stdout  # the summary table
