"""The routing config file (teams, reps, rules) and its seeding into the database."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.router.domain.business_hours import WorkingHours
from services.router.domain.holiday_calendar import canonical_country, canonical_subdivision

Hours = dict[str, str | list[str]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_hours(tz: str, spec: Hours) -> None:
    try:
        WorkingHours.parse(tz, spec)
    except ValueError as exc:
        raise ValueError(f"hours {spec}: {exc}") from None


def _check_tz(tz: str) -> str:
    if tz not in zoneinfo.available_timezones():
        raise ValueError(f"{tz!r} is not an IANA time zone")
    return tz


class HolidayDate(_Strict):
    """A date an admin adds to a calendar: closed all day in the team's or rep's zone."""

    date: date
    name: str = Field(min_length=1, max_length=200)


class _Calendar(_Strict):
    # public holidays of this country (ISO 3166-1 alpha-2) and subdivision, as the holidays
    # package names them (DE + BE: Berlin, GB + ENG: England, US + NY), plus added dates
    country: str | None = None
    subdivision: str | None = None
    holidays: list[HolidayDate] = []

    @field_validator("country")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        return canonical_country(country) if country is not None else None

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, subdivision: str | None, info: ValidationInfo) -> str | None:
        if subdivision is None:
            return None
        country = info.data.get("country")
        if country is None:
            raise ValueError("a subdivision needs a country")
        return canonical_subdivision(country, subdivision)

    @field_validator("holidays")
    @classmethod
    def _one_per_day(cls, holidays: list[HolidayDate]) -> list[HolidayDate]:
        days = [h.date for h in holidays]
        dupes = sorted({d.isoformat() for d in days if days.count(d) > 1})
        if dupes:
            raise ValueError(f"{', '.join(dupes)} given more than once")
        return sorted(holidays, key=lambda h: h.date)


class TeamConfig(_Calendar):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "emea-mid",
                    "name": "EMEA mid-market",
                    "timezone": "Europe/Berlin",
                    "business_hours": {"mon-fri": "08:00-17:00"},
                    "sla_minutes": 60,
                    "warning_minutes": 45,
                    "country": "DE",
                    "subdivision": "BE",
                }
            ]
        }
    )

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str
    timezone: str
    business_hours: Hours
    sla_minutes: int = Field(60, ge=1)
    warning_minutes: int = Field(45, ge=1)
    escalation: Literal["reassign", "notify_manager"] = "reassign"
    manager: str | None = None
    # a lead its owner has not worked (no touch, no status change) this long is recycled
    recycle_after_days: int = Field(30, ge=1, le=365)
    # a rep out of office longer than this has their open leads re-routed, or queued
    away_after_days: int = Field(3, ge=0, le=365)
    on_rep_away: Literal["reroute", "queue"] = "reroute"

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_tz(v)))

    @model_validator(mode="after")
    def _valid(self) -> TeamConfig:
        _check_hours(self.timezone, self.business_hours)
        if self.warning_minutes >= self.sla_minutes:
            raise ValueError(f"team {self.id}: warning_minutes must be less than sla_minutes")
        if self.escalation == "notify_manager" and not self.manager:
            raise ValueError(f"team {self.id}: escalation notify_manager needs a manager")
        return self


class OutOfOffice(_Strict):
    starts_at: datetime
    ends_at: datetime

    @model_validator(mode="after")
    def _ordered(self) -> OutOfOffice:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("out-of-office times need a time zone offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("out-of-office ends_at must be after starts_at")
        return self


class RepConfig(_Calendar):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "rep-ana",
                    "name": "Ana Lima",
                    "team": "emea-mid",
                    "email": "ana@example.com",
                    "timezone": "Europe/Berlin",
                    "working_hours": {"mon-fri": "08:00-17:00"},
                    "weight": 2,
                    "capacity": 50,
                    "daily_cap": 10,
                }
            ]
        }
    )

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str
    team: str
    email: str | None = None
    timezone: str
    working_hours: Hours
    weight: int = Field(1, ge=1, le=100)
    capacity: int = Field(50, ge=0)
    # at most this many new leads per local day / week (Monday-Sunday); null: no cap
    daily_cap: int | None = Field(None, ge=1)
    weekly_cap: int | None = Field(None, ge=1)
    active: bool = True
    out_of_office: list[OutOfOffice] = []

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_tz(v)))

    @model_validator(mode="after")
    def _valid(self) -> RepConfig:
        _check_hours(self.timezone, self.working_hours)
        return self


class RuleConditions(_Strict):
    countries: list[str] | None = None
    regions: list[str] | None = None
    company_sizes: list[str] | None = None
    industries: list[str] | None = None
    channels: list[str] | None = None
    source_ids: list[str] | None = None


class RuleConfig(_Strict):
    name: str
    team: str
    when: RuleConditions = RuleConditions()


class RoutingConfig(_Strict):
    fallback_queue: str = "unassigned"
    follow_the_sun: list[str] = []
    teams: list[TeamConfig]
    reps: list[RepConfig]
    rules: list[RuleConfig]

    @model_validator(mode="after")
    def _references(self) -> RoutingConfig:
        teams = {t.id for t in self.teams}
        for kind, items in (("team", self.teams), ("rep", self.reps), ("rule", self.rules)):
            ids = [getattr(i, "id", None) or i.name for i in items]
            dupes = {i for i in ids if ids.count(i) > 1}
            if dupes:
                raise ValueError(f"{kind} defined twice: {', '.join(sorted(dupes))}")
        for rep in self.reps:
            if rep.team not in teams:
                raise ValueError(f"rep {rep.id}: unknown team {rep.team!r}")
        for rule in self.rules:
            if rule.team not in teams:
                raise ValueError(f"rule {rule.name}: unknown team {rule.team!r}")
        for team in self.follow_the_sun:
            if team not in teams:
                raise ValueError(f"follow_the_sun: unknown team {team!r}")
        return self


class RoutingConfigError(ValueError):
    pass


def load_routing_config(path: Path) -> RoutingConfig:
    try:
        return RoutingConfig.model_validate(yaml.safe_load(path.read_text()))
    except FileNotFoundError as exc:
        raise RoutingConfigError(f"routing file {path} not found") from exc
    except (ValidationError, yaml.YAMLError) as exc:
        raise RoutingConfigError(f"routing file {path} is invalid: {exc}") from exc


def team_row(team: TeamConfig) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "timezone": team.timezone,
        "business_hours": team.business_hours,
        "sla_minutes": team.sla_minutes,
        "warning_minutes": team.warning_minutes,
        "escalation": team.escalation,
        "manager": team.manager,
        "recycle_after_days": team.recycle_after_days,
        "away_after_days": team.away_after_days,
        "on_rep_away": team.on_rep_away,
        **_calendar_columns(team),
    }


def _calendar_columns(config: _Calendar) -> dict[str, Any]:
    return {
        "country": config.country,
        "subdivision": config.subdivision,
        "holidays": [h.model_dump(mode="json") for h in config.holidays],
    }


def rep_row(rep: RepConfig, now: datetime) -> dict[str, Any]:
    return {
        "id": rep.id,
        "team_id": rep.team,
        "name": rep.name,
        "email": rep.email,
        "timezone": rep.timezone,
        "working_hours": rep.working_hours,
        "out_of_office": [o.model_dump(mode="json") for o in rep.out_of_office],
        "weight": rep.weight,
        "capacity": rep.capacity,
        "active": rep.active,
        "open_leads": 0,
        "current_weight": 0,
        "updated_at": now,
        "daily_cap": rep.daily_cap,
        "weekly_cap": rep.weekly_cap,
        **_calendar_columns(rep),
    }


# The live counters of a rep row, kept when an admin replaces the rep's settings.
LIVE_REP_COLUMNS = (
    "open_leads", "current_weight", "cap_day", "day_count", "cap_week", "week_count",
)  # fmt: skip
