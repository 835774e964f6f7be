"""The voter's network address as the proxy saw it, for per-address limits.

Behind nginx every request comes from nginx, so the socket peer (`remote_ip`) is the
proxy. The client is named in `X-Forwarded-For`, which any client can also send. So the
header is believed only when the peer is a trusted proxy (`ARENA_TRUSTED_PROXIES`, IPs or
CIDRs; loopback by default, where the documented nginx runs), and only as far as the
chain of trusted proxies reaches: each proxy appends the address it saw, so walking the
header from the right, the first address that is not a trusted proxy is the client.
Whatever a client wrote further left is ignored. (So a trusted address must be a proxy: a
client on it could name any address. The default trusts only 127.0.0.1 and ::1, where the
documented nginx runs and only ops can start processes.)

Why not tornado's `xheaders` (Bokeh's `--use-xheaders`)? It believes the headers from any
peer, so a client that reaches the app port directly (a Docker Space, a firewall mistake)
could choose its own address and escape per-address limits. With it off, `remote_ip`
stays the socket peer and the decision lives here, in one pure function with tests.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
TrustedProxies = tuple[Network, ...]
Headers = Mapping[str, str | Sequence[str]]

UNKNOWN = "unknown"  # no usable peer address (a unix socket, a test request)


def parse_trusted(entries: Iterable[str]) -> TrustedProxies:
    """Networks from IPs or CIDRs (`127.0.0.1`, `10.0.0.0/8`, `::1`); ValueError names a bad one."""
    networks: list[Network] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {entry!r} is not an IP address or CIDR") from None
    return tuple(networks)


@functools.lru_cache(maxsize=32)
def _parsed(entries: tuple[str, ...]) -> TrustedProxies:
    return parse_trusted(entries)


def _networks(trusted: TrustedProxies | Iterable[str]) -> TrustedProxies:
    items = tuple(trusted)
    if all(isinstance(t, IPv4Network | IPv6Network) for t in items):
        return items  # type: ignore[return-value]
    return _parsed(tuple(str(t) for t in items))


def parse_ip(value: str | None) -> IPAddress | None:
    """An address from a header hop or a peer: bare, `v4:port`, `[v6]` or `[v6]:port`;
    IPv4-mapped IPv6 becomes IPv4. None for anything else."""
    text = (value or "").strip().strip('"')
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port; bare IPv6 has several colons
        text = text.split(":", 1)[0]
    try:
        addr = ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _is_trusted(addr: IPAddress, trusted: TrustedProxies) -> bool:
    return any(addr in net for net in trusted)  # a v4 address is never in a v6 network


def _header_values(headers: Headers | None, name: str) -> list[str]:
    if not headers:
        return []
    wanted = name.lower()
    values: list[str] = []
    for key, value in headers.items():
        if key.lower() == wanted:
            values.extend([value] if isinstance(value, str) else value)
    return values


def forwarded_hops(headers: Headers | None) -> list[str]:
    """Every `X-Forwarded-For` entry, leftmost first (repeated headers in order)."""
    return [
        hop.strip()
        for value in _header_values(headers, "X-Forwarded-For")
        for hop in value.split(",")
        if hop.strip()
    ]


def client_address(
    remote_ip: str | None, headers: Headers | None, trusted: TrustedProxies | Iterable[str]
) -> str:
    """The client's address: the socket peer, unless the peer is a trusted proxy, in which
    case the rightmost `X-Forwarded-For` hop that is not itself a trusted proxy."""
    networks = _networks(trusted)
    peer = parse_ip(remote_ip)
    if peer is None:
        return (remote_ip or "").strip() or UNKNOWN
    client = peer
    if not _is_trusted(peer, networks):
        return str(client)
    for hop in reversed(forwarded_hops(headers)):
        addr = parse_ip(hop)
        if addr is None:
            break  # garbage that a trusted proxy passed on: keep the last vouched-for hop
        client = addr
        if not _is_trusted(addr, networks):
            break
    return str(client)


def request_client_address(request: object, trusted: TrustedProxies | Iterable[str]) -> str:
    """The client address of a real HTTP request (tornado's `HTTPServerRequest`: a page, or
    a websocket's upgrade): its socket peer and its own headers."""
    headers = getattr(request, "headers", None)
    return client_address(getattr(request, "remote_ip", None), headers, trusted)


def session_http_request(context: object) -> object | None:
    """The HTTP request that created a Bokeh session: the page's GET, or the websocket's
    upgrade when the websocket brought the session (back) to life.

    Not `context.request` itself: Bokeh builds that proxy's headers, cookies and arguments
    from the session token's payload, which a client could write when sessions are not
    signed. The proxy keeps the real tornado request as `_request` (bokeh/server/
    contexts.py, `_RequestProxy`); tests/test_client_address.py checks that it still does.
    """
    proxy = getattr(context, "request", None)
    return getattr(proxy, "_request", None) if proxy is not None else None


def session_client_address(trusted: TrustedProxies | Iterable[str]) -> str | None:
    """The client address of the current Panel session, from the real HTTP request that
    opened it (never from the session token), or None outside a server session. For page
    code: per-address limits."""
    import panel as pn

    doc = pn.state.curdoc
    context = getattr(doc, "session_context", None) if doc is not None else None
    request = session_http_request(context)
    if request is None:
        return None
    return request_client_address(request, trusted)
