"""The client address behind proxies: only what our proxies appended is believed."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from services.ingest.domain.forwarded import client_address
from services.ingest.settings import IngestSettings

PEER = "10.0.0.7"  # the load balancer, as the TCP peer


def test_no_trusted_proxy_means_the_tcp_peer() -> None:
    assert client_address("203.0.113.9", PEER, 0) == PEER
    assert client_address(None, PEER, 1) == PEER


def test_one_proxy_reads_the_right_most_entry() -> None:
    assert client_address("203.0.113.9", PEER, 1) == "203.0.113.9"
    # the client sent its own header; the ingress appended the real address
    assert client_address("1.2.3.4, 203.0.113.9", PEER, 1) == "203.0.113.9"


def test_two_proxies_read_the_second_from_the_right() -> None:
    assert client_address("6.6.6.6, 203.0.113.9, 10.0.0.3", PEER, 2) == "203.0.113.9"


def test_fewer_entries_than_proxies_take_the_left_most_written() -> None:
    assert client_address("203.0.113.9", PEER, 2) == "203.0.113.9"


def test_an_entry_that_is_not_an_address_falls_back_to_the_peer() -> None:
    assert client_address("1.2.3.4, not-an-ip", PEER, 1) == PEER
    assert client_address(" , ", PEER, 1) == PEER
    assert client_address("2001:db8::1", PEER, 1) == "2001:db8::1"


addresses = st.ip_addresses().map(str)


@given(
    spoofed=st.lists(st.text(alphabet=st.characters(blacklist_characters=","), max_size=20)),
    written=st.lists(addresses, min_size=1, max_size=4),
)
def test_what_a_client_puts_in_front_never_changes_the_address(
    spoofed: list[str], written: list[str]
) -> None:
    hops = len(written)
    honest = ", ".join(written)
    forged = ", ".join([*spoofed, *written])
    assert client_address(forged, PEER, hops) == client_address(honest, PEER, hops)
    assert client_address(honest, PEER, hops) == str(ipaddress.ip_address(written[0]))


def test_the_earlier_boolean_setting_means_one_hop() -> None:
    base = {"env": "dev", "database_url": "postgresql+asyncpg://x/y"}
    assert IngestSettings(**base).proxy_hops == 0
    assert IngestSettings(**base, ingest_trust_forwarded_for=True).proxy_hops == 1
    assert IngestSettings(**base, ingest_forwarded_for_hops=2).proxy_hops == 2
