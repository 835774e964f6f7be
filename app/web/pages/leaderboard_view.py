"""What the `/leaderboard` page shows, as plain functions of the data and the interface
language: tables, notes, the summary line, the charts and the choices of its selectors.

Catalogue strings and data (model ids, language names) are escaped where they go into
HTML or Markdown, so neither can break the markup. `analytics` writes the chart titles,
axes, per-row notes and flag names in the `Translator` passed here; the data underneath
(language codes, model ids, the downloads) stays as it is.
"""

from __future__ import annotations

import html
from types import ModuleType

import pandas as pd

from analytics.dashboard import DashboardData
from app.core.i18n import Translator
from app.core.registry import Registry

CHARTS = ("win_rate", "variants", "ratings", "position", "over_time", "by_language")
FORMATS = ("csv", "parquet")
TABLE_COLUMNS = (
    "language",
    "model",
    "rating",
    "ci_low",
    "ci_high",
    "battles",
    "wins",
    "losses",
    "ties",
    "both_bad",
    "warning",
)
WIN_COLUMNS = (
    "language",
    "variant",
    "battles",
    "multisynt_wins",
    "hplt_wins",
    "ties",
    "both_bad",
    "decisive",
    "win_rate",
    "ci_low",
    "ci_high",
    "warning",
)
MAX_NOTES = 12  # more would push the charts off the first screen


def column_names(t: Translator, columns: tuple[str, ...]) -> dict[str, str]:
    """Table headers in the interface language (`warning` is the per-row note), shown as
    the grids' titles: renaming the columns of a table on show instead sends the
    browser's Tabulator into a loop that freezes the page."""
    return {c: t("col_note" if c == "warning" else f"col_{c}") for c in columns}


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
    """The ratings as the page shows them: rounded, the notes translated. The columns
    keep their names (`TABLE_COLUMNS`): the grid shows `column_names` as its titles."""
    return data.notes(data.ratings, t)[list(TABLE_COLUMNS)].round(1)


def win_table(t: Translator, data: DashboardData) -> pd.DataFrame:
    """MultiSynt against HPLT per language and variant, as the page shows it (columns
    `WIN_COLUMNS`, titled by `column_names`)."""
    return data.notes(data.win_by_language_variant, t)[list(WIN_COLUMNS)].round(3)


def chart_objects(t: Translator, data: DashboardData, charts: ModuleType) -> dict[str, object]:
    """The page's six charts (`CHARTS`), titled and labelled in the interface language;
    `charts` is `analytics.charts`, passed in because it is slow to import."""
    return {
        "win_rate": charts.win_rate_by_language(data.win_by_language, t),
        "variants": charts.win_rate_by_variant(data.win_by_variant, t),
        "ratings": charts.ratings(data.ratings, t),
        "position": charts.position_bias(data.position, t),
        "over_time": charts.votes_over_time(data.per_day, t),
        "by_language": charts.votes_by_language(data.by_language, t),
    }


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


def warnings_md(t: Translator, data: DashboardData) -> str:
    """The notes on numbers resting on too few votes, as a Markdown list (the model ids
    and language names in them are escaped: they are data, not Markdown)."""
    lines = [_escape_md(w) for w in data.warnings(t, t.language_name)]
    if not lines:
        return ""
    shown = lines[:MAX_NOTES]
    rest = len(lines) - MAX_NOTES
    more = f"\n- {t.plural('lb_more', rest, n=rest)}" if rest > 0 else ""
    return f"**{t('lb_too_few')}**\n" + "\n".join(f"- {w}" for w in shown) + more


def _escape_md(text: str) -> str:
    return "".join(f"\\{c}" if c in "\\`*_[]<>#|" else c for c in text)
