"""Lead search: which leads a request asks for (:class:`LeadSearch`), the keyset cursor of its
pages, and the row a lead is shown as. Pure.

Every filter matches any of its values (repeat the parameter: ``status=new&status=queued``);
all filters named must hold. ``(none)`` as an owner, team, queue or campaign selects leads
without one. ``q`` is a case-insensitive prefix of the first name, last name, full name,
email or company. Pages run newest first: ``received_at`` descending, then lead id
descending, so the order is total and a cursor (the last row's key) never skips or repeats."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from services.router.domain.funnel import ALL_STAGES, NONE_LABEL
from services.router.domain.lifecycle import LeadStatus
from services.router.domain.params import (
    InvalidParameter,
    decode_cursor_payload,
    encode_cursor_payload,
    parse_instant,
    refuse_control_characters,
)
from services.router.domain.segments import MAX_VALUE_CHARS, csv_cell
from shared.domain.zones import to_utc

LIMIT_DEFAULT = 50
LIMIT_MAX = 500
Q_MAX_CHARS = 100
STATUSES = tuple(s.value for s in LeadStatus)
TEMPERATURES = ("hot", "warm", "cold")
# the repeatable filters, by query parameter: the values a parameter may take (None: any text)
_CHOICES: dict[str, tuple[str, ...] | None] = {
    "status": STATUSES,
    "stage": ALL_STAGES,
    "owner": None,
    "team": None,
    "queue": None,
    "temperature": TEMPERATURES,
    "source": None,
    "channel": None,
    "campaign": None,
}
# the filters where (none) means "without one"
_NULLABLE = frozenset({"owner", "team", "queue", "campaign"})
_SINGLE = (
    "queued", "received_from", "received_to", "updated_from", "updated_to", "q", "limit",
    "cursor", "count",
)  # fmt: skip
PARAMS = (*_CHOICES, *_SINGLE)
# A sentinel above every character: [q, q + TOP) holds exactly the strings starting with q
# (compared code point by code point, as the "C" collation does).
PREFIX_TOP = "\U0010ffff"

SUMMARY_FIELDS = (
    "id", "status", "stage", "owner", "team", "queue", "temperature", "score", "source",
    "channel", "campaign", "received_at", "updated_at", "name", "email", "company",
)  # fmt: skip


@dataclass(frozen=True)
class LeadSearch:
    """The leads a search asks for. Empty tuples and ``None`` filter nothing."""

    statuses: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    queued: bool | None = None  # true: in a queue (any); false: in none
    temperatures: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    received_from: datetime | None = None  # inclusive
    received_to: datetime | None = None  # exclusive
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    q: str | None = None  # lower case (Python's): the fingerprint and prefix_range
    # q as typed, spaces collapsed: the database lowers it with lower(), the function its
    # indexes use (Python's str.lower folds final sigma and dotted I otherwise); None: q
    q_text: str | None = None
    limit: int = LIMIT_DEFAULT

    def fingerprint(self) -> str:
        """Short digest of the filters (not the page size): a cursor carries it, so it is
        only used with the filters of the page that gave it."""
        canonical = []
        for f in fields(self):
            if f.name == "limit":
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = sorted(value)
            elif isinstance(value, datetime):
                value = to_utc(value).isoformat()
            canonical.append([f.name, value])
        return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()[:16]

    def prefix_range(self) -> tuple[str, str] | None:
        """``q`` as a half-open range of lower-case text: ``[q, q + PREFIX_TOP)``. The query
        builds the same range in SQL from :meth:`q_typed`, ``[lower(q), lower(q) || TOP)``."""
        return None if self.q is None else (self.q, self.q + PREFIX_TOP)

    def q_typed(self) -> str | None:
        """The text the database lowers for the prefix match."""
        return self.q_text if self.q_text is not None else self.q

    def filter_names(self) -> list[str]:
        """The filters used (names only: values stay out of logs)."""
        return [
            f.name
            for f in fields(self)
            if f.name not in ("limit", "q_text") and getattr(self, f.name) not in ((), None)
        ]


def parse_search(params: Iterable[tuple[str, str]]) -> tuple[LeadSearch, str | None]:
    """The search and its cursor (if any) from query parameters. An unknown parameter, a
    value a filter cannot take, or a repeated single one is :class:`InvalidParameter`
    naming it: a typo never widens an export."""
    many: dict[str, list[str]] = {}
    one: dict[str, str] = {}
    for name, raw in params:
        if name in _CHOICES:
            many.setdefault(name, []).append(_value(name, raw))
        elif name in _SINGLE:
            if name in one:
                raise InvalidParameter(name, f"{name} may be given once")
            one[name] = raw
        else:
            raise InvalidParameter(
                name, f"unknown parameter {name!r} (known: {', '.join(sorted(PARAMS))})"
            )
    for name, values in many.items():
        choices = _CHOICES[name]
        for v in values:
            if choices is not None and v not in choices:
                raise InvalidParameter(
                    name, f"{name} must be one of {', '.join(choices)}, got {v!r}"
                )
            if v == NONE_LABEL and name not in _NULLABLE:
                raise InvalidParameter(name, f"every lead has a {name}: {NONE_LABEL} matches none")
    search = LeadSearch(
        statuses=_unique(many.get("status", [])),
        stages=_unique(many.get("stage", [])),
        owners=_unique(many.get("owner", [])),
        teams=_unique(many.get("team", [])),
        queues=_unique(many.get("queue", [])),
        queued=_flag("queued", one["queued"]) if "queued" in one else None,
        temperatures=_unique(many.get("temperature", [])),
        sources=_unique(many.get("source", [])),
        channels=_unique(many.get("channel", [])),
        campaigns=_unique(many.get("campaign", [])),
        received_from=_instant(one, "received_from"),
        received_to=_instant(one, "received_to"),
        updated_from=_instant(one, "updated_from"),
        updated_to=_instant(one, "updated_to"),
        q=_q(one["q"]).lower() if "q" in one else None,
        q_text=_q(one["q"]) if "q" in one else None,
        limit=_limit(one["limit"]) if "limit" in one else LIMIT_DEFAULT,
    )
    for low, high in (("received_from", "received_to"), ("updated_from", "updated_to")):
        start, end = getattr(search, low), getattr(search, high)
        if start is not None and end is not None and start >= end:
            raise InvalidParameter(high, f"{high} must be after {low}")
    return search, one.get("cursor")


def wants_count(params: Iterable[tuple[str, str]]) -> bool:
    """``count=true``: the JSON page carries ``total``, the matching leads' number."""
    value = dict(params).get("count")
    return value is not None and _flag("count", value)


