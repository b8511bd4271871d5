"""Reactivation segments: which dimension and filters a request names, the keyset cursor of an
export, and the exported row. Pure.

Dimensions: ``inactivity`` (time since the lead was last seen: its last activity, else when it
arrived; :mod:`shared.domain.inactivity`), ``stage`` (lifecycle stage), and interest:
``campaign``, ``form`` (form id) or ``custom.<key>`` for a configured custom field."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.router.domain.funnel import ALL_STAGES, NONE_LABEL
from services.router.domain.params import (
    InvalidParameter,
    decode_cursor_payload,
    encode_cursor_payload,
    refuse_control_characters,
)
from shared.domain.inactivity import SEGMENTS, Segment, inactivity_segment
from shared.domain.zones import to_utc

DimensionKind = Literal["inactivity", "stage", "campaign", "form", "custom"]
INTEREST_PROFILE_KEYS: dict[str, str] = {"campaign": "campaign", "form": "form_id"}
CUSTOM_PREFIX = "custom."
CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_VALUE_CHARS = 200  # longer than any campaign or form id; bounds what a query carries
EXPORT_FIELDS = (
    "id", "stage", "status", "owner", "team", "source", "channel", "received_at",
    "last_activity_at", "email", "name", "company", "country", "campaign", "segment",
)  # fmt: skip
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Dimension:
    kind: DimensionKind
    key: str | None = None  # the custom field, for kind "custom"

    @property
    def param(self) -> str:
        return f"{CUSTOM_PREFIX}{self.key}" if self.kind == "custom" else self.kind


def parse_dimension(text: str, custom_fields: Sequence[str], *, param: str = "by") -> Dimension:
    if text in ("inactivity", "stage", "campaign", "form"):
        return Dimension(text)  # type: ignore[arg-type]
    if text.startswith(CUSTOM_PREFIX):
        key = text.removeprefix(CUSTOM_PREFIX)
        if key not in custom_fields:
            allowed = ", ".join(custom_fields) or "none are configured"
            raise InvalidParameter(
                param,
                f"custom field {key!r} is not one segments may use "
                f"(LEADFLOW_ROUTER_SEGMENT_CUSTOM_FIELDS: {allowed})",
            )
        return Dimension("custom", key)
    raise InvalidParameter(
        param,
        f"{param} must be inactivity, stage, campaign, form or custom.<field>, got {text!r}",
    )


@dataclass(frozen=True)
class SegmentFilters:
    """Leads matching every filter named; each filter matches any of its values. ``(none)`` as a
    campaign, form or custom value matches leads without one."""

    inactivity: tuple[Segment, ...] = ()
    stages: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    custom: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    def fingerprint(self) -> str:
        """Short digest of the filters: a cursor carries it so it is only used with them."""
        canonical = json.dumps(
            [
                sorted(self.inactivity),
                sorted(self.stages),
                sorted(self.campaigns),
                sorted(self.forms),
                sorted((k, sorted(v)) for k, v in self.custom),
            ]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse_filters(
    params: Iterable[tuple[str, str]], custom_fields: Sequence[str], *, others: Iterable[str] = ()
) -> SegmentFilters:
    """Filters from query parameters (repeatable: ``stage=mql&stage=sql``). ``others`` are the
    endpoint's own parameters; any other name is refused, so a typo never widens an export."""
    allowed_other = set(others)
    values: dict[str, list[str]] = {}
    for name, value in params:
        if name in allowed_other:
            continue
        if name in ("inactivity", "stage", "campaign", "form") or name.startswith(CUSTOM_PREFIX):
            if name.startswith(CUSTOM_PREFIX):
                parse_dimension(name, custom_fields, param=name)
            values.setdefault(name, []).append(_value(name, value))
            continue
        known = ", ".join(
            [*sorted(allowed_other), "inactivity", "stage", "campaign", "form", "custom.<field>"]
        )
        raise InvalidParameter(name, f"unknown parameter {name!r} (known: {known})")
    for segment in values.get("inactivity", []):
        if segment not in SEGMENTS:
            raise InvalidParameter(
                "inactivity", f"inactivity must be one of {', '.join(SEGMENTS)}, got {segment!r}"
            )
    for stage in values.get("stage", []):
        if stage not in ALL_STAGES:
            raise InvalidParameter(
                "stage", f"stage must be one of {', '.join(ALL_STAGES)}, got {stage!r}"
            )
    custom = tuple(
        (name.removeprefix(CUSTOM_PREFIX), _unique(vs))
        for name, vs in sorted(values.items())
        if name.startswith(CUSTOM_PREFIX)
    )
    return SegmentFilters(
        inactivity=_unique(values.get("inactivity", [])),  # type: ignore[arg-type]
        stages=_unique(values.get("stage", [])),
        campaigns=_unique(values.get("campaign", [])),
        forms=_unique(values.get("form", [])),
        custom=custom,
    )


