"""The server lets the battle log's writer thread take the GIL back quickly, and the
benchmark that measures why runs and reports both intervals."""

from __future__ import annotations

import json
import sys

import pytest

from app.core.store.battle_store import WRITER_SWITCH_INTERVAL_S, share_gil_with_writer
from benchmark import store_contention


def test_share_gil_with_writer_sets_the_interval_and_returns_the_old_one() -> None:
    before = sys.getswitchinterval()
    try:
        assert share_gil_with_writer() == pytest.approx(before)
        assert sys.getswitchinterval() == pytest.approx(WRITER_SWITCH_INTERVAL_S)
        assert WRITER_SWITCH_INTERVAL_S < 0.005  # shorter than Python's default
    finally:
        sys.setswitchinterval(before)


def test_the_contention_benchmark_reports_both_intervals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = sys.getswitchinterval()
    assert store_contention.main(["--seconds", "0.3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["default"]["switch_interval_ms"] == pytest.approx(before * 1000)
    assert report["server"]["switch_interval_ms"] == pytest.approx(1.0)
    for side in ("default", "server"):
        assert report[side]["battles_per_s"] > 0
    assert sys.getswitchinterval() == pytest.approx(before)  # restored
