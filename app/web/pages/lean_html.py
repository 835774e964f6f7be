"""An HTML pane whose text changes cost what they must: the new text, nothing else.

Panel's HTML pane answers every change of `object` by recomputing all the Bokeh properties
of the pane (styles, stylesheets, sizing, margins) and comparing them with the model's,
although only `text` can have changed. For the arena's streamed text, a dozen updates a
second per voter, that is most of the server's work: with 20 pages streaming into two
panes each, one update of both panes cost 1.6-1.8 ms of server CPU with `pn.pane.HTML`
and 0.7-0.8 ms with this pane (the same Panel batching and websocket path; the micro
benchmark is described in docs/benchmarks.md).

`LeanHTML` is a `pn.pane.HTML` in every other respect: `object` holds the HTML, styles and
sizing change through Panel as usual, and the text goes to the browser escaped exactly as
Panel's own HTML model expects it (Panel's `_transform_object`).
"""

from __future__ import annotations

from typing import Any

import panel as pn


class LeanHTML(pn.pane.HTML):
    """`pn.pane.HTML`, but a change of `object` sends only the new `text`."""

    def _update(self, ref: str, model: Any) -> None:
        if self.enable_streaming:  # Panel's patch-streaming path needs its own bookkeeping
            super()._update(ref, model)
            return
        model.text = self._transform_object(self.object)["object"]
