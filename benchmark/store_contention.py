"""How long the battle log's writer thread takes per battle while the event loop is busy.

The writer thread (`app/core/store/battle_store.py`) shares the GIL with the server's event
loop. This runs a writer (insert a battle, record its vote, as the arena does) against a
main thread that keeps the GIL busy in pure Python, like a loaded event loop, once with
Python's default switch interval and once with the one the server sets, side by side:

    uv run python -m benchmark.store_contention [--seconds 3]

It prints one JSON object: milliseconds per battle written for each interval, how much of
its speed the busy main thread kept, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from app.core.store.battle_store import WRITER_SWITCH_INTERVAL_S, BattleStore
from app.core.store.records import BattleRecord


def _battle(battle_id: str) -> BattleRecord:
    return BattleRecord(
        battle_id=battle_id,
        language="swe",
        prompt="Det var en gång",
        model_a="MultiSynt/nemotron-cc-swedish-tower9b",
        model_b="HPLT/hplt2c_swe_checkpoints",
        family_a="multisynt",
        family_b="hplt",
        response_a=" en katt som bodde i en kvarn." * 10,
        response_b=" en hund som sprang över ängen." * 10,
        variant_a="tower9b",
        ttft_ms_a=40.0,
        ttft_ms_b=38.0,
        duration_ms_a=3360.0,
        duration_ms_b=3370.0,
        tokens_a=112,
        tokens_b=112,
        finish_reason_a="length",
        finish_reason_b="length",
        max_new_tokens=112,
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
        repetition_penalty=1.2,
        seed=1,
        session_hash="0f0f",
        app_version="bench",
    )


def _spin(seconds: float) -> int:
    """Busy pure-Python work, as a loaded event loop: iterations done."""
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


def measure(store: BattleStore, seconds: float, interval_s: float) -> dict[str, float]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    try:
        alone = _spin(seconds)
        stop = threading.Event()
        written = 0

        def writer() -> None:
            nonlocal written
            while not stop.is_set():
                battle_id = uuid.uuid4().hex
                store.record_battle_sync(_battle(battle_id))
                store.record_vote_sync(battle_id, "tie")
                written += 1

        thread = threading.Thread(target=writer)
        thread.start()
        busy = _spin(seconds)
        stop.set()
        thread.join()
    finally:
        sys.setswitchinterval(previous)
    return {
        "switch_interval_ms": interval_s * 1000,
        "ms_per_battle": round(1000 * seconds / max(written, 1), 1),
        "battles_per_s": round(written / seconds, 1),
        "main_thread_speed_kept": round(busy / alone, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, BattleStore(Path(tmp) / "b.duckdb") as store:
        default = measure(store, args.seconds, sys.getswitchinterval())
        server = measure(store, args.seconds, WRITER_SWITCH_INTERVAL_S)
    ratio = round(default["ms_per_battle"] / server["ms_per_battle"], 1)
    print(json.dumps({"default": default, "server": server, "speedup": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