def _value(name: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidParameter(name, f"{name} must not be empty (use {NONE_LABEL} for no value)")
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidParameter(name, f"{name} is longer than {MAX_VALUE_CHARS} characters")
    return refuse_control_characters(name, value)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def ordered_counts(dimension: Dimension, counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Inactivity segments and stages in their own order, each shown even when empty; interest
    values by count (largest first), then value."""
    if dimension.kind in ("inactivity", "stage"):
        order: tuple[str, ...] = SEGMENTS if dimension.kind == "inactivity" else ALL_STAGES
        known = [(v, counts.get(v, 0)) for v in order]
        # a stage the enum does not know (written by a newer router) is shown, not dropped
        return known + sorted((v, n) for v, n in counts.items() if v not in order)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


# --- the export's keyset cursor ------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after lead ``after`` (pages run in lead id order), with the
    segments as they were at ``as_of`` (the first page's now, so a lead cannot change segment
    between pages), for the filters whose fingerprint is ``filters``."""

    after: uuid.UUID
    as_of: datetime
    filters: str


def encode_cursor(cursor: Cursor) -> str:
    return encode_cursor_payload(
        {"after": str(cursor.after), "as_of": to_utc(cursor.as_of).isoformat(), "f": cursor.filters}
    )


def decode_cursor(text: str, filters: SegmentFilters) -> Cursor:
    """The cursor :func:`encode_cursor` made, for these filters; :class:`InvalidParameter` else
    (a tampered one included: :func:`decode_cursor_payload`)."""
    cursor = decode_cursor_payload(
        text,
        lambda payload: Cursor(
            after=uuid.UUID(payload["after"]),
            as_of=to_utc(datetime.fromisoformat(payload["as_of"])),
            filters=str(payload["f"]),
        ),
    )
    if cursor.filters != filters.fingerprint():
        raise InvalidParameter(
            "cursor", "cursor belongs to other filters: page with the filters of its first page"
        )
    return cursor


# --- exported rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadSummary:
    """One lead as the export reads it (personal data: admin API only, never logged)."""

    id: uuid.UUID
    stage: str
    status: str
    owner: str | None
    team: str | None
    source: str
    channel: str
    received_at: datetime
    last_activity_at: datetime | None
    email: str | None
    first_name: str | None
    last_name: str | None
    company: str | None
    country: str | None
    campaign: str | None


def export_row(lead: LeadSummary, now: datetime) -> dict[str, Any]:
    """The exported fields (instants in UTC); ``segment`` is the inactivity segment at ``now``."""
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or None
    return {
        "id": str(lead.id),
        "stage": lead.stage,
        "status": lead.status,
        "owner": lead.owner,
        "team": lead.team,
        "source": lead.source,
        "channel": lead.channel,
        "received_at": to_utc(lead.received_at),
        "last_activity_at": to_utc(lead.last_activity_at) if lead.last_activity_at else None,
        "email": lead.email,
        "name": name,
        "company": lead.company,
        "country": lead.country,
        "campaign": lead.campaign,
        "segment": inactivity_segment(lead.last_activity_at or lead.received_at, now),
    }


def csv_cell(value: Any) -> str:
    """A CSV cell: empty for null; text a spreadsheet would run as a formula gets a leading
    apostrophe (OWASP's CSV-injection advice), since names and companies come from web forms.
    Numbers and instants are written as they are (a negative score is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return to_utc(value).isoformat().replace("+00:00", "Z")
    if not isinstance(value, str):  # a number is data, never a formula: -5 stays -5
        return str(value)
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def csv_record(row: Mapping[str, Any]) -> list[str]:
    return [csv_cell(row[f]) for f in EXPORT_FIELDS]
