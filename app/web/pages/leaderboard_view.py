"""What the `/leaderboard` page shows, as plain functions of the data and the interface
language: the answer block, tables, notes, the summary line, the charts and the choices
of its selectors.

The answer block opens the page with what the arena exists to find out: MultiSynt against
HPLT, pooled over languages, overall and per translation system, each with its 95%
interval, its votes and what the interval says. The tables show a few columns (their
`*_SHOWN`) and the rest on demand; an interval that cannot honestly be computed reads
"too few votes" (`analytics.stats.interval_known`), never as a zero-width interval.

Catalogue strings and data (model ids, language names) are escaped where they go into
HTML or Markdown, so neither can break the markup. `analytics` writes the chart titles,
axes, per-row notes and flag names in the `Translator` passed here; the data underneath
(language codes, model ids, the downloads) stays as it is.
"""

from __future__ import annotations

import html
from types import ModuleType

import pandas as pd
from babel.numbers import format_decimal, format_percent

from analytics.dashboard import DashboardData
from analytics.palette import FAMILY_COLORS
from analytics.stats import interval_text
from analytics.verdicts import Difference, Verdict
from app.core.i18n import Translator
from app.core.registry import Registry

CHARTS = ("win_rate", "variants", "ratings", "position", "over_time", "by_language")
FORMATS = ("csv", "parquet")
TABLE_COLUMNS = (
    "language",
    "model",
    "rating",
    "interval",
    "battles",
    "warning",
    "wins",
    "losses",
    "ties",
    "both_bad",
    "ci_low",
    "ci_high",
)
TABLE_SHOWN = ("language", "model", "rating", "interval", "battles", "warning")
WIN_COLUMNS = (
    "language",
    "variant",
    "win_rate",
    "interval",
    "decisive",
    "needed",
    "warning",
    "battles",
    "multisynt_wins",
    "hplt_wins",
    "ties",
    "both_bad",
    "ci_low",
    "ci_high",
)
WIN_SHOWN = ("language", "variant", "win_rate", "interval", "decisive", "needed", "warning")
VERDICT_KEYS = {
    "multisynt": "lb_verdict_multisynt",
    "hplt": "lb_verdict_hplt",
    "open": "lb_verdict_open",
    "too_few": "interval_too_few",
}
MAX_NOTES = 12  # more would push the charts off the first screen


def column_names(t: Translator, columns: tuple[str, ...]) -> dict[str, str]:
    """Table headers in the interface language (`warning` is the per-row note), shown as
    the grids' titles: renaming the columns of a table on show instead sends the
    browser's Tabulator into a loop that freezes the page."""
    return {c: t("col_note" if c == "warning" else f"col_{c}") for c in columns}


# How each column shares a table's width (Tabulator's column settings): `widthGrow`, its
# share against 1 for the others, so the long texts (model ids, notes) get room to wrap
# in; `minWidth`, below which it would be unreadable; `responsive`, the order in which
# columns leave a screen too narrow for all of them (0: never; the highest first). A
# column that leaves is shown under its row, as "title: value" (`GRID_CONFIGURATION`).
COLUMN_FIT: dict[str, tuple[int, int, int]] = {
    "model": (3, 120, 0),
    "variant": (2, 80, 0),
    "rating": (1, 84, 0),
    "win_rate": (1, 96, 0),
    "interval": (2, 104, 0),
    "language": (1, 96, 1),  # the model ids name their language
    "battles": (1, 84, 2),
    "decisive": (1, 96, 2),
    "needed": (2, 120, 2),
    "warning": (3, 180, 3),
}
TEXT_COLUMNS = {"language", "model", "variant", "interval", "needed", "warning"}
PLAIN_FORMATTERS = {c: {"type": "plaintext"} for c in {*TABLE_COLUMNS, *WIN_COLUMNS}}
GRID_CONFIGURATION = {
    "responsiveLayout": "collapse",
    "responsiveLayoutCollapseStartOpen": True,  # nothing to tap to read a row
}


