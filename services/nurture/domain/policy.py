"""Nurture's decisions as plain functions: which sequences a routing decision starts or
pauses, what an activity does, when a due step may go out, and how idle leads move
(re-engagement, sunset). No I/O; the services apply these inside one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Literal

import phonenumbers
from phonenumbers import timezone as phone_timezones
from phonenumbers.tzdata import TIMEZONE_DATA

from services.nurture.domain.schedule import (
    QuietHours,
    SendWindow,
    inactivity_segment,
    next_send_at,
    trade_show_first_contact,
    within_frequency_cap,
)
from services.nurture.domain.sequences import Segment, SequencesConfig, Trigger
from shared.domain.zones import get_zone

TimezoneSource = Literal["lead", "phone", "country", "show", "team", "default"]
# the zones a lead's own data gave (not a fallback of where it was met or who owns it)
OWN_TIMEZONE_SOURCES = frozenset({"lead", "phone", "country"})


def contact_timezone(
    lead_tz: str | None,
    phone: str | None,
    team_tz: str | None,
    default: str,
    show_tz: str | None = None,
    country: str | None = None,
) -> tuple[str, TimezoneSource]:
    """The zone a lead is contacted in: its own, else its phone number's (when the number
    maps to one zone), else its country's (when the country has one zone), else the trade
    show's where it was met, else its team's, else the configured default."""
    if lead_tz and _known(lead_tz):
        return lead_tz, "lead"
    if phone:
        try:
            zones = phone_timezones.time_zones_for_number(phonenumbers.parse(phone))
        except phonenumbers.NumberParseException:
            zones = ()
        if len(zones) == 1 and _known(zones[0]):
            return zones[0], "phone"
    if country and (zone := country_timezone(country)) is not None:
        return zone, "country"
    if show_tz and _known(show_tz):
        return show_tz, "show"
    if team_tz and _known(team_tz):
        return team_tz, "team"
    return default, "default"


@cache
def country_timezone(country: str) -> str | None:
    """The one zone of a country (ISO 3166-1 alpha-2), else None. From phonenumbers' zone
    data: a country whose calling code is its own (not shared, as +1 is by the US, Canada
    and the Caribbean, or +44 by the UK and the Crown dependencies) and whose every number
    prefix maps to the same single zone: Germany is Europe/Berlin, Singapore Asia/Singapore;
    the US, Spain (the Canaries) or Brazil have several and get none."""
    region = country.strip().upper()
    code = phonenumbers.country_code_for_region(region)
    if code == 0 or phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()) != (region,):
        return None
    prefix = str(code)
    zones = {z for key, found in TIMEZONE_DATA.items() if key.startswith(prefix) for z in found}
    if len(zones) != 1:
        return None
    zone = zones.pop()
    return zone if _known(zone) else None


def _known(tz: str) -> bool:
    try:
        get_zone(tz)
    except ValueError:
        return False
    return True


# --- routing decisions -> enrollments ---


@dataclass(frozen=True)
class RoutingDecision:
    """What nurture reads from one ``leads.assigned.v1``."""

    outcome: str  # assigned | queued | nurture
    channel: str | None  # web | trade_show | purchased_list
    purchased_list: bool
    temperature: str
    stage: str
    show_id: str | None = None
    show_end: date | None = None
    show_tz: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class LeadState:
    suppressed: bool
    converted: bool
    sunset: bool
    with_sales: bool
    own_timezone: bool  # the lead's zone is its own (given or from its phone), not a fallback
    timezone: str
    open_triggers: frozenset[str]  # triggers of active or paused enrollments
    ever_triggers: frozenset[str]  # triggers of every enrollment it ever had
    shows: frozenset[str]  # trade shows it was enrolled for
    # when sales last reported on it (leads.lifecycle.v1): a decision made before that is
    # older news about who has the lead, and does not hand it to sales or take it back
    sales_changed_at: datetime | None = None


@dataclass(frozen=True)
class Enroll:
    trigger: Trigger
    sequence_id: str
    start_at: datetime
    reason: str
    show_id: str | None = None


@dataclass(frozen=True)
class Pause:
    reason: str


@dataclass(frozen=True)
class Resume:
    reason: str


Action = Enroll | Pause | Resume


def handed_to_sales(d: RoutingDecision) -> bool:
    return d.outcome in ("assigned", "queued") and (d.stage == "sql" or d.temperature == "hot")


def plan_decision(
    d: RoutingDecision, lead: LeadState, config: SequencesConfig, now: datetime
) -> list[Action]:
    """The enrollments a routing decision starts, and whether nurture pauses or resumes.

    Web leads get the welcome sequence once, the same day; trade-show leads get the show
    sequence once per show, first contact 08:00 local on the Monday after it; leads kept
    from sales (below MQL) get the nurture sequence of their temperature; purchased-list
    names get the list-only sequence. A lead that is SQL or hot goes to sales and its
    nurture pauses; a suppressed, converted or sunset lead is left alone (a new submission
    has brought a sunset lead back before this is asked)."""
    if lead.suppressed or lead.converted or lead.sunset:
        return []
    actions: list[Action] = []
    if d.purchased_list:
        if "purchased_list" not in lead.ever_triggers:
            seq = config.for_trigger("purchased_list")
            actions.append(
                Enroll("purchased_list", seq.id, now, "purchased-list name: marketing only")
            )
        return actions
    if d.channel == "web" and "web_welcome" not in lead.ever_triggers:
        seq = config.for_trigger("web_welcome")
        actions.append(Enroll("web_welcome", seq.id, now, "new web lead: welcome the same day"))
    if d.show_id is not None and d.show_end is not None and d.show_id not in lead.shows:
        show_tz = d.show_tz if d.show_tz and _known(d.show_tz) else None
        tz = lead.timezone if lead.own_timezone or show_tz is None else show_tz
        seq = config.for_trigger("trade_show")
        first = trade_show_first_contact(d.show_end, tz)
        actions.append(
            Enroll("trade_show", seq.id, first, f"met at show {d.show_id}: first contact Monday 08:00 {tz}", d.show_id)
        )  # fmt: skip
    if d.outcome == "nurture" and "nurture" not in lead.open_triggers:
        seq = config.for_trigger("nurture", temperature=d.temperature)
        actions.append(
            Enroll("nurture", seq.id, now, f"{d.temperature} lead below MQL: not given to sales")
        )
    if _older_than_sales(d, lead):
        return actions
    if handed_to_sales(d) and not lead.with_sales:
        why = "SQL" if d.stage == "sql" else "hot"
        actions.append(Pause(f"{why} lead handed to sales"))
    elif d.outcome == "nurture" and lead.with_sales:
        actions.append(Resume("back with nurture after sales"))
    return actions


def _older_than_sales(d: RoutingDecision, lead: LeadState) -> bool:
    """The decision and the sales lifecycle travel on two topics: a decision delivered late
    (after sales already worked the lead and gave it back, say) must not undo what sales
    reported since."""
    return (
        d.decided_at is not None
        and lead.sales_changed_at is not None
        and d.decided_at < lead.sales_changed_at
    )


# --- activities ---


@dataclass(frozen=True)
class ActivityEffect:
    engaged: bool = False  # the lead itself did something
    stop: str | None = None  # ends every running sequence, with this reason
    suppress: str | None = None  # unsubscribed | hard_bounce
    converted: bool = False


def activity_effect(
    kind: str, touch_channel: str | None, bounce_type: str | None
) -> ActivityEffect:
    """A reply, a meeting or a conversion ends the sequences; an unsubscribe or a hard
    bounce suppresses the lead everywhere; opens, clicks and visits are engagement. A rep's
    call or email is not the lead's engagement. The sales statuses ``working``,
    ``qualified`` and ``disqualified`` do nothing here: the router turns them into a
    ``leads.lifecycle.v1`` change that says what marketing does (:func:`sales_effect`)."""
    if kind == "reply":
        return ActivityEffect(engaged=True, stop="reply")
    if kind == "touch" and touch_channel == "meeting":
        return ActivityEffect(engaged=True, stop="meeting")
    if kind == "converted":
        return ActivityEffect(engaged=True, stop="converted", converted=True)
    if kind in ("open", "click", "page_visit"):
        return ActivityEffect(engaged=True)
    if kind == "unsubscribe":
        return ActivityEffect(suppress="unsubscribed")
    if kind == "bounce" and bounce_type == "hard":
        return ActivityEffect(suppress="hard_bounce")
    return ActivityEffect()


# --- after assignment: sales lifecycle changes (leads.lifecycle.v1) ---

Marketing = Literal["none", "remarket", "suppress", "stop"]
STILL_WITH_SALES = frozenset({"working", "qualified"})


@dataclass(frozen=True)
class SalesChange:
    """What nurture reads from one ``leads.lifecycle.v1``."""

    change: str  # status | recycled | released | stage
    status: str | None  # working | qualified | disqualified | converted | recycled
    reason: str | None  # a disqualification code; inactive; rep_inactive | rep_away
    marketing: Marketing


@dataclass(frozen=True)
class SalesEffect:
    """What a sales lifecycle change does to a lead in nurture (all fields: no change)."""

    with_sales: bool | None = None  # True: sales has it (pause); False: sales let it go
    remarket: str | None = None  # onto the remarket list, with this reason
    suppress: str | None = None  # suppressed everywhere, with this reason
    stop: str | None = None  # its open enrollments stop, with this reason
    converted: bool = False


def sales_effect(
    c: SalesChange, *, suppressed: bool, converted: bool, is_name: bool
) -> SalesEffect:
    """``marketing`` says what marketing does now:

    - ``remarket``: sales gave the lead back (not worked in time, disqualified "not now",
      its rep left): onto the remarket list. A suppressed or converted lead stays as it is,
      and a purchased-list name (never routed to sales) keeps its own list: suppression and
      conversion win over remarketing;
    - ``suppress``: the contact data is invalid: suppressed (``invalid_contact``);
    - ``stop``: closed for good (not a fit, competitor, duplicate; or converted): its
      sequences stop and nothing more is sent;
    - ``none``: nothing for marketing, but a rep working or qualifying the lead means sales
      has it (its nurture pauses); a reported conversion is a conversion."""
    is_converted = c.status == "converted"
    done = suppressed or converted
    if c.marketing == "suppress":
        return SalesEffect(with_sales=False, suppress="invalid_contact", converted=is_converted)
    if c.marketing == "stop" or is_converted:
        why = "converted" if is_converted else _reason("closed by sales", c)
        return SalesEffect(with_sales=False, stop=why, converted=is_converted)
    if c.marketing == "remarket":
        if done or is_name:
            return SalesEffect(with_sales=False)
        by = "released by sales" if c.change == "released" else "recycled by sales"
        return SalesEffect(with_sales=False, remarket=_reason(by, c))
    if c.status in STILL_WITH_SALES and not done and not is_name:
        return SalesEffect(with_sales=True)
    return SalesEffect()


def _reason(by: str, c: SalesChange) -> str:
    """``by`` and why, in words: "recycled by sales: disqualified bad_timing"."""
    if c.reason == "inactive":
        return f"{by}: not worked in time"
    if c.reason in ("rep_inactive", "rep_away"):
        return f"{by}: its rep is {c.reason.removeprefix('rep_')}"
    if c.status == "disqualified" or (c.reason and c.change == "recycled"):
        return f"{by}: disqualified {c.reason}" if c.reason else f"{by}: disqualified"
    return f"{by}: {c.reason}" if c.reason else by


# --- due steps ---


def missing_contact(channel: str, email: str | None, phone: str | None) -> str | None:
    """Why a step cannot go out on its channel, if it cannot."""
    if channel == "email" and not email:
        return "no email address"
    if channel == "sms" and not phone:
        return "no phone number"
    return None


def first_step_at(
    start_at: datetime, delay: timedelta, tz: str, window: SendWindow, quiet: QuietHours | None
) -> datetime:
    return next_send_at(start_at + delay, tz, window, quiet)


def send_time(
    now: datetime,
    tz: str,
    window: SendWindow,
    quiet: QuietHours | None,
    sent_at: Sequence[datetime],
    max_per_week: int,
) -> datetime:
    """The first instant at or after ``now`` inside the window, outside quiet hours and
    within the lead's weekly cap. ``now`` itself means: send now. After downtime this is
    what keeps missed steps from going out as a burst in quiet hours."""
    at = now
    for _ in range(64):  # each round moves forward; the cap frees a slot within a week
        sendable = next_send_at(at, tz, window, quiet)
        capped = within_frequency_cap(sent_at, sendable, max_per_week)
        if capped == sendable:
            return sendable
        at = capped
    raise ValueError("no send time found within 64 rounds of window and cap")


# --- idle leads ---

IdleMove = Literal["reengage", "sunset"]


def idle_move(
    *,
    idle_since: datetime,
    reengaged_at: datetime | None,
    now: datetime,
    reengage_after: timedelta,
    sunset_after: timedelta,
) -> IdleMove | None:
    """A lead with no sequence running since ``idle_since``: re-engage it once it has been
    idle ``reengage_after``; a lead still silent ``sunset_after`` after its re-engagement
    ended is sunset. (Engagement clears ``reengaged_at``.)"""
    idle = now - idle_since
    if reengaged_at is None:
        return "reengage" if idle >= reengage_after else None
    return "sunset" if idle >= sunset_after else None


def reengagement_segment(
    last_engaged_at: datetime | None, created_at: datetime, now: datetime
) -> Segment:
    """Inactivity counts from the last engagement; a lead that never engaged, from when
    nurture first heard of it."""
    return inactivity_segment(last_engaged_at or created_at, now)
