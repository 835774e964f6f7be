"""hvplot/HoloViews charts of the dashboard tables; each takes a DataFrame and returns a plot.

Every estimate is drawn with its 95% interval and a dashed line where "no difference"
would sit (a 50% win rate, the HPLT reference at 1000), so a reader sees at once whether
the interval excludes it. An estimate whose interval cannot honestly be drawn (too few
decisive votes, or no width: `stats.interval_known`) is an open circle without bars, and
its hover says "too few votes". An empty table gives a labelled empty plot, not an error.

Colours come from `analytics.palette`, one per outcome, family and source, whatever the
data; legends sit below the plot area, never over the bars. Widths follow the page
(`responsive`), and the votes-per-day axis counts in days whatever the span.

Titles, axis labels, hover labels and the words among the values (outcomes, sources,
"all") come from a `Wording`, English by default; the `/leaderboard` page passes the
voter's interface language. Only labels change: the columns keep their names.
"""

from __future__ import annotations

from datetime import timedelta

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot, and loads HoloViews' bokeh)
import numpy as np
import pandas as pd
from bokeh.models import (
    DatetimeTicker,
    DatetimeTickFormatter,
    DaysTicker,
    MonthsTicker,
    YearsTicker,
)

from analytics.palette import FAMILY_COLORS, NEUTRAL, OUTCOME_COLORS, OUTCOMES, SOURCE_COLORS
from analytics.stats import decisive_votes, interval_known, interval_text
from analytics.summaries import OUTCOME_LABELS
from analytics.wording import Wording, english

HEIGHT = 320
LEGEND_HEIGHT = 440  # a chart with its legend below: the plot keeps about HEIGHT
RATE_LIM = (-0.04, 1.04)  # a share runs from 0 to 1; a point at 1 is drawn whole
# Every chart: hover only. Pan and zoom would catch the finger that scrolls a phone's
# page, and a toolbar over the plot covers data.
TOOLS = {"tools": ["hover"], "default_tools": [], "toolbar": None}
# Legends below the plot, one entry a line (the longest outcome names, "Molemmat ovat
# huonoja", fit a phone's width), at 16 px.
LEGEND = {
    "legend_position": "bottom",
    "legend_opts": {"ncols": 1, "label_text_font_size": "16px"},
}

