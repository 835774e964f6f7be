"""The `/leaderboard` page: filters, charts, tables and downloads for the battle log.

The page only composes widgets; the numbers come from `analytics.dashboard` and the plots
from `analytics.charts`. It reads through `services.store.read` (a fresh cursor per call,
in a worker thread so the server's event loop never waits on DuckDB), and polls a cheap
fingerprint of the votes every `ARENA_ANALYTICS__REFRESH_S` seconds, recomputing only
when a vote arrived.
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

log = logging.getLogger(__name__)

INTRO = """
Blind votes on **fluency**: MultiSynt models (trained on machine-translated text) against
the HPLT 2.0 model trained on native text of the same language. Win rates count
**decisive** votes only; ties and "both bad" are shown beside them. Bars are 95% intervals:
where one crosses the dashed line, the data cannot tell the two apart yet.
"""

TABLE_COLUMNS = {
    "language": "Language",
    "model": "Model",
    "rating": "Rating",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "battles": "Battles",
    "wins": "Wins",
    "losses": "Losses",
    "ties": "Ties",
    "both_bad": "Both bad",
    "warning": "Note",
}


WIN_COLUMNS = {
    "language": "Language",
    "variant": "Variant",
    "battles": "Battles",
    "multisynt_wins": "MultiSynt better",
    "hplt_wins": "HPLT better",
    "ties": "Ties",
    "both_bad": "Both bad",
    "decisive": "Decisive",
    "win_rate": "MultiSynt win rate",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "warning": "Note",
}


def _summary_html(data: DashboardData | None) -> str:
    if data is None:
        return '<p class="leaderboard-summary" role="status">Loading…</p>'
    total, last = data.marker
    last_text = f"; last vote {last:%Y-%m-%d %H:%M} UTC" if last else ""
    return (
        f'<p class="leaderboard-summary" role="status"><b>{data.matched_votes} votes</b> '
        f"match the filters ({total} in the log{html.escape(last_text)}).</p>"
    )


def _warnings_md(data: DashboardData) -> str:
    lines = data.warnings()
    if not lines:
        return ""
    shown = lines[:12]
    more = f"\n- … and {len(lines) - 12} more" if len(lines) > 12 else ""
    return "**Too few votes to conclude:**\n" + "\n".join(f"- {w}" for w in shown) + more


def _charts() -> ModuleType:
    """`analytics.charts`, imported on first use in a worker thread: hvplot takes seconds
    to import, which neither every arena start nor the server's event loop should wait."""
    return importlib.import_module("analytics.charts")


def build_leaderboard_page(services: ArenaServices, session_id: str) -> pn.viewable.Viewable:
    """One analyst's dashboard. Called once per browser session by the Panel server."""
    settings = services.settings.analytics
    store = services.store
    languages = {lang.label: code for code, lang in services.registry.languages.items()}

    language = pn.widgets.Select(
        name="Language", options={"All languages": "", **languages}, value="", width=260
    )
    dates = pn.widgets.DateRangePicker(name="Voted between (UTC)", value=None, width=260)
    sources = pn.widgets.CheckButtonGroup(
        name="Source", options={"Live": "arena", "Legacy": "legacy"}, value=list(SOURCES)
    )
    exclude = pn.widgets.MultiChoice(
        name="Leave out battles flagged",
        options=list(UNTRUSTED_FLAGS),
        value=list(UNTRUSTED_FLAGS),
        placeholder="none left out",
        width=300,
    )
    summary = pn.pane.HTML(_summary_html(None), sizing_mode="stretch_width")
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
            label=f"Download {label}",
            button_type="default",
            width=190,
        )
        for fmt, label in (("csv", "CSV"), ("parquet", "Parquet"))
    }

    state: dict[str, object] = {"marker": None, "running": False, "again": False}

    def render(data: DashboardData, charts: ModuleType) -> None:
        if set(data.known_flags) - set(exclude.options):
            exclude.options = sorted(set(exclude.options) | set(data.known_flags))
        summary.object = _summary_html(data)
        warnings.object = _warnings_md(data)
        plots["win_rate"].object = charts.win_rate_by_language(data.win_by_language)
        plots["variants"].object = charts.win_rate_by_variant(data.win_by_variant)
        plots["ratings"].object = charts.ratings(data.ratings)
        plots["position"].object = charts.position_bias(data.position)
        plots["over_time"].object = charts.votes_over_time(data.per_day)
        plots["by_language"].object = charts.votes_by_language(data.by_language)
        ratings_table.value = (
            data.ratings[list(TABLE_COLUMNS)].round(1).rename(columns=TABLE_COLUMNS)
        )
        win_table.value = data.win_by_language_variant.round(3).rename(columns=WIN_COLUMNS)
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
                '<p class="leaderboard-summary" role="alert">Could not read the battle log; '
                "retrying at the next check.</p>"
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
    pn.state.onload(refresh)
    pn.state.add_periodic_callback(poll, period=int(settings.refresh_s * 1000))

    return pn.Column(
        pn.pane.HTML("<h1>OELLM Arena: leaderboard</h1>"),
        pn.pane.Markdown(INTRO, sizing_mode="stretch_width"),
        pn.Row(
            language,
            dates,
            pn.Column(pn.pane.HTML("<small>Source</small>"), sources),
            exclude,
        ),
        summary,
        warnings,
        pn.GridBox(plots["win_rate"], plots["variants"], ncols=2, sizing_mode="stretch_width"),
        plots["ratings"],
        pn.pane.Markdown("### Ratings", margin=(10, 10, 0, 10)),
        ratings_table,
        pn.GridBox(plots["position"], plots["by_language"], ncols=2, sizing_mode="stretch_width"),
        plots["over_time"],
        pn.pane.Markdown("### MultiSynt vs HPLT by language and variant", margin=(10, 10, 0, 10)),
        win_table,
        pn.Row(buttons["csv"], buttons["parquet"]),
        sizing_mode="stretch_width",
    )
