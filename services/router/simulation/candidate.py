"""A candidate routing file -> the domain values a simulation routes with."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from services.router.convert import calendar, hours
from services.router.domain.assignment import Rep, RoutingRule, Team
from services.router.domain.simulation import CandidateRouting
from services.router.routing_config import (
    RepConfig,
    RoutingConfig,
    RoutingConfigError,
    RuleConditions,
    TeamConfig,
    load_routing_config,
)


class CandidateError(ValueError):
    """The candidate file cannot be used; the message is one sentence."""


def load_candidate(path: Path) -> CandidateRouting:
    """Validate ``path`` as the router validates its routing file, and convert it."""
    try:
        config = load_routing_config(path)
    except RoutingConfigError as exc:
        raise CandidateError(_one_sentence(path, exc)) from exc
    try:
        return candidate_routing(config)
    except ValueError as exc:  # a domain check the file's schema does not make
        raise CandidateError(f"routing file {path} is invalid: {exc}") from exc


def _one_sentence(path: Path, exc: RoutingConfigError) -> str:
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        errors = cause.errors()
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        what = first["msg"].removeprefix("Value error, ")
        return f"routing file {path} is invalid: {where + ': ' if where else ''}{what}{more}"
    return " ".join(str(exc).split())


def candidate_routing(config: RoutingConfig) -> CandidateRouting:
    teams: dict[str, Team] = {}
    for t in config.teams:
        teams[t.id] = Team(
            id=t.id,
            name=t.name,
            hours=hours(
                t.timezone, t.business_hours, calendar(t.country, t.subdivision, _added(t))
            ),
            sla_minutes=t.sla_minutes,
            warning_minutes=t.warning_minutes,
            escalation=t.escalation,
            manager=t.manager,
        )
    reps = []
    for r in config.reps:
        reps.append(
            Rep(
                id=r.id,
                team_id=r.team,
                name=r.name,
                weight=r.weight,
                capacity=r.capacity,
                active=r.active,
                hours=hours(
                    r.timezone, r.working_hours, calendar(r.country, r.subdivision, _added(r))
                ),
                out_of_office=tuple((o.starts_at, o.ends_at) for o in r.out_of_office),
                daily_cap=r.daily_cap,
                weekly_cap=r.weekly_cap,
            )
        )
    rules = tuple(
        RoutingRule(name=rule.name, team_id=rule.team, **_criteria(rule.when))
        for rule in config.rules
    )
    return CandidateRouting(
        teams=teams,
        reps=tuple(reps),
        rules=rules,
        follow_the_sun=tuple(config.follow_the_sun),
        fallback_queue=config.fallback_queue,
    )


def _criteria(when: RuleConditions) -> dict[str, frozenset[str] | None]:
    # as the router's rules from the database: an empty list matches any value
    return {name: frozenset(values) if values else None for name, values in when}


def _added(config: TeamConfig | RepConfig) -> list[dict[str, str]]:
    """Its added holiday dates, as the database stores them."""
    return [h.model_dump(mode="json") for h in config.holidays]
