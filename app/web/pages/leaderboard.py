"""The `/leaderboard` page: composes widgets and wires them to a `LeaderboardState`.

It opens with the answer the arena exists for (MultiSynt against HPLT, overall and per
translation system: `leaderboard_view.answer_html`), then the filters, the charts (each
under an HTML heading, which wraps where a title drawn into a canvas would be cut), the
tables (a few columns, the rest on demand; the downloads keep every column) and the
downloads. On a phone it is laid out at the screen's width: 16 px text (`READABLE`),
44 px touch targets (`TOUCH_CSS`), charts and filters stacked, tables wrapping their text.

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
    READABLE,
    TOUCH_CSS,
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
    style = {"stylesheets": [FOCUS_CSS, TOUCH_CSS]}

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
        css_classes=["leaderboard-exclude"],
        stylesheets=[FOCUS_CSS, TOUCH_CSS, CHOICES_CSS],
    )
    answer = pn.pane.HTML(
        view.answer_html(t0, None),
        sizing_mode="stretch_width",
        stylesheets=[view.ANSWER_CSS],
        css_classes=["leaderboard-answer-pane"],
    )
    summary = pn.pane.HTML(view.summary_html(t0, None), sizing_mode="stretch_width")
    warnings = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[view.NOTES_CSS])
    plots = {
        name: pn.pane.HoloViews(
            None, sizing_mode="stretch_width", min_height=320, linked_axes=False
        )
        for name in view.CHARTS
    }
    headings = {
        name: pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[HEADING_CSS])
        for name in view.CHARTS
    }
    # No fixed height: a table is as tall as its rows (no blank box under a short one).
    grid_style = {
        "disabled": True,
        "show_index": False,
        "sizing_mode": "stretch_width",
        "layout": "fit_columns",
        "container_popup": False,  # else Panel adds a 1 px column past the last one
        # Tabulator's own formatting: Panel's would also format the values a narrow
        # screen shows under their row, and there it drops them.
        "formatters": view.PLAIN_FORMATTERS,
        "stylesheets": [GRID_CSS],
    }

    def grids(columns: tuple[str, ...], shown: tuple[str, ...], css: str) -> Grids:
        """A table twice: its few columns, and every column (hidden until asked for). Two
        grids, each built with its columns: Tabulator's narrow-screen layout counts only
        the columns a grid was built with, not those shown later."""
        few, every = (
            pn.widgets.Tabulator(
                None,
                configuration=view.grid_configuration(columns, cols),
                css_classes=[css],
                visible=cols is shown,
                **grid_style,
            )
            for cols in (shown, columns)
        )
        return few, every

    ratings_grids = grids(view.TABLE_COLUMNS, view.TABLE_SHOWN, "leaderboard-ratings")
    win_grids = grids(view.WIN_COLUMNS, view.WIN_SHOWN, "leaderboard-variants")
    every_column = pn.widgets.Toggle(value=False, width=260, **style)
    buttons: dict[Format, pn.widgets.FileDownload] = {}
    for fmt in view.FORMATS:
        buttons[fmt] = pn.widgets.FileDownload(
            callback=_download(state, buttons, fmt),
            filename=f"battles.{fmt}",
            button_type="default",
            width=190,
            stylesheets=[FOCUS_CSS, TOUCH_CSS, DOWNLOAD_CSS],
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

    def show_columns(event: param.parameterized.Event) -> None:
        """Every column of both tables, or the few on show (the downloads keep them all)."""
        with pn.io.hold():
            for few, every in (ratings_grids, win_grids):
                few.visible, every.visible = not event.new, event.new

    every_column.param.watch(show_columns, "value")

    def placeholder(event: param.parameterized.Event | None = None) -> None:
        """The "leave out" box says "none left out" only while nothing is chosen."""
        exclude.placeholder = "" if exclude.value else state.translator("lb_exclude_none")

    exclude.param.watch(placeholder, "value")
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
        exclude.name = t("lb_exclude")
        placeholder()
        every_column.name = t("lb_all_columns")
        for name, text in view.chart_titles(t).items():
            headings[name].object = f"<h2>{html.escape(text)}</h2>"
        for table in ratings_grids:
            table.titles = view.column_names(t, view.TABLE_COLUMNS)
        for table in win_grids:
            table.titles = view.column_names(t, view.WIN_COLUMNS)
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
                answer.object = view.answer_html(t, data)
            if data is not None and changed & {"ui_language", "data"}:
                warnings.object = view.warnings_html(t, data)
                ratings, wins = view.ratings_table(t, data), view.win_table(t, data)
                for table in ratings_grids:
                    table.value = ratings
                for table in win_grids:
                    table.value = wins
            if "plots" in changed:
                for name, plot in state.plots.items():
                    plots[name].object = plot
            if "data" in changed:
                for fmt, button in buttons.items():
                    button.filename = state.filename(fmt)

    state.param.watch(render, ["ui_language", "flags", "data", "plots", "failed"])
    render()

    # ---- layout --------------------------------------------------------------------------

    def chart(name: str) -> pn.Column:
        return pn.Column(headings[name], plots[name], css_classes=[f"leaderboard-chart-{name}"])

    def charts(*names: str) -> pn.FlexBox:
        """Charts side by side where there is room, stacked on narrow screens."""
        cells = [pn.Column(chart(n), styles={"flex": "1 1 440px", "min-width": "0"}) for n in names]
        return pn.FlexBox(*cells, flex_wrap="wrap", sizing_mode="stretch_width")

    return pn.Column(
        script,
        page_header(title, interface),
        nav,
        answer,
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
        charts("win_rate", "variants"),
        charts("ratings"),
        ratings_heading,
        every_column,
        *ratings_grids,
        charts("position", "by_language"),
        charts("over_time"),
        variants_heading,
        *win_grids,
        pn.FlexBox(buttons["csv"], buttons["parquet"], flex_wrap="wrap"),
        sizing_mode="stretch_width",
        styles=READABLE,
    )


# A chart's heading: the size of a table's, above its chart.
HEADING_CSS = "h2 { font-size: 1.17rem; margin: 0.8em 0 0; }"

# The chosen flags' chips: a delete button a finger can hit, text at the page's size.
CHOICES_CSS = """
.choices__inner { min-height: 44px; font-size: max(16px, 1em); }
.choices__input { min-height: 44px; font-size: max(16px, 1em); }
.choices__list--multiple .choices__item { font-size: max(16px, 1em); }
.choices__list--multiple .choices__item[data-deletable] .choices__button {
  min-width: 44px; min-height: 44px; background-size: 12px; font-size: 16px; }
