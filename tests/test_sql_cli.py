"""`oellm-arena sql`: queries on a real battle log, its three formats, one-line errors, the
shell on stdin (and at a terminal), the snapshot while the app holds the log, and that
nothing typed into it can change a file."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from app.cli import main
from app.core.store import BattleStore
from tests.analytics_helpers import REPO, battle, fill_fixture, log_held_open


def sql(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["sql", *args], input=stdin)


def table_rows(text: str) -> list[list[str]]:
    """The cells of printed tables: headers and rows, rules and footers left out."""
    lines = [
        line
        for line in text.splitlines()
        if line and not line.startswith("(") and not re.fullmatch(r"[-+]+", line)
    ]
    return [[c.strip() for c in line.split(" | ")] for line in lines]


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file of the folder with its content hash and modification time."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def test_a_query_prints_a_table(db_path: Path) -> None:
    fill_fixture(db_path)
    result = sql(
        "SELECT language, family, battles, wins FROM analytics.win_rates_by_language ORDER BY ALL",
        "--db",
        str(db_path),
    )
    assert result.exit_code == 0, result.output
    # Counted by hand from the fixture (the views count flagged battles too).
    assert table_rows(result.stdout) == [
        ["language", "family", "battles", "wins"],
        ["fin", "hplt", "2", "0"],
        ["fin", "multisynt", "2", "1"],
        ["mul", "hplt", "1", "1"],
        ["mul", "multisynt", "1", "0"],
        ["swe", "hplt", "9", "3"],
        ["swe", "multisynt", "9", "4"],
    ]
    assert result.stdout.endswith("(6 rows)\n") and result.stderr == ""
    numbers = result.stdout.splitlines()[2]
    assert numbers.endswith("|       2 |    0")  # numbers right-aligned under their header
    result = sql("SELECT count(*) AS n FROM battles")  # the log named by ARENA_DB_PATH
    assert result.exit_code == 0 and table_rows(result.stdout) == [["n"], ["14"]]


def test_csv_and_json_carry_values_whole_where_the_table_cuts_them(db_path: Path) -> None:
    fill_fixture(db_path)
    query = (
        "SELECT battle_id, flags, voted_at, repeat('å', 80) || chr(10) || 'end' AS long "
        "FROM battles WHERE battle_id IN ('s1', 'o3') ORDER BY battle_id"
    )
    result = sql(query, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["battle_id"] for r in rows] == ["o3", "s1"]
    assert [json.loads(r["flags"]) for r in rows] == [["identity_tell"], []]
    assert datetime.fromisoformat(rows[1]["voted_at"]) == datetime(
        2026, 3, 2, 10, 0, 30, tzinfo=UTC
    )
    assert rows[0]["long"] == "å" * 80 + "\nend"

    result = sql(query, "--format", "json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [(r["battle_id"], r["flags"]) for r in records] == [
        ("o3", ["identity_tell"]),
        ("s1", []),
    ]
    assert records[1]["voted_at"] == "2026-03-02T10:00:30+00:00"
    assert records[0]["long"] == "å" * 80 + "\nend"

    result = sql(query)
    cells = table_rows(result.stdout)
    assert cells[1][1] == "[identity_tell]" and cells[2][1] == "[]"
    assert cells[1][3] == "å" * 59 + "…"  # cut at 60 characters, line break never reached


def test_a_long_result_shows_its_first_rows_and_counts_the_rest(db_path: Path) -> None:
    fill_fixture(db_path)
    result = sql("SELECT range AS i FROM range(250)")
    assert result.exit_code == 0, result.output
    cells = table_rows(result.stdout)
    assert cells[1:] == [[str(i)] for i in range(100)]
    assert "(250 rows, the first 100 shown" in result.stdout
    result = sql("SELECT range AS i FROM range(250)", "--format", "csv")
    assert result.stdout.splitlines() == ["i", *map(str, range(250))]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM nope", "Table with name nope does not exist"),
        ("SELEC 1", 'syntax error at or near "SELEC"'),
        ("SELECT 1; SELECT nothing FROM battles", 'column "nothing" not found'),
    ],
)
def test_an_sql_error_is_one_line_and_exit_1(db_path: Path, query: str, message: str) -> None:
    fill_fixture(db_path)
    result = sql(query)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_missing_log_says_which_file(tmp_path: Path) -> None:
    result = sql("SELECT 1", "--db", str(tmp_path / "nope.duckdb"))
    assert result.exit_code == 1 and "No battle log at" in result.stderr
    assert not (tmp_path / "nope.duckdb").exists()


WRITES = [
    "INSERT INTO battles (battle_id, language, prompt, model_a, model_b, family_a, family_b) "
    "VALUES ('z', 'swe', 'p', 'a', 'b', 'multisynt', 'hplt')",
    "DROP TABLE battles",
    "DROP VIEW analytics.sides",
    "DELETE FROM battles",
    "UPDATE battles SET winner = 'tie'",
    "ALTER TABLE battles ADD COLUMN extra INTEGER",
    "CREATE TABLE mine AS SELECT 1 AS x",
    "CREATE VIEW mine AS SELECT 1 AS x",
    "ATTACH '{db}' AS again (READ_WRITE)",
    "ATTACH '{other}' AS other (READ_WRITE)",
    "COPY battles TO '{other}.csv'",
    "EXPORT DATABASE '{folder}/dump'",
    "INSTALL httpfs",
]


@pytest.mark.parametrize("statement", WRITES)
def test_nothing_can_be_written_through_it(db_path: Path, statement: str) -> None:
    fill_fixture(db_path)
    folder = db_path.parent
    before = fingerprint(folder)
    query = statement.format(db=db_path, other=folder / "other.duckdb", folder=folder)
    result = sql(query)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert fingerprint(folder) == before  # the log unchanged, and no new file anywhere
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*), count(winner) FROM battles").fetchone() == (14, 12)
    con.close()


def test_the_shell_reads_statements_until_the_end_of_input(db_path: Path) -> None:
    fill_fixture(db_path)
    before = fingerprint(db_path.parent)
    script = """
        SELECT count(*) AS n
          FROM battles;
        SELECT * FROM nope;
        CREATE TEMP TABLE mine AS SELECT battle_id FROM battles WHERE language = 'fin';
        SELECT count(*) AS fin FROM mine;
        DELETE FROM battles;
        SELECT 'a;b' AS s -- a comment; not the end
        ;
        SELECT 7 AS last
    """
    result = sql(stdin=script)
    assert result.exit_code == 1  # a script that met errors says so, after running it all
    assert table_rows(result.stdout) == [
        *(["n"], ["14"]),
        *(["fin"], ["2"]),
        *(["s"], ["a;b"]),
        *(["last"], ["7"]),
    ]
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and "nope does not exist" in errors[0] and "DELETE" in errors[1]
    assert "read-only" in errors[1]
    assert fingerprint(db_path.parent) == before

    result = sql("--format", "json", stdin="SELECT 1 AS one;\n.quit\nSELECT * FROM nope;\n")
    assert result.exit_code == 0, result.output  # nothing failed: .quit stopped before it
    assert json.loads(result.stdout) == [{"one": 1}] and result.stderr == ""


def _read_until(
    fd: int, seen: bytearray, token: bytes, times: int = 1, timeout_s: float = 60.0
) -> bool:
    """Read the terminal into `seen` until `token` has appeared `times` times in all."""
    deadline = time.monotonic() + timeout_s
    while seen.count(token) < times and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the other end closed
                break
    return seen.count(token) >= times


@pytest.mark.slow
def test_at_a_terminal_the_shell_prompts_and_goes_on_after_an_error(db_path: Path) -> None:
    fill_fixture(db_path)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "sql", "--db", str(db_path)],
        cwd=REPO,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    seen = bytearray()
    try:
        assert _read_until(controller, seen, b"arena> "), seen
        assert b"(read-only)" in seen and b"an arena app cannot open this log" in seen
        os.write(controller, b"SELECT 40 + 2 AS answer\n")
        assert _read_until(controller, seen, b"  ...> "), seen  # the statement goes on
        os.write(controller, b";\n")
        assert _read_until(controller, seen, b"(1 row)"), seen
        os.write(controller, b"SELECT * FROM nope;\n")
        assert _read_until(controller, seen, b"does not exist"), seen
        assert _read_until(controller, seen, b"arena> ", times=3), seen  # and prompts again
        os.write(controller, b"\x04")  # Ctrl-D
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        os.close(controller)
    assert re.search(rb"answer\s*\r\n-+\r\n\s*42\r\n", bytes(seen))


@pytest.mark.slow
def test_while_the_app_holds_the_log_it_reads_the_snapshot(db_path: Path) -> None:
    fill_fixture(db_path)
    snapshot = db_path.parent / "arena.snapshot.duckdb"
    with BattleStore(db_path) as store:
        store.snapshot(snapshot)
        # A battle after the snapshot: the log has 15, the snapshot 14.
        store.record_battle_sync(
            battle("late", "swe", "m", "h", "opus", multisynt_left=True, outcome="ms")
        )
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2, minutes=1)).timestamp()
    os.utime(snapshot, (two_hours_ago, two_hours_ago))
    with log_held_open(db_path) as holder:
        result = sql("SELECT count(*) AS n FROM battles", "--db", str(db_path))
        assert result.exit_code == 0, result.output
        assert table_rows(result.stdout) == [["n"], ["14"]]
        assert result.stderr.count("\n") == 1 and f"PID {holder.pid}" in result.stderr
        assert "reading its snapshot" in result.stderr
        assert re.search(r"written 2 h 0\d min ago", result.stderr)
        # The snapshot is no way into the log either.
        before = fingerprint(db_path.parent)
        result = sql(f"ATTACH '{db_path}' AS live (READ_WRITE)", "--db", str(db_path))
        assert result.exit_code == 1 and "disabled by configuration" in result.stderr
        assert fingerprint(db_path.parent) == before
        assert holder.poll() is None


def test_the_example_queries_in_the_docs_run(db_path: Path) -> None:
    fill_fixture(db_path)
    doc = (REPO / "docs" / "analytics.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", doc, flags=re.S)
    assert blocks
    for block in blocks:
        result = sql(stdin=block)
        assert result.exit_code == 0 and result.stderr == "", result.output
        assert result.stdout.count(" rows)") + result.stdout.count(" row)") == block.count(";")
