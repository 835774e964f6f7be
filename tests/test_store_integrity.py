"""Opening the battle log: a damaged file, or a DuckDB file that is not an arena log, is
refused at start with one clear line, and left byte for byte (and mtime) as it was."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from app.cli import main
from app.core.store import BattleStore, StoreError, StoreLockedError
from app.core.store.blocks import (
    FIRST_BLOCK,
    FileLayoutUnknown,
    Layout,
    checksum,
    find_damage,
    read_layout,
)
from tests.conftest import free_port
from tests.store_files import (
    battle,
    block_size,
    build_log,
    fingerprint,
    flip_byte,
    foreign_db,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def whole_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log as the arena leaves it after a few thousand battles (40 blocks, 17 free)."""
    path = tmp_path_factory.mktemp("whole") / "arena.duckdb"
    build_log(path, 4000)
    return path


@pytest.fixture
def log_copy(whole_log: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data" / "arena.duckdb"
    copy.parent.mkdir()
    shutil.copy(whole_log, copy)
    return copy


def _refused(path: Path, match: str, **kwargs: bool) -> str:
    before = fingerprint(path)
    with pytest.raises(StoreError, match=match) as caught:
        BattleStore(path, **kwargs)
    assert not isinstance(caught.value, StoreLockedError)
    assert fingerprint(path) == before  # bytes, mtime, and no WAL or other file beside it
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


def _usable(path: Path) -> None:
    """Everything the arena does with the log works: record, vote, read, checkpoint, reopen."""
    with BattleStore(path) as store:
        store.record_battle_sync(battle("after-1"))
        assert store.record_vote_sync("after-1", "tie").accepted
        store.read(lambda con: con.execute("SELECT * FROM battles").fetchall())
        store.submit_write(lambda con: con.execute("CHECKPOINT")).result()
    with BattleStore(path) as store:
        store.record_battle_sync(battle("after-2"))


# -- a damaged file ---------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.75, 0.97])
def test_a_log_cut_short_is_refused_and_left_untouched(log_copy: Path, keep: float) -> None:
    os.truncate(log_copy, int(log_copy.stat().st_size * keep))
    message = _refused(log_copy, "is damaged")
    assert "cut short" in message and "untouched" in message


def test_a_damaged_index_block_is_refused(log_copy: Path) -> None:
    """The attack that passed a query-based check: one flipped byte in a block that only
    the commit of the next battle reads (the primary key index's). Today's DuckDB opens
    such a file and answers every query; the first battle then invalidates the database."""
    layout = _layout(log_copy)
    con = duckdb.connect(str(log_copy), read_only=True)
    data_blocks = {
        row[0]
        for table in ("battles", "_migrations")
        for row in con.execute(f"SELECT block_id FROM pragma_storage_info('{table}')").fetchall()
    }
    metadata = {r[0] for r in con.execute("SELECT block_id FROM pragma_metadata_info()").fetchall()}
    con.close()
    index_blocks = sorted(set(layout.used()) - data_blocks - metadata)
    assert index_blocks, "the fixture has no block outside the tables' data and metadata"
    for block in index_blocks:
        flip_byte(log_copy, FIRST_BLOCK + block * layout.block_size + 4000)
        message = _refused(log_copy, "is damaged")
        assert f"block {block} " in message and "checksum" in message
        flip_byte(log_copy, FIRST_BLOCK + block * layout.block_size + 4000)  # undo
    _usable(log_copy)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_block_damaged_or_cut_is_refused_or_harmless(whole_log: Path, tmp_path: Path) -> None:
    """Property over the whole file: whichever block is flipped, and wherever the file is
    cut, the log is either refused untouched at start or works for everything after."""
    layout = _layout(whole_log)
    total = (whole_log.stat().st_size - FIRST_BLOCK) // layout.block_size
    for block in range(total):
        for damage in ("flip", "cut"):
            path = tmp_path / f"{damage}-{block}.duckdb"
            shutil.copy(whole_log, path)
            if damage == "flip":
                flip_byte(path, FIRST_BLOCK + block * layout.block_size + 4000)
            else:
                os.truncate(path, FIRST_BLOCK + block * layout.block_size)
            before = fingerprint(path)
            try:
                BattleStore(path).close()
            except StoreError:
                assert fingerprint(path) == before, (damage, block)
            else:
                assert block in layout.free, f"{damage} of block {block} (in use) was accepted"
                _usable(path)
            path.unlink()
            path.with_name(path.name + ".wal").unlink(missing_ok=True)


def test_a_damaged_free_block_is_no_reason_to_refuse(tmp_path: Path) -> None:
    """Free blocks hold stale data DuckDB never reads again: damage there must not stop
    the app (a crash while writing one is harmless)."""
    path = tmp_path / "arena.duckdb"
    build_log(path, 2000)
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM battles WHERE battle_id < '8'")  # half the battles
    con.execute("CHECKPOINT")
    con.close()
    layout = _layout(path)
    inside = [
        b for b in layout.free if FIRST_BLOCK + (b + 1) * layout.block_size <= path.stat().st_size
    ]
    assert inside, "the fixture has no free block inside the file"
    for block in inside:
        flip_byte(path, FIRST_BLOCK + block * layout.block_size + 4000)
    _usable(path)


def test_the_block_reader_agrees_with_duckdb(whole_log: Path) -> None:
    """Guards the hand-read file format: on the pinned DuckDB, the block count and free list
    read from the file are the ones DuckDB reports, and DuckDB's blocks carry exactly our
    checksum. A DuckDB upgrade that changes the format fails here (at run time the block
    check would be skipped with a warning)."""
    con = duckdb.connect(str(whole_log), read_only=True)
    row = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()").fetchone()
    con.close()
    layout = _layout(whole_log)
    assert (layout.block_count, len(layout.free)) == row
    assert layout.free, "the fixture should have free blocks, as a log that grew has"
    assert find_damage(whole_log, expected_free=len(layout.free)) is None
    raw = whole_log.read_bytes()
    for block in layout.used():
        start = FIRST_BLOCK + block * layout.block_size
        stored = struct.unpack_from("<Q", raw, start)[0]
        assert stored == checksum(raw[start + 8 : start + layout.block_size]), block


def _data_block(path: Path) -> int:
    """A block that holds rows of `battles`."""
    con = duckdb.connect(str(path), read_only=True)
    row = con.execute(
        "SELECT min(block_id) FROM pragma_storage_info('battles') WHERE block_id >= 0"
    ).fetchone()
    con.close()
    assert row is not None and row[0] is not None
    return int(row[0])


def _layout(path: Path) -> Layout:
    with path.open("rb") as f:
        layout = read_layout(f)
    assert layout.block_size == block_size(path)
    return layout


@pytest.mark.timeout(60)  # a demo that starts anyway would run until killed
@pytest.mark.parametrize(
    "damage",
    ["cut in half", "zero bytes", "random bytes", "flipped header byte", "flipped data byte"],
)
def test_demo_refuses_a_damaged_log_in_one_line(log_copy: Path, damage: str) -> None:
    size = log_copy.stat().st_size
    if damage == "cut in half":
        os.truncate(log_copy, size // 2)
    elif damage == "zero bytes":
        log_copy.write_bytes(b"")
    elif damage == "random bytes":
        log_copy.write_bytes(os.urandom(size))
    elif damage == "flipped header byte":
        flip_byte(log_copy, 4096 + 100)  # the first database header: DuckDB uses the other
        flip_byte(log_copy, 2 * 4096 + 100)
    else:
        flip_byte(log_copy, FIRST_BLOCK + _data_block(log_copy) * block_size(log_copy) + 4000)
    before = fingerprint(log_copy)
    result = CliRunner().invoke(main, ["demo", "--db", str(log_copy)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(log_copy) in errors[0], result.output
    assert fingerprint(log_copy) == before


@pytest.mark.slow
@pytest.mark.parametrize("command", ["demo", "serve"])
def test_the_real_command_exits_with_one_line_and_leaves_the_file(
    log_copy: Path, command: str
) -> None:
    """As an operator runs it: a process, its exit status and its stderr."""
    os.truncate(log_copy, log_copy.stat().st_size // 2)
    before = fingerprint(log_copy)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            command,
            "--db",
            str(log_copy),
            "--port",
            str(free_port()),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"Error: The battle log {log_copy} is damaged: it is ")
    assert "cut short" in lines[0]
    assert fingerprint(log_copy) == before


# -- a file that is not an arena log ------------------------------------------------------


def test_a_foreign_duckdb_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "measurements.duckdb"
    foreign_db(path, "measurements", "stations")
    message = _refused(path, "not an arena battle log")
    assert "measurements, stations" in message and "--adopt-foreign-db" in message


def test_a_foreign_battles_table_is_refused_even_when_adopting(tmp_path: Path) -> None:
    """Before: `_migrations` was committed, then the first steps altered their `battles`."""
    path = tmp_path / "other.duckdb"
    foreign_db(path, "battles")
    assert "battles but no _migrations" in _refused(path, "not an arena battle log")
    _refused(path, "battles but no _migrations", adopt_foreign=True)
    con = duckdb.connect(str(path), read_only=True)
    tables = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert tables == [("battles",)]
    assert [r[0] for r in con.execute("DESCRIBE battles").fetchall()] == ["id", "note"]
    con.close()


def test_a_foreign_view_of_an_arena_name_is_refused_even_when_adopting(tmp_path: Path) -> None:
    """Adopting it would replace their view with the arena's (`CREATE OR REPLACE VIEW`)."""
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA analytics")
    con.execute("CREATE VIEW analytics.voted_battles AS SELECT 42 AS answer")
    con.close()
    message = _refused(path, "not an arena battle log", adopt_foreign=True)
    assert "analytics.voted_battles" in message


def test_adopting_a_foreign_file_adds_the_arena_tables_beside_its_own(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    foreign_db(path, "measurements")
    with BattleStore(path, adopt_foreign=True) as store:
        store.record_battle_sync(battle("b1"))
    _usable(path)  # an arena log now: opens without being told again
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM measurements").fetchone() == (100,)
    con.close()


def test_the_adopt_setting_reaches_the_store_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    foreign_db(path, "measurements")
    refused = CliRunner().invoke(main, ["retention", "--dry-run", "--db", str(path)])
    assert refused.exit_code == 1 and "ARENA_ADOPT_FOREIGN_DB" in refused.output
    adopted = CliRunner().invoke(
        main, ["retention", "--dry-run", "--db", str(path)], env={"ARENA_ADOPT_FOREIGN_DB": "true"}
    )
    assert adopted.exit_code == 0, adopted.output
    con = duckdb.connect(str(path), read_only=True)
    assert {"battles", "measurements", "_migrations"} <= {
        r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    }
    con.close()


@pytest.mark.timeout(60)
def test_demo_refuses_a_foreign_file_and_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "measurements.duckdb"
    foreign_db(path, "measurements")
    before = fingerprint(path)
    result = CliRunner().invoke(main, ["demo", "--db", str(path)])
    assert result.exit_code == 1
    assert "--adopt-foreign-db" in result.output
    assert fingerprint(path) == before


def test_an_empty_duckdb_file_becomes_a_log(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    _usable(path)


def test_a_log_from_a_newer_version_is_refused_untouched(log_copy: Path) -> None:
    con = duckdb.connect(str(log_copy))
    con.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', now())")
    con.close()
    message = _refused(log_copy, "newer version of the arena")
    assert "m999_from_the_future" in message


def test_a_log_missing_a_column_its_steps_made_is_refused_untouched(log_copy: Path) -> None:
    con = duckdb.connect(str(log_copy))
    con.execute("ALTER TABLE battles DROP COLUMN comment")
    con.close()
    message = _refused(log_copy, "lacks battles.comment")
    assert "not an arena battle log" in message


def test_an_unknown_file_layout_falls_back_to_reading_every_row(
    log_copy: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A DuckDB whose layout the block reader does not know: the check says so and still
    refuses what SQL can see (a log cut short, a damaged data block)."""

    def unknown(path: Path, **_: object) -> None:
        raise FileLayoutUnknown("a layout from the future")

    monkeypatch.setattr("app.core.store.integrity.find_damage", unknown)
    with caplog.at_level("WARNING"):
        _usable(log_copy)
    assert "block check skipped" in caplog.text and "a layout from the future" in caplog.text
    damaged = log_copy.with_name("damaged.duckdb")
    shutil.copy(log_copy, damaged)
    flip_byte(damaged, FIRST_BLOCK + _data_block(damaged) * block_size(damaged) + 4000)
    assert "table battles cannot be read back" in _refused(damaged, "is damaged")
    os.truncate(log_copy, log_copy.stat().st_size // 2)
    assert "cut short" in _refused(log_copy, "is damaged")


@pytest.mark.parametrize(
    "content", [b"", b"not a database " * 200, b"DUCK" + bytes(range(256)) * 64]
)
def test_corrupt_file_raises_store_error_and_is_left_untouched(
    db_path: Path, content: bytes
) -> None:
    db_path.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        BattleStore(db_path)
    assert not isinstance(caught.value, StoreLockedError)
    message = str(caught.value)
    assert str(db_path) in message and "untouched" in message
    assert db_path.read_bytes() == content
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name]
    # The failed open released the path: a good file there can be opened afterwards.
    db_path.unlink()
    with BattleStore(db_path) as s:
        assert s.count() == 0


def test_unexpected_schema_is_a_store_error(db_path: Path) -> None:
    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE _migrations (something_else INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="_migrations table that is not the arena's"):
        BattleStore(db_path)
    con = duckdb.connect(str(db_path))
    assert con.execute("SELECT count(*) FROM information_schema.tables").fetchone() == (1,)
    con.close()
