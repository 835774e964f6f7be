"""The sampling simulation: its truth from the legacy log, its runs, and its command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from analytics.verdicts import Cell, Summary, pool
from app.arena.vote_allocation import AllocationPolicy, cell_done
from app.core.registry import load_registry
from benchmark.sampling_sim import Config, run_language, true_shares

REGISTRY = load_registry()
SWEDISH = REGISTRY.language("swe")
KEYS = {"votes_balanced", "votes_active", "saving", "seeds", "target_width"}


def summary_of(cells: list[Cell]) -> Summary:
    overall = pool(cells, [1.0] * len(cells))
    return Summary(overall, {}, [], [], cells)


def test_true_shares_shrink_small_cells_toward_their_language_and_the_pool() -> None:
    cells = [
        Cell("swe", "tower9b", wins=30, losses=70),  # 100 votes: barely moved
        Cell("swe", "opus", wins=1, losses=0),  # one vote: mostly the language's
        Cell("dan", "opus", wins=10, losses=10),
    ]
    truth = true_shares(summary_of(cells), REGISTRY, prior_votes=10)
    pooled = (0.3 + 1.0 + 0.5) / 3
    swe = (31 + 10 * pooled) / (101 + 10)
    assert truth["swe"][SWEDISH.multisynt[0].model_id] == pytest.approx((30 + 10 * swe) / 110)
    assert truth["swe"][SWEDISH.multisynt[2].model_id] == pytest.approx((1 + 10 * swe) / 11)
    assert truth["swe"][SWEDISH.multisynt[1].model_id] == pytest.approx(swe)  # no votes
    por = REGISTRY.language("por").multisynt[0].model_id
    assert truth["por"][por] == pytest.approx(pooled)  # a language without votes
    assert set(truth) == set(REGISTRY.languages)


def test_a_language_runs_until_every_cell_is_done_and_active_spends_fewer() -> None:
    t9, t72, opus = (v.model_id for v in SWEDISH.multisynt)
    truth = {t9: 0.2, t72: 0.5, opus: 0.25}  # two clear cells and a close one
    rule = AllocationPolicy()
    spent = {"balanced": 0, "active": 0}
    for seed in range(5):
        for policy in spent:
            run = run_language(SWEDISH, truth, policy, seed, Config())
            assert all(cell_done((c.wins, c.losses), rule) for c in run.cells)
            assert sum(c.wins + c.losses for c in run.cells) == run.votes
            spent[policy] += run.votes
    assert spent["active"] < 0.8 * spent["balanced"]


def test_active_carried_on_to_a_budget_keeps_voting() -> None:
    truth = {v.model_id: 0.2 for v in SWEDISH.multisynt}
    run = run_language(SWEDISH, truth, "active", 0, Config(), budget=500)
    assert sum(c.wins + c.losses for c in run.later) == 500 > run.votes


@pytest.mark.slow
def test_the_command_prints_the_votes_of_both_policies_as_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.sampling_sim", "--seeds", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) >= KEYS and result["seeds"] == 4
    assert 0 < result["votes_active"] < result["votes_balanced"]
    assert result["saving"] == pytest.approx(
        1 - result["votes_active"] / result["votes_balanced"], abs=1e-4
    )
    assert "seed 4/4" in done.stderr
