"""Holiday calendars and business hours that skip them: public holidays of a country from
the holidays package, dates an admin adds, closed all day in the hours' own zone."""

from __future__ import annotations

import time as wall
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.router.domain.assignment import Rep, RoutingRule, Team, choose_rep, route, why_skipped
from services.router.domain.business_hours import (
    WorkingHours,
    add_business_minutes,
    business_minutes_between,
    skipped_holidays,
)
from services.router.domain.holiday_calendar import (
    Holiday,
    HolidayCalendar,
    canonical_country,
    canonical_subdivision,
    check_region,
)
from services.router.domain.model import LeadProfile

BERLIN = ZoneInfo("Europe/Berlin")
GERMANY = HolidayCalendar("DE")
WEEKDAYS = {"mon-fri": "08:00-18:00"}
EMEA = WorkingHours.parse("Europe/Berlin", WEEKDAYS, GERMANY)
PLAIN = WorkingHours.parse("Europe/Berlin", WEEKDAYS)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


# --- calendars ---


def test_public_holidays_come_from_the_country_with_english_names() -> None:
    assert GERMANY.get(date(2026, 12, 25)) == Holiday(date(2026, 12, 25), "Christmas Day")
    assert GERMANY.get(date(2026, 12, 24)) is None
    assert GERMANY.get(date(2026, 10, 3)).name == "German Unity Day"  # type: ignore[union-attr]
    # a subdivision adds its own: International Women's Day is a holiday in Berlin only
    assert GERMANY.get(date(2026, 3, 9)) is None
    assert HolidayCalendar("DE", "BE").get(date(2027, 3, 8)) is not None
    assert HolidayCalendar("GB", "ENG").get(date(2026, 12, 28)).name == "Boxing Day (observed)"  # type: ignore[union-attr]


def test_added_dates_join_the_calendar_and_win_over_a_public_name() -> None:
    calendar = HolidayCalendar.of(
        "DE",
        None,
        [
            {"date": "2026-12-31", "name": "Year-end shutdown"},
            {"date": "2026-12-25", "name": "Office closed"},
        ],
    )
    assert calendar.get(date(2026, 12, 31)) == Holiday(
        date(2026, 12, 31), "Year-end shutdown", "added"
    )
    assert calendar.get(date(2026, 12, 25)).source == "added"  # type: ignore[union-attr]
    assert [h.day for h in calendar.added] == [date(2026, 12, 25), date(2026, 12, 31)]
    year = calendar.in_year(2026)
    assert [(h.day, h.source) for h in year if h.day.month == 12] == [
        (date(2026, 12, 25), "public"),
        (date(2026, 12, 25), "added"),
        (date(2026, 12, 26), "public"),
        (date(2026, 12, 31), "added"),
    ]
    # without a country, only the added dates
    only_added = HolidayCalendar.of(None, None, [{"date": "2026-06-01", "name": "Offsite"}])
    assert only_added.in_year(2026) == (Holiday(date(2026, 6, 1), "Offsite", "added"),)
    assert only_added.get(date(2026, 12, 25)) is None


def test_calendars_are_values_hashable_and_equal_by_content() -> None:
    a = HolidayCalendar.of("DE", "BE", [{"date": "2026-12-31", "name": "Shutdown"}])
    b = HolidayCalendar.of("DE", "BE", [{"date": "2026-12-31", "name": "Shutdown"}])
    assert a == b and hash(a) == hash(b)
    assert a != HolidayCalendar("DE", "BE")
    assert WorkingHours.parse("UTC", WEEKDAYS, a) == WorkingHours.parse("UTC", WEEKDAYS, b)
    assert len({WorkingHours.parse("UTC", WEEKDAYS, a), WorkingHours.parse("UTC", WEEKDAYS)}) == 2


def test_unknown_regions_and_duplicate_dates_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown holiday country 'XX'"):
        HolidayCalendar("XX")
    with pytest.raises(ValueError, match="unknown subdivision 'ZZ' of DE: use one of BB, BE"):
        HolidayCalendar("DE", "ZZ")
    with pytest.raises(ValueError, match="needs a country"):
        check_region(None, "BE")
    with pytest.raises(ValueError, match="more than once"):
        HolidayCalendar.of(None, None, [{"date": "2026-01-02", "name": "a"}] * 2)
    assert canonical_country(" gb ") == "GB"
    assert canonical_subdivision("GB", "eng") == "ENG"
    with pytest.raises(ValueError, match="unknown subdivision"):
        canonical_subdivision("GB", "Wessex")


