"""The client address behind proxies: only what our proxies appended is believed.

The walk itself is uvicorn's proxy-header middleware; these tests drive it the way ingest
installs it (trusted proxies from the settings) and check what the rate limit would key on."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.ingest.domain.forwarded import parse_trusted_proxies
from services.ingest.settings import IngestSettings

BASE = {"env": "dev", "database_url": "postgresql+asyncpg://x/y"}
PROXY = "10.0.0.7"  # the load balancer, as the TCP peer
TRUSTED = IngestSettings(**BASE, ingest_forwarded_allow_ips="10.0.0.0/8").ingest_forwarded_allow_ips


def client_seen(peer: str, forwarded_for: str | None, trusted: str = TRUSTED) -> str:
    """The address the app sees as request.client behind ingest's middleware."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["client"] = scope["client"][0]

    headers = (
        [] if forwarded_for is None else [(b"x-forwarded-for", forwarded_for.encode("latin-1"))]
    )
    scope = {"type": "http", "client": (peer, 50000), "headers": headers, "scheme": "http"}
    middleware = ProxyHeadersMiddleware(app, trusted_hosts=trusted.split(","))  # type: ignore[arg-type]
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    return str(seen["client"])


def test_a_peer_that_is_not_a_trusted_proxy_is_keyed_on_its_own_address() -> None:
    assert client_seen("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    assert client_seen("127.0.0.1", "198.51.100.1") == "127.0.0.1"  # no default trust


def test_behind_a_trusted_proxy_the_client_is_the_address_it_appended() -> None:
    assert client_seen(PROXY, "203.0.113.9") == "203.0.113.9"
    assert client_seen(PROXY, "1.2.3.4, 203.0.113.9") == "203.0.113.9"
    assert client_seen(PROXY, "6.6.6.6, 203.0.113.9, 10.0.0.3") == "203.0.113.9"  # two proxies
    assert client_seen(PROXY, None) == PROXY


addresses = st.ip_addresses(v=4, network="198.18.0.0/15").map(str)


@given(
    spoofed=st.lists(
        st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters=","))
    ),
    client=addresses,
    peer=addresses,
)
def test_what_a_client_puts_in_front_never_changes_the_address(
    spoofed: list[str], client: str, peer: str
) -> None:
    forged = ", ".join([*spoofed, client])
    assert client_seen(PROXY, forged) == client  # behind the proxy: what it appended
    assert client_seen(peer, ", ".join(spoofed) or None) == peer  # direct: the TCP peer


def test_the_trusted_list_is_checked_and_canonical() -> None:
    assert parse_trusted_proxies(" 10.0.0.1/8, ::1 ,192.168.1.4") == [
        "10.0.0.0/8",
        "::1",
        "192.168.1.4",
    ]
    assert parse_trusted_proxies("") == []
    with pytest.raises(ValueError, match="any client"):
        parse_trusted_proxies("*")
    with pytest.raises(ValueError, match="'ingress' is not an IP"):
        parse_trusted_proxies("10.0.0.1, ingress")
    assert str(ipaddress.ip_network(TRUSTED)) == "10.0.0.0/8"


def test_the_earlier_forwarded_settings_stop_start_up_with_a_pointer() -> None:
    for earlier in ({"ingest_trust_forwarded_for": True}, {"ingest_forwarded_for_hops": 1}):
        with pytest.raises(ValidationError, match="LEADFLOW_INGEST_FORWARDED_ALLOW_IPS"):
            IngestSettings(**BASE, **earlier)
    with pytest.raises(ValidationError, match="not an IP"):
        IngestSettings(**BASE, ingest_forwarded_allow_ips="proxy.local")
