"""Plain values the router's pure functions work on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# A custom field's value as submitted (the lead contract's ``custom`` map).
CustomValue = str | int | float | bool
# The text fields of a lead; the rest of LeadProfile is derived or nested.
TEXT_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "company",
    "company_domain",
    "job_title",
    "company_size",
    "industry",
    "country",
    "region",
    "city",
    "timezone",
    "campaign",
)


@dataclass(frozen=True)
class LeadProfile:
    """What matching, scoring and routing may look at: one lead's merged fields."""

    email: str | None = None
    phone: str | None = None  # E.164
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = None
    job_title: str | None = None
    company_size: str | None = (
        None  # band: 1-10, 11-50, 51-200, 201-500, 501-1000, 1001-5000, 5001+
    )
    industry: str | None = None
    country: str | None = None  # ISO alpha-2
    region: str | None = None
    city: str | None = None
    timezone: str | None = None  # IANA
    source_id: str | None = None
    channel: str | None = None  # web | trade_show | purchased_list
    purchased_list: bool = False
    campaign: str | None = None
    # utm.source, .medium, .campaign, .term, .content and the form's custom fields
    utm: Mapping[str, str] = field(default_factory=dict)
    custom: Mapping[str, CustomValue] = field(default_factory=dict)

    def __hash__(self) -> int:
        # every field, the two maps by their items (a dict is not hashable), so profiles that
        # differ only in a custom or utm value do not all share one hash
        flat = tuple(getattr(self, f) for f in _FLAT_FIELDS)
        return hash((flat, frozenset(self.utm.items()), frozenset(self.custom.items())))


_FLAT_FIELDS = tuple(f for f in LeadProfile.__dataclass_fields__ if f not in ("utm", "custom"))


@dataclass(frozen=True)
class ActivityPoint:
    """One engagement signal for scoring: kind is open, click, reply, page_visit, meeting, touch..."""

    kind: str
    at: datetime
