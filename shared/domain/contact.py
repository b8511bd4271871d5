"""Contact normalization and match keys.

These functions decide when two submissions are the same person, and which Kafka
partition a lead lands on, so they must be deterministic and idempotent:
``normalize(normalize(x)) == normalize(x)``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from publicsuffixlist import PublicSuffixList

# Mailbox providers that ignore dots in the local part.
DOT_INSENSITIVE_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# Providers where "user+tag@" delivers to "user@".
PLUS_TAG_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "yandex.com",
        "yandex.ru",
    }
)
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}
# Personal mailbox domains: never a company domain.
FREE_MAIL_DOMAINS = frozenset(
    DOT_INSENSITIVE_DOMAINS
    | PLUS_TAG_DOMAINS
    | {
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "aol.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "mail.ru",
        "qq.com",
        "163.com",
        "126.com",
        "zoho.com",
        "tutanota.com",
        "hey.com",
        "orange.fr",
        "free.fr",
        "t-online.de",
        "libero.it",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
        "att.net",
    }
)


class InvalidContact(ValueError):
    """A contact field that cannot be normalized; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def normalize_email(raw: str) -> str:
    """Syntax-check an address (no DNS) and return it lower-cased and trimmed."""
    value = raw.strip()
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidContact("email", str(exc)) from exc
    return result.normalized.lower()


def canonical_email(email: str) -> str:
    """The form of an address used for matching: provider aliases folded.

    ``John.Smith+promo@GoogleMail.com`` and ``johnsmith@gmail.com`` are one mailbox.
    """
    local, _, domain = email.strip().lower().rpartition("@")
    domain = DOMAIN_ALIASES.get(domain, domain)
    if domain in PLUS_TAG_DOMAINS:
        local = local.split("+", 1)[0]
    if domain in DOT_INSENSITIVE_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """Parse a phone number in any common format to E.164 (``+14155550123``).

    Numbers without a country code are read in ``default_region`` (ISO 3166 alpha-2).
    """
    value = raw.strip()
    region = default_region.upper() if default_region else None
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidContact("phone", f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidContact("phone", "not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


_HOST_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]*@)?([^/:?#]+)", re.IGNORECASE)


def domain_from_website(website: str) -> str | None:
    """``https://www.Acme.com/about`` -> ``acme.com``; ``None`` when there is no host."""
    match = _HOST_RE.match(website.strip())
    if not match:
        return None
    host = match.group(1).lower().strip(".")
    if host.startswith("www."):
        host = host[4:]
    if "." not in host:
        return None
    return host


# The public suffix list bundled with the pinned publicsuffixlist release (offline, no fetch).
_PSL = PublicSuffixList()


@functools.lru_cache(maxsize=262144)
def registrable_domain(host: str) -> str:
    """The domain a company registered: ``shop.acme.co.uk`` -> ``acme.co.uk``.

    From the public suffix list, so multi-part suffixes (``co.uk``, ``com.au``) and private
    suffixes are right. A host that is itself a public suffix, or not under one, is returned
    as it is. Lower-cased, trailing dot dropped; idempotent."""
    host = host.strip().lower().strip(".")
    return _PSL.privatesuffix(host) or host


def company_domain(email: str | None, website: str | None) -> str | None:
    """The company's domain: from the website, else from a non-free-mail address."""
    if website:
        domain = domain_from_website(website)
        if domain:
            return domain
    if email:
        domain = email.rpartition("@")[2].lower()
        if domain and domain not in FREE_MAIL_DOMAINS:
            return domain
    return None


@dataclass(frozen=True)
class MatchKey:
    kind: str  # "email" | "phone" | "lead"
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def match_key(email: str | None, phone_e164: str | None, lead_id: str) -> MatchKey:
    """The Kafka key of a received lead: the same person always lands on one partition."""
    if email:
        return MatchKey("email", canonical_email(email))
    if phone_e164:
        return MatchKey("phone", phone_e164)
    return MatchKey("lead", lead_id)


# Company-size bands (employees). Scoring and routing rules speak in these.
SIZE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (1, 10, "1-10"),
    (11, 50, "11-50"),
    (51, 200, "51-200"),
    (201, 500, "201-500"),
    (501, 1000, "501-1000"),
    (1001, 5000, "1001-5000"),
    (5001, None, "5001+"),
)
_SIZE_NUMBER_RE = re.compile(r"^[0-9][0-9,]*$")
_SIZE_RANGE_RE = re.compile(r"^\s*([0-9][0-9,]*)\s*(?:-|\u2013|to)\s*([0-9][0-9,]*)\s*$")
_SIZE_PLUS_RE = re.compile(r"^\s*([0-9][0-9,]*)\s*\+\s*$")


def band_for_employees(employees: int) -> str:
    if employees < 1:
        raise InvalidContact("company_size", "company size must be at least 1 employee")
    for _low, high, label in SIZE_BANDS:
        if high is None or employees <= high:
            return label
    raise AssertionError("the last band is open-ended")


def normalize_company_size(raw: str | int) -> str:
    """Employees as a number (``250``), range (``201-500``, ``201 to 500``) or ``5000+`` -> band label."""
    if isinstance(raw, bool):
        raise InvalidContact(
            "company_size", "company size must be a number of employees, not true/false"
        )
    if isinstance(raw, int):
        return band_for_employees(raw)
    text = raw.strip()
    if _SIZE_NUMBER_RE.match(text):
        return band_for_employees(int(text.replace(",", "")))
    m = _SIZE_RANGE_RE.match(text)
    if m:
        low = int(m.group(1).replace(",", ""))
        high = int(m.group(2).replace(",", ""))
        if low > high:
            raise InvalidContact("company_size", f"range {text!r} is reversed")
        # A range lands in the band of its midpoint; standard bands map onto themselves.
        return band_for_employees((low + high) // 2 if low else high)
    m = _SIZE_PLUS_RE.match(text)
    if m:
        return band_for_employees(int(m.group(1).replace(",", "")) + 1)
    raise InvalidContact(
        "company_size", f"{text!r} is not a number of employees or a range like 51-200"
    )
