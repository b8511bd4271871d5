"""Period caps: how many new leads a rep took in their own local day and week.

A rep stores the local day (and the Monday of the local week) its counts are for. A count
for another day or week than the rep's current one is 0, so a cap resets at the rep's
local midnight (and on Monday 00:00 local for the week), DST changes included: the local
date comes from the IANA zone, never from a fixed offset. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.domain.zones import get_zone, to_utc


@dataclass(frozen=True)
class PeriodCounts:
    """New leads counted in ``cap_day`` (a local date) and in the week starting ``cap_week``
    (a local Monday); ``None`` when nothing was counted yet."""

    cap_day: date | None = None
    day_count: int = 0
    cap_week: date | None = None
    week_count: int = 0


def local_day(now: datetime, tz: str) -> date:
    """The date the wall clock in ``tz`` shows at ``now`` (timezone-aware)."""
    return to_utc(now).astimezone(get_zone(tz)).date()


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (weeks run Monday to Sunday)."""
    return day - timedelta(days=day.weekday())


def current(counts: PeriodCounts, tz: str, now: datetime) -> tuple[int, int]:
    """(new leads today, new leads this week) in ``tz`` at ``now``."""
    today = local_day(now, tz)
    return (
        counts.day_count if counts.cap_day == today else 0,
        counts.week_count if counts.cap_week == week_start(today) else 0,
    )


def count_new_lead(counts: PeriodCounts, tz: str, now: datetime) -> PeriodCounts:
    """The counts after one more new lead at ``now``: a stale day or week starts again at 1."""
    today = local_day(now, tz)
    monday = week_start(today)
    return PeriodCounts(
        cap_day=today,
        day_count=counts.day_count + 1 if counts.cap_day == today else 1,
        cap_week=monday,
        week_count=counts.week_count + 1 if counts.cap_week == monday else 1,
    )


def cap_reached(
    daily_cap: int | None,
    weekly_cap: int | None,
    counts: PeriodCounts,
    tz: str,
    now: datetime,
) -> tuple[str, str] | None:
    """``("daily" | "weekly", detail)`` for the first cap reached at ``now``, else None."""
    if daily_cap is None and weekly_cap is None:
        return None
    today = local_day(now, tz)
    if daily_cap is not None:
        n = counts.day_count if counts.cap_day == today else 0
        if n >= daily_cap:
            return "daily", f"daily cap {daily_cap} reached: {n} new leads on {today} in {tz}"
    if weekly_cap is not None:
        monday = week_start(today)
        n = counts.week_count if counts.cap_week == monday else 0
        if n >= weekly_cap:
            return (
                "weekly",
                f"weekly cap {weekly_cap} reached: {n} new leads in the week of {monday} in {tz}",
            )
    return None
