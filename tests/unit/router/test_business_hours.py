"""Working hours: parsing, open/next-open, and open-time arithmetic across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.domain.business_hours import (
    ALWAYS,
    WorkingHours,
    add_business_minutes,
    business_minutes_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = {"mon-fri": "08:00-18:00"}
EVERY_DAY = {"mon-sun": "08:00-18:00"}

# DST changes (UTC) the properties start around; all but Lord Howe's fall on a Sunday.
TRANSITIONS = {
    "Europe/Berlin": (
        datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
        datetime(2024, 10, 27, 1, 0, tzinfo=UTC),
    ),
    "America/New_York": (
        datetime(2024, 3, 10, 7, 0, tzinfo=UTC),
        datetime(2024, 11, 3, 6, 0, tzinfo=UTC),
    ),
    "Australia/Lord_Howe": (  # a 30-minute shift
        datetime(2024, 4, 6, 15, 0, tzinfo=UTC),
        datetime(2024, 10, 5, 15, 30, tzinfo=UTC),
    ),
}
ZONES = (*TRANSITIONS, "UTC", "Asia/Kolkata")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


# --- parsing ---


def test_parse_days_ranges_and_lists() -> None:
    hours = WorkingHours.parse(
        "America/New_York",
        {"mon-fri": "08:00-18:00", "Sat": ["13:00-16:00", "09:00-12:00"]},
    )
    assert hours.windows[0] == ((time(8), time(18)),)
    assert hours.windows[4] == ((time(8), time(18)),)
    assert hours.windows[5] == ((time(9), time(12)), (time(13), time(16)))  # sorted
    assert hours.windows[6] == ()


def test_parse_wrapping_range_and_midnight_end() -> None:
    hours = WorkingHours.parse("UTC", {"fri-mon": "20:00-24:00", "wed": "06:00-00:00"})
    assert [bool(day) for day in hours.windows] == [True, False, True, False, True, True, True]
    assert hours.windows[0] == ((time(20), time(0)),)
    assert hours.windows[2] == ((time(6), time(0)),)
    assert hours.is_open(datetime(2024, 5, 17, 23, 59, tzinfo=UTC))  # Friday


def test_always_is_open_around_the_clock() -> None:
    hours = ALWAYS("Europe/Berlin")
    at = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # during the skipped hour
    assert hours.is_open(at)
    assert hours.next_open(at) == at
    assert add_business_minutes(at, 60 * 24 * 3, hours) == at + timedelta(days=3)
    assert ALWAYS().tz == "UTC"


@pytest.mark.parametrize(
    ("tz", "spec", "message"),
    [
        ("Mars/Olympus", WEEKDAYS, "unknown time zone"),
        ("UTC", {"monday-fri": "08:00-18:00"}, "unknown day"),
        ("UTC", {"mon-wed-fri": "08:00-18:00"}, "unknown day"),
        ("UTC", {"mon": "8am-6pm"}, "not a time"),
        ("UTC", {"mon": "08:00"}, "not 'HH:MM-HH:MM'"),
        ("UTC", {"mon": "08:60-18:00"}, "not a valid time"),
        ("UTC", {"mon": "25:00-26:00"}, "not a valid time"),
        ("UTC", {"mon": "24:00-24:00"}, "cannot start at 24:00"),
        ("UTC", {"mon": "22:00-06:00"}, "no overnight windows"),
        ("UTC", {"mon": "08:00-08:00"}, "must end after it starts"),
        ("UTC", {"mon": ["08:00-12:00", "11:00-18:00"]}, "overlap"),
        ("UTC", {"mon-fri": "08:00-18:00", "fri": "09:00-10:00"}, "fri is given more than once"),
        ("UTC", {"mon": 8}, "expected 'HH:MM-HH:MM'"),
    ],
)
def test_parse_rejects_bad_input(tz: str, spec: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours.parse(tz, spec)


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="7 days"):
        WorkingHours("UTC", ((),) * 6)
    with pytest.raises(ValueError, match="overnight"):
        WorkingHours("UTC", (((time(18), time(8)),),) + ((),) * 6)


def test_adjacent_windows_are_allowed() -> None:
    hours = WorkingHours.parse("UTC", {"mon": ["08:00-12:00", "12:00-18:00"]})
    monday = datetime(2024, 5, 13, 8, tzinfo=UTC)
    assert hours.is_open(monday.replace(hour=12))
    assert add_business_minutes(monday, 600, hours) == monday.replace(hour=18)


# --- open / next open ---


def test_is_open_in_the_hours_time_zone() -> None:
    hours = WorkingHours.parse("America/New_York", WEEKDAYS)
    assert hours.is_open(local(NEW_YORK, 2024, 5, 15, 8, 0))
    assert hours.is_open(local(NEW_YORK, 2024, 5, 15, 17, 59))
    assert not hours.is_open(local(NEW_YORK, 2024, 5, 15, 18, 0))
    assert not hours.is_open(local(NEW_YORK, 2024, 5, 15, 7, 59))
    assert not hours.is_open(local(NEW_YORK, 2024, 5, 18, 12, 0))  # Saturday
    # 13:00 UTC is 09:00 in New York, 22:00 in Tokyo: the same instant, any zone
    assert hours.is_open(datetime(2024, 5, 15, 13, 0, tzinfo=UTC))
    assert hours.is_open(local(ZoneInfo("Asia/Tokyo"), 2024, 5, 15, 22, 0))


def test_next_open() -> None:
    hours = WorkingHours.parse("America/New_York", WEEKDAYS)
    friday_evening = local(NEW_YORK, 2024, 5, 17, 19, 0)
    monday_morning = local(NEW_YORK, 2024, 5, 20, 8, 0)
    assert hours.next_open(friday_evening) == monday_morning
    assert hours.next_open(friday_evening).tzinfo is UTC
    open_at = local(NEW_YORK, 2024, 5, 15, 10, 0)
    assert hours.next_open(open_at) == open_at


def test_naive_datetimes_are_rejected() -> None:
    hours = ALWAYS()
    with pytest.raises(ValueError, match="timezone-aware"):
        hours.is_open(datetime(2024, 5, 15, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(datetime(2024, 5, 15, 10), 5, hours)


def test_never_open() -> None:
    closed = WorkingHours("UTC", ((),) * 7)
    at = datetime(2024, 5, 15, tzinfo=UTC)
    assert not closed.is_open(at)
    assert business_minutes_between(at, at + timedelta(days=9), closed) == 0.0
    with pytest.raises(ValueError, match="no open window"):
        closed.next_open(at)
    with pytest.raises(ValueError, match="no open window"):
        add_business_minutes(at, 1, closed)


# --- open-time arithmetic ---


def test_add_business_minutes_rolls_over_the_weekend() -> None:
    hours = WorkingHours.parse("America/New_York", WEEKDAYS)
    result = add_business_minutes(local(NEW_YORK, 2024, 5, 17, 17, 30), 60, hours)
    assert result == local(NEW_YORK, 2024, 5, 20, 8, 30)
    assert result.tzinfo is UTC


def test_counting_starts_at_the_next_opening() -> None:
    hours = WorkingHours.parse("Europe/Berlin", WEEKDAYS)
    sunday_night = local(BERLIN, 2024, 5, 19, 23, 0)
    assert add_business_minutes(sunday_night, 0, hours) == local(BERLIN, 2024, 5, 20, 8, 0)
    assert add_business_minutes(sunday_night, 60, hours) == local(BERLIN, 2024, 5, 20, 9, 0)


def test_ends_at_the_close_not_the_next_opening() -> None:
    hours = WorkingHours.parse("Europe/Berlin", WEEKDAYS)
    assert add_business_minutes(local(BERLIN, 2024, 5, 17, 17, 0), 60, hours) == local(
        BERLIN, 2024, 5, 17, 18, 0
    )


def test_negative_minutes_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        add_business_minutes(datetime(2024, 5, 15, tzinfo=UTC), -1, ALWAYS())


def test_business_minutes_between() -> None:
    hours = WorkingHours.parse("America/New_York", WEEKDAYS)
    friday = local(NEW_YORK, 2024, 5, 17, 17, 0)
    monday = local(NEW_YORK, 2024, 5, 20, 9, 30)
    assert business_minutes_between(friday, monday, hours) == 60 + 90
    assert business_minutes_between(monday, friday, hours) == 0.0


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        (BERLIN, (2024, 3, 31)),  # spring forward
        (BERLIN, (2024, 10, 27)),  # fall back
        (NEW_YORK, (2024, 3, 10)),
        (NEW_YORK, (2024, 11, 3)),
    ],
)
def test_dst_day_window_keeps_its_local_length(zone: ZoneInfo, day: tuple[int, int, int]) -> None:
    hours = WorkingHours.parse(str(zone), EVERY_DAY)
    opens, closes = local(zone, *day, 8, 0), local(zone, *day, 18, 0)
    assert add_business_minutes(opens, 600, hours) == closes
    assert business_minutes_between(local(zone, *day, 0, 0), local(zone, *day, 23, 0), hours) == 600
    # from the evening before: the offset changes overnight, the result is still 09:00 local
    evening_before = local(zone, *day, 17, 0) - timedelta(days=1)
    assert add_business_minutes(evening_before, 120, hours) == local(zone, *day, 9, 0)


def test_whole_day_across_dst_counts_real_time() -> None:
    hours = WorkingHours.parse("Europe/Berlin", {"sun": "00:00-24:00"})
    spring, autumn = local(BERLIN, 2024, 3, 31, 0, 0), local(BERLIN, 2024, 10, 27, 0, 0)
    assert business_minutes_between(spring, spring + timedelta(days=2), hours) == 23 * 60
    assert business_minutes_between(autumn, autumn + timedelta(days=2), hours) == 25 * 60


def test_window_boundaries_inside_the_changed_hour() -> None:
    # 02:30 does not exist on 2024-03-10 in New York: the window opens at the jump (03:00 EDT)
    skipped = WorkingHours.parse("America/New_York", {"sun": "02:30-04:00"})
    sunday = datetime(2024, 3, 10, tzinfo=UTC)
    assert skipped.next_open(sunday) == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
    assert business_minutes_between(sunday, sunday + timedelta(days=1), skipped) == 60
    # 01:30 happens twice on 2024-11-03: the window opens at the first
    repeated = WorkingHours.parse("America/New_York", {"sun": "01:30-03:00"})
    sunday = datetime(2024, 11, 3, tzinfo=UTC)
    assert repeated.next_open(sunday) == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert business_minutes_between(sunday, sunday + timedelta(days=1), repeated) == 150


# --- properties ---


def _windows(marks: list[int]) -> tuple[tuple[time, time], ...]:
    """Half-hour marks (0..48) in pairs -> windows; 48 is 24:00."""
    as_time = [time(m // 2 % 24, 30 * (m % 2)) for m in sorted(marks)]
    return tuple(zip(as_time[::2], as_time[1::2], strict=True))


@st.composite
def working_hours(
    draw: st.DrawFn, marks: st.SearchStrategy[int] = st.integers(0, 48)
) -> WorkingHours:
    tz = draw(st.sampled_from(ZONES))
    days = []
    for _ in range(7):
        count = draw(st.sampled_from((0, 2, 4, 6)))
        days.append(_windows(draw(st.lists(marks, min_size=count, max_size=count, unique=True))))
    if not any(days):
        days[draw(st.integers(0, 6))] = ((time(9), time(17)),)
    return WorkingHours(tz, tuple(days))


@st.composite
def near_dst(draw: st.DrawFn, hours: WorkingHours, days: int = 4) -> datetime:
    """An instant within ``days`` of a DST change of the hours' own zone."""
    anchor = draw(st.sampled_from(TRANSITIONS.get(hours.tz, TRANSITIONS["Europe/Berlin"])))
    return anchor + timedelta(seconds=draw(st.integers(-days * 86400, days * 86400)))


