"""The websocket fixes of `app/web/panel_patches.py`: the dispatch race replayed step by step
against Panel's own module state (stock Panel strands the message, the fix sends it), and
TCP_NODELAY set when a page's websocket opens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any

import panel.io.document as d
import pytest

from app.web import panel_patches


class _Doc:
    """Stands for a Bokeh document: Panel keys its write state by it (weakly)."""

    def add_next_tick_callback(self, callback: Callable[[], Any]) -> None:  # pragma: no cover
        callback()


class _Socket:
    """A websocket whose writes stay in flight until the test lets them end; like Bokeh's
    handler, it holds its `write_lock` meanwhile (Panel reads `write_lock._block._value`)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.in_flight: list[asyncio.Future[None]] = []
        self.write_lock = SimpleNamespace(_block=SimpleNamespace(_value=1))

    def write(self, _conn: object, msg: str) -> list[asyncio.Future[None]]:
        self.sent.append(msg)
        self.write_lock._block._value = 0
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _f: setattr(self.write_lock._block, "_value", 1))
        self.in_flight.append(future)
        return [future]


class _Conn:
    def __init__(self, socket: _Socket) -> None:
        self._socket = socket


def _queue_while_writing(doc: _Doc, conn: _Conn, msg: str) -> None:
    """What `schedule_write_events` does for a change made while a write is in flight."""
    d._WRITE_BLOCK[doc] = True
    d._WRITE_MSGS.setdefault(doc, {}).setdefault(conn, []).append(msg)
    d._dispatch_write_task(doc, d._dispatch_msgs, doc)


async def _replay(dispatch: Callable[[Any], Coroutine[Any, Any, None]]) -> list[str]:
    socket = _Socket()
    d.extra_socket_handlers[_Socket] = lambda conn, msg: socket.write(conn, msg)
    doc, conn = _Doc(), _Conn(socket)
    original = d._dispatch_msgs
    d._dispatch_msgs = dispatch
    try:
        _queue_while_writing(doc, conn, "votable")  # the first change: its write starts
        for _ in range(3):
            await asyncio.sleep(0)
        assert socket.sent == ["votable"]
        _queue_while_writing(doc, conn, "thank you")  # the vote, while "votable" is in flight
        for _ in range(3):
            await asyncio.sleep(0)
        for future in socket.in_flight:  # the first write ends
            future.set_result(None)
        for _ in range(20):
            await asyncio.sleep(0.002)
            for future in socket.in_flight:
                if not future.done():
                    future.set_result(None)
        return socket.sent
    finally:
        d._dispatch_msgs = original
        del d.extra_socket_handlers[_Socket]
        d._WRITE_BLOCK.pop(doc, None)
        d._WRITE_MSGS.pop(doc, None)


async def test_stock_panel_strands_a_message_queued_during_a_write() -> None:
    if d._dispatch_msgs is panel_patches.dispatch_msgs:
        pytest.skip("the fix is installed in this process")
    assert await _replay(d._dispatch_msgs) == ["votable"]  # "thank you" never leaves


async def test_the_fix_sends_it() -> None:
    assert await _replay(panel_patches.dispatch_msgs) == ["votable", "thank you"]


def test_websocket_opens_with_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    from bokeh.server.views.ws import WSHandler

    calls: list[str] = []
    monkeypatch.setattr(WSHandler, "open", lambda self: calls.append("open"))
    monkeypatch.setattr(panel_patches, "_applied", False)
    monkeypatch.setattr(d, "_dispatch_msgs", d._dispatch_msgs)  # undone after the test
    assert panel_patches.apply() == ["nodelay", "dispatch"]
    assert panel_patches.apply() == []  # once only

    class Handler:
        def set_nodelay(self, value: bool) -> None:
            calls.append(f"nodelay={value}")

    WSHandler.open(Handler())  # type: ignore[arg-type]
    assert calls == ["nodelay=True", "open"]
