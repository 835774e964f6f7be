"""Two fixes to the Panel/Bokeh websocket path, found by the load test (docs/benchmarks.md).

`app/web/server.py` calls `apply()` before it starts serving. Both fixes reach into
Panel's and Bokeh's internals; where one cannot be installed (a Panel or Bokeh that changed
them), `apply()` installs neither and raises `PatchError`, which stops the server with a
one-line message: served without them, some voters' pages stop answering under load.

1. **Stranded messages** (`panel/io/document.py::_dispatch_msgs`, Panel 1.9 and 1.10).
   Changes made outside Bokeh's document lock (the arena's async callbacks and streaming)
   are queued while a websocket write is in flight (Panel 1.9 queues serialized messages
   per connection in `_WRITE_MSGS`, 1.10 queues event batches in `_WRITE_EVENTS`) and sent
   by a `_dispatch_msgs` task, which waits and tries again while a socket is locked. When
   the task that was writing finishes, it drops the write block without looking for
   changes queued meanwhile; the task that waits for those then finds no block and
   returns, leaving them unsent until some later change of the same page flushes them.
   The voter sees a page that stops answering: after a vote the buttons stay disabled and
   the "Thank you" never comes (the vote is stored). Under load 1-8 % of rounds on Panel
   1.9; 0 with this fix in every run. tests/test_panel_patches.py replays the race against
   the installed Panel's own functions: stock Panel strands the change on 1.9 and 1.10.
   The fix wraps `_dispatch_msgs`: a dispatch that ends with the block dropped and
   changes still queued takes the block again and starts another dispatch.
2. **Nagle's delay** on the websocket (Bokeh 3.9 and 3.10). A Bokeh message is three or
   more websocket frames; with Nagle's algorithm the second waits for the browser's
   delayed ACK (~40 ms on Linux, up to 200 ms on Windows) whenever the first is still
   unacknowledged. With `TCP_NODELAY` an idle page's round trip fell from 44 ms to 1 ms,
   and the minimal Panel app's click to visible text in Chromium from 55 ms to 29 ms.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

Dispatch = Callable[[Any], Coroutine[Any, Any, None]]
Install = Callable[[], None]

# Where Panel queues what waits for a write: 1.10 (event batches), 1.9 (messages).
QUEUE_NAMES = ("_WRITE_EVENTS", "_WRITE_MSGS")

_applied = False


class PatchError(RuntimeError):
    """A websocket fix cannot be installed on the installed Panel or Bokeh."""


def apply() -> list[str]:
    """Install both fixes (once per process); return the names of those installed.

    Raises `PatchError`, having installed neither, when one of them cannot be installed."""
    global _applied
    if _applied:
        return []
    installs = [("nodelay", _nodelay()), ("dispatch", _dispatch())]  # each checks first
    for _name, install in installs:
        install()
    _applied = True
    return [name for name, _install in installs]


def _nodelay() -> Install:
    from bokeh import __version__ as bokeh_version
    from bokeh.server.views.ws import WSHandler

    original = getattr(WSHandler, "open", None)
    if not callable(original) or not callable(getattr(WSHandler, "set_nodelay", None)):
        raise PatchError(
            f"bokeh {bokeh_version}: cannot set TCP_NODELAY on page websockets "
            "(bokeh.server.views.ws.WSHandler has no open or set_nodelay); "
            "app/web/panel_patches.py supports Bokeh 3.9 and 3.10"
        )

    def open(self: WSHandler) -> Any:
        self.set_nodelay(True)
        return original(self)

    def install() -> None:
        WSHandler.open = open  # type: ignore[method-assign]

    return install


def _dispatch() -> Install:
    import panel
    import panel.io.document as document

    needed = ("_WRITE_BLOCK", "_dispatch_write_task", "_dispatch_msgs")
    missing = [name for name in needed if not hasattr(document, name)]
    if not any(hasattr(document, name) for name in QUEUE_NAMES):
        missing.append(" or ".join(QUEUE_NAMES))
    if not missing and not inspect.iscoroutinefunction(document._dispatch_msgs):
        missing.append("an async _dispatch_msgs")
    if missing:
        raise PatchError(
            f"panel {panel.__version__}: cannot install the websocket dispatch fix "
            f"(panel.io.document lacks {', '.join(missing)}); "
            "app/web/panel_patches.py supports Panel 1.9 and 1.10"
        )
    stock = document._dispatch_msgs

    def install() -> None:
        # Panel's own code looks the name up in its module at each call, so it calls this.
        document._dispatch_msgs = guard(stock)

    return install


def write_queue(document: Any) -> Any:
    """The installed Panel's queue of changes that wait for a write (keyed by document)."""
    return next(getattr(document, n) for n in QUEUE_NAMES if hasattr(document, n))


def guard(stock: Dispatch) -> Dispatch:
    """Panel's `_dispatch_msgs` (`stock`), then a look for changes it left queued without
    a write block (the race above): if there are any, take the block and dispatch again."""
    import panel.io.document as d

    queue = write_queue(d)

    @functools.wraps(stock)
    async def dispatch_msgs(doc: Any) -> None:
        await stock(doc)
        # No await since `stock` dropped the block: nothing can have queued or sent since.
        if doc not in d._WRITE_BLOCK and queue.get(doc):
            d._WRITE_BLOCK[doc] = True
            d._dispatch_write_task(doc, d._dispatch_msgs, doc)

    return dispatch_msgs
