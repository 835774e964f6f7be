"""The `/leaderboard` page in another interface language, without a browser: chart
titles, axes and legends, per-row notes, flag names and table headers come out in the
voter's language, while the CLI's English and its JSON keys stay as they were."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import holoviews as hv
import pandas as pd
import pytest
from click.testing import CliRunner

from analytics import charts
from analytics.dashboard import DashboardData, load_dashboard
from analytics.queries import UNTRUSTED_FLAGS, Filters
from app.cli import main
from app.core.i18n import load_catalogue
from app.core.store import BattleStore
from app.web.pages import leaderboard_view as page
from tests.analytics_helpers import fill_fixture

CATALOGUE = load_catalogue()
SWE = CATALOGUE.translator("swe")
ENG = CATALOGUE.translator("eng")


@pytest.fixture
def data(db_path: Path) -> DashboardData:
    fill_fixture(db_path)
    with BattleStore(db_path) as store:
        return store.read(lambda c: load_dashboard(c, Filters(exclude_flags=()), rounds=50))


def rendered(plot: hv.Element):  # type: ignore[no-untyped-def]
    return hv.render(plot, backend="bokeh")


def tooltip_labels(figure) -> set[str]:  # type: ignore[no-untyped-def]
    return {
        label
        for tool in figure.tools
        if getattr(tool, "tooltips", None)
        for label, _ in tool.tooltips
    }


def test_chart_titles_axes_and_hover_follow_the_interface_language(data: DashboardData) -> None:
    plots = page.chart_objects(SWE, data, charts)
    # The page shows the titles as headings above the charts (they wrap on a phone,
    # where a title drawn into the canvas was cut), none in the canvas.
    assert {name: rendered(plot).title.text for name, plot in plots.items()} == dict.fromkeys(
        page.CHARTS, ""
    )
    assert page.chart_titles(SWE) == {
        "win_rate": "MultiSynt mot HPLT: vinstandel per språk (95 % KI)",
        "variants": "Varje MultiSynt-variant mot HPLT (95 % KI)",
        "ratings": "Rating per språk (1000 = språkets HPLT-modell, 95 % KI)",
        "position": "Positionseffekt: vänstra sidans andel av avgörande röster (95 % KI)",
        "over_time": "Röster per dag",
        "by_language": "Röster per språk och utfall",
    }
    win_rate = rendered(plots["win_rate"])
    assert win_rate.yaxis[0].axis_label == "MultiSynts vinstandel (avgörande röster)"
    assert win_rate.xaxis[0].axis_label == "Språk"
    assert {"Språk", "Avgörande", "95 % intervall"} <= tooltip_labels(win_rate)
    assert "decisive" not in tooltip_labels(win_rate)
    # The position chart's overall row and the legends' words are translated too.
    position = rendered(plots["position"])
    assert "Alla språk" in position.x_range.factors and "all" not in position.x_range.factors
    legend = {item.label["value"] for item in rendered(plots["over_time"]).legend[0].items}
    assert legend == {"Arenan", "Gamla arenan"}
    outcomes = set(plots["by_language"].dframe()["outcome"])
    assert rendered(plots["by_language"]).legend[0].items  # drawn with a legend
    assert outcomes == {"MultiSynt bättre", "HPLT bättre", "Lika bra", "Båda är dåliga"}


def test_an_empty_chart_says_so_in_the_interface_language() -> None:
    empty = charts.votes_over_time(pd.DataFrame(columns=["vote_date", "source", "votes"]), SWE)
    assert isinstance(empty, hv.Text) and empty.text == "Inga röster matchar filtren"


def test_charts_stay_english_by_default(data: DashboardData) -> None:
    assert rendered(charts.win_rate_by_language(data.win_by_language)).title.text == (
        "MultiSynt vs HPLT: win rate by language (95% CI)"
    )
    plot = charts.votes_by_language(data.by_language)
    assert set(plot.dframe()["outcome"]) == {
        "MultiSynt better",
        "HPLT better",
        "Tie",
        "Both are bad",
    }


def test_notes_and_table_headers_follow_the_interface_language(data: DashboardData) -> None:
    text = page.warnings_html(SWE, data)
    assert "<summary><span><b>För få röster för att dra slutsatser</b> (" in text
    # Finnish has one decisive vote: singular, with the language named in Swedish.
    assert "Vinstandel, Finska: bara 1 avgörande röst (färre än 30)" in text
    assert "Positionseffekt: bara " in text
    assert "decisive" not in text and "Win rate" not in text

    # The tables keep their column names; the grids show them under translated titles.
    ratings = page.ratings_table(SWE, data)
    assert tuple(ratings.columns) == page.TABLE_COLUMNS
    assert list(page.column_names(SWE, page.TABLE_COLUMNS).values()) == [
        "Språk", "Modell", "Rating", "95 % intervall", "Omgångar", "Anmärkning",
        "Vinster", "Förluster", "Lika", "Båda dåliga", "KI, nedre", "KI, övre",
    ]  # fmt: skip
    notes = set(ratings["warning"].dropna())
    assert notes and all(n.startswith(("bara ", "inga avgörande")) for n in notes), notes
    wins = page.win_table(SWE, data)
    assert tuple(wins.columns) == page.WIN_COLUMNS
    assert page.column_names(SWE, page.WIN_COLUMNS)["decisive"] == "Avgörande"
    assert all(n.startswith(("bara ", "inga avgörande")) for n in wins["warning"].dropna())
    # The data underneath is untouched: English notes for the CLI and the JSON.
    assert all("decisive" in w for w in data.ratings["warning"].dropna())


def test_flag_names_follow_the_interface_language() -> None:
    options = page.flag_options(SWE, [*UNTRUSTED_FLAGS, "prompt_unknown", "brand_new_flag"])
    assert options == {
        "En text nämnde en modell": "identity_tell",
        "Serie röster på samma sida": "vote_burst",
        "Gamla arenan: textens början okänd": "prompt_unknown",
        "brand_new_flag": "brand_new_flag",  # unknown to the catalogue: shown as stored
    }
    assert set(page.flag_options(ENG, UNTRUSTED_FLAGS)) == {
        "A text named a model",
        "Run of same-side votes",
    }


def test_the_vote_count_is_plural_aware(data: DashboardData) -> None:
    assert "<b>12 röster</b> matchar filtren" in page.summary_html(SWE, data)
    one = _with_votes(data, 1)
    assert "<b>1 vote</b> matches the filters" in page.summary_html(ENG, one)
    ron = CATALOGUE.translator("ron")
    twenty = page.summary_html(ron, _with_votes(data, 20))
    assert "<b>20 de voturi</b> corespund filtrelor" in twenty


def _with_votes(data: DashboardData, n: int) -> DashboardData:
    return replace(data, matched_votes=n)


def test_every_analytics_string_exists_in_every_interface_language() -> None:
    """The keys analytics and the page look up (a missing one would fall back to English)."""
    keys = {f"flag_{f}" for f in (*UNTRUSTED_FLAGS, "prompt_unknown", "language_mismatch",
                                  "conflicting_votes", "winner_source_mismatch")}  # fmt: skip
    keys |= set(charts.COLUMN_KEYS.values()) | set(charts.OUTCOME_KEYS.values())
    for code in CATALOGUE.strings:
        assert keys <= set(CATALOGUE.strings[code]), code


def test_the_cli_keeps_its_english_and_its_json_keys(db_path: Path) -> None:
    fill_fixture(db_path)
    result = CliRunner().invoke(main, ["leaderboard", "--format", "json", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    board = json.loads(result.output)
    rows = board if isinstance(board, list) else board["ratings"]
    assert set(rows[0]) == {
        "model", "language", "rating", "ci_low", "ci_high", "battles", "wins", "losses",
        "ties", "both_bad", "family", "variant", "reference", "warning",
    }  # fmt: skip
    assert any(r["warning"] == "only 1 decisive vote (fewer than 30): too few to conclude"
               for r in rows)  # fmt: skip
