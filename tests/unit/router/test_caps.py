"""Period caps: new leads per local day / week, reset at the rep's local midnight (DST too)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.domain.assignment import (
    Rep,
    Team,
    choose_rep,
    eligibility,
    took_lead,
    why_skipped,
)
from services.router.domain.business_hours import ALWAYS
from services.router.domain.caps import (
    PeriodCounts,
    cap_reached,
    count_new_lead,
    current,
    local_day,
    week_start,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def rep(rep_id: str = "ana", tz: str = BERLIN, **overrides: Any) -> Rep:
    values: dict[str, Any] = {"name": rep_id, "weight": 1, "capacity": 100, "hours": ALWAYS(tz)}
    values.update(overrides)
    return Rep(id=rep_id, team_id="emea", **values)


def take(r: Rep, at: datetime, n: int) -> Rep:
    for _ in range(n):
        r = took_lead(r, at)
    return r


# --- local day and week ---


def test_local_day_is_the_wall_clock_date_of_the_zone() -> None:
    at = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert local_day(at, "UTC") == date(2026, 3, 28)
    assert local_day(at, BERLIN) == date(2026, 3, 29)  # 00:30 CET
    assert local_day(at, NEW_YORK) == date(2026, 3, 28)  # 19:30 EDT
    assert local_day(datetime(2026, 3, 29, 0, 30, tzinfo=ZoneInfo(BERLIN)), BERLIN) == date(
        2026, 3, 29
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        local_day(datetime(2026, 3, 29), BERLIN)


def test_weeks_run_monday_to_sunday() -> None:
    assert week_start(date(2026, 3, 23)) == date(2026, 3, 23)  # Monday
    assert week_start(date(2026, 3, 29)) == date(2026, 3, 23)  # Sunday
    assert week_start(date(2026, 3, 30)) == date(2026, 3, 30)


# --- counting ---


def test_counts_advance_and_start_again_on_a_new_day_and_week() -> None:
    monday = datetime(2026, 3, 23, 10, tzinfo=UTC)
    counts = count_new_lead(PeriodCounts(), BERLIN, monday)
    assert counts == PeriodCounts(date(2026, 3, 23), 1, date(2026, 3, 23), 1)
    counts = count_new_lead(counts, BERLIN, monday + timedelta(hours=1))
    assert counts == PeriodCounts(date(2026, 3, 23), 2, date(2026, 3, 23), 2)
    tuesday = count_new_lead(counts, BERLIN, monday + timedelta(days=1))
    assert tuesday == PeriodCounts(date(2026, 3, 24), 1, date(2026, 3, 23), 3)
    next_monday = count_new_lead(tuesday, BERLIN, monday + timedelta(days=7))
    assert next_monday == PeriodCounts(date(2026, 3, 30), 1, date(2026, 3, 30), 1)
    # a stored count for another day reads as 0
    assert current(tuesday, BERLIN, monday + timedelta(days=1)) == (1, 3)
    assert current(tuesday, BERLIN, monday + timedelta(days=2)) == (0, 3)
    assert current(tuesday, BERLIN, monday + timedelta(days=7)) == (0, 0)


def test_took_lead_counts_open_leads_and_new_leads_in_one_place() -> None:
    r = took_lead(rep(open_leads=4), datetime(2026, 3, 23, 10, tzinfo=UTC))
    assert (r.open_leads, r.day_count, r.week_count) == (5, 1, 1)
    assert r.counts == PeriodCounts(date(2026, 3, 23), 1, date(2026, 3, 23), 1)


# --- eligibility ---


def test_caps_are_checked_after_capacity_with_a_detail() -> None:
    at = datetime(2026, 3, 23, 10, tzinfo=UTC)
    capped = take(rep(daily_cap=2, weekly_cap=5), at, 2)
    assert why_skipped(capped, at) == (
        "at_daily_cap",
        "daily cap 2 reached: 2 new leads on 2026-03-23 in Europe/Berlin",
    )
    full = rep(daily_cap=2, capacity=2, open_leads=2)
    assert why_skipped(full, at) == ("at_capacity", "2 of 2 open leads")
    week = take(rep(daily_cap=2, weekly_cap=3), at, 2)
    week = take(week, at + timedelta(days=1), 1)
    assert why_skipped(week, at + timedelta(days=1)) == (
        "at_weekly_cap",
        "weekly cap 3 reached: 3 new leads in the week of 2026-03-23 in Europe/Berlin",
    )
    assert eligibility(week, at + timedelta(days=7)) is None  # a new week
    assert eligibility(take(rep(), at, 50), at) is None  # no caps


def test_a_rep_at_the_daily_cap_is_skipped_and_the_next_rep_gets_the_lead() -> None:
    at = datetime(2026, 3, 23, 10, tzinfo=UTC)
    ana = take(rep("ana", daily_cap=1, weight=5), at, 1)
    bo = rep("bo")
    pick = choose_rep(Team(id="emea", name="EMEA"), [ana, bo], at)
    assert pick.rep_id == "bo"
    skipped = next(c for c in pick.candidates if c.rep_id == "ana")
    assert skipped.reason == "at_daily_cap" and skipped.detail is not None
    assert "daily cap 1 reached" in skipped.detail


@pytest.mark.parametrize(
    ("tz", "before_midnight", "after_midnight"),
    [
        # Europe/Berlin springs forward at 02:00 on 2026-03-29: midnight is 23:00 UTC the day before
        (
            BERLIN,
            datetime(2026, 3, 28, 22, 59, tzinfo=UTC),
            datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        ),
        # the first midnight after the change is CEST: 22:00 UTC
        (
            BERLIN,
            datetime(2026, 3, 29, 21, 59, tzinfo=UTC),
            datetime(2026, 3, 29, 22, 0, tzinfo=UTC),
        ),
        # falls back at 03:00 on 2026-10-25: that day lasts 25 hours, midnight after it is 23:00 UTC
        (
            BERLIN,
            datetime(2026, 10, 25, 22, 59, tzinfo=UTC),
            datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
        ),
        (
            BERLIN,
            datetime(2026, 10, 24, 21, 59, tzinfo=UTC),
            datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        ),
        # America/New_York: 2026-03-08 springs forward, 2026-11-01 falls back
        (NEW_YORK, datetime(2026, 3, 8, 4, 59, tzinfo=UTC), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
        (NEW_YORK, datetime(2026, 3, 9, 3, 59, tzinfo=UTC), datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
        (
            NEW_YORK,
            datetime(2026, 11, 2, 4, 59, tzinfo=UTC),
            datetime(2026, 11, 2, 5, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_daily_cap_resets_at_the_reps_local_midnight_across_dst(
    tz: str, before_midnight: datetime, after_midnight: datetime
) -> None:
    full = take(rep(tz=tz, daily_cap=3), before_midnight - timedelta(hours=5), 3)
    assert eligibility(full, before_midnight) == "at_daily_cap"
    assert eligibility(full, after_midnight) is None
    assert local_day(after_midnight, tz) == local_day(before_midnight, tz) + timedelta(days=1)
    again = took_lead(full, after_midnight)
    assert (again.day_count, again.cap_day) == (1, local_day(after_midnight, tz))


# --- properties ---

ZONES = st.sampled_from([BERLIN, NEW_YORK, "Australia/Lord_Howe", "Asia/Kolkata", "UTC"])
INSTANTS = st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=200, deadline=None)
@given(ZONES, st.lists(INSTANTS, min_size=1, max_size=40))
def test_counts_equal_the_leads_taken_in_the_local_day_and_week(
    tz: str, instants: list[datetime]
) -> None:
    """Counting lead by lead (in time order) ends as counting the leads of the last local
    day and week at once."""
    instants.sort()
    counts = PeriodCounts()
    for at in instants:
        counts = count_new_lead(counts, tz, at)
    last = local_day(instants[-1], tz)
    assert counts.cap_day == last and counts.cap_week == week_start(last)
    assert counts.day_count == sum(local_day(at, tz) == last for at in instants)
    assert counts.week_count == sum(
        week_start(local_day(at, tz)) == week_start(last) for at in instants
    )


@settings(max_examples=200, deadline=None)
@given(ZONES, INSTANTS, st.integers(1, 5), st.integers(0, 48 * 60))
def test_a_cap_holds_exactly_until_the_local_day_changes(
    tz: str, at: datetime, cap: int, later: int
) -> None:
    full = take(rep(tz=tz, daily_cap=cap), at, cap)
    then = at + timedelta(minutes=later)
    reached = cap_reached(cap, None, full.counts, tz, then)
    assert (reached is not None) == (local_day(then, tz) == local_day(at, tz))
