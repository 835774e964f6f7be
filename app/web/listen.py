"""Can the web app listen where it was asked to?

`oellm-arena demo` and `serve` check the address before starting anything (the demo's
supervisor takes seconds to start and would be left to stop again), and the server's own
bind, which can still lose a race for the port, fails with the same one-line message.
"""

from __future__ import annotations

import errno
import socket

from tornado.netutil import bind_sockets


class ListenError(RuntimeError):
    """The web app cannot listen on the address; the message says what to do."""


def listen_error(exc: OSError, host: str, port: int) -> ListenError:
    """The one-line message for a failed bind of `host:port`."""
    if exc.errno == errno.EADDRINUSE:
        return ListenError(f"port {port} is in use (another arena?): stop it or pass --port N")
    if exc.errno == errno.EACCES:
        return ListenError(f"port {port} needs privileges to listen on: pass --port N above 1023")
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return ListenError(f"cannot listen on {host!r}: not an address of this machine (--host)")
    return ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def check_listen(host: str, port: int) -> None:
    """Raise `ListenError` unless the server could bind `host:port` now.

    Binds exactly as the server will (Tornado's `bind_sockets`: every address `host`
    resolves to, SO_REUSEADDR) and lets go at once."""
    try:
        sockets = bind_sockets(port, address=host)
    except OSError as exc:
        raise listen_error(exc, host, port) from None
    for sock in sockets:
        sock.close()
