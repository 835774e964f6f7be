"""The pooled verdicts (analytics/verdicts.py) and `oellm-arena summary`.

- On simulated logs with a known truth, the 95% intervals of the pooled verdicts cover the
  true language-averaged share >= 93% of the time over seeds (the overall verdict, each
  translation system, a language, and the systems against each other); pooling every
  decisive vote into one Wilson interval, which the nesting in languages makes wrong,
  covers far less.
- Each language weighs the same; the multilingual experiment never enters the pool; one
  cell's verdict is exactly the tables' Wilson interval.
- Votes still needed: zero once decided, unknown with too few votes, and enough: votes
  added at the current estimate bring the interval off parity.
- The command prints the same numbers as the computation, as JSON and as a table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analytics import queries
from analytics.data import LEGACY_CSV
from analytics.summaries import win_rates_by_variant
from analytics.synthetic import counts_from, synthetic_battles
from analytics.verdicts import Cell, language_weights, pool, summarise
from app.cli import main
from app.core.proportions import POWER_Z, wilson_interval
from app.core.store import BattleStore
from tests.analytics_helpers import imported

SEEDS = 400


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def legacy_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return imported(LEGACY_CSV, tmp_path_factory.mktemp("verdicts") / "arena.duckdb")


@pytest.fixture(scope="module")
def legacy_counts(legacy_db: Path) -> pd.DataFrame:
    filters = queries.Filters(exclude_flags=queries.UNTRUSTED_FLAGS)
    with BattleStore(legacy_db) as store:
        return store.read(lambda c: queries.pair_counts(c, filters))


def counts(*cells: tuple[str, str, int, int]) -> pd.DataFrame:
    """pair_counts rows for (language, system, MultiSynt wins, HPLT wins), MultiSynt left."""
    rows = []
    for language, system, wins, losses in cells:
        for winner, n in (("model_a", wins), ("model_b", losses)):
            if n:
                rows.append(
                    {
                        "language": language,
                        "model_a": f"ms-{language}-{system}",
                        "model_b": f"hplt-{language}",
                        "family_a": "multisynt",
                        "family_b": "hplt",
                        "variant_a": system,
                        "variant_b": None,
                        "winner": winner,
                        "n": n,
                    }
                )
    return pd.DataFrame(rows)


def covers(low: float, high: float, truth: float) -> bool:
    return low <= truth <= high


@pytest.mark.slow
def test_pooled_intervals_cover_the_simulated_truth() -> None:
    hits = {"overall": 0, "opus": 0, "tower9b": 0, "swe": 0, "one_wilson": 0, "differences": 0}
    compared = 0
    for seed in range(SEEDS):
        log = synthetic_battles(3000, seed=seed, failed_rate=0.0, unvoted_rate=0.0)
        summary = summarise(counts_from(log.battles))
        pooled = [c for c in summary.cells if c.language != "mul" and c.decisive]
        weights = language_weights(pooled)
        truth = sum(
            w * log.true_share[(c.language, c.system)] for c, w in zip(pooled, weights, strict=True)
        )
        truth /= sum(weights)
        o = summary.overall
        hits["overall"] += covers(o.ci_low, o.ci_high, truth)
        for system in ("opus", "tower9b"):
            mine = [c for c in pooled if c.system == system]
            true = float(np.mean([log.true_share[(c.language, system)] for c in mine]))
            v = summary.systems[system]
            hits[system] += covers(v.ci_low, v.ci_high, true)
        swe = next(lv for lv in summary.languages if lv.language == "swe").overall
        true_swe = np.mean(
            [log.true_share[("swe", c.system)] for c in pooled if c.language == "swe"]
        )
        hits["swe"] += covers(swe.ci_low, swe.ci_high, float(true_swe))
        for d in summary.differences:  # systems against each other, where both have votes
            if d.verdict != "too_few":
                true_d = np.mean(
                    [log.true_share[(g, d.a)] - log.true_share[(g, d.b)] for g in d.languages]
                )
                hits["differences"] += covers(d.ci_low, d.ci_high, float(true_d))
                compared += 1
        # Every decisive vote in one Wilson interval: the busy languages outvote the rest.
        low, high = wilson_interval(sum(c.wins for c in pooled), sum(c.decisive for c in pooled))
        hits["one_wilson"] += covers(float(low), float(high), truth)
    coverage = {k: v / SEEDS for k, v in hits.items()}
    coverage["differences"] = hits["differences"] / compared
    for name in ("overall", "opus", "tower9b", "swe", "differences"):
        assert coverage[name] >= 0.93, coverage
    assert coverage["one_wilson"] < 0.8, coverage


def test_each_language_weighs_the_same() -> None:
    # A busy language at 30% and a quiet one at 70%: the verdict is about the languages.
    summary = summarise(counts(("swe", "opus", 300, 700), ("isl", "opus", 7, 3)))
    assert summary.overall.win_rate == pytest.approx(0.5)
    assert summary.overall.verdict == "open"
    assert summary.overall.languages == ("isl", "swe")
    # Within a language, each system weighs the same.
    swe = summarise(counts(("swe", "opus", 90, 10), ("swe", "tower9b", 1, 9))).languages[0]
    assert swe.overall.win_rate == pytest.approx(0.5)


def test_the_multilingual_experiment_stays_apart() -> None:
    base = counts(("swe", "opus", 30, 70), ("dan", "opus", 40, 60))
    with_mul = pd.concat([base, counts(("mul", "tower9b", 500, 0))], ignore_index=True)
    a, b = summarise(base), summarise(with_mul)
    assert a.overall == b.overall
    assert a.systems == b.systems
    mul = next(lv for lv in b.languages if lv.language == "mul")
    assert not mul.pooled and mul.overall.verdict == "multisynt"


def test_one_cell_is_the_tables_wilson_interval(legacy_counts: pd.DataFrame) -> None:
    summary = summarise(legacy_counts)
    table = win_rates_by_variant(legacy_counts, by_language=True)
    assert len(table) == len(summary.cells) > 20
    by_key = {(lv.language, s): v for lv in summary.languages for s, v in lv.systems.items()}
    for row in table.itertuples():
        v = by_key[(row.language, row.variant)]
        assert v.decisive == row.decisive
        if row.decisive:
            assert (v.win_rate, v.ci_low, v.ci_high) == pytest.approx(
                (row.win_rate, row.ci_low, row.ci_high)
            )


def test_the_legacy_answer(legacy_counts: pd.DataFrame) -> None:
    summary = summarise(legacy_counts)
    o = summary.overall
    assert o.decisive == sum(c.decisive for c in summary.cells if c.language != "mul")
    assert "mul" not in o.languages and len(o.languages) == 12
    assert o.ci_low < o.win_rate < o.ci_high < 0.5  # HPLT is more fluent on the old log
    assert o.verdict == "hplt" and o.votes_needed == 0
    elo, low, high = o.elo
    assert low < elo < high < 0
    assert set(summary.systems) == {"opus", "tower9b", "tower72b"}
    assert {(d.a, d.b) for d in summary.differences} == {
        ("opus", "tower72b"),
        ("opus", "tower9b"),
        ("tower72b", "tower9b"),
    }


def test_votes_needed() -> None:
    decided = pool([Cell("swe", "opus", 80, 20)], [1.0])
    assert decided.verdict == "multisynt" and decided.votes_needed == 0
    few = pool([Cell("swe", "opus", 2, 1)], [1.0])
    assert few.verdict == "too_few" and few.votes_needed is None
    parity = pool([Cell("swe", "opus", 10, 10)], [1.0])
    assert parity.verdict == "open" and parity.votes_needed is None
    # At 60% of 40 decisive votes the interval holds parity; with the votes said to be
    # needed, at the same share, the estimate is POWER_Z standard errors from parity and
    # the interval excludes it.
    open_ = pool([Cell("swe", "opus", 24, 16)], [1.0])
    assert open_.verdict == "open" and open_.votes_needed is not None
    n = 40 + open_.votes_needed
    assert n > 40
    low, _ = wilson_interval(0.6 * n, n)
    assert low > 0.5
    assert 0.1 / math.sqrt(open_.variance * 40 / n) == pytest.approx(POWER_Z, rel=0.05)
    # Pooled: the votes needed scale the variance of every cell alike.
    pooled = pool([Cell("swe", "opus", 12, 8), Cell("dan", "opus", 12, 8)], [1.0, 1.0])
    assert pooled.votes_needed == pytest.approx(open_.votes_needed, abs=2)


def test_systems_against_each_other() -> None:
    summary = summarise(
        counts(
            ("swe", "opus", 70, 30),
            ("swe", "tower9b", 30, 70),
            ("dan", "opus", 60, 40),
            ("dan", "tower9b", 40, 60),
            ("fin", "tower9b", 50, 0),  # no opus there: not in the comparison
        )
    )
    (d,) = summary.differences
    assert (d.a, d.b, d.languages) == ("opus", "tower9b", ("dan", "swe"))
    assert d.difference == pytest.approx(0.3)
    assert d.ci_low > 0 and d.verdict == "a" and d.votes_needed == 0


def test_counts_from_matches_the_database(tmp_path: Path) -> None:
    log = synthetic_battles(2000, seed=3)
    with BattleStore(tmp_path / "arena.duckdb") as store:
        store.append_frame_sync(log.battles)
        from_db = store.read(queries.pair_counts)
    assert summarise(counts_from(log.battles)).to_dict() == summarise(from_db).to_dict()


def test_summary_command(legacy_db: Path, legacy_counts: pd.DataFrame) -> None:
    code, output = invoke("summary", "--format", "json", "--db", str(legacy_db))
    assert code == 0, output
    printed = json.loads(output)
    assert printed == json.loads(json.dumps(summarise(legacy_counts).to_dict()))
    assert set(printed) == {"overall", "systems", "system_differences", "languages"}
    for entry in [printed["overall"], *printed["systems"], *printed["languages"]]:
        assert {"win_rate", "ci_low", "ci_high", "decisive", "votes_needed"} <= set(entry)
    assert [s["system"] for s in printed["systems"]] == ["opus", "tower72b", "tower9b"]
    code, table = invoke("summary", "--db", str(legacy_db))
    assert code == 0, table
    overall = summarise(legacy_counts).overall
    assert f"{100 * overall.win_rate:.1f}%" in table.splitlines()[3]
    assert "HPLT more fluent" in table.splitlines()[3]
    # --include-flagged counts the flagged battles too (the legacy log has 4).
    code, flagged = invoke(
        "summary", "--format", "json", "--db", str(legacy_db), "--include-flagged"
    )
    assert code == 0 and json.loads(flagged)["overall"]["votes"] >= printed["overall"]["votes"]


def test_summary_of_nothing(tmp_path: Path) -> None:
    with BattleStore(tmp_path / "empty.duckdb"):
        pass
    code, output = invoke("summary", "--db", str(tmp_path / "empty.duckdb"))
    assert code == 0 and "No voted" in output
    code, output = invoke("summary", "--format", "json", "--db", str(tmp_path / "empty.duckdb"))
    assert json.loads(output)["overall"]["verdict"] == "too_few"


def test_the_page_shows_the_numbers_the_command_prints(legacy_db: Path) -> None:
    from analytics.dashboard import load_dashboard

    code, output = invoke("summary", "--format", "json", "--db", str(legacy_db))
    assert code == 0, output
    printed = json.loads(output)
    filters = queries.Filters(exclude_flags=queries.UNTRUSTED_FLAGS)  # both's default
    with BattleStore(legacy_db) as store:
        page = store.read(lambda c: load_dashboard(c, filters, rounds=10))
    assert json.loads(json.dumps(page.summary.to_dict())) == printed
    overall = page.win_overall.iloc[0]
    assert (overall["win_rate"], overall["ci_low"], overall["ci_high"]) == pytest.approx(
        (
            printed["overall"]["win_rate"],
            printed["overall"]["ci_low"],
            printed["overall"]["ci_high"],
        ),
        abs=1e-4,
    )
    systems = page.win_by_variant.set_index("variant")
    for entry in printed["systems"]:
        row = systems.loc[entry["system"]]
        assert row["win_rate"] == pytest.approx(entry["win_rate"], abs=1e-4)
        assert row["decisive"] == entry["decisive"]
        assert row["votes_needed"] == entry["votes_needed"] or (
            entry["votes_needed"] is None and pd.isna(row["votes_needed"])
        )
    languages = page.win_by_language.set_index("language")
    for entry in printed["languages"]:
        assert languages.loc[entry["language"], "ci_high"] == pytest.approx(
            entry["ci_high"], abs=1e-4
        )
