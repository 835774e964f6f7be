"""The optional reasons form shown after a vote: tags for each text and a comment.

A separate small widget group so the arena page stays readable. The page shows it only
once a vote is stored and hides it at the next round (hidden, it is `display: none` and
out of the accessibility tree), so the tag "Wrong language" never sits beside the
`Language` selector while a voter (or a test) looks for that.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import ClassVar

import panel as pn
import param
from panel.custom import JSComponent

from app.arena.vote_reasons import MAX_COMMENT_CHARS, TAGS
from app.core.i18n import Translator
from app.web.pages.page_kit import FOCUS_CSS, TOUCH_CSS

Save = Callable[[list[str], list[str], str], Awaitable[bool]]


class TagPicker(JSComponent):
    """Tags to tick, in a `<fieldset>` whose `<legend>` names the text they describe, so a
    screen reader says "Text A, Fluent, checkbox, not checked".

    Each tag is an ARIA checkbox (a `<button role="checkbox">`: Space or a tap toggles it)
    rather than a labelled `<input>`: a `<label>` saying "Wrong language" would make the
    page's `Language` selector ambiguous to everything that finds controls by their label
    (tests, acceptance checks, voice control). The tick is a shape, not a colour."""

    legend = param.String(default="")
    options = param.List(default=[], doc="[[tag, label], ...]")
    value = param.List(default=[])

    _esm = """
    export function render({ model }) {
      const box = document.createElement('fieldset');
      const draw = () => {
        box.replaceChildren();
        const legend = document.createElement('legend');
        legend.textContent = model.legend;
        box.append(legend);
        for (const [tag, label] of model.options) {
          const item = document.createElement('button');
          item.type = 'button';
          item.className = 'tag';
          item.setAttribute('role', 'checkbox');
          item.dataset.tag = tag;
          item.setAttribute('aria-checked', String(model.value.includes(tag)));
          const tick = document.createElement('span');
          tick.className = 'tick';
          tick.setAttribute('aria-hidden', 'true');
          item.append(tick, document.createTextNode(label));
          item.addEventListener('click', () => {
            const on = item.getAttribute('aria-checked') !== 'true';
            item.setAttribute('aria-checked', String(on));
            model.value = [...box.querySelectorAll('[aria-checked="true"]')]
              .map((el) => el.dataset.tag);
          });
          box.append(item);
        }
      };
      draw();
      model.on(['legend', 'options'], draw);
      model.on('value', () => {
        for (const item of box.querySelectorAll('.tag')) {
          item.setAttribute('aria-checked', String(model.value.includes(item.dataset.tag)));
        }
      });
      return box;
    }
    """

    _stylesheets: ClassVar[list[str]] = [
        FOCUS_CSS,
        """
        fieldset { border: 1px solid #ccc; border-radius: 4px; padding: 0.3em 0.8em 0.6em;
          margin: 0; min-width: 12em; display: flex; flex-direction: column; }
        legend { font-weight: 600; padding: 0 0.3em; }
        .tag { display: flex; align-items: center; gap: 0.5em; padding: 0.3em 0.2em;
          min-height: 44px;
          font: inherit; font-size: 1rem; background: none; border: 0; text-align: left;
          cursor: pointer; color: #111; }
        .tick { width: 1.05em; height: 1.05em; border: 2px solid #444; border-radius: 3px;
          display: inline-flex; align-items: center; justify-content: center;
          font-size: 0.9em; line-height: 1; flex: none; }
        .tag[aria-checked="true"] .tick::after { content: "✓"; font-weight: 700; }
        .tag:focus-visible { outline: 3px solid #1a4fd6; outline-offset: 1px; }
        """,
    ]


class ReasonsForm:
    """The widgets of the reasons form; `panel` is what the page shows."""

    def __init__(self, t: Translator, save: Save) -> None:
        style = {"stylesheets": [FOCUS_CSS, TOUCH_CSS]}
        self.heading = pn.pane.HTML("", sizing_mode="stretch_width")
        self.tags = {
            side: TagPicker(css_classes=[f"arena-tags-{side}"], margin=(5, 20, 5, 10))
            for side in ("a", "b")
        }
        self.comment = pn.widgets.TextAreaInput(
            max_length=MAX_COMMENT_CHARS,
            rows=2,
            auto_grow=True,
            sizing_mode="stretch_width",
            css_classes=["arena-comment"],
            **style,
        )
        self.save = pn.widgets.Button(
            button_type="default", width=180, css_classes=["arena-save-reasons"], **style
        )

        async def on_save(_event: object) -> None:
            text = self.comment.value_input or self.comment.value or ""
            await save(list(self.tags["a"].value), list(self.tags["b"].value), text)

        self.save.on_click(on_save)
        self.panel = pn.Column(
            self.heading,
            pn.FlexBox(*(self.tags[s] for s in ("a", "b")), flex_wrap="wrap"),
            self.comment,
            self.save,
            sizing_mode="stretch_width",
            styles={"border-top": "1px solid #ddd"},
        )
        self.translate(t)

    def translate(self, t: Translator) -> None:
        """Every label in interface language `t`; ticked tags stay ticked."""
        self.heading.object = (
            f"<h3>{html.escape(t('reasons_heading'))}</h3><p>{html.escape(t('reasons_intro'))}</p>"
        )
        options = [[tag, t(f"tag_{tag}")] for tag in TAGS]
        for side in ("a", "b"):
            self.tags[side].param.update(legend=t(f"reasons_text_{side}"), options=options)
        self.comment.name = t("comment_label")
        self.comment.placeholder = t("comment_placeholder")
        self.save.name = t("save_reasons")

    def clear(self) -> None:
        for group in self.tags.values():
            group.value = []
        self.comment.param.update(value="", value_input="")
