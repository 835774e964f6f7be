"""The `/leaderboard` page: filters, charts, tables and downloads for the battle log.

The page only composes widgets; the numbers come from `analytics.dashboard` and the plots
from `analytics.charts`. It reads through `services.store.read` (a fresh cursor per call,
in a worker thread so the server's event loop never waits on DuckDB), and polls a cheap
fingerprint of the votes every `ARENA_ANALYTICS__REFRESH_S` seconds, recomputing only
when a vote arrived.

Every visible string follows the interface language (`app.core.i18n`, switchable on the page):
the page's own, and those `analytics` writes (chart titles and axes, per-row notes, flag
names), which it writes in the `Translator` the page passes. The data itself (language
codes, model ids) and the downloads stay as they are.
"""

from __future__ import annotations

import asyncio
import functools
import html
import importlib
import io
import logging
from collections.abc import Awaitable, Callable
from types import ModuleType

import pandas as pd
import panel as pn

from analytics.dashboard import DashboardData, load_dashboard
from analytics.queries import (
    SOURCES,
    UNTRUSTED_FLAGS,
    Filters,
    change_marker,
    export_filename,
    export_filtered,
)
from app.arena.services import ArenaServices
from app.core.i18n import Translator
from app.web.pages.page_kit import (
    FOCUS_CSS,
    PageScript,
    interface_selector,
    nav_html,
    nav_pane,
    page_header,
    request_interface,
)

log = logging.getLogger(__name__)

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


def column_names(t: Translator, columns: tuple[str, ...]) -> dict[str, str]:
    """Table headers in the interface language (`warning` is the per-row note)."""
    return {c: t("col_note" if c == "warning" else f"col_{c}") for c in columns}


