from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.router.routing_config import (
    HolidayDate,
    Hours,
    OutOfOffice,
    RepConfig,
    RuleConfig,
    TeamConfig,
)

__all__ = ["HolidayIn", "RepConfig", "RepPatch", "RuleConfig", "RulesIn", "TeamConfig"]


class HolidayIn(BaseModel):
    """A date added to a team's or rep's calendar (the date is in the path)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Company offsite"}]}
    )

    name: str = Field(min_length=1, max_length=200)


class RepPatch(BaseModel):
    """Change part of a rep: availability, capacity, caps, weight, hours, out-of-office,
    holiday calendar. ``null`` clears a cap."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "out_of_office": [
                        {
                            "starts_at": "2026-12-21T00:00:00+01:00",
                            "ends_at": "2027-01-04T00:00:00+01:00",
                        }
                    ],
                    "daily_cap": None,
                }
            ]
        },
    )

    active: bool | None = None
    weight: int | None = Field(None, ge=1, le=100)
    capacity: int | None = Field(None, ge=0)
    daily_cap: int | None = Field(None, ge=1)
    weekly_cap: int | None = Field(None, ge=1)
    country: str | None = None
    subdivision: str | None = None
    holidays: list[HolidayDate] | None = None
    timezone: str | None = None
    working_hours: Hours | None = None
    out_of_office: list[OutOfOffice] | None = None
    team: str | None = None
    name: str | None = None
    email: str | None = None


class RulesIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rules": [
                        {
                            "name": "dach",
                            "team": "emea-mid",
                            "when": {"countries": ["DE", "AT", "CH"]},
                        },
                        {"name": "rest", "team": "global"},
                    ]
                }
            ]
        },
    )
    rules: list[RuleConfig]

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[RuleConfig]) -> list[RuleConfig]:
        names = [r.name for r in rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique: {', '.join(dupes)}")
        return rules
