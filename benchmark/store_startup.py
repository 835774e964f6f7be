"""What the battle log's start-up check costs: opening a log of N battles, before and now.

    uv run python -m benchmark.store_startup [--battles 100000] [--runs 5] [--db PATH]

Builds a log like the arena's (each battle ~2 KB of text, half voted, written over many
commits and checkpoints, so it has free blocks as a grown log has), or uses `--db`, then
opens it in a fresh process `--runs` times for each of:

  before: open the file and migrate (what opening did without a check)
  now:    `BattleStore(path)`: the block check (every block in use read and checksummed),
          the schema check, the rolled-back write probe, then open and migrate

A fresh process each time, because the schema check builds its reference once per
process. The file is in the page cache (warm) after the first run. Prints a table and,
last, one JSON line with the medians in seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from app.core.store.battle_store import BattleStore

# Each timed from after its imports (the app imports numpy and DuckDB anyway).
BEFORE = """
import sys, time
from pathlib import Path
from app.core.store.database import open_database
from app.core.store.migrations import migrate
start = time.perf_counter()
con = open_database(Path(sys.argv[1])); migrate(con); con.cursor().close(); con.close()
print(time.perf_counter() - start)
"""
NOW = """
import sys, time
from app.core.store.battle_store import BattleStore
start = time.perf_counter()
BattleStore(sys.argv[1]).close()
print(time.perf_counter() - start)
"""


def build_log(path: Path, battles: int, commits: int = 50) -> None:
    """A log of `battles` battles, grown over `commits` commits each with a checkpoint;
    battle `i` has id md5('battle' || i) and is voted when `i` is even."""
    per_commit = -(-battles // commits)
    with BattleStore(path) as store:
        for start in range(0, battles, per_commit):
            count = min(per_commit, battles - start)
            store.submit_write(lambda con, s=start, n=count: _insert(con, s, n)).result()
            store.submit_write(lambda con: con.execute("CHECKPOINT")).result()


def _insert(con: duckdb.DuckDBPyConnection, start: int, count: int) -> None:
    # ~150 words a side from a small vocabulary, as a continuation in one language.
    vocabulary = "['det','var','en','gång','katt','och','hund','som','bodde','i','ett','hus']"
    pick = f"{vocabulary}[(1 + hash(i, w, ?) % 12)::BIGINT]"
    text = f"array_to_string(list_transform(range(150), lambda w: {pick}), ' ')"
    con.execute(
        f"""
        INSERT INTO battles (battle_id, language, prompt, model_a, model_b, family_a,
            family_b, response_a, response_b, ttft_ms_a, ttft_ms_b, session_hash, winner,
            voted_at)
        SELECT md5('battle' || i), 'swe', 'Det var en gång ' || i,
            'MultiSynt/nemotron-cc-swedish-opus', 'HPLT/hplt2c_swe_checkpoints', 'multisynt',
            'hplt', {text.replace("?", "1")}, {text.replace("?", "2")}, i % 300, i % 250,
            md5('session' || i), CASE WHEN i % 2 = 0 THEN 'tie' END,
            CASE WHEN i % 2 = 0 THEN now() END
        FROM range(?, ?) t(i)
        """,
        [start, start + count],
    )


def _time(script: str, path: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, help="an existing log instead of a built one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "arena.duckdb"
        if args.db is None:
            started = time.perf_counter()
            build_log(path, args.battles)
            print(f"built {args.battles} battles in {time.perf_counter() - started:.1f} s")
        con = duckdb.connect(str(path), read_only=True)
        (battles,) = con.execute("SELECT count(*) FROM battles").fetchone()  # type: ignore[misc]
        sizes = con.execute(
            "SELECT block_size, total_blocks, used_blocks, free_blocks FROM pragma_database_size()"
        ).fetchone()
        con.close()
        block, total, used, free = sizes  # type: ignore[misc]
        size = path.stat().st_size
        print(
            f"log: {battles} battles, {size:,} bytes, {total} blocks of {block:,} bytes "
            f"({used} in use, {free} free)"
        )
        _time(NOW, path, 1)  # warm the page cache, as a restart finds it
        results = {
            name: _time(script, path, args.runs)
            for name, script in (("before", BEFORE), ("now", NOW))
        }
    print(f"{'':8} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, times in results.items():
        print(f"{name:8} {statistics.median(times):9.3f} {min(times):7.3f} {max(times):7.3f}")
    medians = {f"{name}_s": round(statistics.median(t), 3) for name, t in results.items()}
    print(json.dumps({"battles": battles, "bytes": size, "runs": args.runs, **medians}))


if __name__ == "__main__":
    main()
