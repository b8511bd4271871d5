"""Which proxies may tell ingest who the client is, pure.

Each proxy appends the address it received the request from to ``X-Forwarded-For``; only the
entries written by proxies we run can be believed. uvicorn's proxy-header middleware does the
walk (from the right, past trusted proxies, to the first address that is not one); this module
checks the list of trusted proxies it is given, so a typo fails at start-up instead of silently
trusting nothing or, worse, everyone.
"""

from __future__ import annotations

import ipaddress


def parse_trusted_proxies(value: str) -> list[str]:
    """The comma-separated addresses and networks of ``value``, each checked and written in
    canonical form. ``*`` (trust every peer) is refused: any client could then choose its own
    address."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    trusted: list[str] = []
    for entry in entries:
        if entry == "*":
            raise ValueError(
                "'*' would let any client choose its own address; list the proxies' "
                "addresses or networks"
            )
        try:
            if "/" in entry:
                trusted.append(str(ipaddress.ip_network(entry, strict=False)))
            else:
                trusted.append(str(ipaddress.ip_address(entry)))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return trusted
