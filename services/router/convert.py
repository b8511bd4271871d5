"""Rows and event data -> the plain values the pure domain works on."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from services.router import models
from services.router.domain.assignment import Rep, RoutingRule, Team
from services.router.domain.business_hours import WorkingHours
from services.router.domain.holiday_calendar import HolidayCalendar
from services.router.domain.intake import profile_of
from services.router.domain.model import ActivityPoint, LeadProfile


@lru_cache(maxsize=1024)
def _hours(tz: str, spec_json: str, holidays: HolidayCalendar | None) -> WorkingHours:
    return WorkingHours.parse(tz, json.loads(spec_json), holidays)


def hours(tz: str, spec: dict[str, Any], holidays: HolidayCalendar | None = None) -> WorkingHours:
    return _hours(tz, json.dumps(spec, sort_keys=True), holidays)


@lru_cache(maxsize=1024)
def _calendar(
    country: str | None, subdivision: str | None, added: tuple[tuple[str, str], ...]
) -> HolidayCalendar | None:
    if country is None and not added:
        return None
    return HolidayCalendar.of(country, subdivision, ({"date": d, "name": n} for d, n in added))


def calendar(
    country: str | None, subdivision: str | None, added: list[dict[str, str]] | None
) -> HolidayCalendar | None:
    """A team's or rep's holidays from its columns (None when it has none)."""
    return _calendar(country, subdivision, tuple((a["date"], a["name"]) for a in added or ()))


def team_hours(row: models.Team) -> WorkingHours:
    """A team's business hours, closed on its holidays (its SLA clocks count these)."""
    return hours(
        row.timezone, row.business_hours, calendar(row.country, row.subdivision, row.holidays)
    )


def lead_profile(lead: models.Lead) -> LeadProfile:
    return profile_of(
        lead.profile, source_id=lead.source_id, channel=lead.channel, purchased_list=lead.is_name
    )


def to_rep(row: models.Rep) -> Rep:
    return Rep(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        weight=row.weight,
        capacity=row.capacity,
        open_leads=row.open_leads,
        active=row.active,
        hours=hours(
            row.timezone,
            row.working_hours,
            calendar(row.country, row.subdivision, row.holidays),
        ),
        out_of_office=tuple(
            (datetime.fromisoformat(o["starts_at"]), datetime.fromisoformat(o["ends_at"]))
            for o in row.out_of_office
        ),
        current_weight=row.current_weight,
        daily_cap=row.daily_cap,
        weekly_cap=row.weekly_cap,
        cap_day=row.cap_day,
        day_count=row.day_count,
        cap_week=row.cap_week,
        week_count=row.week_count,
    )


def to_team(row: models.Team) -> Team:
    return Team(
        id=row.id,
        name=row.name,
        hours=team_hours(row),
        sla_minutes=row.sla_minutes,
        warning_minutes=row.warning_minutes,
        escalation=row.escalation,  # type: ignore[arg-type]
        manager=row.manager,
    )


def to_rule(row: models.RoutingRule) -> RoutingRule:
    c = row.conditions

    def values(key: str) -> frozenset[str] | None:
        v = c.get(key)
        return frozenset(v) if v else None

    return RoutingRule(
        name=row.name,
        team_id=row.team_id,
        countries=values("countries"),
        regions=values("regions"),
        company_sizes=values("company_sizes"),
        industries=values("industries"),
        channels=values("channels"),
        source_ids=values("source_ids"),
    )


def activity_points(rows: list[models.Activity]) -> list[ActivityPoint]:
    points = []
    for row in rows:
        kind = row.kind
        if kind == "touch" and row.touch_channel == "meeting":
            kind = "meeting"
        points.append(ActivityPoint(kind=kind, at=row.occurred_at))
    return points