"""

# A download button's label is a link inside the button: the link is the touch target.
DOWNLOAD_CSS = """
.bk-btn { padding: 0; }
.bk-btn a { display: flex; align-items: center; justify-content: center; min-height: 44px;
  padding: 0 12px; }
"""

# Tables fit their box: columns share the width, and long text (model ids, notes) wraps
# inside its cell; text at the page's 16 px. A row is as tall as its tallest cell, laid
# out by the browser: Tabulator measures row heights once, and a column shown later (or a
# turned phone) would leave text cut off under a row's fixed height.
GRID_CSS = """
.tabulator.pnx-tabulator { font-size: max(16px, 1em); }
.tabulator-row .tabulator-cell, .tabulator-col .tabulator-col-title {
  white-space: normal !important; overflow-wrap: anywhere; text-overflow: clip !important; }
.tabulator-row .tabulator-cell > div { white-space: normal !important; }
.tabulator-col.tabulator-sortable .tabulator-col-title { padding-right: 16px; }
.tabulator-col .tabulator-col-content .tabulator-col-sorter { right: 2px; }
.tabulator-row { display: flex; flex-wrap: wrap; }
.tabulator-row .tabulator-cell { flex: none; height: auto !important; }
.tabulator-row .tabulator-responsive-collapse { flex: 0 0 100%; box-sizing: border-box; }
.tabulator-responsive-collapse { padding: 0 4px 6px; }
.tabulator-responsive-collapse table { font-size: inherit !important; }
.tabulator-responsive-collapse td { padding: 2px 8px 2px 0; vertical-align: top;
  white-space: normal; overflow-wrap: anywhere; }
.tabulator-responsive-collapse td:first-child { white-space: nowrap; }
@media (max-width: 600px) {
  .tabulator-col .tabulator-col-sorter { display: none !important; }
  .tabulator-col.tabulator-sortable .tabulator-col-title { padding-right: 0 !important; }
}
"""


Grids = tuple[pn.widgets.Tabulator, pn.widgets.Tabulator]  # a table's few columns, and all


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
