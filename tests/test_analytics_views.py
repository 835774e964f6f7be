"""The analysts' views on a fixture log whose numbers are known by hand, the dashboard
queries and filters, and agreement between the SQL views and the pandas summaries."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics import queries, summaries
from analytics.dashboard import load_dashboard
from analytics.queries import Filters
from app.core.store import BattleStore
from app.core.store.analytics_views import VIEW_NAMES
from app.core.store.migrations import applied_migrations
from tests.analytics_helpers import fill_fixture


@pytest.fixture
def con(db_path: Path):  # type: ignore[no-untyped-def]
    fill_fixture(db_path)
    con = duckdb.connect(str(db_path), read_only=True)
    yield con
    con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_views_exist_and_come_from_a_migration(con: duckdb.DuckDBPyConnection) -> None:
    assert "m004_analytics_views" in applied_migrations(con)
    found = {
        r[0]
        for r in rows(
            con, "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics'"
        )
    }
    assert found == set(VIEW_NAMES)


def test_only_voted_completed_battles_count(con: duckdb.DuckDBPyConnection) -> None:
    ids = {r[0] for r in rows(con, "SELECT battle_id FROM analytics.voted_battles")}
    assert len(ids) == 12 and not ids & {"x1", "x2"}
    assert rows(con, "SELECT count(*) FROM analytics.sides") == [(24,)]


def test_sides_view_has_one_row_per_side_with_its_outcome(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT side, position, family, outcome FROM analytics.sides "
        "WHERE battle_id = 's3' ORDER BY side",
    )  # MultiSynt on the right won
    assert got == [("a", "left", "hplt", "loss"), ("b", "right", "multisynt", "win")]


def test_win_rates_by_language(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT language, family, battles, wins, losses, ties, both_bad, round(win_rate, 4) "
        "FROM analytics.win_rates_by_language ORDER BY language, family",
    )
    assert got == [
        ("fin", "hplt", 2, 0, 1, 1, 0, 0.0),
        ("fin", "multisynt", 2, 1, 0, 1, 0, 1.0),
        ("mul", "hplt", 1, 1, 0, 0, 0, 1.0),
        ("mul", "multisynt", 1, 0, 1, 0, 0, 0.0),
        ("swe", "hplt", 9, 3, 4, 1, 1, 0.4286),
        ("swe", "multisynt", 9, 4, 3, 1, 1, 0.5714),
    ]
    low, high = rows(
        con,
        "SELECT ci_low, ci_high FROM analytics.win_rates_by_language "
        "WHERE language = 'swe' AND family = 'multisynt'",
    )[0]
    assert (round(low, 4), round(high, 4)) == (0.2505, 0.8418)  # Wilson, 4 of 7


def test_variants_against_hplt(con: duckdb.DuckDBPyConnection) -> None:
    overall = rows(
        con,
        "SELECT variant, battles, multisynt_wins, hplt_wins, ties, both_bad "
        "FROM analytics.win_rates_by_variant",
    )
    # The multilingual experiment is not an HPLT comparison: left out of the pooled rows.
    assert overall == [("opus", 3, 1, 2, 0, 0), ("tower9b", 8, 4, 1, 2, 1)]
    by_language = rows(
        con,
        "SELECT language, variant, battles, multisynt_wins, hplt_wins "
        "FROM analytics.win_rates_by_language_variant",
    )
    assert by_language == [
        ("fin", "tower9b", 2, 1, 0),
        ("mul", "tower9b", 1, 0, 1),
        ("swe", "opus", 3, 1, 2),
        ("swe", "tower9b", 6, 3, 1),
    ]


def test_position_bias_views(con: duckdb.DuckDBPyConnection) -> None:
    # Left wins: s1, s2, s4 (HPLT left), f1, m1 (reference left). Right wins: s3, o1, o2, o3.
    assert rows(
        con, "SELECT battles, left_wins, right_wins, ties, both_bad FROM analytics.position_bias"
    ) == [(12, 5, 4, 2, 1)]
    assert rows(
        con,
        "SELECT language, left_wins, right_wins FROM analytics.position_bias_by_language",
    ) == [("fin", 1, 0), ("mul", 1, 0), ("swe", 3, 4)]


def test_votes_per_day(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(
        con, "SELECT vote_date, language, source, votes, ties FROM analytics.votes_per_day"
    ) == [
        (date(2026, 3, 2), "swe", "arena", 9, 1),
        (date(2026, 3, 3), "fin", "arena", 1, 1),
        (date(2026, 3, 3), "fin", "legacy", 1, 0),
        (date(2026, 3, 4), "mul", "arena", 1, 0),
    ]


def test_pandas_summaries_agree_with_the_views(con: duckdb.DuckDBPyConnection) -> None:
    counts = queries.pair_counts(con)
    by_language = summaries.win_rates_by_language(counts).set_index("language")
    view = con.execute(
        "SELECT language, wins, losses, ties, both_bad, win_rate, ci_low, ci_high "
        "FROM analytics.win_rates_by_language WHERE family = 'multisynt'"
    ).df()
    for _, v in view.iterrows():
        s = by_language.loc[v["language"]]
        assert (s["multisynt_wins"], s["hplt_wins"], s["ties"], s["both_bad"]) == (
            v["wins"],
            v["losses"],
            v["ties"],
            v["both_bad"],
        )
        assert s["ci_low"] == pytest.approx(v["ci_low"]) and s["ci_high"] == pytest.approx(
            v["ci_high"]
        )
    variants = summaries.win_rates_by_variant(counts).set_index("variant")
    view = con.execute("SELECT * FROM analytics.win_rates_by_variant").df().set_index("variant")
    assert variants["multisynt_wins"].to_dict() == view["multisynt_wins"].to_dict()
    assert variants["ci_low"].tolist() == pytest.approx(view["multisynt_ci_low"].tolist())
    position = summaries.position_bias_by_language(counts).set_index("language")
    view = con.execute("SELECT * FROM analytics.position_bias").df().iloc[0]
    assert position.loc["all", "left_wins"] == view["left_wins"]
    assert position.loc["all", "ci_high"] == pytest.approx(view["left_ci_high"])


def test_filters_select_language_dates_and_source(con: duckdb.DuckDBPyConnection) -> None:
    def total(f: Filters) -> int:
        return int(queries.pair_counts(con, f)["n"].sum())

    assert total(Filters()) == 12
    assert total(Filters(languages=("fin",))) == 2
    assert total(Filters(sources=("legacy",))) == 1
    assert total(Filters(sources=())) == 0
    assert total(Filters(start=date(2026, 3, 3))) == 3
    assert total(Filters(end=date(2026, 3, 2))) == 9
    assert total(Filters(languages=("fin",), sources=("arena",), start=date(2026, 3, 3))) == 1
    assert total(Filters(exclude_flags=("identity_tell",))) == 11
    assert total(Filters(exclude_flags=("vote_burst",))) == 12
    assert queries.known_flags(con) == ["identity_tell"]
    days = queries.votes_per_day(con, Filters(languages=("fin",)))
    assert days["votes"].tolist() == [1, 1] and set(days["source"]) == {"arena", "legacy"}


def test_downloads_hold_the_filtered_battles_without_private_columns(
    con: duckdb.DuckDBPyConnection,
) -> None:
    csv_bytes = queries.export_filtered(con, Filters(languages=("swe",)), "csv")
    frame = pd.read_csv(io.BytesIO(csv_bytes))
    assert sorted(frame["battle_id"]) == ["o1", "o2", "o3", "s1", "s2", "s3", "s4", "s5", "s6"]
    assert "session_hash" not in frame.columns and "flags" in frame.columns
    parquet = queries.export_filtered(con, Filters(sources=("legacy",)), "parquet")
    assert parquet[:4] == b"PAR1"
    back = duckdb.sql("SELECT battle_id FROM read_parquet(?)", params=[_tmp_write(parquet)])
    assert back.fetchall() == [("f1",)]
    default = Filters(languages=("swe",), exclude_flags=queries.UNTRUSTED_FLAGS)
    assert queries.export_filename(default, "csv") == "battles_swe.csv"
    everything = Filters(languages=("swe",))
    assert queries.export_filename(everything, "csv") == "battles_swe_with-flagged.csv"


def _tmp_write(payload: bytes) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".parquet", delete=False) as f:
        f.write(payload)
    return f.name


def test_change_marker_moves_only_with_a_vote(db_path: Path) -> None:
    fill_fixture(db_path)
    with BattleStore(db_path) as store:
        before = store.read(queries.change_marker)
        assert before[0] == 12
        assert store.read(queries.change_marker) == before
        store.record_vote_sync("x2", "tie")
        after = store.read(queries.change_marker)
        assert after[0] == 13 and after[1] > before[1]
        data = store.read(lambda c: load_dashboard(c, Filters(), rounds=50))
    assert data.matched_votes == 13 and data.marker == after
    assert set(data.ratings["language"]) == {"fin", "mul", "swe"}
    assert any("too few" in w for w in data.warnings())