@st.composite
def hours_and_start(
    draw: st.DrawFn, marks: st.SearchStrategy[int] = st.integers(0, 48), days: int = 4
) -> tuple[WorkingHours, datetime]:
    hours = draw(working_hours(marks))
    return hours, draw(near_dst(hours, days))


@settings(deadline=None)
@given(hours_and_start(), st.integers(0, 5000))
def test_result_is_in_or_at_the_end_of_an_open_window(
    case: tuple[WorkingHours, datetime], minutes: int
) -> None:
    hours, start = case
    result = add_business_minutes(start, minutes, hours)
    assert result.tzinfo is UTC
    assert result >= start
    if minutes == 0:
        assert hours.is_open(result)
        assert result == hours.next_open(start)
    else:
        assert hours.is_open(result - timedelta(microseconds=1))


@settings(deadline=None)
@given(hours_and_start(), st.integers(0, 5000))
def test_business_minutes_between_inverts_add(
    case: tuple[WorkingHours, datetime], minutes: int
) -> None:
    hours, start = case
    result = add_business_minutes(start, minutes, hours)
    assert abs(business_minutes_between(start, result, hours) - minutes) < 1e-6


@settings(deadline=None)
@given(hours_and_start(), st.integers(0, 3000), st.integers(0, 3000))
def test_monotone_in_minutes(case: tuple[WorkingHours, datetime], a: int, b: int) -> None:
    hours, start = case
    low, high = sorted((a, b))
    assert add_business_minutes(start, low, hours) <= add_business_minutes(start, high, hours)


