"""`leaderboard` and `snapshot` invoked as commands: exit codes, JSON shape, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from analytics.data import LEGACY_CSV
from app.cli import main
from app.core.store.migrations import MIGRATIONS, migrate
from tests.analytics_helpers import REPO, SAMPLE_CSV, SWE_HPLT, fill_fixture

REQUIRED_KEYS = {"model", "language", "rating", "ci_low", "ci_high", "battles", "wins", "losses"}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_leaderboard_json_lists_every_model_with_intervals(db_path: Path) -> None:
    fill_fixture(db_path)
    code, output = invoke("leaderboard", "--format", "json", "--db", str(db_path))
    assert code == 0, output
    board = json.loads(output)
    assert {(r["language"], r["model"]) for r in board} == {
        ("swe", SWE_HPLT),
        ("swe", "MultiSynt/nemotron-cc-swedish-tower9b"),
        ("swe", "MultiSynt/nemotron-cc-swedish-opus"),
        ("fin", "HPLT/hplt2c_fin_checkpoints"),
        ("fin", "MultiSynt/nemotron-cc-finnish-tower9b"),
        ("mul", "MultiSynt/2B-1TT-native-mixture"),
        ("mul", "MultiSynt/2B-1TT-tower9b-mixture"),
    }
    for row in board:
        assert REQUIRED_KEYS | {"ties", "both_bad", "warning"} <= set(row)
        assert row["ci_low"] <= row["rating"] <= row["ci_high"]
        assert row["battles"] == row["wins"] + row["losses"] + row["ties"] + row["both_bad"]
    hplt = next(r for r in board if r["model"] == SWE_HPLT)
    # The battle flagged identity_tell (not blind) is left out by default ...
    assert (hplt["rating"], hplt["battles"], hplt["wins"], hplt["losses"]) == (1000.0, 8, 2, 4)
    assert (hplt["ties"], hplt["both_bad"], hplt["reference"]) == (1, 1, True)
    assert all(r["warning"] for r in board)  # a dozen votes: too few for anything
    # ... and counted when asked for.
    code, output = invoke(
        "leaderboard", "--format", "json", "--include-flagged", "--db", str(db_path)
    )
    assert code == 0, output
    hplt = next(r for r in json.loads(output) if r["model"] == SWE_HPLT)
    assert (hplt["battles"], hplt["wins"], hplt["losses"]) == (9, 3, 4)


def test_leaderboard_for_one_language_as_a_table(db_path: Path) -> None:
    fill_fixture(db_path)
    code, output = invoke("leaderboard", "--language", "fin", "--db", str(db_path))
    assert code == 0, output
    assert "hplt2c_fin_checkpoints" in output and "swedish" not in output
    assert "(ref)" in output and "95% CI" in output
    # The reference's interval is no interval; one from a vote or two is not shown.
    hplt_line = next(line for line in output.splitlines() if "hplt2c_fin" in line)
    assert "reference" in hplt_line and "1000 to 1000" not in output
    code, output = invoke(
        "leaderboard", "--format", "json", "--language", "swe", "--exclude-flag", "identity_tell"
    )
    assert code == 0, output
    swe = {r["model"]: r for r in json.loads(output)}
    assert swe["MultiSynt/nemotron-cc-swedish-opus"]["battles"] == 2  # o3 left out
    code, output = invoke("leaderboard", "--format", "json", "--source", "legacy")
    assert code == 0 and {r["language"] for r in json.loads(output)} == {"fin"}
    code, output = invoke("leaderboard", "--language", "fin", "--format", "json")  # env DB
    assert code == 0 and len(json.loads(output)) == 2  # ARENA_DB_PATH is the same log


@pytest.mark.parametrize(
    ("spelling", "code"),
    [("sv", "swe"), ("SV", "swe"), ("SWE", "swe"), ("Swedish", "swe"), ("svenska", "swe"),
     ("fi", "fin"), ("Suomi", "fin"), ("Multilingual", "mul")],
)  # fmt: skip
def test_leaderboard_language_by_any_code_or_name(db_path: Path, spelling: str, code: str) -> None:
    fill_fixture(db_path)
    exit_code, by_code = invoke(
        "leaderboard", "--format", "json", "--rounds", "20", "--language", code
    )
    assert exit_code == 0, by_code
    exit_code, output = invoke(
        "leaderboard", "--format", "json", "--rounds", "20", "--language", spelling
    )
    assert exit_code == 0, output
    assert json.loads(output) == json.loads(by_code)
    assert {r["language"] for r in json.loads(output)} == {code}


def test_leaderboard_refuses_bad_input_with_a_message(db_path: Path, tmp_path: Path) -> None:
    fill_fixture(db_path)
    result = CliRunner().invoke(main, ["leaderboard", "--language", "xx", "--db", str(db_path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: --language: unknown language 'xx' (known: isl (is),")
    assert "swe (sv)" in result.stderr and "nob (nb)" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no usage text
    code, output = invoke("leaderboard", "--db", str(tmp_path / "missing.duckdb"))
    assert code == 1 and "No battle log" in output
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    migrate(con, MIGRATIONS[:2])
    con.close()
    code, output = invoke("leaderboard", "--db", str(old))
    assert code == 1 and "older schema" in output and "m004_analytics_views" in output


def test_snapshot_command_without_a_running_app(db_path: Path, tmp_path: Path) -> None:
    fill_fixture(db_path)
    out = tmp_path / "analysts" / "arena.duckdb"
    code, output = invoke("snapshot", "--db", str(db_path), "--out", str(out))
    assert code == 0 and "Snapshot of 14 battles" in output
    con = duckdb.connect(str(out), read_only=True)
    assert con.execute("SELECT count(*) FROM analytics.sides").fetchone() == (24,)
    con.close()
    code, output = invoke("snapshot", "--db", str(db_path))  # default: beside the log
    assert code == 0 and (db_path.parent / "arena.snapshot.duckdb").is_file()


@pytest.mark.slow
def test_the_installed_entry_point_runs_import_and_leaderboard(tmp_path: Path) -> None:
    """The real `oellm-arena` process, as the design brief names the commands."""
    db = tmp_path / "arena.duckdb"
    entry = [sys.executable, "-m", "app.cli"]
    done = subprocess.run(
        [*entry, "import-legacy", str(SAMPLE_CSV), "--db", str(db)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Imported 12 new battles" in done.stdout
    done = subprocess.run(
        [*entry, "leaderboard", "--format", "json", "--db", str(db), "--language", "nob"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    board = json.loads(done.stdout)
    assert [r["language"] for r in board] == ["nob", "nob"]
    assert sum(r["battles"] for r in board if r["reference"]) == 2


def test_a_language_alone_prints_the_intervals_of_the_full_board(tmp_path: Path) -> None:
    # The old arena's whole log: its multilingual experiment printed [704.4, 1101.7] alone
    # and [704.4, 1049.9] on the full board while the bootstrap shared one generator.
    db = tmp_path / "arena.duckdb"
    code, output = invoke("import-legacy", str(LEGACY_CSV), "--db", str(db))
    assert code == 0, output
    code, output = invoke("leaderboard", "--format", "json", "--db", str(db))
    assert code == 0, output
    board = json.loads(output)
    for language in ("mul", "swe", "eus"):
        args = ("leaderboard", "--language", language, "--format", "json", "--db", str(db))
        code, output = invoke(*args)
        assert code == 0, output
        alone = [(r["model"], r["ci_low"], r["ci_high"]) for r in json.loads(output)]
        full = [(r["model"], r["ci_low"], r["ci_high"]) for r in board if r["language"] == language]
        assert alone and alone == full