def grid_configuration(columns: tuple[str, ...], shown: tuple[str, ...]) -> dict[str, object]:
    """Tabulator's settings for a grid of `columns`, in order (see `COLUMN_FIT`), those
    not in `shown` hidden. Showing more columns sends new settings, which rebuild the
    grid: columns shown on a built grid stay out of its narrow-screen layout (Tabulator's
    responsive collapse counts only the columns it was built with)."""
    settings = []
    for c in columns:
        grow, least, order = COLUMN_FIT.get(c, (1, 84, 4))
        setting = {
            "field": c,
            "widthGrow": grow,
            "minWidth": least,
            "responsive": order,
            "visible": c in shown,
        }
        if c not in TEXT_COLUMNS:
            setting |= {"hozAlign": "right", "sorter": "number"}
        settings.append(setting)
    return {**GRID_CONFIGURATION, "columns": settings}


def flag_options(t: Translator, flags: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The "leave out" choices: each flag's name in the interface language -> the flag.
    A flag the catalogue does not know yet shows as it is stored."""
    return {t(f"flag_{f}") if t.has(f"flag_{f}") else f: f for f in flags}


def language_options(t: Translator, registry: Registry) -> dict[str, str]:
    """The Language filter's choices: all languages (""), then each arena language."""
    languages = {t.language_label(lang): c for c, lang in registry.languages.items()}
    return {t("lb_all_languages"): "", **languages}


def source_options(t: Translator) -> dict[str, str]:
    return {t("lb_live"): "arena", t("lb_legacy"): "legacy"}


def download_label(t: Translator, fmt: str) -> str:
    return t("lb_download", format=fmt.upper() if fmt == "csv" else "Parquet")


def ratings_table(t: Translator, data: DashboardData) -> pd.DataFrame:
    """The ratings as the page shows them: rounded, the notes translated, the interval
    as text ("too few votes" where none can honestly be shown; "reference" for the HPLT
    model each language's ratings are anchored to). The columns keep their names
    (`TABLE_COLUMNS`): the grid shows `column_names` as its titles."""
    table = data.notes(data.ratings, t)
    interval = interval_text(table, t, digits=0)
    reference = table["reference"].astype(bool)
    table = table.assign(interval=interval.where(~reference, t("interval_reference")))
    # Whole rating points, as the CLI prints them: a tenth of a point is noise here.
    whole = {c: table[c].round().astype("Int64") for c in ("rating", "ci_low", "ci_high")}
    return table.assign(**whole)[list(TABLE_COLUMNS)]


def win_table(t: Translator, data: DashboardData) -> pd.DataFrame:
    """MultiSynt against HPLT per language and variant, as the page shows it (columns
    `WIN_COLUMNS`, titled by `column_names`; the interval as text, as in the ratings;
    `needed`: the decisive votes still needed, `needed_text`)."""
    table = data.notes(data.win_by_language_variant, t)
    needed = [
        needed_text(t, said, None if pd.isna(n) else int(n)) or ""
        for said, n in zip(table["verdict"], table["votes_needed"], strict=True)
    ]
    table = table.assign(interval=interval_text(table, t, digits=2), needed=needed)
    table = table[list(WIN_COLUMNS)].round(3)
    # No rate without decisive votes: an empty cell, not "NaN".
    rates = ["win_rate", "ci_low", "ci_high"]
    return table.assign(**{c: table[c].astype(object).where(table[c].notna(), None) for c in rates})


def chart_titles(t: Translator) -> dict[str, str]:
    """Each chart's title, which the page shows as a heading above it (a heading wraps
    on a narrow screen; a title drawn into the canvas is cut)."""
    keys = {
        "win_rate": "chart_win_rate_language",
        "variants": "chart_win_rate_variant",
        "ratings": "chart_ratings",
        "position": "chart_position",
        "over_time": "chart_per_day",
        "by_language": "chart_by_language",
    }
    return {name: t(keys[name]) for name in CHARTS}


def folded_css(name: str) -> str:
    """A `<details class=name>` that opens with a 44 px line and shows its state with
    an arrow. Each pane draws in its own shadow root, so each carries its copy."""
    return f"""
.{name} summary {{ min-height: 44px; display: flex; align-items: center; cursor: pointer; }}
.{name} summary::before {{ content: "\\25B8"; margin-right: 0.4em; }}
.{name}[open] summary::before {{ content: "\\25BE"; }}
.{name} summary::-webkit-details-marker {{ display: none; }}
.{name} ul {{ margin: 0.2em 0 0.6em; }}
"""


ANSWER_CSS = (
    f".leaderboard-answer {{ border-left: 6px solid {FAMILY_COLORS['multisynt']}; }}"
    + """
.leaderboard-answer { padding: 0.2em 0 0.2em 0.9em; margin: 0.3em 0; }
.leaderboard-answer h2 { font-size: 1.25rem; margin: 0 0 0.4em; }
.leaderboard-answer ul { list-style: none; margin: 0; padding: 0; }
.leaderboard-answer li { margin: 0 0 0.45em; line-height: 1.4; }
.leaderboard-answer .verdict { font-weight: 600; }
.leaderboard-answer small { color: #444; }
.leaderboard-answer .needed { color: #333; }
"""
    + folded_css("leaderboard-breakdown")
)


def answer_html(t: Translator, data: DashboardData | None) -> str:
    """The block the page opens with: the pooled verdicts (`analytics.verdicts`, the
    numbers of `oellm-arena summary`). MultiSynt against HPLT over the languages, overall
    and per translation system, each with its win rate among decisive votes, its 95%
    interval (or "too few votes"), its votes, what the interval says and the decisive
    votes still needed; folded under it, the systems against each other and each
    language. Escaped: the variant names are data."""
    title = f"<h2>{html.escape(t('lb_answer_title'))}</h2>"
    label = html.escape(t("lb_answer_title"))
    if data is None:
        loading = f"<p>{html.escape(t('lb_loading'))}</p>"
        return (
            f'<section class="leaderboard-answer" aria-label="{label}">{title}{loading}</section>'
        )
    summary = data.summary
    items = [_answer_item(t, t("lb_answer_all"), summary.overall)]
    items += [
        _answer_item(t, f"MultiSynt {system}", v)
        for system, v in sorted(summary.systems.items())
        if v.votes
    ]
    differences = [_difference_item(t, d) for d in summary.differences]
    # By name in the interface language; the multilingual experiment (not pooled) last.
    by_name = sorted(
        summary.languages, key=lambda lv: (not lv.pooled, t.language_name(lv.language))
    )
    languages = [_answer_item(t, t.language_name(lv.language), lv.overall) for lv in by_name]
    small = f"<small>{html.escape(t('lb_answer_small'))}</small>"
    body = (
        f"<ul>{''.join(items)}</ul>"
        + _folded(t("lb_systems_compared"), differences)
        + _folded(t("lb_by_language"), languages)
        + small
    )
    return f'<section class="leaderboard-answer" aria-label="{label}">{title}{body}</section>'


def _folded(heading: str, items: list[str]) -> str:
    """`items` under a line that says what and how many, opened on demand."""
    if not items:
        return ""
    return (
        f'<details class="leaderboard-breakdown"><summary><span>{html.escape(heading)} '
        f"({len(items)})</span></summary><ul>{''.join(items)}</ul></details>"
    )


def needed_text(t: Translator, said: str, needed: int | None) -> str | None:
    """The decisive votes still needed, as the page says it: "decided", "12 more
    decisive votes needed", "cannot be estimated yet"; None with too few votes (the
    verdict says so)."""
    if said == "too_few":
        return None
    if said != "open":
        return t("lb_decided")
    if needed is None:
        return t("lb_needed_unknown")
    return t.plural("lb_needed", needed, n=format_decimal(needed, locale=t.language.locale))


def _answer_item(t: Translator, name: str, v: Verdict) -> str:
    locale = t.language.locale
    parts = []
    if v.decisive:
        rate = format_percent(v.win_rate, locale=locale)
        parts.append(t.plural("lb_answer_line", v.decisive, rate=rate, decisive=v.decisive))
    if v.verdict != "too_few":
        low = format_percent(v.ci_low, locale=locale)
        high = format_percent(v.ci_high, locale=locale)
        parts.append(t("lb_answer_interval", low=low, high=high))
    parts.append(t.plural("lb_answer_votes", v.votes, votes=v.votes))
    text = html.escape(" · ".join(parts))
    judged = html.escape(t(VERDICT_KEYS[v.verdict]))
    needed = needed_text(t, v.verdict, v.votes_needed)
    more = f' <span class="needed">· {html.escape(needed)}</span>' if needed else ""
    return (
        f'<li data-verdict="{v.verdict}"><b>{html.escape(name)}</b>: {text}: '
        f'<span class="verdict">{judged}</span>{more}</li>'
    )


def _difference_item(t: Translator, d: Difference) -> str:
    locale = t.language.locale
    text = ""
    if d.verdict != "too_few":
        points = format_decimal(round(100 * d.difference, 1), format="+0.0;-0.0", locale=locale)
        low = format_decimal(round(100 * d.ci_low, 1), format="+0.0;-0.0", locale=locale)
        high = format_decimal(round(100 * d.ci_high, 1), format="+0.0;-0.0", locale=locale)
        text = t("lb_difference", a=d.a, b=d.b, points=points, low=low, high=high)
    if d.verdict in ("a", "b"):
        judged = t("lb_difference_better", system=d.a if d.verdict == "a" else d.b)
    else:
        judged = t(VERDICT_KEYS[d.verdict])
    said = "open" if d.verdict == "open" else ("too_few" if d.verdict == "too_few" else "decided")
    needed = needed_text(t, said, d.votes_needed)
    more = f' <span class="needed">· {html.escape(needed)}</span>' if needed else ""
    if d.verdict == "too_few":  # the verdict says it: no numbers to show
        said_first = f"<b>{html.escape(d.a)} / {html.escape(d.b)}</b>"
    else:
        said_first = html.escape(text)
    return (
        f'<li data-verdict="{d.verdict}">{said_first}: '
        f'<span class="verdict">{html.escape(judged)}</span>{more}</li>'
    )


def chart_objects(t: Translator, data: DashboardData, charts: ModuleType) -> dict[str, object]:
    """The page's six charts (`CHARTS`), labelled in the interface language, without the
    titles drawn into the canvas: the page shows `chart_titles` above them. `charts` is
    `analytics.charts`, passed in because it is slow to import."""
    plots = {
        "win_rate": charts.win_rate_by_language(data.win_by_language, t),
        "variants": charts.win_rate_by_variant(data.win_by_variant, t),
        "ratings": charts.ratings(data.ratings, t),
        "position": charts.position_bias(data.position, t),
        "over_time": charts.votes_over_time(data.per_day, t),
        "by_language": charts.votes_by_language(data.by_language, t),
    }
    return {name: plot.opts(title="", clone=True) for name, plot in plots.items()}


def summary_html(t: Translator, data: DashboardData | None, failed: bool = False) -> str:
    """The line above the charts: how many votes match (of how many, and the latest),
    "loading" before the first data, or the error if the last read failed."""
    if failed:
        return f'<p class="leaderboard-summary" role="alert">{html.escape(t("lb_error"))}</p>'
    if data is None:
        return f'<p class="leaderboard-summary" role="status">{html.escape(t("lb_loading"))}</p>'
    total, last = data.marker
    marker = "\x00"  # stands for the bold vote count while the sentence is escaped
    n = data.matched_votes
    if last:
        time = f"{last:%Y-%m-%d %H:%M}"
        text = t.plural("lb_summary_last", n, votes=marker, total=total, time=time)
    else:
        text = t.plural("lb_summary", n, votes=marker, total=total)
    votes = f"<b>{html.escape(t.plural('lb_votes', n, votes=n))}</b>"
    return (
        f'<p class="leaderboard-summary" role="status">'
        f"{html.escape(text).replace(marker, votes)}</p>"
    )


def warnings_html(t: Translator, data: DashboardData) -> str:
    """The notes on numbers resting on too few votes, folded under one line that says how
    many there are (a reader opens them; a long list would push the charts off the screen).
    Escaped: the model ids and language names in them are data."""
    lines = [html.escape(w) for w in data.warnings(t, t.language_name)]
    if not lines:
        return ""
    shown = lines[:MAX_NOTES]
    rest = len(lines) - MAX_NOTES
    if rest > 0:
        shown.append(html.escape(t.plural("lb_more", rest, n=rest)))
    items = "".join(f"<li>{line}</li>" for line in shown)
    heading = html.escape(t("lb_too_few").rstrip(":\uff1a "))
    return (
        f'<details class="leaderboard-notes"><summary><span><b>{heading}</b> ({len(lines)})'
        "</span></summary>"
        f"<ul>{items}</ul></details>"
    )


NOTES_CSS = folded_css("leaderboard-notes")
