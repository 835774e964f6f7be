"""The dashboard says the same thing the same way whatever the data (no browser needed).

- Each outcome keeps one colour (`analytics.palette`) in every chart, for two different
  data sets and in any interface language.
- An interval that cannot honestly be computed (too few decisive votes, or no width: a
  bootstrap of one decisive vote resamples that vote every time) is never drawn and never
  printed: the charts draw the estimate alone, the tables and the answer block say "too
  few votes".
- The votes-per-day axis counts days, labelled as dates, even for a single day of votes.
- The answer block (MultiSynt against HPLT, overall and per translation system) gives the
  pooled rate, its interval, its votes and what the interval says, escaped.
"""

from __future__ import annotations

from dataclasses import replace

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from bokeh.models import (
    CategoricalColorMapper,
    DatetimeTicker,
    DaysTicker,
    MonthsTicker,
    Whisker,
    YearsTicker,
)

from analytics import charts
from analytics.dashboard import DashboardData, load_dashboard
from analytics.palette import OUTCOME_COLORS, OUTCOMES
from analytics.queries import Filters
from analytics.stats import interval_known
from analytics.summaries import verdict
from analytics.synthetic import synthetic_battles
from analytics.verdicts import summarise
from app.core.i18n import load_catalogue
from app.core.store import BattleStore
from app.web.pages import leaderboard_view as page
from tests.analytics_helpers import SAMPLE_CSV, imported

CATALOGUE = load_catalogue()
ENG = CATALOGUE.translator("eng")
SWE = CATALOGUE.translator("swe")


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> DashboardData:
    """The legacy sample, imported as `oellm-arena import-legacy` does."""
    db = imported(SAMPLE_CSV, tmp_path_factory.mktemp("legacy") / "arena.duckdb")
    with BattleStore(db) as store:
        return store.read(lambda c: load_dashboard(c, Filters(), rounds=100))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> DashboardData:
    """A synthetic log (analytics/synthetic.py): other languages, counts and outcomes."""
    db = tmp_path_factory.mktemp("synthetic") / "arena.duckdb"
    with BattleStore(db) as store:
        store.append_frame_sync(synthetic_battles(3000, seed=5).battles)
        return store.read(lambda c: load_dashboard(c, Filters(), rounds=100))


def rendered(plot: hv.Element):  # type: ignore[no-untyped-def]
    return hv.render(plot, backend="bokeh")


def _label(label: object) -> str | None:
    if isinstance(label, dict):
        return label.get("value")
    return getattr(label, "value", None) if not hasattr(label, "field") else None


