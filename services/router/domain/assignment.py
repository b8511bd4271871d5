"""Who gets a lead: routing rules pick a team, smooth weighted round robin picks a rep.

Pure: the router service loads rules, teams and reps (with their fairness counters),
calls :func:`route`, and stores the decision and ``Decision.weights`` in the same
transaction that assigns the lead.

Smooth weighted round robin is nginx's: every eligible rep's ``current_weight`` grows
by its ``weight``, the largest wins and gives back the total eligible weight. Over any
run of picks each rep's share stays within one lead of ``weight / total``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any, Literal

from services.router.domain.business_hours import ALWAYS, WorkingHours
from services.router.domain.caps import PeriodCounts, cap_reached, count_new_lead
from services.router.domain.holiday_calendar import Holiday
from services.router.domain.model import LeadProfile

Escalation = Literal["reassign", "notify_manager"]
Outcome = Literal["assigned", "queued"]

# Why a rep was skipped, in the order eligibility checks them.
INACTIVE = "inactive"
OUT_OF_OFFICE = "out_of_office"
HOLIDAY = "holiday"  # a public or added holiday of the rep's own calendar
OFF_HOURS = "off_hours"
AT_CAPACITY = "at_capacity"
AT_DAILY_CAP = "at_daily_cap"  # new leads today, in the rep's zone
AT_WEEKLY_CAP = "at_weekly_cap"  # new leads this week (Monday-Sunday), in the rep's zone
EXCLUDED = "excluded"  # e.g. the owner a lead is being reassigned away from


@dataclass(frozen=True)
class Rep:
    id: str
    team_id: str
    name: str
    weight: int
    capacity: int  # most open leads at once
    open_leads: int = 0
    active: bool = True
    hours: WorkingHours = field(default_factory=ALWAYS)  # in the rep's own time zone
    out_of_office: tuple[tuple[datetime, datetime], ...] = ()  # [start, end), tz-aware
    current_weight: int = 0  # smooth-WRR state, stored between picks
    daily_cap: int | None = None  # most new leads per local day; None: no cap
    weekly_cap: int | None = None  # most new leads per local week (Monday-Sunday)
    # new leads counted on the local day cap_day and in the week starting cap_week
    cap_day: date | None = None
    day_count: int = 0
    cap_week: date | None = None
    week_count: int = 0

    def __post_init__(self) -> None:
        if self.weight < 1:
            raise ValueError(f"rep {self.id}: weight must be >= 1, got {self.weight}")
        if self.capacity < 0:
            raise ValueError(f"rep {self.id}: capacity must be >= 0, got {self.capacity}")
        for name in ("daily_cap", "weekly_cap"):
            cap = getattr(self, name)
            if cap is not None and cap < 1:
                raise ValueError(f"rep {self.id}: {name} must be >= 1 or None, got {cap}")
        for start, end in self.out_of_office:
            if start.utcoffset() is None or end.utcoffset() is None:
                raise ValueError(f"rep {self.id}: out-of-office times must be timezone-aware")
            if end <= start:
                raise ValueError(f"rep {self.id}: out-of-office ends before it starts")

    @property
    def counts(self) -> PeriodCounts:
        return PeriodCounts(self.cap_day, self.day_count, self.cap_week, self.week_count)


def took_lead(rep: Rep, now: datetime) -> Rep:
    """``rep`` after becoming the owner of one more lead at ``now``: one more open lead, and
    one more new lead in its local day and week (the one place both are counted)."""
    counts = count_new_lead(rep.counts, rep.hours.tz, now)
    return replace(
        rep,
        open_leads=rep.open_leads + 1,
        cap_day=counts.cap_day,
        day_count=counts.day_count,
        cap_week=counts.cap_week,
        week_count=counts.week_count,
    )


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    hours: WorkingHours = field(default_factory=ALWAYS)  # business hours: SLA clock, follow-the-sun
    sla_minutes: int = 60
    warning_minutes: int = 45
    escalation: Escalation = "reassign"
    manager: str | None = None

    def __post_init__(self) -> None:
        if self.sla_minutes < 1:
            raise ValueError(f"team {self.id}: sla_minutes must be >= 1, got {self.sla_minutes}")
        if not 0 <= self.warning_minutes <= self.sla_minutes:
            raise ValueError(
                f"team {self.id}: warning_minutes must be between 0 and sla_minutes "
                f"({self.sla_minutes}), got {self.warning_minutes}"
            )
        if self.escalation not in ("reassign", "notify_manager"):
            raise ValueError(
                f"team {self.id}: escalation must be 'reassign' or 'notify_manager', got {self.escalation!r}"
            )
        if self.escalation == "notify_manager" and not self.manager:
            raise ValueError(f"team {self.id}: escalation 'notify_manager' needs a manager")


_CRITERIA = ("countries", "regions", "company_sizes", "industries", "channels", "source_ids")


@dataclass(frozen=True)
class RoutingRule:
    """Matches a lead when every criterion that is set contains the lead's value (case-insensitive)."""

    name: str
    team_id: str
    countries: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    company_sizes: frozenset[str] | None = None
    industries: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    source_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name not in _CRITERIA:
                continue
            values = getattr(self, f.name)
            if values is None:
                continue
            if isinstance(values, str):
                raise ValueError(
                    f"rule {self.name}: {f.name} must be a set of strings, not one string"
                )
            normalized = frozenset(_fold(v) for v in values)
            if not normalized:
                raise ValueError(f"rule {self.name}: {f.name} is empty; use None to match any")
            object.__setattr__(self, f.name, normalized)

    def matches(self, lead: LeadProfile) -> bool:
        return all(
            _allows(allowed, value)
            for allowed, value in (
                (self.countries, lead.country),
                (self.regions, lead.region),
                (self.company_sizes, lead.company_size),
                (self.industries, lead.industry),
                (self.channels, lead.channel),
                (self.source_ids, lead.source_id),
            )
        )


