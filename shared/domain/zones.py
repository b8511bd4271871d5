"""Local time in IANA zones, DST-correct. Pure; shared by the router's business hours and
nurture's send windows."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "TRADE_SHOW_FIRST_CONTACT",
    "first_instant",
    "get_zone",
    "to_utc",
    "trade_show_first_contact",
    "wall_clock",
]

# Trade-show leads are first contacted at 08:00 local on the Monday after the show (nurture
# schedules its first step then; the router starts a sales lead's first-touch clock then).
TRADE_SHOW_FIRST_CONTACT = time(8, 0)


@functools.lru_cache(maxsize=1024)
def get_zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown time zone {tz!r}: use an IANA name such as 'Europe/Berlin'"
        ) from None


def to_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def wall_clock(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def first_instant(zone: ZoneInfo, wall: datetime) -> datetime:
    """The first instant (UTC) at which the local clock in ``zone`` reads ``wall`` or later."""
    a = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    b = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(a, b), max(a, b)
    if wall_clock(lo, zone) == wall:  # exists (the first of two readings when repeated)
        return lo
    # ``wall`` is skipped: the answer is the jump, a whole second between lo and hi.
    lo_s, hi_s = int(lo.timestamp()) - 1, int(hi.timestamp()) + 1
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if wall_clock(datetime.fromtimestamp(mid, UTC), zone) >= wall:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def trade_show_first_contact(show_end: date, tz: str) -> datetime:
    """08:00 local on the Monday after the show's last day, in UTC.

    Always 1..7 days after ``show_end``: a show ending on a Sunday is contacted the next
    day, one ending on a Monday the Monday a week later. ``tz`` is the lead's zone when
    known, else the show's. Send windows and quiet hours are the caller's to apply.
    """
    monday = show_end + timedelta(days=7 - show_end.weekday())
    return first_instant(get_zone(tz), datetime.combine(monday, TRADE_SHOW_FIRST_CONTACT))
