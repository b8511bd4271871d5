"""Nurture schedule arithmetic: send windows, quiet hours, DST, trade shows, caps, segments."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.nurture.domain.schedule import (
    QuietHours,
    SendWindow,
    inactivity_segment,
    next_send_at,
    remarket_due,
    step_due_at,
    trade_show_first_contact,
    within_frequency_cap,
)

NEW_YORK, BERLIN = "America/New_York", "Europe/Berlin"
DST_ZONES = (NEW_YORK, BERLIN)
# Lord Howe shifts by 30 minutes; Kolkata has a half-hour offset and no DST.
ZONES = (*DST_ZONES, "Australia/Lord_Howe", "Asia/Kolkata", "UTC")
# The 2026 DST changes, in UTC.
NY_SPRING, NY_FALL = datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)
BERLIN_SPRING, BERLIN_FALL = (
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
)
OFFICE = SendWindow.parse("mon-fri", "09:00-17:00")
NIGHTS = QuietHours.parse("21:00-08:00")
MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    tz: str, year: int, month: int, day: int, hour: int, minute: int = 0, fold: int = 0
) -> datetime:
    """A local wall-clock reading, as UTC (ambiguous local times never compare equal)."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)


def in_quiet(clock: time, quiet: QuietHours | None) -> bool:
    """Quiet hours, written out independently of ``QuietHours.contains``."""
    if quiet is None:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= clock < quiet.end
    return clock >= quiet.start or clock < quiet.end  # wraps; an end of 00:00 is 24:00


def sendable(at: datetime, tz: str, window: SendWindow, quiet: QuietHours | None) -> bool:
    """The definition, from what the local clock reads at ``at``."""
    wall = at.astimezone(ZoneInfo(tz))
    clock = wall.time()
    in_window = window.start <= clock and (window.end == time(0) or clock < window.end)
    return wall.weekday() in window.days and in_window and not in_quiet(clock, quiet)


def ever_sendable(window: SendWindow, quiet: QuietHours | None) -> bool:
    """Whether any minute of a day is in the window and outside quiet hours."""
    clocks = (time(m // 60, m % 60) for m in range(24 * 60))
    return any(
        window.start <= c and (window.end == time(0) or c < window.end) and not in_quiet(c, quiet)
        for c in clocks
    )


# --- parsing ---


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat-sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("mon,wed,fri", {0, 2, 4}),
        (" Mon - Tue , sun ", {0, 1, 6}),
        ("daily", set(range(7))),
        ("mon-sun", set(range(7))),
        ("thu", {3}),
    ],
)
def test_send_window_days(days: str, expected: set[int]) -> None:
    assert SendWindow.parse(days, "09:00-17:00").days == frozenset(expected)


def test_send_window_hours() -> None:
    window = SendWindow.parse("mon-fri", "9:30-17:45")
    assert (window.start, window.end) == (time(9, 30), time(17, 45))
    whole_day = SendWindow.parse("daily", "00:00-24:00")
    assert (whole_day.start, whole_day.end) == (time(0), time(0))  # an end of 00:00 is 24:00