# --- business hours ---


def test_a_holiday_is_closed_all_day_in_the_teams_zone() -> None:
    assert PLAIN.is_open(berlin(2026, 12, 25, 10))
    assert not EMEA.is_open(berlin(2026, 12, 25, 10))
    assert EMEA.is_open(berlin(2026, 12, 24, 17, 59))
    assert EMEA.next_open(berlin(2026, 12, 24, 18)) == berlin(2026, 12, 28, 8)
    assert EMEA.holiday_on(berlin(2026, 12, 25, 0, 0)).name == "Christmas Day"  # type: ignore[union-attr]
    # 23:30 UTC on the 24th is already the 25th in Berlin
    assert EMEA.holiday_on(datetime(2026, 12, 24, 23, 30, tzinfo=UTC)) is not None
    assert EMEA.holiday_on(datetime(2026, 12, 24, 22, 59, tzinfo=UTC)) is None


def test_an_sla_started_on_christmas_is_due_the_next_business_day() -> None:
    due = add_business_minutes(berlin(2026, 12, 25, 10), 60, EMEA)
    assert due == berlin(2026, 12, 28, 9)  # Fri 25th holiday, weekend, Monday 08:00 + 60
    assert add_business_minutes(berlin(2026, 12, 25, 10), 60, PLAIN) == berlin(2026, 12, 25, 11)
    # 30 minutes on the 24th, then on through the holiday to Monday
    assert add_business_minutes(berlin(2026, 12, 24, 17, 30), 60, EMEA) == berlin(
        2026, 12, 28, 8, 30
    )
    assert business_minutes_between(berlin(2026, 12, 24, 17), berlin(2026, 12, 28, 9), EMEA) == 120


def test_skipped_holidays_name_the_days_a_span_would_have_counted() -> None:
    started, due = berlin(2026, 12, 25, 10), berlin(2026, 12, 28, 9)
    # the 26th is a Saturday: closed anyway, so not skipped
    assert skipped_holidays(started, due, EMEA) == (Holiday(date(2026, 12, 25), "Christmas Day"),)
    assert skipped_holidays(started, due, PLAIN) == ()
    # a span that ended before the holiday's hours, or starts after them, skipped nothing
    assert skipped_holidays(berlin(2026, 12, 24, 9), berlin(2026, 12, 24, 10), EMEA) == ()
    assert skipped_holidays(berlin(2026, 12, 25, 18, 30), berlin(2026, 12, 28, 9), EMEA) == ()


def test_added_dates_close_like_public_ones() -> None:
    offsite = WorkingHours.parse(
        "Europe/Lisbon",
        WEEKDAYS,
        HolidayCalendar.of(None, None, [{"date": "2026-06-03", "name": "Offsite"}]),
    )
    wednesday = datetime(2026, 6, 3, 10, tzinfo=ZoneInfo("Europe/Lisbon"))
    assert not offsite.is_open(wednesday)
    assert add_business_minutes(wednesday, 30, offsite) == datetime(
        2026, 6, 4, 8, 30, tzinfo=ZoneInfo("Europe/Lisbon")
    )


def _cost(hours: WorkingHours) -> float:
    at = berlin(2026, 12, 21, 10)
    best = float("inf")
    for _ in range(3):
        started = wall.perf_counter()
        for i in range(5_000):
            hours.is_open(at + timedelta(seconds=7 * i))
            add_business_minutes(at + timedelta(minutes=i), 60, hours)
        best = min(best, wall.perf_counter() - started)
    return best


def test_holiday_look_ups_stay_fast() -> None:
    """Routing asks is_open for every rep on every lead: a calendar must not slow it down
    (its look-ups are cached per day; about 1.0x plain hours on the development machine)."""
    plain = _cost(WorkingHours.parse("Europe/Berlin", WEEKDAYS))
    with_calendar = _cost(
        WorkingHours.parse("Europe/Berlin", WEEKDAYS, HolidayCalendar("DE", "BE"))
    )
    assert with_calendar < 3 * plain + 0.05  # generous: the machine is shared


# --- reps on their own holiday ---


