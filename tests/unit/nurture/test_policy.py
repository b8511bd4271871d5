"""Nurture's decisions as pure functions: enrollment, stop and suppression, contact zones,
send times under windows and caps, idle moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.nurture.domain.policy import (
    Enroll,
    LeadState,
    Pause,
    Resume,
    RoutingDecision,
    activity_effect,
    contact_timezone,
    country_timezone,
    idle_move,
    missing_contact,
    plan_decision,
    reengagement_segment,
    send_time,
)
from services.nurture.domain.schedule import QuietHours, SendWindow
from services.nurture.sequences_file import load_sequences

CONFIG = load_sequences(Path(__file__).parents[3] / "deploy" / "config" / "nurture.yaml")
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
FRESH = LeadState(
    suppressed=False, converted=False, sunset=False, with_sales=False, own_timezone=True, timezone="America/New_York",
    open_triggers=frozenset(), ever_triggers=frozenset(), shows=frozenset(),
)  # fmt: skip


def decision(**kw) -> RoutingDecision:
    base = dict(
        outcome="assigned", channel="web", purchased_list=False, temperature="warm", stage="mql"
    )
    return RoutingDecision(**{**base, **kw})


def seqs(actions) -> list[str]:
    return [a.sequence_id for a in actions if isinstance(a, Enroll)]


def test_a_web_lead_starts_its_welcome_now_once():
    actions = plan_decision(decision(), FRESH, CONFIG, NOW)
    assert seqs(actions) == ["web-welcome"] and actions[0].start_at == NOW
    again = LeadState(**{**FRESH.__dict__, "ever_triggers": frozenset({"web_welcome"})})
    assert plan_decision(decision(), again, CONFIG, NOW) == []


@pytest.mark.parametrize(
    ("temperature", "sequence"),
    [("cold", "nurture-cold"), ("warm", "nurture-warm"), ("hot", "nurture-warm")],
)
def test_leads_kept_from_sales_enter_the_nurture_sequence_of_their_temperature(
    temperature, sequence
):
    actions = plan_decision(
        decision(outcome="nurture", channel="web", temperature=temperature, stage="none"),
        FRESH,
        CONFIG,
        NOW,
    )
    assert seqs(actions) == ["web-welcome", sequence]


def test_an_open_nurture_enrollment_is_not_doubled():
    busy = LeadState(
        **{
            **FRESH.__dict__,
            "open_triggers": frozenset({"nurture"}),
            "ever_triggers": frozenset({"nurture", "web_welcome"}),
        }
    )
    assert plan_decision(decision(outcome="nurture", stage="none"), busy, CONFIG, NOW) == []


def test_purchased_list_names_get_only_the_list_sequence():
    d = decision(outcome="nurture", channel="purchased_list", purchased_list=True, stage="none")
    assert seqs(plan_decision(d, FRESH, CONFIG, NOW)) == ["list-names"]
    done = LeadState(**{**FRESH.__dict__, "ever_triggers": frozenset({"purchased_list"})})
    assert plan_decision(d, done, CONFIG, NOW) == []


@pytest.mark.parametrize(
    ("temperature", "stage"), [("hot", "mql"), ("warm", "sql"), ("hot", "sql")]
)
def test_sql_or_hot_leads_given_to_sales_pause_nurture(temperature, stage):
    actions = plan_decision(decision(temperature=temperature, stage=stage), FRESH, CONFIG, NOW)
    assert isinstance(actions[-1], Pause)
    with_sales = LeadState(
        **{**FRESH.__dict__, "with_sales": True, "ever_triggers": frozenset({"web_welcome"})}
    )
    assert (
        plan_decision(decision(temperature=temperature, stage=stage), with_sales, CONFIG, NOW) == []
    )
    back = plan_decision(
        decision(outcome="nurture", stage="none", temperature="cold"), with_sales, CONFIG, NOW
    )
    assert isinstance(back[-1], Resume)


def test_warm_mql_leads_with_sales_keep_their_welcome():
    assert not any(isinstance(a, Pause) for a in plan_decision(decision(), FRESH, CONFIG, NOW))


def test_suppressed_converted_or_sunset_leads_are_left_alone():
    for flag in ("suppressed", "converted", "sunset"):
        lead = LeadState(**{**FRESH.__dict__, flag: True})
        assert plan_decision(decision(outcome="nurture", stage="none"), lead, CONFIG, NOW) == []


@pytest.mark.parametrize("weekday", range(7))
def test_trade_show_first_contact_is_the_monday_after_at_8_local(weekday):
    end = date(2026, 11, 30) + timedelta(days=weekday)  # Monday 30 November + weekday
    no_zone = LeadState(**{**FRESH.__dict__, "own_timezone": False, "timezone": "America/New_York"})
    d = decision(channel="trade_show", show_id="show", show_end=end, show_tz="Europe/Berlin")
    (enroll,) = [a for a in plan_decision(d, no_zone, CONFIG, NOW) if isinstance(a, Enroll)]
    local = enroll.start_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.weekday() == 0 and (local.hour, local.minute) == (8, 0)
    assert 1 <= (local.date() - end).days <= 7
    own = plan_decision(d, FRESH, CONFIG, NOW)  # the lead's own zone wins over the show's
    assert own[0].start_at.astimezone(ZoneInfo("America/New_York")).hour == 8
    again = LeadState(
        **{
            **FRESH.__dict__,
            "shows": frozenset({"show"}),
            "ever_triggers": frozenset({"trade_show"}),
        }
    )
    assert plan_decision(d, again, CONFIG, NOW) == []


@pytest.mark.parametrize(
    ("kind", "touch", "bounce", "engaged", "stop", "suppress"),
    [
        ("reply", None, None, True, "reply", None),
        ("touch", "meeting", None, True, "meeting", None),
        ("converted", None, None, True, "converted", None),
        ("unsubscribe", None, None, False, None, "unsubscribed"),
        ("bounce", None, "hard", False, None, "hard_bounce"),
        ("bounce", None, "soft", False, None, None),
        ("click", None, None, True, None, None),
        ("open", None, None, True, None, None),
        ("page_visit", None, None, True, None, None),
        ("touch", "call", None, False, None, None),  # the rep's doing, not the lead's
        ("touch", "email", None, False, None, None),
    ],
)
def test_what_each_activity_does(kind, touch, bounce, engaged, stop, suppress):
    effect = activity_effect(kind, touch, bounce)
    assert (effect.engaged, effect.stop, effect.suppress) == (engaged, stop, suppress)
    assert effect.converted == (kind == "converted")


def test_contact_zone_falls_back_in_order():
    assert contact_timezone("Europe/Paris", "+14155550123", "Asia/Tokyo", "UTC") == (
        "Europe/Paris",
        "lead",
    )
    assert contact_timezone(None, "+14155550123", "Asia/Tokyo", "UTC") == (
        "America/Los_Angeles",
        "phone",
    )
    assert contact_timezone(None, None, "Asia/Tokyo", "UTC", "Europe/Berlin") == (
        "Europe/Berlin",
        "show",
    )
    assert contact_timezone(None, None, "Asia/Tokyo", "UTC") == ("Asia/Tokyo", "team")
    assert contact_timezone("Mars/Olympus", None, None, "UTC") == ("UTC", "default")


def test_a_country_with_one_zone_gives_it_before_the_show_team_or_default():
    # a German list name with only a country: Berlin, not the New York default
    assert contact_timezone(None, None, None, "America/New_York", country="DE") == (
        "Europe/Berlin",
        "country",
    )
    assert contact_timezone(None, None, "Asia/Tokyo", "UTC", "Europe/London", "SG") == (
        "Asia/Singapore",
        "country",
    )
    # its own zone and its phone's still come first
    assert contact_timezone("Europe/Paris", None, None, "UTC", country="DE")[1] == "lead"
    assert contact_timezone(None, "+6561234567", None, "UTC", country="DE") == (
        "Asia/Singapore",
        "phone",
    )


def test_a_country_with_several_zones_gives_none():
    assert country_timezone("US") is None  # +1 is shared, and the US has many zones
    assert country_timezone("ES") is None  # the Canaries
    assert country_timezone("XX") is None
    assert country_timezone("de") == "Europe/Berlin"
    assert contact_timezone(None, None, "America/Chicago", "UTC", country="US") == (
        "America/Chicago",
        "team",
    )
    assert contact_timezone(None, None, None, "America/New_York", country="US") == (
        "America/New_York",
        "default",
    )


def test_missing_contact_names_the_channel_need():
    assert missing_contact("email", None, "+1") == "no email address"
    assert missing_contact("sms", "a@b.c", None) == "no phone number"
    assert missing_contact("task", None, None) is None


WINDOW = SendWindow.parse("mon-fri", "09:00-17:00")
QUIET = QuietHours.parse("20:00-08:00")


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["America/New_York", "Europe/Berlin", "Asia/Kolkata"]),
    sent_offsets=st.lists(st.integers(min_value=0, max_value=7 * 24 * 60), max_size=8),
    cap=st.integers(min_value=1, max_value=4),
)
def test_send_time_is_in_the_window_and_within_the_cap(now, zone, sent_offsets, cap):
    sent = [now - timedelta(minutes=m) for m in sent_offsets]
    at = send_time(now, zone, WINDOW, QUIET, sent, cap)
    local = at.astimezone(ZoneInfo(zone))
    assert at >= now
    assert local.weekday() < 5 and 9 <= local.hour < 17
    assert len([s for s in sent if at - timedelta(days=7) < s <= at]) < cap
    if at > now:  # nothing earlier would do
        earlier = at - timedelta(minutes=1)
        if earlier >= now:
            e_local = earlier.astimezone(ZoneInfo(zone))
            in_window = e_local.weekday() < 5 and 9 <= e_local.hour < 17
            within = len([s for s in sent if earlier - timedelta(days=7) < s <= earlier]) < cap
            assert not (in_window and within)


def test_idle_moves():
    day = timedelta(days=1)
    kw = dict(reengage_after=30 * day, sunset_after=14 * day)
    assert idle_move(idle_since=NOW - 29 * day, reengaged_at=None, now=NOW, **kw) is None
    assert idle_move(idle_since=NOW - 30 * day, reengaged_at=None, now=NOW, **kw) == "reengage"
    assert idle_move(idle_since=NOW - 13 * day, reengaged_at=NOW - 30 * day, now=NOW, **kw) is None
    assert (
        idle_move(idle_since=NOW - 14 * day, reengaged_at=NOW - 30 * day, now=NOW, **kw) == "sunset"
    )


def test_reengagement_segment_counts_from_last_engagement_else_first_contact():
    day = timedelta(days=1)
    assert reengagement_segment(NOW - 89 * day, NOW - 900 * day, NOW) == "under_3_months"
    assert reengagement_segment(NOW - 90 * day, NOW, NOW) == "3_to_12_months"
    assert reengagement_segment(None, NOW - 365 * day, NOW) == "over_1_year"
    assert reengagement_segment(None, NOW - 10 * day, NOW) == "under_3_months"


def test_an_unknown_show_zone_falls_back_to_the_lead_zone():
    no_zone = LeadState(**{**FRESH.__dict__, "own_timezone": False})
    d = decision(
        channel="trade_show", show_id="show", show_end=date(2026, 12, 2), show_tz="Mars/Base"
    )
    (enroll,) = [a for a in plan_decision(d, no_zone, CONFIG, NOW) if isinstance(a, Enroll)]
    assert enroll.start_at.astimezone(ZoneInfo("America/New_York")).hour == 8
