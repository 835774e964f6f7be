"""The HTML document around every page: Panel's own, plus what phones need.

Without `<meta name="viewport">` a phone lays a page out 980 px wide and shrinks it to
fit (about 40 % on a 390 px screen: 6 px text, vote buttons 60 x 12 px). The meta tag
lays the page out at the device's width; pages then choose their own layout for it
(`app/web/pages/arena.py`). Zoom stays allowed (no `maximum-scale`, no `user-scalable`):
voters who need larger text can pinch.

Panel renders a session's page with the document's `template` (Panel's `base.html` when
unset); this template extends that one (`base` is in the template's context) and adds
the tag to its head.
"""

from __future__ import annotations

import jinja2
import panel as pn

VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'

PAGE_TEMPLATE = jinja2.Template(
    "{% extends base %}\n{% block postamble %}" + VIEWPORT + "{% endblock %}"
)


def use_page_template() -> None:
    """Render the current session's page with `PAGE_TEMPLATE` (call from a page function)."""
    doc = pn.state.curdoc
    if doc is not None:
        doc.template = PAGE_TEMPLATE
