"""hvplot charts of the dashboard tables; each takes a DataFrame and returns a plot.

Every estimate is drawn with its 95% interval and a dashed line where "no difference"
would sit (a 50% win rate, the HPLT reference at 1000), so a reader sees at once whether
the interval excludes it. An empty table gives a labelled empty plot, not an error.
"""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd

HEIGHT = 320
FAMILY_COLORS = {"multisynt": "#1f77b4", "hplt": "#d62728"}


def _empty(title: str, message: str = "No votes match the filters") -> hv.Element:
    return hv.Text(0.5, 0.5, message).opts(
        title=title, xaxis=None, yaxis=None, height=HEIGHT, responsive=True, toolbar=None
    )


def _estimate_with_interval(
    frame: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    ylabel: str,
    reference: float,
    hover: list[str],
    ylim: tuple[float, float] | None = None,
    color: str = "#1f77b4",
) -> hv.Overlay:
    data = frame.dropna(subset=[y]).copy()
    data["err_low"] = data[y] - data["ci_low"]
    data["err_high"] = data["ci_high"] - data[y]
    bars = hv.ErrorBars(data, kdims=[x], vdims=[y, "err_low", "err_high"]).opts(
        color="#555", line_width=1.5
    )
    points = data.hvplot.scatter(
        x=x,
        y=y,
        hover_cols=hover,
        size=90,
        color=color,
        ylim=ylim,
        ylabel=ylabel,
        responsive=True,
        height=HEIGHT,
    )
    line = hv.HLine(reference).opts(color="gray", line_dash="dashed", line_width=1)
    return (bars * points * line).opts(
        title=title, height=HEIGHT, responsive=True, xrotation=45, show_legend=False
    )


def win_rate_by_language(table: pd.DataFrame) -> hv.Element:
    """MultiSynt's share of decisive votes against HPLT, per language."""
    title = "MultiSynt vs HPLT: win rate by language (95% CI)"
    if table["win_rate"].notna().sum() == 0:
        return _empty(title)
    return _estimate_with_interval(
        table,
        "language",
        "win_rate",
        title,
        "MultiSynt win rate (decisive votes)",
        0.5,
        ["decisive", "ties", "both_bad", "ci_low", "ci_high"],
        ylim=(0, 1),
    )


def win_rate_by_variant(table: pd.DataFrame) -> hv.Element:
    """Each translation system against HPLT, pooled over languages."""
    title = "Each MultiSynt variant vs HPLT (95% CI)"
    if table["win_rate"].notna().sum() == 0:
        return _empty(title)
    return _estimate_with_interval(
        table,
        "variant",
        "win_rate",
        title,
        "MultiSynt win rate (decisive votes)",
        0.5,
        ["decisive", "ties", "both_bad", "ci_low", "ci_high"],
        ylim=(0, 1),
        color="#2ca02c",
    )


def ratings(table: pd.DataFrame) -> hv.Element:
    """Bradley-Terry ratings per language, 1000 = that language's HPLT model."""
    title = "Ratings per language (1000 = the language's HPLT model, 95% CI)"
    if table.empty:
        return _empty(title)
    data = table.copy()
    short = data["variant"].fillna(data["family"].str.upper())
    data["label"] = data["language"] + " · " + short
    return _estimate_with_interval(
        data,
        "label",
        "rating",
        title,
        "rating (Elo scale)",
        1000.0,
        ["model", "battles", "wins", "losses", "ties", "both_bad", "ci_low", "ci_high"],
    )


def position_bias(table: pd.DataFrame) -> hv.Element:
    """How often the left text wins a decisive vote, overall ('all') and per language."""
    title = "Position bias: left side's share of decisive votes (95% CI)"
    if table["left_share"].notna().sum() == 0:
        return _empty(title)
    return _estimate_with_interval(
        table,
        "language",
        "left_share",
        title,
        "left wins / decisive votes",
        0.5,
        ["decisive", "left_wins", "right_wins", "ties", "both_bad"],
        ylim=(0, 1),
        color="#9467bd",
    )


def votes_over_time(per_day: pd.DataFrame) -> hv.Element:
    """Votes per UTC day, one line per source (live arena, legacy import)."""
    title = "Votes per day"
    if per_day.empty:
        return _empty(title)
    data = per_day.assign(vote_date=pd.to_datetime(per_day["vote_date"]))
    size = {"responsive": True, "height": HEIGHT}
    lines = data.hvplot.line(x="vote_date", y="votes", by="source", xlabel="day (UTC)", **size)
    dots = data.hvplot.scatter(x="vote_date", y="votes", by="source", size=30, **size)
    return (lines * dots).opts(title=title, height=HEIGHT, responsive=True)


def votes_by_language(table: pd.DataFrame) -> hv.Element:
    """Votes per language, stacked by outcome: ties and 'both bad' visible on their own."""
    title = "Votes by language and outcome"
    if table.empty:
        return _empty(title)
    return table.hvplot.bar(
        x="language",
        y="votes",
        by="outcome",
        stacked=True,
        legend="top_right",
        responsive=True,
        height=HEIGHT,
    ).opts(title=title, xrotation=45)
