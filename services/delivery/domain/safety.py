"""Which webhook URLs and addresses delivery may send to.

A URL is absolute ``http`` or ``https`` (only ``https`` when the policy requires it, as
in production), has a host, carries no credentials and, if it names a port, a valid one.
Every address the host resolves to must be public: loopback, private (10/8, 172.16/12,
192.168/16), link-local, unique local (fc00::/7), CGNAT/shared (100.64/10), multicast,
unspecified, reserved and other special-purpose addresses are refused, including when
wrapped in an IPv6 form (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64
``64:ff9b::/96``), which are unwrapped first. Exceptions: a host in ``allowed_hosts``,
an address inside ``allowed_networks``, and with ``allow_private`` (development) any
unicast address; multicast and unspecified addresses are never a destination.

Pure: resolving the host is the caller's job; these functions judge the answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

import idna

NAT64_PREFIX = IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
NAT64_LOCAL_PREFIX = IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use prefix
CGNAT = IPv4Network("100.64.0.0/10")  # RFC 6598 shared address space
THIS_NETWORK = IPv4Network("0.0.0.0/8")
UNIQUE_LOCAL = IPv6Network("fc00::/7")
PRIVATE_V4 = tuple(IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


@dataclass(frozen=True)
class AddressPolicy:
    require_https: bool
    allow_private: bool
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)


def _normal_host(host: str) -> str:
    """The host compared: lower case, without brackets and ONE trailing dot (the root);
    ``hooks.internal..`` stays distinct from ``hooks.internal``."""
    return host.strip().lower().removeprefix("[").removesuffix("]").removesuffix(".")


def url_problem(url: str, policy: AddressPolicy) -> str | None:
    """``None`` when ``url`` may be an endpoint's URL, else a sentence saying why not.

    A host that is a literal IP address is judged as an address too; a name is resolved
    and judged by the caller (:func:`address_problem`).
    """
    if not url or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "the URL is empty or contains whitespace or control characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"the URL is malformed ({exc})"
    scheme = parts.scheme.lower()
    if not scheme:
        return "the URL must be absolute, like https://example.com/hooks"
    if scheme not in ("http", "https"):
        return f"the URL scheme must be https or http, not {scheme!r}"
    if policy.require_https and scheme != "https":
        return "the URL must use https"
    if not parts.netloc:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "the URL must not contain credentials (user:password@)"
    host = parts.hostname
    if not host:
        return "the URL has no host"
    try:
        port = parts.port
    except ValueError:
        return "the URL's port is not a number from 1 to 65535"
    if port == 0:
        return "the URL's port is not a number from 1 to 65535"
    try:
        ipaddress.ip_address(_normal_host(host))
    except ValueError:
        return _label_problem(host) or _idna_problem(host)
    return address_problem(host, [_normal_host(host)], policy)


def _label_problem(host: str) -> str | None:
    """A host name with an empty label (``a..b``, ``.x``, ``x..``) or one longer than 63
    characters: no DNS name, and refused before it reaches a resolver."""
    labels = host.removesuffix(".").split(".")
    if any(not label for label in labels):
        return "the URL's host has an empty label (two dots in a row, or a leading dot)"
    if any(len(label) > 63 for label in labels):
        return "the URL's host has a label longer than 63 characters"
    return None


def _idna_problem(host: str) -> str | None:
    """A host name that cannot be encoded as IDNA (the form sent in ``Host``, SNI and DNS)."""
    if host.isascii():
        return None
    try:
        idna.encode(host.lower())
    except (idna.IDNAError, UnicodeError):
        return "the URL's host is not a valid internationalized domain name (IDNA)"
    return None


def _unwrap(address: IPv4Address | IPv6Address) -> tuple[IPv4Address | None, str]:
    """The IPv4 address an IPv6 form carries, and the form's name."""
    if isinstance(address, IPv4Address):
        return None, ""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    if address in NAT64_PREFIX or address in NAT64_LOCAL_PREFIX:
        return IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    return None, ""


def _address_class(address: IPv4Address | IPv6Address) -> str | None:
    """The kind of non-public address this is, or ``None`` for a public one."""
    if address.is_unspecified or (isinstance(address, IPv4Address) and address in THIS_NETWORK):
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, IPv4Address) and address in CGNAT:
        return "CGNAT/shared (100.64.0.0/10)"
    if isinstance(address, IPv6Address) and address in UNIQUE_LOCAL:
        return "unique local"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "site-local"
    if isinstance(address, IPv4Address) and any(address in n for n in PRIVATE_V4):
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "special-purpose (not globally routable)"
    return None


NEVER_ALLOWED = frozenset({"unspecified", "multicast"})


def _allowed(address: IPv4Address | IPv6Address, policy: AddressPolicy) -> bool:
    return any(address in network for network in policy.allowed_networks)


def address_problem(host: str, addresses: Sequence[str], policy: AddressPolicy) -> str | None:
    """``None`` when every address ``host`` resolved to may be sent to, else why not."""
    if _normal_host(host) in {_normal_host(h) for h in policy.allowed_hosts}:
        return None
    if not addresses:
        return f"{host} does not resolve to any address"
    for text in addresses:
        try:
            address = ipaddress.ip_address(_normal_host(text))
        except ValueError:
            return f"{host} resolves to {text!r}, which is not an IP address"
        inner, form = _unwrap(address)
        if _allowed(address, policy) or (inner is not None and _allowed(inner, policy)):
            continue
        kind = _address_class(inner if inner is not None else address)
        if kind is None or (policy.allow_private and kind not in NEVER_ALLOWED):
            continue
        shown = f"{address} ({form} form of {inner})" if inner is not None else str(address)
        article = "an" if kind == "unspecified" or kind[0] in "aeio" else "a"
        what = f"{article} {kind} address, which webhooks are not sent to unless allow-listed"
        if _normal_host(host) == _normal_host(text):
            return f"{shown} is {what}"
        return f"{host} resolves to {shown}, {what}"
    return None