# The catalogue key of each column's label (axes and hover).
COLUMN_KEYS = {
    "language": "col_language",
    "variant": "col_variant",
    "model": "col_model",
    "battles": "col_battles",
    "wins": "col_wins",
    "losses": "col_losses",
    "ties": "col_ties",
    "both_bad": "col_both_bad",
    "decisive": "col_decisive",
    "interval": "col_interval",
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

DATE = "%Y-%m-%d"
DATE_SCALES = ("milliseconds", "seconds", "minsec", "minutes", "hourmin", "hours", "days")


def day_ticker() -> DatetimeTicker:
    """Ticks on whole days, months or years only (a new Bokeh model per chart: a model
    belongs to one document, and every page session has its own)."""
    return DatetimeTicker(
        tickers=[
            DaysTicker(days=list(range(1, 32))),
            DaysTicker(days=list(range(1, 31, 3))),
            DaysTicker(days=[1, 8, 15, 22]),
            DaysTicker(days=[1, 15]),
            MonthsTicker(months=list(range(0, 12))),
            MonthsTicker(months=list(range(0, 12, 2))),
            MonthsTicker(months=list(range(0, 12, 4))),
            MonthsTicker(months=list(range(0, 12, 6))),
            YearsTicker(),
        ]
    )


def date_formatter() -> DatetimeTickFormatter:
    """Dates at every scale (months and years as Bokeh writes them), never a time."""
    return DatetimeTickFormatter(**dict.fromkeys(DATE_SCALES, DATE), months="%Y-%m")


def _date_axis(plot: object, element: object) -> None:
    """A HoloViews hook: the x axis of a drawn chart counts in days, labelled as dates (a
    single day of votes must not be labelled in hours or milliseconds)."""
    axis = plot.state.xaxis[0]  # type: ignore[attr-defined]
    axis.ticker = day_ticker()
    axis.formatter = date_formatter()


def _canvas(plot: object, element: object) -> None:
    """A HoloViews hook: draw on a 2D canvas, not WebGL (HoloViews' default). A dozen
    points need no GPU, and headless or low-end browsers without working WebGL drew the
    axes but none of the points."""
    plot.state.output_backend = "canvas"  # type: ignore[attr-defined]


def _labelled(element: hv.Element, t: Wording, **own: str) -> hv.Element:
    """`element` with every known column's label in `t`'s language (`own` overrides)."""
    labels = {name: t(key) for name, key in COLUMN_KEYS.items()} | own
    return element.redim.label(**labels)


def _tooltips(t: Wording, columns: list[str], **formats: str) -> list[tuple[str, str]]:
    """Hover lines: each column under its label in `t`'s language (`formats`: Bokeh's
    number or date format of a column, e.g. `win_rate="{0.00}"`)."""
    return [
        (t(COLUMN_KEYS[c]) if c in COLUMN_KEYS else c, f"@{{{c}}}{formats.get(c, '')}")
        for c in columns
    ]


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
    *,
    colors: pd.Series | str,
    digits: int,
    ylim: tuple[float, float] | None = None,
    xlabel: str | None = None,
) -> hv.Overlay:
    """Points with 95% intervals where they are known; open circles where they are not."""
    data = frame.dropna(subset=[y]).copy()
    data["color"] = colors if isinstance(colors, str) else colors.loc[data.index]
    known = interval_known(decisive_votes(data), data["ci_low"], data["ci_high"])
    data["interval"] = interval_text(data, t, digits)
    data["fill"] = np.where(known, data["color"], "white")
    with_bars = data[known].assign(
        err_low=lambda d: d[y] - d["ci_low"], err_high=lambda d: d["ci_high"] - d[y]
    )
    bars = hv.ErrorBars(with_bars, kdims=[x], vdims=[y, "err_low", "err_high"]).opts(
        color="#444", line_width=1.5, default_tools=[]
    )
    shown = [*hover, "interval"]
    number = "{0." + "0" * digits + "}" if digits else "{0}"
    tips = [(t(COLUMN_KEYS[x]), f"@{{{x}}}")] if x in COLUMN_KEYS else []
    tips.append((ylabel, f"@{{{y}}}{number}"))
    points = hv.Scatter(data, kdims=[x], vdims=[y, *shown, "color", "fill"]).opts(
        size=11,
        line_color="color",
        fill_color="fill",
        line_width=2,
        hover_tooltips=[*tips, *_tooltips(t, shown)],
        **TOOLS,
    )
    line = hv.HLine(reference).opts(
        color="gray", line_dash="dashed", line_width=1, default_tools=[]
    )
    overlay = _labelled(bars * points * line, t, **{y: ylabel})
    return overlay.opts(
        hv.opts.Overlay(
            title=title,
            height=HEIGHT,
            responsive=True,
            xrotation=45,
            show_legend=False,
            xlabel=xlabel or t(COLUMN_KEYS[x]),
            ylabel=ylabel,
            ylim=ylim or (None, None),
            hooks=[_canvas],
            **TOOLS,
        )
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
        ["decisive", "ties", "both_bad"],
        t,
        colors=FAMILY_COLORS["multisynt"],
        digits=2,
        ylim=RATE_LIM,
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
        ["decisive", "ties", "both_bad"],
        t,
        colors=FAMILY_COLORS["multisynt"],
        digits=2,
        ylim=RATE_LIM,
    )


