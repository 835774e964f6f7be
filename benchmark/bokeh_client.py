"""A light client that speaks the Bokeh server protocol the way BokehJS does in a browser.

Why not a browser, or `bokeh.client.ClientSession`? A headless Chromium per simulated voter
saturates a small machine long before the server does, and `ClientSession` rebuilds the
whole document as Python models on every patch (it needs every Panel model class and costs
more CPU than the server spends). This client keeps the document as plain JSON and only
does what the page's JavaScript does on the wire:

1. `GET` the page: the server creates the session and embeds its token in the page's
   `render_items` (`"token": "..."`; the session id is inside the signed token).
2. Open the websocket `<page>/ws` with the subprotocols `["bokeh", token]` and a browser's
   `Origin` header; the server answers `ACK`.
3. `PULL-DOC-REQ` -> `PULL-DOC-REPLY` with the document (`content["doc"]["roots"]`, models
   as `{"type": "object", "name", "id", "attributes"}`); then the `document_ready` event.
4. User actions are `PATCH-DOC` messages, exactly as BokehJS's `ClientSession` builds them:
   a widget value is `{"kind": "ModelChanged", "model": {"id"}, "attr", "new"}`; a button
   click is `{"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": {"type":
   "event", "name": "button_click", "values": {"type": "map", "entries": [["model",
   {"id"}]]}}}`. The server replies `OK` (or `ERROR`) to each.
5. The server pushes `PATCH-DOC` messages whose `ModelChanged` events update the local copy
   (e.g. `disabled` of a button, `text` of an HTML pane, HTML-escaped by Panel).

Framing (header, metadata, content fragments) reuses `bokeh.protocol`'s own classes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from bokeh.client.websocket import WebSocketClientConnectionWrapper
from bokeh.protocol import Protocol
from bokeh.protocol.message import Message
from bokeh.protocol.messages.patch_doc import patch_doc
from bokeh.protocol.receiver import Receiver
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

_TOKEN = re.compile(r'"token"\s*:\s*"([^"]+)"')


def page_token(html_text: str) -> str | None:
    """The session token that the server embedded in a page, if any."""
    match = _TOKEN.search(html_text)
    return match.group(1) if match else None


class ProtocolFailure(RuntimeError):
    """The server refused the session or spoke unexpectedly; the message says what."""


def click_event(model_id: str) -> dict[str, Any]:
    """BokehJS's serialisation of a `ButtonClick` on the button model `model_id`."""
    return {
        "kind": "MessageSent",
        "msg_type": "bokeh_event",
        "msg_data": {
            "type": "event",
            "name": "button_click",
            "values": {"type": "map", "entries": [["model", {"id": model_id}]]},
        },
    }


def change_event(model_id: str, attr: str, new: Any) -> dict[str, Any]:
    """A property change made in the browser (typing, choosing from a select)."""
    return {"kind": "ModelChanged", "model": {"id": model_id}, "attr": attr, "new": new}


DOCUMENT_READY = {
    "kind": "MessageSent",
    "msg_type": "bokeh_event",
    "msg_data": {"type": "event", "name": "document_ready", "values": {"type": "map"}},
}


def index_models(obj: Any, index: dict[str, dict[str, Any]]) -> None:
    """Collect every serialised model (`{"type": "object", "id", ...}`) found in `obj`."""
    if isinstance(obj, dict):
        if obj.get("type") == "object" and "id" in obj:
            index[obj["id"]] = obj
        for value in obj.values():
            index_models(value, index)
    elif isinstance(obj, list):
        for value in obj:
            index_models(value, index)


