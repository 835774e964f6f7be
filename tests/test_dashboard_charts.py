"""The dashboard's charts render to Bokeh, with data and with none (no browser needed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import holoviews as hv
import pytest

from analytics import charts
from analytics.dashboard import load_dashboard
from analytics.queries import Filters
from app.core.store import BattleStore
from tests.analytics_helpers import fill_fixture


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(languages=("swe",)), Filters(start=date(2030, 1, 1))],
    ids=["all", "one language", "nothing matches"],
)
def test_every_chart_renders(db_path: Path, filters: Filters) -> None:
    fill_fixture(db_path)
    with BattleStore(db_path) as store:
        data = store.read(lambda c: load_dashboard(c, filters, rounds=50))
    plots = [
        charts.win_rate_by_language(data.win_by_language),
        charts.win_rate_by_variant(data.win_by_variant),
        charts.ratings(data.ratings),
        charts.position_bias(data.position),
        charts.votes_over_time(data.per_day),
        charts.votes_by_language(data.by_language),
    ]
    for plot in plots:
        figure = hv.render(plot, backend="bokeh")
        assert figure.title.text  # every chart says what it shows
    if data.matched_votes == 0:
        assert all(isinstance(p, hv.Text) for p in plots)
    else:
        assert not any(isinstance(p, hv.Text) for p in plots)
