"""`LeanHTML` sends the text Panel's own HTML pane would send, and nothing is lost by
skipping the recomputation of the other properties."""

from __future__ import annotations

import panel as pn
import pytest
from bokeh.document import Document

from app.web.pages.lean_html import LeanHTML

CSS = [".arena-text { white-space: pre-wrap; }"]


@pytest.mark.parametrize(
    "obj",
    [
        '<pre class="arena-text"><span class="prompt">Det var</span></pre>',
        "&lt;script&gt;alert(1)&lt;/script&gt; & \"quotes\" 'single'",
        "",
        None,
        "Þetta er íslenska — ✓ 🇸🇪",
    ],
)
def test_the_browser_gets_exactly_what_panels_html_pane_sends(obj: str | None) -> None:
    doc = Document()
    lean, plain = LeanHTML("x", stylesheets=CSS), pn.pane.HTML("x", stylesheets=CSS)
    lean_model, plain_model = lean.get_root(doc), plain.get_root(doc)
    lean.object, plain.object = obj, obj
    assert lean_model.text == plain_model.text
    assert lean_model.text != "x"


def test_other_properties_still_follow_panel() -> None:
    doc = Document()
    pane = LeanHTML("<p>a</p>", stylesheets=CSS, sizing_mode="stretch_width")
    model = pane.get_root(doc)
    pane.param.update(object="<p>b</p>", styles={"border": "1px solid red"}, visible=False)
    assert model.text == pn.pane.HTML("<p>b</p>").get_root(Document()).text
    assert model.styles == {"border": "1px solid red"}
    assert model.visible is False


def test_panels_streaming_mode_keeps_its_own_path() -> None:
    doc = Document()
    pane = LeanHTML("<p>abc</p>", enable_streaming=True)
    model = pane.get_root(doc)
    pane.object = "<p>abcdef</p>"
    assert model.text == pn.pane.HTML("<p>abcdef</p>").get_root(Document()).text