def test_a_rep_on_their_own_holiday_is_skipped_with_the_holiday_named() -> None:
    lena = Rep(
        id="lena", team_id="emea", name="Lena", weight=1, capacity=10,
        hours=WorkingHours.parse("Europe/Berlin", WEEKDAYS, HolidayCalendar("DE", "BE")),
    )  # fmt: skip
    tom = Rep(
        id="tom", team_id="emea", name="Tom", weight=1, capacity=10,
        hours=WorkingHours.parse("Europe/London", WEEKDAYS, HolidayCalendar("GB", "ENG")),
    )  # fmt: skip
    womens_day = datetime(2027, 3, 8, 10, tzinfo=UTC)  # a Monday; a holiday in Berlin only
    reason, detail = why_skipped(lena, womens_day)  # type: ignore[misc]
    assert reason == "holiday"
    assert detail == "Women's Day (2027-03-08, DE-BE public holiday in Europe/Berlin)"
    assert why_skipped(tom, womens_day) is None
    pick = choose_rep(Team(id="emea", name="EMEA"), [lena, tom], womens_day)
    assert pick.rep_id == "tom"
    skipped = next(c for c in pick.candidates if c.rep_id == "lena")
    assert (skipped.reason, skipped.detail) == ("holiday", detail)


def test_a_team_closed_for_a_holiday_is_named_when_follow_the_sun_passes_it() -> None:
    rep = Rep(id="r", team_id="emea", name="R", weight=1, capacity=10, active=False)
    us = Rep(id="u", team_id="amer", name="U", weight=1, capacity=10)
    teams = {
        "emea": Team(id="emea", name="EMEA", hours=EMEA),
        "amer": Team(id="amer", name="AMER"),
        "apac": Team(id="apac", name="APAC", hours=EMEA),
    }
    decision = route(
        LeadProfile(country="DE"),
        [RoutingRule(name="all", team_id="emea")],
        teams,
        [rep, us],
        ["apac", "amer"],
        berlin(2026, 12, 25, 10),
    )
    assert decision.rep_id == "u"
    assert (
        decision.explanation["teams_tried"][1]["skipped"] == "closed for Christmas Day (2026-12-25)"
    )


# --- properties ---

DAYS_2026 = st.dates(date(2026, 1, 1), date(2026, 12, 31))


@st.composite
def calendars(draw: st.DrawFn) -> HolidayCalendar:
    country = draw(st.sampled_from([None, "DE", "GB", "US", "PT", "SG"]))
    added = draw(st.lists(DAYS_2026, max_size=6, unique=True))
    return HolidayCalendar(country, None, tuple(Holiday(d, f"added {d}", "added") for d in added))


@settings(max_examples=150, deadline=None)
@given(
    calendars(),
    st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 28)),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Singapore"]),
)
def test_a_holiday_is_never_open(calendar: HolidayCalendar, at: datetime, tz: str) -> None:
    hours = WorkingHours.parse(tz, {"mon-sun": "00:00-24:00"}, calendar)
    at = at.replace(tzinfo=UTC)
    if hours.holiday_on(at) is not None:
        assert not hours.is_open(at)
    else:
        assert hours.is_open(at)  # open every day, every hour, but on holidays


@settings(max_examples=150, deadline=None)
@given(
    calendars(),
    st.datetimes(datetime(2026, 1, 1), datetime(2026, 11, 30)),
    st.integers(0, 14 * 24 * 60),
)
def test_business_minutes_never_count_a_holiday(
    calendar: HolidayCalendar, start: datetime, span: int
) -> None:
    with_holidays = WorkingHours.parse("Europe/Berlin", {"mon-sat": "08:00-18:00"}, calendar)
    plain = WorkingHours.parse("Europe/Berlin", {"mon-sat": "08:00-18:00"})
    lo = start.replace(tzinfo=UTC)
    hi = lo + timedelta(minutes=span)
    # what the calendar removes is exactly the open time of the skipped holidays
    skipped = skipped_holidays(lo, hi, with_holidays)
    removed = sum(
        business_minutes_between(
            max(lo, datetime.combine(h.day, datetime.min.time(), BERLIN)),
            min(hi, datetime.combine(h.day + timedelta(days=1), datetime.min.time(), BERLIN)),
            plain,
        )
        for h in skipped
    )
    assert business_minutes_between(lo, hi, with_holidays) == pytest.approx(
        business_minutes_between(lo, hi, plain) - removed
    )
    # and a deadline never lands on a holiday
    due = add_business_minutes(lo, 90, with_holidays)
    assert with_holidays.holiday_on(due - timedelta(seconds=1)) is None
