"""Two fixes to the Panel/Bokeh websocket path, found by the load test (docs/benchmarks.md).

`app/web/server.py` calls `apply()` once before it starts serving.

1. **Stranded messages** (Panel 1.9.x, `panel/io/document.py::_dispatch_msgs`). Changes
   made outside Bokeh's document lock (the arena's async callbacks and streaming) are
   queued in `_WRITE_MSGS` while a websocket write is in flight, and sent by a
   `_dispatch_msgs` task. When the task that was writing finishes, it clears the write
   block without looking for messages queued meanwhile; the task scheduled for those then
   finds no block and returns, leaving them unsent until some later change of the same
   page flushes them. The voter sees a page that stops answering: after a vote the buttons
   stay disabled and the "Thank you" never comes (the vote is stored). Under load 1-8 % of
   rounds; 0 with this fix in every run.
2. **Nagle's delay** on the websocket. A Bokeh message is three or more websocket frames;
   with Nagle's algorithm the second waits for the browser's delayed ACK (~40 ms on Linux,
   up to 200 ms on Windows) whenever the first is still unacknowledged. With `TCP_NODELAY`
   an idle page's round trip fell from 44 ms to 1 ms, and the minimal Panel app's click to
   visible text in Chromium from 55 ms to 29 ms.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

_applied = False


def apply() -> list[str]:
    """Install both fixes (idempotent); return the names of those installed."""
    global _applied
    if _applied:
        return []
    _applied = True
    return [name for name, install in (("nodelay", _nodelay), ("dispatch", _dispatch)) if install()]


def _nodelay() -> bool:
    from bokeh.server.views.ws import WSHandler

    original = WSHandler.open

    def open(self: WSHandler) -> Any:
        self.set_nodelay(True)
        return original(self)

    WSHandler.open = open  # type: ignore[method-assign]
    return True


def _dispatch() -> bool:
    import panel
    import panel.io.document as document

    needed = ("_WRITE_BLOCK", "_WRITE_MSGS", "_WRITE_FUTURES", "_dispatch_write_task")
    if not panel.__version__.startswith("1.9.") or not all(hasattr(document, n) for n in needed):
        log.warning(
            "panel %s: websocket dispatch fix not applied (written for 1.9)", panel.__version__
        )
        return False
    document._dispatch_msgs = dispatch_msgs  # looked up by name at each call in that module
    return True


async def dispatch_msgs(doc: Any) -> None:
    """Panel 1.9's `_dispatch_msgs`, except that it hands over to a new task, instead of
    dropping the write block, when messages were queued while it was writing."""
    import panel.io.document as d
    from tornado.websocket import WebSocketHandler

    if doc not in d._WRITE_BLOCK:
        return
    remaining: dict[Any, list[Any]] = {}
    futures: list[Any] = []
    for conn, msgs in d._WRITE_MSGS.pop(doc, {}).items():
        socket = conn._socket
        if hasattr(socket, "write_lock") and socket.write_lock._block._value == 0:
            remaining[conn] = msgs
            continue
        for msg in msgs:
            if isinstance(socket, WebSocketHandler):
                futures += d.dispatch_tornado(conn, msg=msg)
            elif (socket_type := type(socket)) in d.extra_socket_handlers:
                futures += d.extra_socket_handlers[socket_type](conn, msg=msg)
            else:
                futures += d.dispatch_django(conn, msg=msg)
    if futures:
        d._WRITE_FUTURES[doc] = d._WRITE_FUTURES.get(doc, []) + futures
        await d._run_write_futures(doc)
    if not remaining:
        if d._WRITE_MSGS.get(doc):  # queued while we were writing: keep the block, send them
            d._dispatch_write_task(doc, dispatch_msgs, doc)
            return
        d._WRITE_BLOCK.pop(doc, None)
        d._WRITE_MSGS.pop(doc, None)
        return
    for conn, msgs in remaining.items():
        queued = d._WRITE_MSGS.setdefault(doc, {})
        queued[conn] = msgs + queued.get(conn, [])
    await asyncio.sleep(0.01)
    d._dispatch_write_task(doc, dispatch_msgs, doc)
