"""hvplot charts of the dashboard tables; each takes a DataFrame and returns a plot.

Every estimate is drawn with its 95% interval and a dashed line where "no difference"
would sit (a 50% win rate, the HPLT reference at 1000), so a reader sees at once whether
the interval excludes it. An empty table gives a labelled empty plot, not an error.

Titles, axis labels, hover labels and the words among the values (outcomes, sources,
"all") come from a `Wording`, English by default; the `/leaderboard` page passes the
voter's interface language. Only labels change: the columns keep their names.
"""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd

from analytics.summaries import OUTCOME_LABELS
from analytics.wording import Wording, english

HEIGHT = 320
FAMILY_COLORS = {"multisynt": "#1f77b4", "hplt": "#d62728"}

# The catalogue key of each column's label (axes and hover).
COLUMN_KEYS = {
    "language": "col_language",
    "variant": "col_variant",
    "model": "col_model",
    "label": "col_model",
    "battles": "col_battles",
    "wins": "col_wins",
    "losses": "col_losses",
    "ties": "col_ties",
    "both_bad": "col_both_bad",
    "decisive": "col_decisive",
    "ci_low": "col_ci_low",
    "ci_high": "col_ci_high",
    "left_wins": "col_left_wins",
    "right_wins": "col_right_wins",
    "votes": "col_votes",
    "source": "lb_source",
    "outcome": "col_outcome",
    "vote_date": "axis_day",
}
# The words among the values, by column: value -> catalogue key.
OUTCOME_KEYS = {
    "win": "col_multisynt_wins",
    "loss": "col_hplt_wins",
    "tie": "vote_tie",
    "both_bad": "vote_both_bad",
}
SOURCE_KEYS = {"arena": "lb_live", "legacy": "lb_legacy"}


def _labelled(element: hv.Element, t: Wording, **own: str) -> hv.Element:
    """`element` with every known column's label in `t`'s language (`own` overrides)."""
    labels = {name: t(key) for name, key in COLUMN_KEYS.items()} | own
    return element.redim.label(**labels)


def _empty(title: str, t: Wording) -> hv.Element:
    return hv.Text(0.5, 0.5, t("chart_empty")).opts(
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
    t: Wording,
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
    return _labelled(bars * points * line, t, **{y: ylabel}).opts(
        title=title, height=HEIGHT, responsive=True, xrotation=45, show_legend=False
    )


def win_rate_by_language(table: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """MultiSynt's share of decisive votes against HPLT, per language."""
    t = t or english()
    title = t("chart_win_rate_language")
    if table["win_rate"].notna().sum() == 0:
        return _empty(title, t)
    return _estimate_with_interval(
        table,
        "language",
        "win_rate",
        title,
        t("axis_win_rate"),
        0.5,
        ["decisive", "ties", "both_bad", "ci_low", "ci_high"],
        t,
        ylim=(0, 1),
    )


def win_rate_by_variant(table: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """Each translation system against HPLT, pooled over languages."""
    t = t or english()
    title = t("chart_win_rate_variant")
    if table["win_rate"].notna().sum() == 0:
        return _empty(title, t)
    unknown = table["variant"] == "unknown"
    if unknown.any():
        table = table.assign(variant=table["variant"].where(~unknown, t("variant_unknown")))
    return _estimate_with_interval(
        table,
        "variant",
        "win_rate",
        title,
        t("axis_win_rate"),
        0.5,
        ["decisive", "ties", "both_bad", "ci_low", "ci_high"],
        t,
        ylim=(0, 1),
        color="#2ca02c",
    )


def ratings(table: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """Bradley-Terry ratings per language, 1000 = that language's HPLT model."""
    t = t or english()
    title = t("chart_ratings")
    if table.empty:
        return _empty(title, t)
    data = table.copy()
    short = data["variant"].fillna(data["family"].str.upper())
    data["label"] = data["language"] + " · " + short
    return _estimate_with_interval(
        data,
        "label",
        "rating",
        title,
        t("axis_rating"),
        1000.0,
        ["model", "battles", "wins", "losses", "ties", "both_bad", "ci_low", "ci_high"],
        t,
    )


def position_bias(table: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """How often the left text wins a decisive vote, overall ('all') and per language."""
    t = t or english()
    title = t("chart_position")
    if table["left_share"].notna().sum() == 0:
        return _empty(title, t)
    overall = table["language"] == "all"
    table = table.assign(language=table["language"].where(~overall, t("lb_all_languages")))
    return _estimate_with_interval(
        table,
        "language",
        "left_share",
        title,
        t("axis_left_share"),
        0.5,
        ["decisive", "left_wins", "right_wins", "ties", "both_bad"],
        t,
        ylim=(0, 1),
        color="#9467bd",
    )


def votes_over_time(per_day: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """Votes per UTC day, one line per source (live arena, legacy import)."""
    t = t or english()
    title = t("chart_per_day")
    if per_day.empty:
        return _empty(title, t)
    sources = {value: t(key) for value, key in SOURCE_KEYS.items()}
    data = per_day.assign(
        vote_date=pd.to_datetime(per_day["vote_date"]),
        source=per_day["source"].map(lambda s: sources.get(s, s)),
    )
    size = {"responsive": True, "height": HEIGHT}
    xlabel = t("axis_day")
    lines = data.hvplot.line(x="vote_date", y="votes", by="source", xlabel=xlabel, **size)
    dots = data.hvplot.scatter(x="vote_date", y="votes", by="source", size=30, **size)
    return _labelled(lines * dots, t).opts(title=title, height=HEIGHT, responsive=True)


def votes_by_language(table: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """Votes per language, stacked by outcome: ties and 'both bad' visible on their own."""
    t = t or english()
    title = t("chart_by_language")
    if table.empty:
        return _empty(title, t)
    # `summaries.votes_by_language` names the outcomes in English for analysts.
    words = {OUTCOME_LABELS[o]: t(key) for o, key in OUTCOME_KEYS.items()}
    table = table.assign(outcome=table["outcome"].map(lambda o: words.get(o, o)))
    bars = table.hvplot.bar(
        x="language",
        y="votes",
        by="outcome",
        stacked=True,
        legend="top_right",
        responsive=True,
        height=HEIGHT,
    )
    return _labelled(bars, t).opts(title=title, xrotation=45)
