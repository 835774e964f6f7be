"""The websocket fixes of `app/web/panel_patches.py`: the dispatch race replayed step by step
through the installed Panel's own queueing and dispatch functions (stock Panel strands the
change, the fix sends it), TCP_NODELAY set when a page's websocket opens, and a Panel the
fixes do not fit stopping the server at start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import panel
import panel.io.document as d
import pytest
from bokeh.server.views.ws import WSHandler
from click.testing import CliRunner

from app.cli import main
from app.web import panel_patches
from tests.conftest import free_port


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
    """A connection whose protocol turns a batch of events into one message: the events'
    text (Panel 1.9 serializes when it queues, 1.10 when it writes; both call this)."""

    def __init__(self, socket: _Socket) -> None:
        self._socket = socket
        self.protocol = SimpleNamespace(create=lambda _kind, events: " ".join(events))


async def _replay(dispatch: Callable[[Any], Any]) -> list[str]:
    """A change queued while the page's previous write is in flight (the vote's "thank you"
    while "votable" is being written), through `schedule_write_events`, which Panel calls
    for every change made outside the document lock."""
    socket = _Socket()
    d.extra_socket_handlers[_Socket] = lambda conn, msg: socket.write(conn, msg)
    doc, conn = _Doc(), _Conn(socket)
    original = d._dispatch_msgs
    d._dispatch_msgs = dispatch
    try:
        d.schedule_write_events(doc, [conn], ["votable"])  # type: ignore[arg-type]
        for _ in range(3):
            await asyncio.sleep(0)
        assert socket.sent == ["votable"]  # its write is in flight
        d.schedule_write_events(doc, [conn], ["thank you"])  # type: ignore[arg-type]
        for _ in range(3):
            await asyncio.sleep(0)
        for future in socket.in_flight:  # the first write ends
            future.set_result(None)
        for _ in range(20):  # Panel retries a locked socket every 10 ms
            await asyncio.sleep(0.002)
            for future in socket.in_flight:
                if not future.done():
                    future.set_result(None)
        return socket.sent
    finally:
        d._dispatch_msgs = original
        del d.extra_socket_handlers[_Socket]
        d._WRITE_BLOCK.pop(doc, None)
        panel_patches.write_queue(d).pop(doc, None)


def _stock() -> Callable[[Any], Any]:
    """Panel's own `_dispatch_msgs`, whether or not the fix is installed in this process."""
    return getattr(d._dispatch_msgs, "__wrapped__", d._dispatch_msgs)


async def test_stock_panel_strands_a_message_queued_during_a_write() -> None:
    assert await _replay(_stock()) == ["votable"], panel.__version__  # "thank you" never leaves


async def test_the_fix_sends_it() -> None:
    assert await _replay(panel_patches.guard(_stock())) == ["votable", "thank you"]


def test_websocket_opens_with_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(WSHandler, "open", lambda self: calls.append("open"))
    monkeypatch.setattr(panel_patches, "_applied", False)
    monkeypatch.setattr(d, "_dispatch_msgs", d._dispatch_msgs)  # undone after the test
    assert panel_patches.apply() == ["nodelay", "dispatch"]
    assert panel_patches.apply() == []  # once only
    assert d._dispatch_msgs.__wrapped__ is not None  # type: ignore[attr-defined]

    class Handler:
        def set_nodelay(self, value: bool) -> None:
            calls.append(f"nodelay={value}")

    WSHandler.open(Handler())  # type: ignore[arg-type]
    assert calls == ["nodelay=True", "open"]


@pytest.mark.timeout(60)  # the server would block, were the fix installed after all
def test_a_panel_the_fix_does_not_fit_stops_serve_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = WSHandler.open
    monkeypatch.setattr(panel_patches, "_applied", False)
    monkeypatch.delattr(d, "_WRITE_BLOCK")
    engines = '{"HPLT/hplt2c_swe_checkpoints": "http://127.0.0.1:9"}'
    monkeypatch.setenv("ARENA_SUPERVISOR__STATIC_ENDPOINTS", engines)
    monkeypatch.setenv("ARENA_SECRET_KEY", "k" * 44)
    result = CliRunner().invoke(main, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: panel {panel.__version__}: cannot install the")
    assert "_WRITE_BLOCK" in result.output and len(result.output.splitlines()) == 1
    assert WSHandler.open is opened  # neither fix installed