def eligibility(rep: Rep, now: datetime) -> str | None:
    """None when ``rep`` may take a lead at ``now``, else the first reason it may not."""
    skip = why_skipped(rep, now)
    return skip[0] if skip is not None else None


def why_skipped(rep: Rep, now: datetime) -> tuple[str, str | None] | None:
    """None when ``rep`` may take a lead at ``now``, else the first reason it may not
    and a detail for people (the holiday, the count against the cap), in this order:
    inactive, out_of_office, holiday, off_hours, at_capacity, at_daily_cap, at_weekly_cap."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not rep.active:
        return INACTIVE, None
    for start, end in rep.out_of_office:
        if start <= now < end:
            return OUT_OF_OFFICE, f"out of office until {end.isoformat()}"
    if not rep.hours.is_open(now):
        holiday = rep.hours.holiday_on(now)  # a holiday is never open: only asked when closed
        if holiday is not None:
            return HOLIDAY, f"{holiday.name} ({holiday.day.isoformat()}, {_where(rep, holiday)})"
        return OFF_HOURS, None
    if rep.open_leads >= rep.capacity:
        return AT_CAPACITY, f"{rep.open_leads} of {rep.capacity} open leads"
    reached = cap_reached(rep.daily_cap, rep.weekly_cap, rep.counts, rep.hours.tz, now)
    if reached is not None:
        return (AT_DAILY_CAP if reached[0] == "daily" else AT_WEEKLY_CAP), reached[1]
    return None


def _where(rep: Rep, holiday: Holiday) -> str:
    """``DE-BE public holiday in Europe/Berlin`` or ``added date in Europe/Lisbon``."""
    calendar = rep.hours.holidays
    region = calendar.region if calendar is not None else None
    kind = f"{region} public holiday" if holiday.source == "public" and region else "added date"
    return f"{kind} in {rep.hours.tz}"


@dataclass(frozen=True)
class Candidate:
    rep_id: str
    eligible: bool
    reason: str | None  # why skipped; None when eligible
    weight: int
    current_weight: int  # before this pick
    effective_weight: int | None  # current_weight + weight; None when skipped
    detail: str | None = None  # what the reason is about, e.g. "12 of 12 open leads"


@dataclass(frozen=True)
class Pick:
    rep_id: str | None
    candidates: tuple[Candidate, ...]  # every rep of the team, by rep id
    tie_break: str | None
    weights: dict[str, int]  # new current_weight of every eligible rep, to store


def choose_rep(
    team: Team, reps: Sequence[Rep], now: datetime, exclude: frozenset[str] = frozenset()
) -> Pick:
    """One smooth weighted round-robin step over the team's eligible reps.

    Ties on current weight go to the rep with fewer open leads, then to the lower rep id.
    Reps of other teams are ignored; the result does not depend on the order of ``reps``.
    """
    members = sorted((rep for rep in reps if rep.team_id == team.id), key=lambda rep: rep.id)
    candidates: list[Candidate] = []
    eligible: list[Rep] = []
    for rep in members:
        skip = (EXCLUDED, None) if rep.id in exclude else why_skipped(rep, now)
        if skip is None:
            eligible.append(rep)
        candidates.append(
            Candidate(
                rep_id=rep.id,
                eligible=skip is None,
                reason=skip[0] if skip is not None else None,
                weight=rep.weight,
                current_weight=rep.current_weight,
                effective_weight=rep.current_weight + rep.weight if skip is None else None,
                detail=skip[1] if skip is not None else None,
            )
        )
    if not eligible:
        return Pick(rep_id=None, candidates=tuple(candidates), tie_break=None, weights={})

    weights = {rep.id: rep.current_weight + rep.weight for rep in eligible}
    top = max(weights.values())
    tied = [rep for rep in eligible if weights[rep.id] == top]
    fewest = min(rep.open_leads for rep in tied)
    finalists = [rep for rep in tied if rep.open_leads == fewest]
    chosen = finalists[0]  # members are in rep id order
    if len(eligible) == 1:
        tie_break = "only eligible rep"
    elif len(tied) == 1:
        tie_break = "highest current weight"
    else:
        rule = "fewer open leads" if len(finalists) == 1 else "rep id order"
        tie_break = f"tie on current weight {top} between {', '.join(r.id for r in tied)}: {rule}"
    weights[chosen.id] -= sum(rep.weight for rep in eligible)
    return Pick(
        rep_id=chosen.id, candidates=tuple(candidates), tie_break=tie_break, weights=weights
    )


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    team_id: str | None  # the assigning team; when queued, the team the rule chose (if any)
    rep_id: str | None
    rule: str | None
    reason: str  # one human sentence
    explanation: dict[str, Any]  # JSON-able: rule, teams_tried, follow_the_sun, queue
    weights: dict[str, int]  # new current_weight of the assigning team's eligible reps


def route(
    lead: LeadProfile,
    rules: Sequence[RoutingRule],
    teams: Mapping[str, Team],
    reps: Sequence[Rep],
    follow_the_sun: Sequence[str],
    now: datetime,
    fallback_queue: str = "unassigned",
    exclude: frozenset[str] = frozenset(),
) -> Decision:
    """The first matching rule picks a team; round robin picks a rep in it.

    When nobody there is eligible, the ``follow_the_sun`` teams are tried in order
    (the rule's own team skipped): the first whose business hours are open now and
    that has an eligible rep takes the lead. Otherwise it waits in ``fallback_queue``.
    """
    rule = next((r for r in rules if r.matches(lead)), None)
    tried: list[dict[str, Any]] = []
    explanation: dict[str, Any] = {
        "rule": rule.name if rule else None,
        "teams_tried": tried,
        "follow_the_sun": False,
        "queue": None,
    }

    def queued(team_id: str | None, reason: str) -> Decision:
        explanation["queue"] = fallback_queue
        return Decision(
            "queued", team_id, None, rule.name if rule else None, reason, explanation, {}
        )

    if rule is None:
        return queued(None, f"No routing rule matched the lead; queued to {fallback_queue!r}.")
    first = teams.get(rule.team_id)
    if first is None:
        tried.append(_skipped(rule.team_id, "unknown team"))
        return queued(
            rule.team_id,
            f"Rule {rule.name!r} names unknown team {rule.team_id!r}; queued to {fallback_queue!r}.",
        )

    pick = choose_rep(first, reps, now, exclude)
    tried.append(_tried(first, pick, now))
    if pick.rep_id is not None:
        return Decision(
            "assigned",
            first.id,
            pick.rep_id,
            rule.name,
            f"Rule {rule.name!r} chose team {first.id!r}; weighted round robin picked "
            f"{pick.rep_id!r} ({pick.tie_break}).",
            explanation,
            pick.weights,
        )

    seen = {first.id}
    for team_id in follow_the_sun:
        if team_id in seen:
            continue
        seen.add(team_id)
        explanation["follow_the_sun"] = True
        team = teams.get(team_id)
        if team is None:
            tried.append(_skipped(team_id, "unknown team"))
            continue
        if not team.hours.is_open(now):
            holiday = team.hours.holiday_on(now)
            why = (
                f"closed for {holiday.name} ({holiday.day.isoformat()})"
                if holiday is not None
                else "outside business hours"
            )
            tried.append(_skipped(team_id, why, open_now=False))
            continue
        pick = choose_rep(team, reps, now, exclude)
        tried.append(_tried(team, pick, now))
        if pick.rep_id is not None:
            return Decision(
                "assigned",
                team.id,
                pick.rep_id,
                rule.name,
                f"Rule {rule.name!r} chose team {first.id!r}, where no rep was eligible; "
                f"follow-the-sun passed the lead to team {team.id!r}, where weighted round robin "
                f"picked {pick.rep_id!r} ({pick.tie_break}).",
                explanation,
                pick.weights,
            )

    elsewhere = (
        " and no follow-the-sun team was open with an eligible rep"
        if explanation["follow_the_sun"]
        else ""
    )
    return queued(
        first.id,
        f"Rule {rule.name!r} chose team {first.id!r}, where no rep was eligible{elsewhere}; "
        f"queued to {fallback_queue!r}.",
    )


def _tried(team: Team, pick: Pick, now: datetime) -> dict[str, Any]:
    return {
        "team": team.id,
        "open": team.hours.is_open(now),
        "skipped": None,
        "candidates": [dict(vars(c)) for c in pick.candidates],
        "pick": pick.rep_id,
        "tie_break": pick.tie_break,
    }


def _skipped(team_id: str, why: str, open_now: bool | None = None) -> dict[str, Any]:
    return {
        "team": team_id,
        "open": open_now,
        "skipped": why,
        "candidates": [],
        "pick": None,
        "tie_break": None,
    }


def _fold(value: str) -> str:
    return value.strip().casefold()


def _allows(allowed: frozenset[str] | None, value: str | None) -> bool:
    if allowed is None:
        return True
    return value is not None and _fold(value) in allowed
