"""Who is asking, behind the ingress: the client address every per-address limit counts."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: Request, proxies: Sequence[Network]) -> str:
    """The client's address: the socket peer, or, when the peer is a trusted proxy, the
    nearest address in X-Forwarded-For that is not one of the trusted proxies (the right-most
    untrusted hop: what a client writes in the header itself stands to the left of it)."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)