def drawn_colours(figure) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The fill colour of each category a rendered chart draws, however Bokeh was told:
    a colour mapper over a column, or one renderer per category named in the legend."""
    colours: dict[str, str] = {}
    for renderer in figure.renderers:
        fill = getattr(getattr(renderer, "glyph", None), "fill_color", None)
        mapper = getattr(fill, "transform", None)
        if isinstance(mapper, CategoricalColorMapper):
            drawn = set(renderer.data_source.data[fill.field])
            for k, factor in enumerate(mapper.factors):
                if factor in drawn:
                    colours[factor] = mapper.palette[k % len(mapper.palette)]
    for legend in figure.legend:
        for item in legend.items:
            name = _label(item.label)
            if name is not None and item.renderers:
                colours[name] = item.renderers[0].glyph.fill_color
    return {name: str(colour).upper() for name, colour in colours.items()}


def test_each_outcome_keeps_its_colour_whatever_the_data(
    legacy: DashboardData, synthetic: DashboardData
) -> None:
    words = {code: ENG(charts.OUTCOME_KEYS[code]) for code in OUTCOMES}
    expected = {words[code]: OUTCOME_COLORS[code].upper() for code in OUTCOMES}
    first = drawn_colours(rendered(charts.votes_by_language(legacy.by_language)))
    second = drawn_colours(rendered(charts.votes_by_language(synthetic.by_language)))
    # The two data sets differ in the outcomes they hold (the sample has no "both bad"),
    # which is what shifted the colours when a chart handed them out in order.
    assert set(first) != set(second)
    assert len(set(first) & set(second)) >= 3
    assert first == {k: expected[k] for k in first}
    assert second == {k: expected[k] for k in second}
    # In another interface language, the same colours for the same outcomes.
    swedish = drawn_colours(rendered(charts.votes_by_language(synthetic.by_language, SWE)))
    assert {SWE(charts.OUTCOME_KEYS[c]): OUTCOME_COLORS[c].upper() for c in OUTCOMES} == swedish


def test_an_interval_needs_enough_decisive_votes_and_a_width() -> None:
    known = interval_known(
        np.array([30, 4, 5, 5, 12, 0]),
        np.array([0.4, 0.1, 0.3, 818.9, np.nan, np.nan]),
        np.array([0.6, 0.9, 0.8, 818.9, 0.5, np.nan]),
    )
    assert known.tolist() == [True, False, True, False, False, False]


def test_no_zero_width_interval_is_drawn_or_printed(legacy: DashboardData) -> None:
    ratings = legacy.ratings
    # The case that read as certainty: one side won every one of its few decisive votes,
    # and the bootstrap gave an interval of no width.
    flat = ratings[(ratings["ci_low"] == ratings["ci_high"]) & ~ratings["reference"]]
    assert len(flat), "the sample should hold a zero-width interval for this test to mean much"
    figure = rendered(charts.ratings(ratings))
    whiskers = [m for m in figure.center if isinstance(m, Whisker)]
    for whisker in whiskers:
        data = whisker.source.data
        assert all(hi - lo > 0 for lo, hi in zip(data["lower"], data["upper"], strict=True))
    drawn = {label for w in whiskers for label in w.source.data["base"]}
    flat_labels = set(flat["language"] + " · " + flat["variant"].fillna("HPLT"))
    assert drawn.isdisjoint(flat_labels)
    # Drawn as an open circle instead, its hover saying why.
    points = next(r for r in figure.renderers if type(r.glyph).__name__ == "Scatter")
    source = points.data_source.data
    fills = dict(zip(source["model_label"], source.get("fill", []), strict=False))
    intervals = dict(zip(source["model_label"], source["interval"], strict=True))
    for label in flat_labels:
        assert intervals[label] == "too few votes"
        assert fills.get(label, points.glyph.fill_color) == "white"

    table = page.ratings_table(ENG, legacy).set_index("model")
    for model in flat["model"]:
        assert table.loc[model, "interval"] == "too few votes"
    references = ratings.loc[ratings["reference"], "model"]
    assert set(table.loc[list(references), "interval"]) == {"reference"}
    assert set(
        page.ratings_table(SWE, legacy).set_index("model").loc[flat["model"], "interval"]
    ) == {"för få röster"}
    # The win-rate tables and charts follow the same rule.
    wins = page.win_table(ENG, legacy)
    few = wins["decisive"] < 5
    assert few.any() and (wins.loc[few, "interval"] == "too few votes").all()
    figure = rendered(charts.win_rate_by_language(legacy.win_by_language))
    assert all(len(w.source.data["base"]) == 0 for w in figure.center if isinstance(w, Whisker))


def test_an_interval_that_can_be_computed_is_drawn_and_printed(legacy: DashboardData) -> None:
    variants = legacy.win_by_variant.set_index("variant")
    assert variants.loc["tower9b", "decisive"] >= 5 > variants.loc["opus", "decisive"]
    figure = rendered(charts.win_rate_by_variant(legacy.win_by_variant))
    (whisker,) = [m for m in figure.center if isinstance(m, Whisker)]
    assert list(whisker.source.data["base"]) == ["tower9b"]
    low, high = variants.loc["tower9b", ["ci_low", "ci_high"]]
    assert list(whisker.source.data["lower"]) == [low]
    assert list(whisker.source.data["upper"]) == [high]
    assert page.answer_html(ENG, legacy).count("95% interval") == 2  # overall and tower9b


def test_the_time_axis_counts_days_even_for_one_day_of_votes() -> None:
    one_day = pd.DataFrame(
        {"vote_date": [pd.Timestamp("2026-03-02").date()], "source": ["arena"], "votes": [7]}
    )
    figure = rendered(charts.votes_over_time(one_day))
    axis = figure.xaxis[0]
    for scale in ("milliseconds", "seconds", "minsec", "minutes", "hourmin", "hours", "days"):
        assert getattr(axis.formatter, scale) == "%Y-%m-%d", scale
    assert isinstance(axis.ticker, DatetimeTicker)
    assert all(isinstance(t, DaysTicker | MonthsTicker | YearsTicker) for t in axis.ticker.tickers)
    span = pd.Timestamp(figure.x_range.end) - pd.Timestamp(figure.x_range.start)
    assert span >= pd.Timedelta(days=2)


def test_verdicts_follow_the_interval() -> None:
    assert verdict(40, 0.55, 0.8) == "multisynt"
    assert verdict(40, 0.2, 0.45) == "hplt"
    assert verdict(40, 0.4, 0.6) == "open"
    assert verdict(3, 0.6, 0.99) == "too_few"
    assert verdict(0, float("nan"), float("nan")) == "too_few"


def test_the_answer_block_gives_the_pooled_rates_and_escapes_the_data(
    legacy: DashboardData,
) -> None:
    text = page.answer_html(ENG, legacy)
    overall = legacy.win_overall.iloc[0]
    assert overall["decisive"] == legacy.win_by_variant["decisive"].sum()
    # Each language weighs the same: eus 1/2, fin 1/3, nob 2/2 and swe (tower72b 1/1,
    # tower9b 1/2) average to 65%, where pooling the 10 votes would say 60%.
    assert "<b>All MultiSynt models</b>: 65% of 10 decisive votes" in text
    assert "95% interval 35% to 86%" in text and "11 votes in all" in text
    assert 'no clear difference yet</span> <span class="needed">· 79 more decisive' in text
    assert '<li data-verdict="too_few"><b>MultiSynt tower72b</b>: 100% of 1 decisive vote' in text
    assert text.index("All MultiSynt models") < text.index("MultiSynt opus")
    assert "By language (5)" in text and "<b>Multilingual experiment</b>" in text
    assert text.index("<b>Swedish</b>") < text.index("<b>Multilingual experiment</b>")
    swedish = page.answer_html(SWE, legacy)
    # Numbers as the locale writes them (Swedish: a no-break space before "%").
    assert "65\xa0% av 10 avgörande röster" in swedish and "för få röster" in swedish
    assert "79 avgörande röster till behövs" in swedish
    systems = legacy.summary.systems
    hostile = replace(legacy.summary, systems={"<script>x</script>": systems["tower9b"]})
    escaped = page.answer_html(ENG, replace(legacy, summary=hostile))
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped
    assert "Loading" in page.answer_html(ENG, None)
    # No votes (yet, or under these filters): the overall line says so, without a rate.
    nothing = page.answer_html(ENG, replace(legacy, summary=summarise(legacy.counts.iloc[0:0])))
    assert "<b>All MultiSynt models</b>: 0 votes in all: " in nothing
    assert 'data-verdict="too_few"' in nothing and "%" not in nothing


def test_the_votes_still_needed_are_in_the_table(legacy: DashboardData) -> None:
    wins = page.win_table(ENG, legacy).set_index(["language", "variant"])
    cells = {(lv.language, s): v for lv in legacy.summary.languages for s, v in lv.systems.items()}
    assert set(wins.index) == set(cells)
    for key, v in cells.items():
        needed = wins.loc[key, "needed"]
        if v.verdict == "too_few":
            assert needed == ""
        elif v.verdict == "open":
            assert needed == (f"{v.votes_needed} more decisive votes needed" if v.votes_needed
                              else "cannot be estimated yet")  # fmt: skip
        else:
            assert needed == "decided"
    assert "needed" in page.WIN_SHOWN


def test_the_tables_show_a_few_columns_and_every_one_on_demand() -> None:
    assert set(page.TABLE_SHOWN) < set(page.TABLE_COLUMNS)
    settings = page.grid_configuration(page.TABLE_COLUMNS, page.TABLE_SHOWN)["columns"]
    assert [c["field"] for c in settings] == list(page.TABLE_COLUMNS)  # every column, in order
    shown = [c["field"] for c in settings if c["visible"]]
    assert shown == list(page.TABLE_SHOWN)
    every = page.grid_configuration(page.WIN_COLUMNS, page.WIN_COLUMNS)["columns"]
    assert all(c["visible"] for c in every)
