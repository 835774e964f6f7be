"""`import-legacy`: the old arena's votes, counted by the importer and, independently, by
pandas (tests/analytics_helpers.legacy_truth); defects handled; re-import adds nothing;
a malformed file imports nothing."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from analytics.data import LEGACY_CSV
from app.cli import main
from app.core.store import writes
from app.core.store.records import BattleRecord
from tests.analytics_helpers import SAMPLE_CSV, legacy_truth


def run_import(csv_path: Path, db: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["import-legacy", str(csv_path), "--db", str(db), *extra])
    return result.exit_code, result.output


def reported(output: str) -> dict[str, int]:
    """The numbers the command printed, by what they count."""
    patterns = {
        "rows": r"Read (\d+) rows",
        "battles": r"rows: (\d+) battles",
        "imported": r"Imported (\d+) new battles",
        "collapsed": r"Collapsed (\d+) rows",
        "exact": r"(\d+) exact duplicates",
        "relogged": r"(\d+) re-logs",
        "bad_prompt_rows": r"empty or wrong prompt: (\d+)",
        "mismatched_label_rows": r"disagrees with their models: (\d+)",
    }
    found = {k: re.search(p, output) for k, p in patterns.items()}
    out = {k: int(m.group(1)) for k, m in found.items() if m}
    flag = re.search(r"prompt_unknown (\d+)", output)
    out["prompt_unknown"] = int(flag.group(1)) if flag else 0
    return out


def table(db: Path, sql: str, params: list[object] | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def check_against_truth(csv_path: Path, db: Path) -> None:
    truth = legacy_truth(csv_path)
    code, output = run_import(csv_path, db)
    assert code == 0, output
    got = reported(output)
    assert got["rows"] == truth.rows
    assert got["battles"] == got["imported"] == truth.battles
    assert got["collapsed"] == truth.rows - truth.battles
    assert got["exact"] == truth.exact_duplicates
    assert got["relogged"] == truth.rows - truth.battles - truth.exact_duplicates
    assert got["bad_prompt_rows"] == truth.bad_prompt_rows
    assert got["mismatched_label_rows"] == truth.mismatched_label_rows
    assert got["prompt_unknown"] == truth.prompt_unknown_battles

    by_language = dict(table(db, "SELECT language, count(*) FROM battles GROUP BY 1"))
    assert by_language == truth.battles_by_language
    ms_wins = dict(
        table(
            db,
            "SELECT language, count(*) FROM analytics.voted_battles "
            "WHERE multisynt_outcome = 'win' GROUP BY 1",
        )
    )
    assert ms_wins == truth.multisynt_wins_by_language
    assert table(db, "SELECT count(*) FROM battles WHERE winner = 'tie'") == [(truth.ties,)]
    assert table(db, "SELECT sum(legacy_rows), count(DISTINCT source) FROM battles") == [
        (truth.rows, 1)
    ]
    assert table(db, "SELECT DISTINCT source, status FROM battles") == [("legacy", "completed")]
    # Continuations without the prompt (prompt + continuation is the logged output, on the
    # right side); where the prompt is unknown the prompt is empty and the full text stays.
    with csv_path.open(newline="", encoding="utf-8") as f:
        outputs = {(r["Output_A"], r["Output_B"]) for r in csv.DictReader(f)}
    for prompt, ra, rb, family_a, flags in table(
        db, "SELECT prompt, response_a, response_b, family_a, flags FROM battles"
    ):
        left, right = prompt + ra, prompt + rb
        assert ((left, right) if family_a == "multisynt" else (right, left)) in outputs
        assert (prompt == "") == ("prompt_unknown" in flags)
    # Running it again adds nothing and changes nothing.
    before = table(db, "SELECT * FROM battles ORDER BY battle_id")
    code, output = run_import(csv_path, db)
    assert code == 0, output
    assert reported(output)["imported"] == 0
    assert f"({truth.battles} were already in the log)" in output
    assert table(db, "SELECT * FROM battles ORDER BY battle_id") == before


def test_the_sample_imports_as_counted_independently(tmp_path: Path) -> None:
    check_against_truth(SAMPLE_CSV, tmp_path / "arena.duckdb")


def test_the_real_legacy_file_imports_as_counted_independently(tmp_path: Path) -> None:
    check_against_truth(LEGACY_CSV, tmp_path / "arena.duckdb")
    # The figures behind docs/analytics.md, pinned so a change to the importer shows up.
    truth = legacy_truth(LEGACY_CSV)
    assert (truth.rows, truth.battles, truth.exact_duplicates) == (564, 338, 36)
    assert (truth.bad_prompt_rows, truth.mismatched_label_rows) == (203, 26)
    assert truth.prompt_unknown_battles == 4


def test_displayed_sides_winner_and_prompt_of_one_battle(tmp_path: Path) -> None:
    """First sample row: Swedish, not swapped (MultiSynt left), Left won (MultiSynt)."""
    db = tmp_path / "arena.duckdb"
    assert run_import(SAMPLE_CSV, db)[0] == 0
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    swapped = next(r for r in rows if r["Swapped"] == "True" and r["Winner_Position"] == "Left")
    for row in (rows[0], swapped):
        left, right = (
            (row["Model_B_Name"], row["Model_A_Name"])
            if row["Swapped"] == "True"
            else (row["Model_A_Name"], row["Model_B_Name"])
        )
        out_left = row["Output_B"] if row["Swapped"] == "True" else row["Output_A"]
        found = table(
            db,
            "SELECT model_a, model_b, winner, prompt, response_a, family_a, legacy_language "
            "FROM battles WHERE model_a = ? AND prompt || response_a = ?",
            [left, out_left],
        )
        assert len(found) == 1
        model_a, model_b, winner, prompt, response_a, family_a, label = found[0]
        assert (model_a, model_b, winner) == (left, right, "model_a")
        assert prompt == row["Prompt"] and response_a == out_left[len(prompt) :]
        assert family_a == ("hplt" if row["Swapped"] == "True" else "multisynt")
        assert label == row["Language"]


def _write(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _sample_rows() -> list[dict[str, str]]:
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_language_labels_and_their_mismatch(tmp_path: Path) -> None:
    rows = _sample_rows()
    norwegian = [r for r in rows if r["Language"].startswith("Norwegian")][:2]
    mislabelled = dict(rows[0], Language="Danish")  # a Swedish battle labelled Danish
    multilingual = next(r for r in rows if r["Language"] == "Multilingual-Exp")
    csv_path = _write(tmp_path / "labels.csv", [*norwegian, mislabelled, multilingual])
    db = tmp_path / "arena.duckdb"
    code, output = run_import(csv_path, db)
    assert code == 0, output
    assert "language_mismatch 1" in output
    got = table(db, "SELECT language, legacy_language, flags FROM battles ORDER BY created_at")
    assert {(lang, label) for lang, label, _ in got} >= {
        ("nob", "Norwegian"),
        ("nob", "Norwegian (Bokmål)"),
        ("swe", "Danish"),
        ("mul", "Multilingual-Exp"),
    }
    assert [flags for lang, label, flags in got if label == "Danish"] == [["language_mismatch"]]


def test_relogged_rows_with_another_vote_keep_the_first_and_are_flagged(tmp_path: Path) -> None:
    first = _sample_rows()[0]
    later = dict(first, Timestamp="2030-01-01 00:00:00", Winner_Position="Right")
    later["Winner_Source"] = "HPLT"
    db = tmp_path / "arena.duckdb"
    code, output = run_import(_write(tmp_path / "c.csv", [later, first]), db)
    assert code == 0, output
    assert table(db, "SELECT winner, flags, legacy_rows FROM battles") == [
        ("model_a", ["conflicting_votes"], 2)
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: [dict(r, Swapped="maybe") if i == 3 else r for i, r in enumerate(rows)],
         "Swapped must be True or False"),
        (lambda rows: [dict(r, Timestamp="yesterday") if i == 5 else r for i, r in enumerate(rows)],
         "is not a date and time"),
        (lambda rows: [dict(r, Model_B_Name="HPLT/unknown") if i == 2 else r
                       for i, r in enumerate(rows)], "not in the registry"),
        (lambda rows: [dict(r, Winner_Position="Middle") if i == 0 else r
                       for i, r in enumerate(rows)], "Winner_Position must be"),
    ],
)  # fmt: skip
def test_a_malformed_file_imports_nothing(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "arena.duckdb"
    assert run_import(SAMPLE_CSV, db)[0] == 0
    before = table(db, "SELECT count(*) FROM battles")
    digest_before = files(tmp_path)
    # Fresh battles (new outputs) that would be imported if the file were accepted.
    rows = [dict(r, Output_A=r["Output_A"] + " (new)") for r in _sample_rows()]
    code, output = run_import(_write(tmp_path / "bad.csv", change(rows)), db)
    assert code != 0
    assert message in output and "nothing was imported" in output
    assert re.search(r"line \d+", output)
    assert table(db, "SELECT count(*) FROM battles") == before
    after = {name: h for name, h in files(tmp_path).items() if name != "bad.csv"}
    assert after == digest_before  # the log was not even opened


def test_structural_problems_are_reported(tmp_path: Path) -> None:
    db = tmp_path / "arena.duckdb"
    rows = _sample_rows()
    no_column = _write(tmp_path / "cols.csv", rows, header=[c for c in rows[0] if c != "Swapped"])
    code, output = run_import(no_column, db)
    assert code != 0 and "missing column(s) Swapped" in output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, output = run_import(empty, db)
    assert code != 0 and "is empty" in output
    header_only = tmp_path / "header.csv"
    header_only.write_text(SAMPLE_CSV.read_text(encoding="utf-8").splitlines()[0] + "\n")
    code, output = run_import(header_only, db)
    assert code != 0 and "no rows" in output
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(SAMPLE_CSV.read_text(encoding="utf-8") + "2025-12-01,Swedish\n")
    code, output = run_import(ragged, db)
    assert code != 0 and "2 fields, the header has 10" in output
    assert not db.exists()  # checked before the log is opened: no empty log left behind


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "arena.duckdb"
    code, output = run_import(SAMPLE_CSV, db, "--dry-run")
    assert code == 0 and "Dry run" in output and "Imported 0 new battles" in output
    assert list(tmp_path.iterdir()) == []  # not even an empty log
    assert run_import(SAMPLE_CSV, db)[0] == 0
    before = files(tmp_path)
    code, output = run_import(SAMPLE_CSV, db, "--dry-run")
    assert code == 0 and "(12 were already in the log)" in output
    assert files(tmp_path) == before


def files(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its path, with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _bad_row_midway(folder: Path) -> Path:
    rows = [dict(r, Output_A=r["Output_A"] + " (new)") for r in _sample_rows()]
    rows[len(rows) // 2]["Swapped"] = "perhaps"
    return _write(folder / "midway.csv", rows)


def _wrong_columns(folder: Path) -> Path:
    rows = _sample_rows()
    return _write(folder / "cols.csv", rows, header=[c for c in rows[0] if c != "Winner_Position"])


FAILED_IMPORTS = {
    "no such CSV": (lambda folder: folder / "missing.csv", "does not exist"),
    "wrong columns": (_wrong_columns, "missing column(s) Winner_Position"),
    "bad row midway": (_bad_row_midway, "Swapped must be True or False, not 'perhaps'"),
}


@pytest.mark.parametrize("case", FAILED_IMPORTS)
def test_a_failed_import_leaves_no_new_log_behind(tmp_path: Path, case: str) -> None:
    make_csv, message = FAILED_IMPORTS[case]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    csv_path = make_csv(inputs)
    code, output = run_import(csv_path, tmp_path / "data" / "arena.duckdb")
    assert code != 0 and message in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"]  # no log, no folder


@pytest.mark.parametrize("case", FAILED_IMPORTS)
def test_a_failed_import_leaves_an_existing_log_byte_for_byte(tmp_path: Path, case: str) -> None:
    make_csv, message = FAILED_IMPORTS[case]
    data = tmp_path / "data"
    db = data / "arena.duckdb"
    assert run_import(SAMPLE_CSV, db)[0] == 0
    before = files(data)
    code, output = run_import(make_csv(tmp_path), db)
    assert code != 0 and message in output
    assert files(data) == before


def _insert_failing_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    """The insert meets a real DuckDB error halfway: the middle battle breaks NOT NULL, so
    the battles before it are already inserted, in the transaction, when it fails."""
    real = writes.insert_new

    def failing(con: duckdb.DuckDBPyConnection, records: list[BattleRecord]) -> int:
        half = len(records) // 2
        broken = dataclasses.replace(records[half], language=None)  # type: ignore[arg-type]
        return real(con, [*records[:half], broken, *records[half + 1 :]])

    monkeypatch.setattr(writes, "insert_new", failing)


def test_an_insert_failing_midway_removes_the_new_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _insert_failing_midway(monkeypatch)
    db = tmp_path / "data" / "arena.duckdb"
    code, output = run_import(SAMPLE_CSV, db)
    assert code == 1
    assert f"Nothing was imported; the new battle log {db} was removed." in output
    assert "NOT NULL constraint failed" in output
    assert list(tmp_path.iterdir()) == []  # neither the file, its WAL, nor the folder made for it


def test_an_insert_failing_midway_leaves_an_existing_log_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "arena.duckdb"
    assert run_import(SAMPLE_CSV, db)[0] == 0
    before = table(db, "SELECT * FROM battles ORDER BY battle_id")
    _insert_failing_midway(monkeypatch)
    fresh = [dict(r, Output_A=r["Output_A"] + " (new)") for r in _sample_rows()]
    code, output = run_import(_write(tmp_path / "fresh.csv", fresh), db)
    assert code == 1 and f"Nothing was imported; {db} is unchanged." in output
    assert table(db, "SELECT * FROM battles ORDER BY battle_id") == before  # rolled back
    monkeypatch.undo()
    code, output = run_import(_write(tmp_path / "fresh.csv", fresh), db)
    assert code == 0 and "Imported 12 new battles" in output  # and the log still works
