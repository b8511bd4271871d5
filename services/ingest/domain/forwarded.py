"""The client address of a request that came through proxies, pure.

Each proxy appends the address it received the request from to ``X-Forwarded-For``. Only the
entries appended by proxies we run can be believed: whatever the client sent is on their
left. With ``hops`` proxies in front of ingest, the client is the entry ``hops`` from the
right; the ones left of it are the client's to choose and are never used, so a made-up
address per request neither escapes a rate limit nor fills the limiter.
"""

from __future__ import annotations

import ipaddress


def client_address(forwarded_for: str | None, peer: str, hops: int) -> str:
    """The address to rate-limit: ``peer`` (the TCP peer) when no proxy is trusted, else the
    ``hops``-th ``X-Forwarded-For`` entry from the right, if it is an IP address.

    A request with fewer entries than ``hops`` did not come through all the proxies; its
    left-most entry is then the nearest to the client that a proxy wrote."""
    if hops <= 0 or not forwarded_for:
        return peer
    entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
    if not entries:
        return peer
    candidate = entries[-hops] if len(entries) >= hops else entries[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
