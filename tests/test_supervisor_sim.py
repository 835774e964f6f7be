"""The supervisor benchmark: the replayed window of the legacy log, and a tiny real run."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from analytics.data import LEGACY_CSV as CSV
from app.core.registry import load_registry
from benchmark.supervisor_sim import load_battles, main, percentile


def test_window_of_the_legacy_log() -> None:
    battles = load_battles(CSV, load_registry(), 0, 600, speedup=60, gap_cap_s=90)
    assert 500 < len(battles) < 564  # the re-rendered duplicates are dropped
    arrivals = [b.arrival_s for b in battles]
    assert arrivals[0] == 0 and arrivals == sorted(arrivals)
    assert max(b - a for a, b in itertools.pairwise(arrivals)) <= 1.5 + 1e-9
    registry = load_registry()
    for b in battles:  # the models say which language; both are in the registry
        assert registry.contender(b.multisynt).language == b.language
        assert registry.contender(b.hplt).family == "hplt"
    window = load_battles(CSV, registry, 180, 10, speedup=60, gap_cap_s=90)
    assert [b.index for b in window] == list(range(180, 190))


def test_percentile() -> None:
    assert percentile([1, 2, 3, 4, 5], 0.5) == 3
    assert percentile([0, 10], 0.95) == pytest.approx(9.5)


@pytest.mark.slow
def test_a_tiny_replay_through_the_real_supervisor(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    args = ["--start", "181", "--battles", "3", "--warm-up", "1", "--speedup", "600"]
    assert main([*args, "--policies", "policy", "--out", str(out)]) == 0
    result = json.loads(out.read_text())["policy"]
    assert result["battles"] == 3 and result["errors"] == 0
    assert result["launches"] >= 0 and result["overhead_max_s"] < 2.0
    assert sum(result["variants"].values()) == 3
