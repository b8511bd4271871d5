"""Which webhook URLs and resolved addresses delivery may send to."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.delivery.domain.safety import AddressPolicy, address_problem, url_problem

PRODUCTION = AddressPolicy(require_https=True, allow_private=False)
DEV = AddressPolicy(require_https=False, allow_private=True)

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("10.255.255.254", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("fe80::1", "link-local"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("100.64.0.1", "CGNAT/shared"),
    ("100.127.255.254", "CGNAT/shared"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1), a loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped form of 10.0.0.1), a private"),
    ("2002:7f00:1::", "6to4 form of 127.0.0.1), a loopback"),
    ("2002:a9fe:a9fe::", "6to4 form of 169.254.169.254), a link-local"),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1), a loopback"),
    ("64:ff9b::a00:1", "NAT64 form of 10.0.0.1), a private"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "special-purpose"),  # documentation
    ("2001:db8::1", "special-purpose"),
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.32.0.1",
    "100.128.0.1",
    "2606:4700::1111",
    "2a00:1450:4001::200e",
    "64:ff9b::808:808",
    "2002:808:808::",
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_non_public_addresses_are_refused_naming_their_class(address: str, kind: str) -> None:
    problem = address_problem("hooks.example.com", [address], PRODUCTION)
    assert problem is not None
    assert problem.startswith("hooks.example.com resolves to ")
    assert kind in problem


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem("hooks.example.com", [address], PRODUCTION) is None


def test_one_bad_address_among_good_ones_is_enough() -> None:
    problem = address_problem("h.example", ["8.8.8.8", "10.1.1.1"], PRODUCTION)
    assert problem is not None and "10.1.1.1" in problem


def test_a_host_that_does_not_resolve_is_a_problem() -> None:
    assert address_problem("nowhere.example", [], PRODUCTION) == (
        "nowhere.example does not resolve to any address"
    )


def test_an_answer_that_is_not_an_address_is_a_problem() -> None:
    assert "not an IP address" in (address_problem("h.example", ["banana"], PRODUCTION) or "")


def test_allowed_hosts_pass_whatever_they_resolve_to() -> None:
    policy = AddressPolicy(True, False, allowed_hosts=frozenset({"receiver.internal"}))
    assert address_problem("Receiver.Internal.", ["10.0.0.5"], policy) is None
    assert address_problem("other.internal", ["10.0.0.5"], policy) is not None


def test_allowed_networks_pass_including_wrapped_forms() -> None:
    policy = AddressPolicy(True, False, allowed_networks=(ip_network("10.20.0.0/16"),))
    assert address_problem("h.example", ["10.20.3.4"], policy) is None
    assert address_problem("h.example", ["::ffff:10.20.3.4"], policy) is None
    assert address_problem("h.example", ["10.21.0.1"], policy) is not None


def test_development_allows_private_but_never_multicast_or_unspecified() -> None:
    for address in ("127.0.0.1", "::1", "10.0.0.1", "192.168.0.7", "fd00::1", "100.64.1.1"):
        assert address_problem("localhost", [address], DEV) is None
    for address in ("224.0.0.1", "0.0.0.0", "::"):
        assert address_problem("h.example", [address], DEV) is not None


@given(st.ip_addresses(v=4, network="10.0.0.0/8") | st.ip_addresses(v=4, network="192.168.0.0/16"))
def test_any_rfc1918_address_is_refused_also_when_mapped(address: IPv4Address) -> None:
    assert address_problem("h.example", [str(address)], PRODUCTION) is not None
    mapped = IPv6Address(f"::ffff:{address}")
    assert address_problem("h.example", [str(mapped)], PRODUCTION) is not None


@given(st.ip_addresses())
def test_every_address_that_is_not_global_is_refused(
    address: IPv4Address | IPv6Address,
) -> None:
    inner = address.ipv4_mapped or address.sixtofour if isinstance(address, IPv6Address) else None
    judged = inner or address
    problem = address_problem("h.example", [str(address)], PRODUCTION)
    if not judged.is_global or judged.is_multicast:
        assert problem is not None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/x", "must use https"),
        ("file:///etc/passwd", "scheme must be https or http, not 'file'"),
        ("ftp://hooks.example.com/", "not 'ftp'"),
        ("javascript:alert(1)", "not 'javascript'"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://user@hooks.example.com/", "credentials"),
        ("https:///path", "no host"),
        ("https://:443/path", "no host"),
        ("/relative/path", "absolute"),
        ("hooks.example.com/x", "absolute"),
        ("", "empty"),
        ("https://hooks.example.com/a b", "whitespace"),
        ("https://hooks.example.com:99999/", "port"),
        ("https://hooks.example.com:0/", "port"),
        ("https://hooks.example.com:http/", "port"),
        ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://[::1]:8443/hook", "::1 is a loopback address"),
        ("https://[::ffff:169.254.169.254]/", "link-local"),
        ("https://[::1/", "malformed"),
        ("https://a..b.com/", "empty label"),
        ("https://.x.com/", "empty label"),
        ("https://hooks.internal../", "empty label"),
        (f"https://{'a' * 64}.com/", "longer than 63"),
    ],
)
def test_url_problems(url: str, problem: str) -> None:
    found = url_problem(url, PRODUCTION)
    assert found is not None and problem in found, found


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/leadflow",
        "https://hooks.example.com:8443/leadflow?token=abc#frag",
        "HTTPS://Hooks.Example.com/",
        "https://8.8.8.8/hook",
        "https://[2606:4700::1111]/hook",
        "https://hooks.example.com./root-dot",
        "https://א1.com/",
        f"https://{'a' * 63}.com/",
    ],
)
def test_good_urls_pass(url: str) -> None:
    assert url_problem(url, PRODUCTION) is None


def test_http_and_private_literals_pass_in_development() -> None:
    assert url_problem("http://localhost:9000/hook", DEV) is None
    assert url_problem("http://127.0.0.1:9000/hook", DEV) is None
    assert url_problem("http://user:pw@localhost/", DEV) is not None


def test_only_one_trailing_dot_matches_an_allowed_host() -> None:
    policy = AddressPolicy(
        require_https=True, allow_private=False, allowed_hosts=frozenset({"hooks.internal"})
    )
    assert address_problem("hooks.internal.", ["10.0.0.1"], policy) is None
    assert address_problem("hooks.internal..", ["10.0.0.1"], policy) is not None