class BokehPageClient:
    """One browser session on a Bokeh/Panel page, without the browser.

    `attrs(model_id)` is the live view of a model's properties as the server last sent
    them; `wait_until(predicate)` wakes on every server patch.
    """

    def __init__(
        self,
        page_url: str,
        *,
        http: httpx.AsyncClient | None = None,
        local_address: str | None = None,
        verify: bool = True,
    ) -> None:
        self.page_url = page_url
        self._http = http
        # Where the client's connections come from (e.g. 127.0.0.2, a second "voter" on
        # one machine) and whether to check the server's certificate (a test's own nginx).
        self.local_address = local_address
        self.verify = verify
        self._socket: WebSocketClientConnection | None = None
        self._conn: WebSocketClientConnectionWrapper | None = None
        self._protocol = Protocol()
        self._receiver = Receiver(self._protocol)
        self.models: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self.patches_received = 0
        self.closed = False
        self.close_reason: str | None = None
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._replies: dict[str, asyncio.Future[Message[Any]]] = {}
        self.on_patch: Callable[[list[dict[str, Any]]], None] | None = None

    # ---- connecting ----------------------------------------------------------------------

    async def connect(self, timeout_s: float = 30.0, *, token: str | None = None) -> None:
        """GET the page, open its websocket, pull the document, announce `document_ready`.

        With `token`, skip the page and open the websocket with that session token, as a
        client that made up its own would."""
        async with asyncio.timeout(timeout_s):
            if token is None:
                token = page_token(await self._get_page())
                if token is None:
                    raise ProtocolFailure(f"no session token in the page at {self.page_url}")
            scheme, rest = self.page_url.split("://", 1)
            host = rest.split("/", 1)[0]
            ws_url = ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + "/ws"
            request = HTTPRequest(
                ws_url,
                headers={"Origin": f"{scheme}://{host}"},
                network_interface=self.local_address,
                validate_cert=self.verify,
            )
            self._socket = await websocket_connect(
                request, subprotocols=["bokeh", token], max_message_size=64 << 20
            )
            # Browsers send without Nagle's delay; so must we, or our own 3-frame messages
            # would wait for the server's delayed ACK (~40 ms) and be blamed on it.
            self._socket.protocol.stream.set_nodelay(True)  # type: ignore[union-attr]
            self._conn = WebSocketClientConnectionWrapper(self._socket)
            first = await self._read()
            if first is None or first.msgtype != "ACK":
                raise ProtocolFailure(f"expected ACK, got {first!r}")
            await self._protocol.create("PULL-DOC-REQ").send(self._conn)
            early: list[Message[Any]] = []  # the server may patch before it answers
            while (reply := await self._read()) is not None:
                if reply.msgtype == "PULL-DOC-REPLY":
                    break
                early.append(reply)
            if reply is None:
                raise ProtocolFailure("the server closed the websocket before sending the document")
            index_models(reply.content["doc"], self.models)
            for message in early:
                if message.msgtype == "PATCH-DOC":
                    self._apply(message.content.get("events", []))
        self._reader = asyncio.create_task(self._read_loop(), name=f"bokeh-reader:{self}")
        await self.send([DOCUMENT_READY])

    async def _get_page(self) -> str:
        if self._http is not None:
            resp = await self._http.get(self.page_url)
        else:
            transport = httpx.AsyncHTTPTransport(
                local_address=self.local_address, verify=self.verify
            )
            async with httpx.AsyncClient(trust_env=False, transport=transport) as http:
                resp = await http.get(self.page_url)
        if resp.status_code != 200:
            raise ProtocolFailure(f"GET {self.page_url} answered {resp.status_code}")
        return resp.text

    # ---- finding models --------------------------------------------------------------------

    def find(self, **attrs: Any) -> str:
        """The id of the one model whose attributes include `attrs` (e.g. label="Tie")."""
        found = [
            mid
            for mid, model in self.models.items()
            if all(model.get("attributes", {}).get(k) == v for k, v in attrs.items())
        ]
        if len(found) != 1:
            raise ProtocolFailure(f"{len(found)} models match {attrs} (expected one)")
        return found[0]

    def find_all(self, predicate: Callable[[str, dict[str, Any]], bool]) -> list[str]:
        """Ids of the models (in document order) for which `predicate(name, attributes)`."""
        return [
            mid
            for mid, model in self.models.items()
            if predicate(model.get("name", ""), model.get("attributes", {}))
        ]

    def attrs(self, model_id: str) -> dict[str, Any]:
        return self.models[model_id].setdefault("attributes", {})

    # ---- acting ------------------------------------------------------------------------------

    async def send(self, events: list[dict[str, Any]]) -> None:
        """One `PATCH-DOC` carrying `events`, as BokehJS sends a batch of changes."""
        if self._conn is None or self.closed:
            raise ProtocolFailure("not connected")
        message = patch_doc(patch_doc.create_header(), {}, {"events": events})  # type: ignore[typeddict-item]
        await message.send(self._conn)

    async def send_fragment(self, fragment: str | bytes) -> None:
        """One raw websocket message (a Bokeh message is several), as a hostile client
        would send it: a made-up header, an oversized or unannounced buffer."""
        if self._socket is None or self.closed:
            raise ProtocolFailure("not connected")
        await self._socket.write_message(fragment, binary=isinstance(fragment, bytes))

    async def click(self, model_id: str) -> None:
        await self.send([click_event(model_id)])

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until `predicate()` holds after some server patch; False on timeout or close."""
        try:
            async with asyncio.timeout(timeout_s):
                while not predicate():
                    if self.closed:
                        return False
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return predicate()
        return True

    async def round_trip(self, timeout_s: float = 30.0) -> float:
        """Seconds for a `SERVER-INFO-REQ` to be answered: how long the server's event loop
        takes to get to a message, since answering it costs next to nothing."""
        if self._conn is None or self.closed:
            raise ProtocolFailure("not connected")
        request = self._protocol.create("SERVER-INFO-REQ")
        reply = asyncio.get_running_loop().create_future()
        self._replies[request.header["msgid"]] = reply
        start = time.perf_counter()
        try:
            await request.send(self._conn)
            await asyncio.wait_for(reply, timeout_s)
        finally:
            self._replies.pop(request.header["msgid"], None)
        return time.perf_counter() - start

    async def close(self) -> None:
        if self.close_reason is None:
            self.close_reason = "closed by the client"
        if self._socket is not None and not self.closed:
            self._socket.close(1000, "voter done")
        self.closed = True
        self._changed.set()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    # ---- receiving ---------------------------------------------------------------------------

    async def _read(self) -> Message[Any] | None:
        assert self._socket is not None
        while True:
            fragment = await self._socket.read_message()
            if fragment is None:
                return None
            message = await self._receiver.consume(fragment)
            if message is not None:
                return message

    async def _read_loop(self) -> None:
        try:
            while (message := await self._read()) is not None:
                if message.msgtype == "PATCH-DOC":
                    self._apply(message.content.get("events", []))
                elif message.msgtype == "ERROR":
                    self.errors.append(str(message.content.get("text", message.content)))
                waiter = self._replies.get(message.header.get("reqid", ""))
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
        except Exception as exc:  # a message this client cannot read: say so, stop
            self.close_reason = f"client error: {exc!r}"
            raise
        finally:
            if self.close_reason is None and self._socket is not None:
                code, why = self._socket.close_code, self._socket.close_reason
                self.close_reason = f"closed by the server ({code} {why})"
            self.closed = True
            self._changed.set()

    def _apply(self, events: list[dict[str, Any]]) -> None:
        self.patches_received += 1
        for event in events:
            if event.get("kind") == "ModelChanged":
                model = self.models.get(event["model"]["id"])
                if model is not None:
                    model.setdefault("attributes", {})[event["attr"]] = event.get("new")
            index_models(event.get("new"), self.models)  # models introduced by the patch
        if self.on_patch is not None:
            self.on_patch(events)
        self._changed.set()
