"""The `/about` page: what the arena is for, how votes are used and published, and who
made the models, in the interface language.

Linked from the other pages' navigation; the text is ours (`about_md` in the catalogue),
so it is rendered as Markdown, with links to MultiSynt and HPLT 2.0.
"""

from __future__ import annotations

import html

import panel as pn

from app.arena.services import ArenaServices
from app.web.pages.page_kit import (
    PageScript,
    interface_selector,
    nav_html,
    nav_pane,
    page_header,
    request_interface,
)


def build_about_page(services: ArenaServices, session_id: str) -> pn.viewable.Viewable:
    """The about page for one browser session."""
    catalogue = services.catalogue
    ui = request_interface(catalogue)
    interface = interface_selector(catalogue, ui)
    title = pn.pane.HTML("", margin=(0, 10))
    nav = nav_pane(catalogue.translator(ui), "about")
    body = pn.pane.Markdown("", sizing_mode="stretch_width", max_width=800)
    script = PageScript()

    def translate(code: str) -> None:
        t = catalogue.translator(code)
        with pn.io.hold():
            interface.name = t("interface_label")
            title.object = f"<h1>{html.escape(t('about_title'))}</h1>"
            nav.object = nav_html(t, "about")
            body.object = t("about_md")
            script.param.update(lang=t.language.html_lang, ui=t.code)

    interface.param.watch(lambda e: translate(e.new), "value")
    translate(ui)
    return pn.Column(
        script,
        page_header(title, interface),
        nav,
        body,
        sizing_mode="stretch_width",
        max_width=1200,
    )