def ratings(table: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """Bradley-Terry ratings per language, 1000 = that language's HPLT model; MultiSynt
    models in MultiSynt's colour, the references in HPLT's."""
    t = t or english()
    title = t("chart_ratings")
    if table.empty:
        return _empty(title, t)
    data = table.copy()
    short = data["variant"].fillna(data["family"].str.upper())
    data["model_label"] = data["language"] + " · " + short  # the axis; the hover: `model`
    colors = data["family"].map(FAMILY_COLORS).fillna(NEUTRAL)
    return _estimate_with_interval(
        data,
        "model_label",
        "rating",
        title,
        t("axis_rating"),
        1000.0,
        ["model", "battles", "wins", "losses", "ties", "both_bad"],
        t,
        colors=colors,
        digits=0,
        xlabel=t("col_model"),
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
        colors=NEUTRAL,
        digits=2,
        ylim=RATE_LIM,
    )


def votes_over_time(per_day: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """Votes per UTC day, one line per source (live arena, legacy import), on an axis of
    dates: ticks on whole days, and at least one day either side of the votes."""
    t = t or english()
    title = t("chart_per_day")
    if per_day.empty:
        return _empty(title, t)
    data = per_day.assign(vote_date=pd.to_datetime(per_day["vote_date"]))
    layers = []
    for source in sorted(set(data["source"]), key=lambda s: (s not in SOURCE_KEYS, s)):
        rows = data[data["source"] == source].sort_values("vote_date")
        label = t(SOURCE_KEYS[source]) if source in SOURCE_KEYS else str(source)
        color = SOURCE_COLORS.get(source, NEUTRAL)
        vdims = ["votes"]
        curve = hv.Curve(rows, "vote_date", vdims, label=label)
        layers.append(curve.opts(color=color, default_tools=[]))
        layers.append(
            hv.Scatter(rows, "vote_date", vdims, label=label).opts(
                color=color,
                size=7,
                hover_tooltips=_tooltips(t, ["vote_date", "votes"], vote_date="{%F}"),
                **TOOLS,
            )
        )
    first, last = data["vote_date"].min(), data["vote_date"].max()
    overlay = _labelled(hv.Overlay(layers), t)
    return overlay.opts(
        hv.opts.Overlay(
            title=title,
            height=LEGEND_HEIGHT,
            responsive=True,
            xlabel=t("axis_day"),
            ylabel=t("col_votes"),
            xlim=(first - timedelta(days=1), last + timedelta(days=1)),
            ylim=(0, None),
            xrotation=45,
            hooks=[_canvas, _date_axis],
            **TOOLS,
            **LEGEND,
        )
    )


def votes_by_language(table: pd.DataFrame, t: Wording | None = None) -> hv.Element:
    """Votes per language, stacked by outcome: ties and 'both bad' visible on their own.
    The outcomes stack in one order and keep their colours (`palette.OUTCOME_COLORS`)."""
    t = t or english()
    title = t("chart_by_language")
    if table.empty:
        return _empty(title, t)
    # `summaries.votes_by_language` names the outcomes in English for analysts.
    code_of = {label: code for code, label in OUTCOME_LABELS.items()}
    words = {code: t(OUTCOME_KEYS[code]) for code in OUTCOMES}
    codes = table["outcome"].map(lambda o: code_of.get(o, o))
    table = table.assign(outcome=codes.map(lambda c: words.get(c, c)))
    order = [words[c] for c in OUTCOMES]
    outcome = hv.Dimension("outcome", label=t("col_outcome"), values=order)
    bars = hv.Bars(table, kdims=["language", outcome], vdims=["votes"])
    return _labelled(bars, t).opts(
        title=title,
        stacked=True,
        cmap={words[c]: OUTCOME_COLORS[c] for c in OUTCOMES},
        responsive=True,
        height=LEGEND_HEIGHT,
        xrotation=45,
        ylim=(0, None),
        hover_tooltips=_tooltips(t, ["language", "outcome", "votes"]),
        hooks=[_canvas],
        **TOOLS,
        **LEGEND,
    )
