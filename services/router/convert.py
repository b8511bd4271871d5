"""Rows and event data -> the plain values the pure domain works on."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from services.router import models
from services.router.domain.assignment import Rep, RoutingRule, Team
from services.router.domain.business_hours import WorkingHours
from services.router.domain.model import ActivityPoint, LeadProfile

PROFILE_FIELDS = tuple(
    f
    for f in LeadProfile.__dataclass_fields__
    if f not in ("source_id", "channel", "purchased_list")
)


@lru_cache(maxsize=1024)
def _hours(tz: str, spec_json: str) -> WorkingHours:
    return WorkingHours.parse(tz, json.loads(spec_json))


def hours(tz: str, spec: dict[str, Any]) -> WorkingHours:
    return _hours(tz, json.dumps(spec, sort_keys=True))


def profile_of(
    fields: dict[str, Any], *, source_id: str | None, channel: str | None, purchased_list: bool
) -> LeadProfile:
    return LeadProfile(
        **{f: fields.get(f) for f in PROFILE_FIELDS},
        source_id=source_id,
        channel=channel,
        purchased_list=purchased_list,
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
        hours=hours(row.timezone, row.working_hours),
        out_of_office=tuple(
            (datetime.fromisoformat(o["starts_at"]), datetime.fromisoformat(o["ends_at"]))
            for o in row.out_of_office
        ),
        current_weight=row.current_weight,
    )


def to_team(row: models.Team) -> Team:
    return Team(
        id=row.id,
        name=row.name,
        hours=hours(row.timezone, row.business_hours),
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