def flag_options(t: Translator, flags: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The "leave out" choices: each flag's name in the interface language -> the flag.
    A flag the catalogue does not know yet shows as it is stored."""
    return {t(f"flag_{f}") if t.has(f"flag_{f}") else f: f for f in flags}


def ratings_table(t: Translator, data: DashboardData) -> pd.DataFrame:
    """The ratings as the page shows them: rounded, notes and headers translated."""
    table = data.notes(data.ratings, t)[list(TABLE_COLUMNS)].round(1)
    return table.rename(columns=column_names(t, TABLE_COLUMNS))


def win_table(t: Translator, data: DashboardData) -> pd.DataFrame:
    """MultiSynt against HPLT per language and variant, as the page shows it."""
    table = data.notes(data.win_by_language_variant, t)[list(WIN_COLUMNS)].round(3)
    return table.rename(columns=column_names(t, WIN_COLUMNS))


def chart_objects(t: Translator, data: DashboardData, charts: ModuleType) -> dict[str, object]:
    """The page's six charts, titled and labelled in the interface language."""
    return {
        "win_rate": charts.win_rate_by_language(data.win_by_language, t),
        "variants": charts.win_rate_by_variant(data.win_by_variant, t),
        "ratings": charts.ratings(data.ratings, t),
        "position": charts.position_bias(data.position, t),
        "over_time": charts.votes_over_time(data.per_day, t),
        "by_language": charts.votes_by_language(data.by_language, t),
    }


def _summary_html(t: Translator, data: DashboardData | None) -> str:
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
    shown = lines[:12]
    rest = len(lines) - 12
    more = f"\n- {t.plural('lb_more', rest, n=rest)}" if rest > 0 else ""
    return f"**{t('lb_too_few')}**\n" + "\n".join(f"- {w}" for w in shown) + more


def _escape_md(text: str) -> str:
    return "".join(f"\\{c}" if c in "\\`*_[]<>#|" else c for c in text)


def _charts() -> ModuleType:
    """`analytics.charts`, imported on first use in a worker thread: hvplot takes seconds
    to import, which neither every arena start nor the server's event loop should wait."""
    return importlib.import_module("analytics.charts")


def build_leaderboard_page(services: ArenaServices, session_id: str) -> pn.viewable.Viewable:
    """One analyst's dashboard. Called once per browser session by the Panel server."""
    settings = services.settings.analytics
    store = services.store
    catalogue = services.catalogue
    ui = request_interface(catalogue)
    t = catalogue.translator(ui)
    style = {"stylesheets": [FOCUS_CSS]}

    interface = interface_selector(catalogue, ui)
    language = pn.widgets.Select(
        options=_language_options(services, t), value="", width=260, **style
    )
    dates = pn.widgets.DateRangePicker(value=None, width=260, **style)
    sources = pn.widgets.CheckButtonGroup(
        options={t("lb_live"): "arena", t("lb_legacy"): "legacy"}, value=list(SOURCES), **style
    )
    exclude = pn.widgets.MultiChoice(
        options=flag_options(t, UNTRUSTED_FLAGS), value=list(UNTRUSTED_FLAGS), width=300, **style
    )
    summary = pn.pane.HTML(_summary_html(t, None), sizing_mode="stretch_width")
    warnings = pn.pane.Markdown("", sizing_mode="stretch_width")
    plots = {
        name: pn.pane.HoloViews(
            None, sizing_mode="stretch_width", min_height=320, linked_axes=False
        )
        for name in (
            "win_rate",
            "variants",
            "ratings",
            "position",
            "over_time",
            "by_language",
        )
    }
    ratings_grid = pn.widgets.Tabulator(
        None, disabled=True, show_index=False, sizing_mode="stretch_width", height=360
    )
    win_grid = pn.widgets.Tabulator(
        None, disabled=True, show_index=False, sizing_mode="stretch_width", height=300
    )

    def current_filters() -> Filters:
        start, end = dates.value if dates.value else (None, None)
        return Filters(
            languages=(language.value,) if language.value else (),
            start=start,
            end=end,
            sources=tuple(sources.value),
            exclude_flags=tuple(exclude.value),
        )

    def download(fmt: str) -> Callable[[], Awaitable[io.BytesIO]]:
        async def make() -> io.BytesIO:
            filters = current_filters()
            buttons[fmt].filename = export_filename(filters, fmt)
            # In a thread: a large export takes DuckDB a while (~0.6 s per 100,000
            # battles), and on the event loop it would stall every voter's page meanwhile.
            export = functools.partial(export_filtered, filters=filters, fmt=fmt)
            payload = await asyncio.to_thread(store.read, export)  # type: ignore[arg-type]
            return io.BytesIO(payload)

        return make

    buttons = {
        fmt: pn.widgets.FileDownload(
            callback=download(fmt),
            filename=f"battles.{fmt}",
            button_type="default",
            width=190,
            **style,
        )
        for fmt in ("csv", "parquet")
    }
    intro = pn.pane.Markdown("", sizing_mode="stretch_width")
    title = pn.pane.HTML("", margin=(0, 10))
    source_label = pn.pane.HTML("")
    ratings_heading = pn.pane.Markdown("", margin=(10, 10, 0, 10))
    variants_heading = pn.pane.Markdown("", margin=(10, 10, 0, 10))
    nav = nav_pane(t, "leaderboard")
    script = PageScript(lang=t.language.html_lang)

    state: dict[str, object] = {
        "marker": None,
        "running": False,
        "again": False,
        "data": None,
        "charts": None,
    }

    def translate(code: str) -> None:
        """Every label in interface language `code`; the data shown stays."""
        nonlocal t
        t = catalogue.translator(code)
        with pn.io.hold():
            interface.name = t("interface_label")
            nav.object = nav_html(t, "leaderboard")
            title.object = f"<h1>{html.escape(t('lb_title'))}</h1>"
            intro.object = t("lb_intro_md")
            language.param.update(name=t("language_label"), options=_language_options(services, t))
            dates.name = t("lb_voted_between")
            source_label.object = f"<small>{html.escape(t('lb_source'))}</small>"
            sources.options = {t("lb_live"): "arena", t("lb_legacy"): "legacy"}
            exclude.param.update(
                name=t("lb_exclude"),
                placeholder=t("lb_exclude_none"),
                options=flag_options(t, list(exclude.options.values())),
            )
            ratings_heading.object = f"### {t('lb_ratings')}"
            variants_heading.object = f"### {t('lb_by_variant')}"
            for fmt, button in buttons.items():
                button.label = t("lb_download", format=fmt.upper() if fmt == "csv" else "Parquet")
            script.lang = t.language.html_lang
            data, charts = state["data"], state["charts"]
            summary.object = _summary_html(t, data)  # type: ignore[arg-type]
            if data is not None and charts is not None:
                show(data, charts)  # type: ignore[arg-type]

    def show(data: DashboardData, charts: ModuleType) -> None:
        """Everything computed from `data`, in the current interface language."""
        summary.object = _summary_html(t, data)
        warnings.object = warnings_md(t, data)
        for name, plot in chart_objects(t, data, charts).items():
            plots[name].object = plot
        ratings_grid.value = ratings_table(t, data)
        win_grid.value = win_table(t, data)

    def render(data: DashboardData, charts: ModuleType) -> None:
        state["data"], state["charts"] = data, charts
        known = list(exclude.options.values())
        if set(data.known_flags) - set(known):
            exclude.options = flag_options(t, sorted(set(known) | set(data.known_flags)))
        show(data, charts)
        for fmt, button in buttons.items():
            button.filename = export_filename(data.filters, fmt)

    async def refresh(*_events: object) -> None:
        # One computation at a time per page; a change meanwhile triggers one more.
        if state["running"]:
            state["again"] = True
            return
        state["running"] = True
        try:
            while True:
                state["again"] = False
                filters = current_filters()
                data = await asyncio.to_thread(
                    store.read,
                    lambda con, f=filters: load_dashboard(
                        con, f, rounds=settings.bootstrap_rounds, min_votes=settings.min_votes
                    ),
                )
                state["marker"] = data.marker
                render(data, await asyncio.to_thread(_charts))
                if not state["again"]:
                    break
        except Exception:
            log.exception("leaderboard refresh failed")
            summary.object = (
                f'<p class="leaderboard-summary" role="alert">{html.escape(t("lb_error"))}</p>'
            )
            state["marker"] = None
        finally:
            state["running"] = False

    async def poll() -> None:
        try:
            marker = await asyncio.to_thread(store.read, change_marker)
        except Exception as exc:  # e.g. the store closing at shutdown: try again next tick
            log.debug("leaderboard poll failed: %s", exc)
            return
        if marker != state["marker"]:
            await refresh()

    for widget in (language, dates, sources, exclude):
        widget.param.watch(refresh, "value")
    interface.param.watch(lambda e: translate(e.new), "value")
    translate(ui)
    pn.state.onload(refresh)
    pn.state.add_periodic_callback(poll, period=int(settings.refresh_s * 1000))

    return pn.Column(
        script,
        page_header(title, interface),
        nav,
        intro,
        pn.FlexBox(
            language,
            dates,
            pn.Column(source_label, sources),
            exclude,
            flex_wrap="wrap",
        ),
        summary,
        warnings,
        pn.GridBox(plots["win_rate"], plots["variants"], ncols=2, sizing_mode="stretch_width"),
        plots["ratings"],
        ratings_heading,
        ratings_grid,
        pn.GridBox(plots["position"], plots["by_language"], ncols=2, sizing_mode="stretch_width"),
        plots["over_time"],
        variants_heading,
        win_grid,
        pn.Row(buttons["csv"], buttons["parquet"]),
        sizing_mode="stretch_width",
    )


def _language_options(services: ArenaServices, t: Translator) -> dict[str, str]:
    languages = {t.language_label(lang): c for c, lang in services.registry.languages.items()}
    return {t("lb_all_languages"): "", **languages}
