"""Real battle log files for the start-up and readiness tests, and ways to damage them."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from pathlib import Path

import duckdb

from app.core.store import BattleRecord
from benchmark import store_startup

WORDS = ("det", "var", "en", "gång", "katt", "och", "hund", "som", "bodde", "i", "ett", "hus")


def battle(battle_id: str | None = None, **overrides: object) -> BattleRecord:
    """One battle as the app records it (a uuid hex id unless given)."""
    rng = random.Random(battle_id)
    values: dict[str, object] = {
        "battle_id": battle_id or uuid.uuid4().hex,
        "language": "swe",
        "prompt": " ".join(rng.choices(WORDS, k=12)),
        "model_a": "MultiSynt/nemotron-cc-swedish-opus",
        "model_b": "HPLT/hplt2c_swe_checkpoints",
        "family_a": "multisynt",
        "family_b": "hplt",
        "response_a": " ".join(rng.choices(WORDS, k=120)),
        "response_b": " ".join(rng.choices(WORDS, k=120)),
    }
    values.update(overrides)
    return BattleRecord(**values)  # type: ignore[arg-type]


def build_log(path: Path, battles: int, *, commits: int = 8) -> None:
    """A log as the arena leaves it: schema first, then battles (uuid-like ids, one in two
    voted) over several commits and checkpoints, so that the battles' data and index
    blocks come after the schema's, as in a log that grew (the start-up benchmark's)."""
    store_startup.build_log(path, battles, commits)


def logged_battle_id(i: int) -> str:
    """The id of the `i`-th battle `build_log` wrote (voted when `i` is even)."""
    return hashlib.md5(f"battle{i}".encode()).hexdigest()


def block_size(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


def fingerprint(path: Path) -> tuple[bytes, int, list[str]]:
    """The file's bytes, its modification time and what its folder holds (a WAL?)."""
    return path.read_bytes(), os.stat(path).st_mtime_ns, sorted(os.listdir(path.parent))


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def foreign_db(path: Path, *tables: str) -> None:
    """Someone else's DuckDB database: each table has rows of its own."""
    con = duckdb.connect(str(path))
    try:
        for table in tables:
            con.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note TEXT)")
            con.execute(f"INSERT INTO {table} SELECT i, 'row ' || i FROM range(100) t(i)")
    finally:
        con.close()
