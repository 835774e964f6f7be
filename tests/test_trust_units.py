"""Unit tests of the trust helpers: tells, battle limits, vote-rate anomalies."""

from __future__ import annotations

import pytest

from app.arena.blindness import find_tells, tells_pattern
from app.arena.rate_limit import BattleLimits, SlidingWindowLimiter
from app.arena.vote_anomaly import VoteRateTracker
from app.core.registry import load_registry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "tells"),
    [
        ("Denna modell tränades av HPLT-projektet.", ["hplt"]),
        ("I am MultiSynt, made with NVIDIA Nemotron data", ["multisynt", "nvidia", "nemotron"]),
        ("översatt med Tower-72B och opus-mt", ["tower-72b", "opus-mt"]),
        ("Ett magnum opus, ett högt torn (tower) vid havet.", []),
        ("hpltx and xhplt are not names", []),
        ("Läs mer på Hugging Face.", ["hugging face"]),
    ],
)
def test_tells_name_makers_not_common_words(text: str, tells: list[str]) -> None:
    assert find_tells(text) == tells


def test_registry_model_names_are_tells() -> None:
    pattern = tells_pattern(load_registry())
    assert find_tells("se hplt2c_swe_checkpoints för detaljer", pattern) == [
        "hplt2c_swe_checkpoints"
    ]
    assert find_tells("nemotron-cc-swedish-opus skrev detta", pattern)[0].startswith("nemotron")


def test_limiter_allows_the_limit_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=3, window_s=60, clock=clock)
    assert [limiter.check("s") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("s") == pytest.approx(60.0)
    assert limiter.check("other") == 0.0  # keys are independent
    clock.now += 30
    assert limiter.check("s") == pytest.approx(30.0)
    clock.now += 30.01
    assert limiter.check("s") == 0.0


def test_limiter_memory_is_pruned() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=1, window_s=10, clock=clock)
    for i in range(1000):
        limiter.check(f"k{i}")
    clock.now += 11
    limiter.check("new")
    assert len(limiter._events) == 1


def test_battle_limits_check_session_then_address() -> None:
    clock = Clock()
    limits = BattleLimits(
        per_session=SlidingWindowLimiter(2, 60, clock),
        per_address=SlidingWindowLimiter(3, 60, clock),
    )
    assert limits.wait("s1", "ip") == 0.0
    assert limits.wait("s1", "ip") == 0.0
    assert limits.wait("s1", "ip") == pytest.approx(60.0)  # the session's limit
    assert limits.wait("s2", "ip") == 0.0  # a new session on the same address ...
    assert limits.wait("s3", "ip") > 0.0  # ... until the address limit
    assert limits.wait("s4", None) == 0.0  # unknown address: session limit only


def test_a_burst_of_same_side_votes_is_an_anomaly() -> None:
    clock = Clock()
    tracker = VoteRateTracker(votes=4, within_s=20, clock=clock)
    assert [tracker.record("model_a") for _ in range(3)] == [False] * 3
    assert tracker.record("model_a") is True
    tracker2 = VoteRateTracker(votes=4, within_s=20, clock=clock)
    assert not any(tracker2.record(w) for w in ["model_a", "model_b", "model_a", "model_a"])
    tracker3 = VoteRateTracker(votes=3, within_s=20, clock=clock)
    for _ in range(2):
        tracker3.record("model_b")
        clock.now += 15
    assert tracker3.record("model_b") is False  # spread over 30 s: a human pace
    ties = VoteRateTracker(votes=2, clock=clock)
    assert not any(ties.record("tie") for _ in range(3))  # ties favour no side
