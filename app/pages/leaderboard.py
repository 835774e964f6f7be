"""The `/leaderboard` page: filters, charts, tables and downloads for the battle log.

The page only composes widgets; the numbers come from `analytics.dashboard` and the plots
from `analytics.charts`. It reads through `services.store.read` (a fresh cursor per call,
in a worker thread so the server's event loop never waits on DuckDB), and polls a cheap
fingerprint of the votes every `ARENA_ANALYTICS__REFRESH_S` seconds, recomputing only
when a vote arrived.

Every string it writes itself is in the interface language (`app.i18n`, switchable on the
page); chart titles and the per-row notes come from `analytics` and stay in English.
"""

from __future__ import annotations

import asyncio
import html
import importlib
import io
import logging
from collections.abc import Callable
from types import ModuleType

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
from app.arena_session import ArenaServices
from app.i18n import Translator
from app.pages.page_kit import (
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


def _summary_html(t: Translator, data: DashboardData | None) -> str:
    if data is None:
        return f'<p class="leaderboard-summary" role="status">{html.escape(t("lb_loading"))}</p>'
    total, last = data.marker
    marker = "\x00"  # stands for the bold vote count while the sentence is escaped
    if last:
        text = t("lb_summary_last", votes=marker, total=total, time=f"{last:%Y-%m-%d %H:%M}")
    else:
        text = t("lb_summary", votes=marker, total=total)
    votes = f"<b>{html.escape(t('lb_votes', votes=data.matched_votes))}</b>"
    return (
        f'<p class="leaderboard-summary" role="status">'
        f"{html.escape(text).replace(marker, votes)}</p>"
    )


def _warnings_md(t: Translator, data: DashboardData) -> str:
    lines = data.warnings()
    if not lines:
        return ""
    shown = lines[:12]
    more = f"\n- {t('lb_more', n=len(lines) - 12)}" if len(lines) > 12 else ""
    return f"**{t('lb_too_few')}**\n" + "\n".join(f"- {w}" for w in shown) + more


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
        options=list(UNTRUSTED_FLAGS), value=list(UNTRUSTED_FLAGS), width=300, **style
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
    ratings_table = pn.widgets.Tabulator(
        None, disabled=True, show_index=False, sizing_mode="stretch_width", height=360
    )
    win_table = pn.widgets.Tabulator(
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

    def download(fmt: str) -> Callable[[], io.BytesIO]:
        def make() -> io.BytesIO:
            filters = current_filters()
            buttons[fmt].filename = export_filename(filters, fmt)
            payload = store.read(lambda con: export_filtered(con, filters, fmt))  # type: ignore[arg-type]
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

    state: dict[str, object] = {"marker": None, "running": False, "again": False, "data": None}

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
            exclude.param.update(name=t("lb_exclude"), placeholder=t("lb_exclude_none"))
            ratings_heading.object = f"### {t('lb_ratings')}"
            variants_heading.object = f"### {t('lb_by_variant')}"
            for fmt, button in buttons.items():
                button.label = t("lb_download", format=fmt.upper() if fmt == "csv" else "Parquet")
            script.lang = t.language.html_lang
            data = state["data"]
            summary.object = _summary_html(t, data)  # type: ignore[arg-type]
            if data is not None:
                warnings.object = _warnings_md(t, data)  # type: ignore[arg-type]
                fill_tables(data)  # type: ignore[arg-type]

    def fill_tables(data: DashboardData) -> None:
        ratings_table.value = (
            data.ratings[list(TABLE_COLUMNS)]
            .round(1)
            .rename(columns=column_names(t, TABLE_COLUMNS))
        )
        win_table.value = data.win_by_language_variant.round(3).rename(
            columns=column_names(t, WIN_COLUMNS)
        )

    def render(data: DashboardData, charts: ModuleType) -> None:
        state["data"] = data
        if set(data.known_flags) - set(exclude.options):
            exclude.options = sorted(set(exclude.options) | set(data.known_flags))
        summary.object = _summary_html(t, data)
        warnings.object = _warnings_md(t, data)
        plots["win_rate"].object = charts.win_rate_by_language(data.win_by_language)
        plots["variants"].object = charts.win_rate_by_variant(data.win_by_variant)
        plots["ratings"].object = charts.ratings(data.ratings)
        plots["position"].object = charts.position_bias(data.position)
        plots["over_time"].object = charts.votes_over_time(data.per_day)
        plots["by_language"].object = charts.votes_by_language(data.by_language)
        fill_tables(data)
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
        ratings_table,
        pn.GridBox(plots["position"], plots["by_language"], ncols=2, sizing_mode="stretch_width"),
        plots["over_time"],
        variants_heading,
        win_table,
        pn.Row(buttons["csv"], buttons["parquet"]),
        sizing_mode="stretch_width",
    )


def _language_options(services: ArenaServices, t: Translator) -> dict[str, str]:
    languages = {t.language_label(lang): c for c, lang in services.registry.languages.items()}
    return {t("lb_all_languages"): "", **languages}