@pytest.mark.parametrize(
    ("days", "hours", "message"),
    [
        ("mon-frx", "09:00-17:00", "not a day"),
        ("mon-wed-fri", "09:00-17:00", "not a day"),
        ("", "09:00-17:00", "not a day"),
        ("mon-fri", "09:00", "HH:MM-HH:MM"),
        ("mon-fri", "9-17", "not a time"),
        ("mon-fri", "09:00-25:00", "not a valid time"),
        ("mon-fri", "09:60-17:00", "not a valid time"),
        ("mon-fri", "17:00-09:00", "must end after it starts"),
        ("mon-fri", "09:00-09:00", "must end after it starts"),
        ("mon-fri", "24:00-09:00", "cannot start at 24:00"),
    ],
)
def test_send_window_rejects(days: str, hours: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SendWindow.parse(days, hours)


def test_send_window_constructor_checks() -> None:
    with pytest.raises(ValueError, match="at least one weekday"):
        SendWindow(frozenset(), time(9), time(17))
    with pytest.raises(ValueError, match="0 \\(Monday\\)"):
        SendWindow(frozenset({7}), time(9), time(17))
    with pytest.raises(ValueError, match="without tzinfo"):
        SendWindow(frozenset({0}), time(9, tzinfo=UTC), time(17))


def test_quiet_hours_wrap_midnight() -> None:
    assert NIGHTS.contains(time(21)) and NIGHTS.contains(time(23, 59))
    assert NIGHTS.contains(time(0)) and NIGHTS.contains(time(7, 59, 59))
    assert not NIGHTS.contains(time(8)) and not NIGHTS.contains(time(20, 59))
    lunch = QuietHours.parse("12:00-13:00")
    assert lunch.contains(time(12)) and not lunch.contains(time(13))
    late = QuietHours.parse("22:00-24:00")
    assert late.contains(time(23, 30)) and not late.contains(time(0)) and not late.contains(time(9))


def test_quiet_hours_rejects() -> None:
    with pytest.raises(ValueError, match="differ"):
        QuietHours.parse("08:00-08:00")
    with pytest.raises(ValueError, match="not a time"):
        QuietHours.parse("nine-five")
    with pytest.raises(ValueError, match="without tzinfo"):
        NIGHTS.contains(time(9, tzinfo=UTC))


@given(st.times(), st.integers(0, 1439), st.integers(0, 1439))
def test_quiet_hours_contains_matches_definition(clock: time, start: int, end: int) -> None:
    if start == end:
        return
    quiet = QuietHours(time(start // 60, start % 60), time(end // 60, end % 60))
    assert quiet.contains(clock) == in_quiet(clock, quiet)


# --- next_send_at: examples ---


@pytest.mark.parametrize(
    ("earliest", "tz", "window", "quiet", "expected"),
    [
        pytest.param(  # Wednesday 10:00 in New York: already open
            utc(2026, 3, 4, 15), NEW_YORK, OFFICE, None, utc(2026, 3, 4, 15), id="open-now"
        ),
        pytest.param(  # Friday 18:00 EST -> Monday 09:00, which is EDT by then
            utc(2026, 3, 6, 23), NEW_YORK, OFFICE, None, utc(2026, 3, 9, 13), id="ny-weekend-dst"
        ),
        pytest.param(  # Friday 20:00 EST, nights quiet until 08:00 -> Monday 08:00 EDT
            utc(2026, 3, 7, 1),
            NEW_YORK,
            SendWindow.parse("mon-fri", "07:00-19:00"),
            NIGHTS,
            utc(2026, 3, 9, 12),
            id="ny-quiet-nights",
        ),
        pytest.param(  # 02:30 does not exist on 2026-03-08 in New York: the jump, 03:00 EDT
            local(NEW_YORK, 2026, 3, 8, 0),
            NEW_YORK,
            SendWindow.parse("daily", "02:30-04:00"),
            None,
            NY_SPRING,
            id="ny-spring-gap-start",
        ),
        pytest.param(  # a window wholly in the skipped hour opens the next day
            local(NEW_YORK, 2026, 3, 8, 0),
            NEW_YORK,
            SendWindow.parse("daily", "02:00-02:30"),
            None,
            local(NEW_YORK, 2026, 3, 9, 2),
            id="ny-spring-window-skipped",
        ),
        pytest.param(  # quiet hours ending in the gap end at the jump
            local(NEW_YORK, 2026, 3, 8, 0),
            NEW_YORK,
            SendWindow.parse("daily", "00:00-24:00"),
            QuietHours.parse("00:00-02:30"),
            NY_SPRING,
            id="ny-spring-quiet-ends-in-gap",
        ),
        pytest.param(  # 01:30 happens twice on 2026-11-01 in New York: the first one (EDT)
            local(NEW_YORK, 2026, 11, 1, 0),
            NEW_YORK,
            SendWindow.parse("daily", "01:30-03:00"),
            None,
            local(NEW_YORK, 2026, 11, 1, 1, 30, fold=0),
            id="ny-fall-first-occurrence",
        ),
        pytest.param(  # from 01:10 EST (second pass), the clock next reads 01:30 at 01:30 EST
            local(NEW_YORK, 2026, 11, 1, 1, 10, fold=1),
            NEW_YORK,
            SendWindow.parse("daily", "01:30-03:00"),
            None,
            local(NEW_YORK, 2026, 11, 1, 1, 30, fold=1),
            id="ny-fall-second-pass",
        ),
        pytest.param(  # 01:45 EDT is after the window; at the change the clock reads 01:00 again
            local(NEW_YORK, 2026, 11, 1, 1, 45, fold=0),
            NEW_YORK,
            SendWindow.parse("daily", "00:00-01:30"),
            None,
            NY_FALL,
            id="ny-fall-back-into-window",
        ),
        pytest.param(  # Berlin skips 02:00-03:00 on 2026-03-29: 02:15 becomes 03:00 CEST
            local(BERLIN, 2026, 3, 29, 1),
            BERLIN,
            SendWindow.parse("sun", "02:15-05:00"),
            None,
            BERLIN_SPRING,
            id="berlin-spring-gap-start",
        ),
        pytest.param(  # Berlin repeats 02:00-03:00 on 2026-10-25: 02:30 CEST, the first
            local(BERLIN, 2026, 10, 25, 0),
            BERLIN,
            SendWindow.parse("sun", "02:30-04:00"),
            None,
            utc(2026, 10, 25, 0, 30),
            id="berlin-fall-first-occurrence",
        ),
        pytest.param(  # Friday 17:00 CET -> Monday 09:00 CEST, an hour earlier in UTC
            utc(2026, 3, 27, 16), BERLIN, OFFICE, None, utc(2026, 3, 30, 7), id="berlin-weekend"
        ),
        pytest.param(  # after the fall change, 09:00 CET is 08:00 UTC
            utc(2026, 10, 23, 16), BERLIN, OFFICE, None, utc(2026, 10, 26, 8), id="berlin-fall"
        ),
        pytest.param(  # lunch quiet hours split the window
            utc(2026, 3, 4, 11, 5),
            BERLIN,
            OFFICE,
            QuietHours.parse("12:00-13:00"),
            utc(2026, 3, 4, 12),
            id="berlin-lunch",
        ),
    ],
)
def test_next_send_at_examples(
    earliest: datetime, tz: str, window: SendWindow, quiet: QuietHours | None, expected: datetime
) -> None:
    result = next_send_at(earliest, tz, window, quiet)
    assert result == expected
    assert result.tzinfo is UTC


def test_next_send_at_keeps_seconds_when_open() -> None:
    earliest = datetime(2026, 3, 4, 15, 0, 7, 123, tzinfo=UTC)
    assert next_send_at(earliest, NEW_YORK, OFFICE) == earliest


def test_never_satisfiable_window_raises() -> None:
    with pytest.raises(ValueError, match="inside quiet hours"):
        next_send_at(utc(2026, 3, 4), BERLIN, SendWindow.parse("daily", "22:00-23:00"), NIGHTS)
    with pytest.raises(ValueError, match="inside quiet hours"):
        next_send_at(utc(2026, 3, 4), BERLIN, OFFICE, QuietHours.parse("08:00-18:00"))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_send_at(datetime(2026, 3, 4, 12), BERLIN, OFFICE)
    with pytest.raises(ValueError, match="unknown time zone"):
        next_send_at(utc(2026, 3, 4), "Mars/Olympus", OFFICE)
    with pytest.raises(ValueError, match="negative"):
        step_due_at(utc(2026, 3, 4), timedelta(days=-1), BERLIN, OFFICE)


def test_step_due_at_adds_the_delay_then_waits_for_the_window() -> None:
    enrolled = utc(2026, 3, 5, 15)  # Thursday 10:00 in New York
    assert step_due_at(enrolled, timedelta(0), NEW_YORK, OFFICE) == enrolled
    # two days later is Saturday: Monday 09:00, EDT since the Sunday
    assert step_due_at(enrolled, timedelta(days=2), NEW_YORK, OFFICE) == utc(2026, 3, 9, 13)


# --- next_send_at: properties ---

DAYS = st.frozensets(st.integers(0, 6), min_size=1)
# Minutes of the day, biased towards 00:00-04:00 where the DST changes happen.
CLOCK = st.one_of(st.integers(0, 1439), st.integers(0, 4 * 60), st.sampled_from([0, 60, 120, 180]))


@st.composite
def windows(draw: st.DrawFn, days: st.SearchStrategy[frozenset[int]] = DAYS) -> SendWindow:
    start = draw(CLOCK)
    end = draw(st.integers(start + 1, 1440))
    return SendWindow(draw(days), time(start // 60, start % 60), time(end // 60 % 24, end % 60))


@st.composite
def quiet_hours(draw: st.DrawFn) -> QuietHours | None:
    if draw(st.booleans()):
        return None
    start, end = draw(CLOCK), draw(CLOCK)
    if start == end:
        return None
    return QuietHours(time(start // 60, start % 60), time(end // 60, end % 60))


def around(change: datetime, reach: timedelta = timedelta(days=2)) -> st.SearchStrategy[datetime]:
    return st.datetimes(
        (change - reach).replace(tzinfo=None),
        (change + reach).replace(tzinfo=None),
        timezones=st.just(UTC),
    )


def month(start: date, end: date) -> st.SearchStrategy[datetime]:
    return st.datetimes(
        datetime.combine(start, time(0)), datetime.combine(end, time(0)), timezones=st.just(UTC)
    )


# Random instants in March, October and November 2026, near each DST change, and in
# the hours around it (a repeated hour is where a window can open twice).
CHANGES = (NY_SPRING, NY_FALL, BERLIN_SPRING, BERLIN_FALL)
DST_INSTANTS = st.one_of(
    month(date(2026, 3, 1), date(2026, 4, 1)),
    month(date(2026, 10, 1), date(2026, 12, 1)),
    *(around(c) for c in CHANGES),
    *(around(c, timedelta(hours=3)) for c in CHANGES),
)


def check_invariants(
    earliest: datetime, tz: str, window: SendWindow, quiet: QuietHours | None
) -> datetime | None:
    try:
        result = next_send_at(earliest, tz, window, quiet)
    except ValueError:
        assert not ever_sendable(window, quiet)
        return None
    assert result.tzinfo is UTC
    assert result >= earliest
    assert sendable(result, tz, window, quiet)  # in the window, on a day, not quiet
    assert next_send_at(result, tz, window, quiet) == result  # idempotent
    return result


@settings(max_examples=300, deadline=None)
@given(DST_INSTANTS, st.sampled_from(DST_ZONES), windows(), quiet_hours())
def test_next_send_at_invariants_across_dst(
    earliest: datetime, tz: str, window: SendWindow, quiet: QuietHours | None
) -> None:
    check_invariants(earliest, tz, window, quiet)


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(datetime(2020, 1, 1), datetime(2032, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(ZONES),
    windows(),
    quiet_hours(),
)
def test_next_send_at_invariants_any_zone(
    earliest: datetime, tz: str, window: SendWindow, quiet: QuietHours | None
) -> None:
    check_invariants(earliest, tz, window, quiet)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(DST_INSTANTS, around(datetime(2026, 4, 4, 15, tzinfo=UTC))),  # + Lord Howe
    st.sampled_from((*DST_ZONES, "Australia/Lord_Howe")),
    windows(st.frozensets(st.integers(0, 6), min_size=4)),
    quiet_hours(),
)
def test_next_send_at_is_the_first_sendable_minute(
    earliest: datetime, tz: str, window: SendWindow, quiet: QuietHours | None
) -> None:
    check_first(earliest, tz, window, quiet)


# Each 2026 change with the local hour it skips (spring) or repeats (autumn).
ZONE_CHANGES = st.sampled_from(
    [
        (NEW_YORK, NY_SPRING, 2),
        (NEW_YORK, NY_FALL, 1),
        (BERLIN, BERLIN_SPRING, 2),
        (BERLIN, BERLIN_FALL, 2),
    ]
)


@settings(max_examples=300, deadline=None)
@given(ZONE_CHANGES, st.data(), quiet_hours())
def test_next_send_at_is_the_first_sendable_minute_in_the_small_hours(
    zone_change: tuple[str, datetime, int], data: st.DataObject, quiet: QuietHours | None
) -> None:
    """Short windows near the hour that jumps or repeats, from either pass of the clock."""
    tz, change, hour = zone_change
    start = data.draw(st.integers(hour * 60 - 30, hour * 60 + 60), label="window start minute")
    end = start + data.draw(st.integers(1, 90), label="window minutes")
    days = data.draw(DAYS, label="days") | {6}  # the 2026 changes all fall on a Sunday
    window = SendWindow(days, time(start // 60, start % 60), time(end // 60, end % 60))
    offset = data.draw(st.integers(-30 * 60, 150 * 60), label="earliest, seconds after start")
    midnight = datetime.combine(change.astimezone(ZoneInfo(tz)).date(), time(0))
    wall = (midnight + timedelta(minutes=start, seconds=offset)).replace(tzinfo=ZoneInfo(tz))
    earliest = wall.replace(fold=data.draw(st.sampled_from([0, 1]), label="fold"))
    check_first(earliest.astimezone(UTC), tz, window, quiet)


def check_first(earliest: datetime, tz: str, window: SendWindow, quiet: QuietHours | None) -> None:
    result = check_invariants(earliest, tz, window, quiet)
    if result is None or result - earliest > timedelta(days=3):
        return
    # Rules and DST changes fall on whole minutes, so the first sendable instant is
    # `earliest` itself or a whole minute: none of those before the result is sendable.
    assert result == earliest or (result.second, result.microsecond) == (0, 0)
    at = earliest.replace(second=0, microsecond=0)
    while at < result:
        assert at < earliest or not sendable(at, tz, window, quiet), at
        at += MINUTE


# --- trade shows ---


@pytest.mark.parametrize(
    ("show_end", "tz", "expected"),
    [
        # The week of the New York change (Sunday 2026-03-08): Monday 03-09 is EDT.
        (date(2026, 3, 2), NEW_YORK, utc(2026, 3, 9, 12)),  # Monday -> a week later
        (date(2026, 3, 3), NEW_YORK, utc(2026, 3, 9, 12)),
        (date(2026, 3, 4), NEW_YORK, utc(2026, 3, 9, 12)),
        (date(2026, 3, 5), NEW_YORK, utc(2026, 3, 9, 12)),
        (date(2026, 3, 6), NEW_YORK, utc(2026, 3, 9, 12)),  # Friday -> 08:00 EDT
        (date(2026, 3, 7), NEW_YORK, utc(2026, 3, 9, 12)),
        (date(2026, 3, 8), NEW_YORK, utc(2026, 3, 9, 12)),  # Sunday -> the next day
        (date(2026, 3, 1), NEW_YORK, utc(2026, 3, 2, 13)),  # Sunday before: still EST
        # Berlin changes on Sunday 2026-03-29 and 2026-10-25.
        (date(2026, 3, 27), BERLIN, utc(2026, 3, 30, 6)),  # 08:00 CEST
        (date(2026, 3, 23), BERLIN, utc(2026, 3, 30, 6)),  # Monday -> a week later
        (date(2026, 3, 22), BERLIN, utc(2026, 3, 23, 7)),  # 08:00 CET
        (date(2026, 10, 24), BERLIN, utc(2026, 10, 26, 7)),  # back to CET
        (date(2026, 10, 30), NEW_YORK, utc(2026, 11, 2, 13)),  # New York's fall change
    ],
)
def test_trade_show_first_contact_examples(show_end: date, tz: str, expected: datetime) -> None:
    result = trade_show_first_contact(show_end, tz)
    assert result == expected
    assert result.tzinfo is UTC


@given(st.dates(date(2000, 1, 1), date(2040, 12, 31)), st.sampled_from(ZONES))
def test_trade_show_first_contact_is_the_next_monday_0800(show_end: date, tz: str) -> None:
    result = trade_show_first_contact(show_end, tz)
    wall = result.astimezone(ZoneInfo(tz))
    assert result.tzinfo is UTC
    assert wall.weekday() == 0
    assert wall.time() == time(8, 0)
    assert 1 <= (wall.date() - show_end).days <= 7


def test_trade_show_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        trade_show_first_contact(date(2026, 3, 6), "Nowhere/Special")


# --- frequency cap ---

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
T0 = utc(2026, 3, 2, 9)


def sends_in_week_ending(sends: list[datetime], at: datetime) -> int:
    return sum(at - WEEK < s <= at for s in sends)


def test_frequency_cap_under_the_cap_is_immediate() -> None:
    assert within_frequency_cap([], T0, 1) == T0
    assert within_frequency_cap([T0 - DAY, T0 - 2 * DAY], T0, 3) == T0
    assert within_frequency_cap([T0 - WEEK], T0, 1) == T0  # exactly a week ago has aged out


def test_frequency_cap_waits_for_sends_to_age_out() -> None:
    sends = [T0 - 6 * DAY, T0 - 3 * DAY, T0 - DAY]
    assert within_frequency_cap(sends, T0, 3) == T0 + DAY  # the oldest leaves the week
    assert within_frequency_cap(sends, T0, 2) == T0 + 4 * DAY  # the two oldest leave
    assert within_frequency_cap(sends, T0, 1) == T0 + 6 * DAY


def test_frequency_cap_counts_sends_that_come_into_the_week() -> None:
    # the candidate's week is full; when its oldest ages out, the send 12 hours later counts
    sends = [T0 - 6 * DAY, T0, T0 + DAY / 2]
    assert within_frequency_cap(sends, T0, 2) == T0 + 7 * DAY


def test_frequency_cap_checks() -> None:
    with pytest.raises(ValueError, match="max_per_week"):
        within_frequency_cap([], T0, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        within_frequency_cap([datetime(2026, 3, 1)], T0, 2)


OFFSETS = st.lists(st.integers(0, 60 * 24 * 30), max_size=25)  # minutes after T0


@given(OFFSETS, st.integers(1, 5))
def test_frequency_cap_applied_greedily_never_exceeds_the_cap(offsets: list[int], cap: int) -> None:
    sent: list[datetime] = []
    for offset in sorted(offsets):
        candidate = max(T0 + timedelta(minutes=offset), sent[-1] if sent else T0)
        at = within_frequency_cap(sent, candidate, cap)
        assert at >= candidate
        sent.append(at)
    # the busiest rolling week ends at a send
    assert all(sends_in_week_ending(sent, s) <= cap for s in sent)


@given(OFFSETS, st.integers(0, 60 * 24 * 30), st.integers(1, 5))
def test_frequency_cap_is_the_earliest_instant(
    offsets: list[int], candidate: int, cap: int
) -> None:
    sends = [T0 + timedelta(minutes=m) for m in offsets]
    at = within_frequency_cap(sends, T0 + timedelta(minutes=candidate), cap)
    assert at >= T0 + timedelta(minutes=candidate)
    assert sends_in_week_ending(sends, at) < cap
    if at > T0 + timedelta(minutes=candidate):  # waiting: a moment earlier was full
        assert sends_in_week_ending(sends, at - timedelta(microseconds=1)) >= cap


# --- inactivity segments and remarketing ---

NOW = utc(2026, 6, 1, 12)


@pytest.mark.parametrize(
    ("idle", "segment"),
    [
        (timedelta(0), "under_3_months"),
        (timedelta(days=90) - timedelta(microseconds=1), "under_3_months"),
        (timedelta(days=90), "3_to_12_months"),
        (timedelta(days=364, hours=23, minutes=59), "3_to_12_months"),
        (timedelta(days=365), "over_1_year"),
        (timedelta(days=3000), "over_1_year"),
        (-DAY, "under_3_months"),  # activity "after now" (clock skew) counts as recent
    ],
)
def test_inactivity_segment_boundaries(idle: timedelta, segment: str) -> None:
    assert inactivity_segment(NOW - idle, NOW) == segment


def test_never_active_is_over_a_year() -> None:
    assert inactivity_segment(None, NOW) == "over_1_year"
    with pytest.raises(ValueError, match="timezone-aware"):
        inactivity_segment(None, datetime(2026, 6, 1))


def test_remarket_due_after_the_configured_days() -> None:
    enrolled = NOW - timedelta(days=100)
    engaged = NOW - timedelta(days=30)
    assert remarket_due(engaged, enrolled, NOW, 30)
    assert not remarket_due(engaged, enrolled, NOW - timedelta(microseconds=1), 30)
    assert not remarket_due(engaged, enrolled, NOW, 31)
    assert remarket_due(engaged, enrolled, NOW + 15 * DAY, 45)


def test_remarket_counts_from_enrolment_when_engagement_is_older() -> None:
    engaged = NOW - timedelta(days=400)
    assert not remarket_due(engaged, NOW - timedelta(days=10), NOW, 30)
    assert remarket_due(engaged, NOW - timedelta(days=30), NOW, 30)


@pytest.mark.parametrize("after_days", [0, 29, 46, 90])
def test_remarket_days_must_be_30_to_45(after_days: int) -> None:
    with pytest.raises(ValueError, match="between 30 and 45"):
        remarket_due(NOW, NOW, NOW, after_days)