def _value(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidParameter(name, f"{name} must not be empty")
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidParameter(name, f"{name} is longer than {MAX_VALUE_CHARS} characters")
    return refuse_control_characters(name, value)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidParameter(name, f"{name} must be true or false, got {value!r}")


def _instant(one: Mapping[str, str], name: str) -> datetime | None:
    return parse_instant(name, one[name]) if name in one else None


def _q(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidParameter("q", "q must not be empty")
    if len(text) > Q_MAX_CHARS:
        raise InvalidParameter("q", f"q is longer than {Q_MAX_CHARS} characters")
    return refuse_control_characters("q", text)


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise InvalidParameter("limit", f"limit must be a whole number, got {value!r}") from None
    if not 1 <= limit <= LIMIT_MAX:
        raise InvalidParameter("limit", f"limit must be between 1 and {LIMIT_MAX}, got {limit}")
    return limit


# --- the keyset cursor ---------------------------------------------------------------------


@dataclass(frozen=True)
class SearchKey:
    """A row's place in the order: pages continue with the rows after it."""

    received_at: datetime
    id: uuid.UUID


def encode_cursor(key: SearchKey, search: LeadSearch) -> str:
    return encode_cursor_payload(
        {"r": to_utc(key.received_at).isoformat(), "id": str(key.id), "f": search.fingerprint()}
    )


def decode_cursor(text: str, search: LeadSearch) -> SearchKey:
    """The key :func:`encode_cursor` wrote for this search; :class:`InvalidParameter` else
    (a tampered one included: :func:`decode_cursor_payload`)."""
    key, fingerprint = decode_cursor_payload(text, _read_cursor)
    if fingerprint != search.fingerprint():
        raise InvalidParameter(
            "cursor", "cursor belongs to another search: page with the filters of its first page"
        )
    return key


def _read_cursor(payload: dict[str, Any]) -> tuple[SearchKey, str]:
    at, lead_id, fingerprint = payload["r"], payload["id"], payload["f"]
    if not (isinstance(at, str) and isinstance(lead_id, str) and isinstance(fingerprint, str)):
        raise ValueError("cursor fields of the wrong type")
    return SearchKey(to_utc(datetime.fromisoformat(at)), uuid.UUID(lead_id)), fingerprint


# --- the rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadRow:
    """One lead as search shows it (personal data: admin API only, never logged)."""

    id: uuid.UUID
    status: str
    stage: str
    owner: str | None
    team: str | None
    queue: str | None
    temperature: str
    score: int
    source: str
    channel: str
    campaign: str | None
    received_at: datetime
    updated_at: datetime
    first_name: str | None
    last_name: str | None
    email: str | None
    company: str | None

    @property
    def key(self) -> SearchKey:
        return SearchKey(self.received_at, self.id)


def summary(row: LeadRow) -> dict[str, Any]:
    name = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    return {
        "id": str(row.id),
        "status": row.status,
        "stage": row.stage,
        "owner": row.owner,
        "team": row.team,
        "queue": row.queue,
        "temperature": row.temperature,
        "score": row.score,
        "source": row.source,
        "channel": row.channel,
        "campaign": row.campaign,
        "received_at": to_utc(row.received_at),
        "updated_at": to_utc(row.updated_at),
        "name": name,
        "email": row.email,
        "company": row.company,
    }


def csv_record(row: Mapping[str, Any]) -> list[str]:
    """A summary as CSV cells (the segment export's cells: formulas defused)."""
    return [csv_cell(row[f]) for f in SUMMARY_FIELDS]
