"""Inactivity segments (DESIGN behaviour 7: < 3 months, 3-12 months, > 1 year). Pure.

One definition for nurture's re-engagement and the router's reactivation segments: a lead is
segmented by how long it has been since it was last seen (its last activity, else when it
arrived), at a given ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from shared.domain.zones import to_utc

__all__ = [
    "SEGMENTS",
    "UNDER_1_YEAR",
    "UNDER_3_MONTHS",
    "Segment",
    "inactivity_segment",
    "segment_bounds",
]

Segment = Literal["under_3_months", "3_to_12_months", "over_1_year"]
SEGMENTS: tuple[Segment, ...] = ("under_3_months", "3_to_12_months", "over_1_year")

# "3 months" and "12 months" as fixed day counts.
UNDER_3_MONTHS = timedelta(days=90)
UNDER_1_YEAR = timedelta(days=365)


def inactivity_segment(last_activity_at: datetime | None, now: datetime) -> Segment:
    """The re-engagement segment of a lead by how long it has been inactive.

    Under 90 days is ``under_3_months``; 90 days up to (not including) 365 days is
    ``3_to_12_months``; 365 days or more is ``over_1_year``. A lead never active
    (``None``) is ``over_1_year``: it is the coldest, and the longest re-engagement
    suits it. Activity after ``now`` (clock skew) counts as just now.
    """
    if last_activity_at is None:
        to_utc(now)
        return "over_1_year"
    idle = to_utc(now) - to_utc(last_activity_at)
    if idle < UNDER_3_MONTHS:
        return "under_3_months"
    if idle < UNDER_1_YEAR:
        return "3_to_12_months"
    return "over_1_year"


def segment_bounds(segment: Segment, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The instants ``seen`` with ``inactivity_segment(seen, now) == segment``, as the half-open
    interval ``(after, until]`` (``None``: unbounded), for a query to select a segment with."""
    now = to_utc(now)
    recent, old = now - UNDER_3_MONTHS, now - UNDER_1_YEAR
    if segment == "under_3_months":
        return recent, None
    if segment == "3_to_12_months":
        return old, recent
    if segment == "over_1_year":
        return None, old
    raise ValueError(f"unknown inactivity segment {segment!r}")
