"""Real battle log files for the start-up and readiness tests, and ways to damage them."""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from pathlib import Path

import duckdb

from app.core.store import BattleRecord, BattleStore

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
    blocks come after the schema's, as in a log that grew."""
    per_commit = -(-battles // commits)
    with BattleStore(path) as store:
        for start in range(0, battles, per_commit):
            count = min(per_commit, battles - start)
            store.submit_write(lambda con, s=start, n=count: _add_battles(con, s, n)).result()
            store.submit_write(lambda con: con.execute("CHECKPOINT")).result()


def logged_battle_id(i: int) -> str:
    """The id of the `i`-th battle `build_log` wrote (voted when `i` is even)."""
    return hashlib.md5(f"battle{i}".encode()).hexdigest()


def _add_battles(con: duckdb.DuckDBPyConnection, start: int, count: int) -> None:
    # Generated in SQL: thousands of battles in milliseconds rather than row by row.
    con.execute(
        """
        INSERT INTO battles (battle_id, language, prompt, model_a, model_b, family_a,
            family_b, response_a, response_b, ttft_ms_a, ttft_ms_b, session_hash, winner,
            voted_at)
        SELECT md5('battle' || i), 'swe', 'Det var en gång ' || i,
            'MultiSynt/nemotron-cc-swedish-opus', 'HPLT/hplt2c_swe_checkpoints',
            'multisynt', 'hplt', repeat(' en katt ' || md5(i::TEXT), 20),
            repeat(' en hund ' || md5((i + 1)::TEXT), 20), i % 300, (i * 7) % 300,
            md5('session' || i), CASE WHEN i % 2 = 0 THEN 'model_a' END,
            CASE WHEN i % 2 = 0 THEN now() END
        FROM range(?, ?) t(i)
        """,
        [start, start + count],
    )


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