@settings(deadline=None)
@given(hours_and_start(), st.integers(0, 2000), st.integers(1, 2000))
def test_adding_in_two_steps_is_adding_once(
    case: tuple[WorkingHours, datetime], a: int, b: int
) -> None:
    hours, start = case
    step = add_business_minutes(start, a, hours)
    assert add_business_minutes(step, b, hours) == add_business_minutes(start, a + b, hours)


def _open_by_wall_clock(hours: WorkingHours, at: datetime) -> bool:
    wall = at.astimezone(ZoneInfo(hours.tz))
    clock = wall.time().replace(tzinfo=None)
    return any(
        start <= clock and (end == time(0) or clock < end)
        for start, end in hours.windows[wall.weekday()]
    )


@settings(deadline=None, max_examples=60)
@given(
    # boundaries at midnight or from 04:00 on, never inside a changed hour
    hours_and_start(marks=st.sampled_from([0, *range(8, 49)]), days=2),
    st.integers(1, 2 * 1440),
)
def test_matches_a_minute_by_minute_wall_clock_count(
    case: tuple[WorkingHours, datetime], span: int
) -> None:
    hours, start = case
    start = start.replace(second=0)
    count = 0
    for i in range(span):
        at = start + timedelta(minutes=i)
        by_wall = _open_by_wall_clock(hours, at)
        assert hours.is_open(at) == by_wall, at
        count += by_wall
    assert business_minutes_between(start, start + timedelta(minutes=span), hours) == count
