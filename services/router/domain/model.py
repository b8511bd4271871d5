"""Plain values the router's pure functions work on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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


@dataclass(frozen=True)
class ActivityPoint:
    """One engagement signal for scoring: kind is open, click, reply, page_visit, meeting, touch..."""

    kind: str
    at: datetime
