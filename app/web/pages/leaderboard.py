"""The `/leaderboard` page: composes widgets and wires them to a `LeaderboardState`.

The filter widgets send their values to the state, which reads what they select and
draws the charts (`leaderboard_state`); its parameters come back through ONE watcher that
updates the widgets under `pn.io.hold()`, so a read (or a switch of the interface
language) reaches the browser as one message. The tables, notes and summary are drawn by
`leaderboard_view`. A periodic callback lets the state look for new votes every
`ARENA_ANALYTICS__REFRESH_S` seconds.

Every visible string follows the interface language (`app.core.i18n`, switchable on the
page): the page's own, and those `analytics` writes (chart titles and axes, per-row notes,
flag names). The data itself (language codes, model ids) and the downloads stay as they are.
"""

from __future__ import annotations

import html
import io
from collections.abc import Awaitable, Callable

import panel as pn
import param

from app.arena.services import ArenaServices
from app.web.pages import leaderboard_view as view
from app.web.pages.leaderboard_state import Format, LeaderboardState
from app.web.pages.page_kit import (
    FOCUS_CSS,
    PageScript,
    interface_selector,
    nav_html,
    nav_pane,
    on_loop,
    page_header,
    request_interface,
)


def build_leaderboard_page(services: ArenaServices, session_id: str) -> pn.viewable.Viewable:
    """One analyst's dashboard. Called once per browser session by the Panel server."""
    catalogue, registry = services.catalogue, services.registry
    ui = request_interface(catalogue)
    state = LeaderboardState(services.store, services.settings.analytics, catalogue, ui_language=ui)
    t0 = state.translator
    style = {"stylesheets": [FOCUS_CSS]}

    interface = interface_selector(catalogue, ui)
    # Stable CSS classes (as the arena's controls have) for tests, whatever the language.
    language = pn.widgets.Select(
        options=view.language_options(t0, registry),
        value=state.language,
        width=260,
        css_classes=["leaderboard-language"],
        **style,
    )
    dates = pn.widgets.DateRangePicker(
        value=state.dates, width=260, css_classes=["leaderboard-dates"], **style
    )
    sources = pn.widgets.CheckButtonGroup(
        options=view.source_options(t0), value=list(state.sources), **style
    )
    exclude = pn.widgets.MultiChoice(
        options=view.flag_options(t0, state.flags),
        value=list(state.exclude_flags),
        width=300,
        **style,
    )
    summary = pn.pane.HTML(view.summary_html(t0, None), sizing_mode="stretch_width")
    warnings = pn.pane.Markdown("", sizing_mode="stretch_width")
    plots = {
        name: pn.pane.HoloViews(
            None, sizing_mode="stretch_width", min_height=320, linked_axes=False
        )
        for name in view.CHARTS
    }
    grid = {"disabled": True, "show_index": False, "sizing_mode": "stretch_width"}
    ratings_grid = pn.widgets.Tabulator(None, height=360, **grid)
    win_grid = pn.widgets.Tabulator(None, height=300, **grid)
    buttons: dict[Format, pn.widgets.FileDownload] = {}
    for fmt in view.FORMATS:
        buttons[fmt] = pn.widgets.FileDownload(
            callback=_download(state, buttons, fmt),
            filename=f"battles.{fmt}",
            button_type="default",
            width=190,
            **style,
        )
    intro = pn.pane.Markdown("", sizing_mode="stretch_width")
    title = pn.pane.HTML("", margin=(0, 10))
    source_label = pn.pane.HTML("")
    ratings_heading = pn.pane.Markdown("", margin=(10, 10, 0, 10))
    variants_heading = pn.pane.Markdown("", margin=(10, 10, 0, 10))
    nav = nav_pane(t0, "leaderboard")
    script = PageScript(lang=t0.language.html_lang)

    # ---- widgets -> state ----------------------------------------------------------------

    def on_filter(name: str) -> Callable[[param.parameterized.Event], Awaitable[None]]:
        async def handler(event: param.parameterized.Event) -> None:
            await state.apply(**{name: event.new})

        return handler

    for widget, name in (
        (language, "language"),
        (dates, "dates"),
        (sources, "sources"),
        (exclude, "exclude_flags"),
    ):
        widget.param.watch(on_filter(name), "value")
    interface.param.watch(on_loop(lambda e: state.set_interface(e.new)), "value")
    pn.state.onload(state.refresh)
    pn.state.add_periodic_callback(
        state.poll, period=int(services.settings.analytics.refresh_s * 1000)
    )

    # ---- state -> widgets ----------------------------------------------------------------

    def translate() -> None:
        """Every fixed label in the interface language (values and choices are kept)."""
        t = state.translator
        interface.name = t("interface_label")
        nav.object = nav_html(t, "leaderboard")
        title.object = f"<h1>{html.escape(t('lb_title'))}</h1>"
        intro.object = t("lb_intro_md")
        language.param.update(name=t("language_label"), options=view.language_options(t, registry))
        dates.name = t("lb_voted_between")
        source_label.object = f"<small>{html.escape(t('lb_source'))}</small>"
        sources.options = view.source_options(t)
        exclude.param.update(name=t("lb_exclude"), placeholder=t("lb_exclude_none"))
        ratings_grid.titles = view.column_names(t, view.TABLE_COLUMNS)
        win_grid.titles = view.column_names(t, view.WIN_COLUMNS)
        ratings_heading.object = f"### {t('lb_ratings')}"
        variants_heading.object = f"### {t('lb_by_variant')}"
        for fmt, button in buttons.items():
            button.label = view.download_label(t, fmt)
        script.param.update(lang=t.language.html_lang, ui=t.code)

    def render(*events: param.parameterized.Event) -> None:
        """One watcher for every state change, so a read's results (or a language
        switch) reach the browser as one message."""
        changed = {e.name for e in events} if events else set(state.param)
        t, data = state.translator, state.data
        with pn.io.hold():
            if "ui_language" in changed:
                translate()
            if changed & {"ui_language", "flags"}:
                exclude.options = view.flag_options(t, state.flags)
                # The browser's MultiChoice holds the chosen flags by their labels, and
                # drops those no longer among the options: send it the new labels.
                exclude.param.trigger("value")
            if changed & {"ui_language", "data", "failed"}:
                summary.object = view.summary_html(t, data, state.failed)
            if data is not None and changed & {"ui_language", "data"}:
                warnings.object = view.warnings_md(t, data)
                ratings_grid.value = view.ratings_table(t, data)
                win_grid.value = view.win_table(t, data)
            if "plots" in changed:
                for name, plot in state.plots.items():
                    plots[name].object = plot
            if "data" in changed:
                for fmt, button in buttons.items():
                    button.filename = state.filename(fmt)

    state.param.watch(render, ["ui_language", "flags", "data", "plots", "failed"])
    render()

    # ---- layout --------------------------------------------------------------------------

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


def _download(
    state: LeaderboardState, buttons: dict[Format, pn.widgets.FileDownload], fmt: Format
) -> Callable[[], Awaitable[io.BytesIO]]:
    """A download button's callback: the filtered battles, read when it is clicked, under
    a name that says what was filtered."""

    async def make() -> io.BytesIO:
        filename, payload = await state.download(fmt)
        buttons[fmt].filename = filename
        return io.BytesIO(payload)

    return make
