from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.router.routing_config import Hours, OutOfOffice, RepConfig, RuleConfig, TeamConfig

__all__ = ["RepConfig", "RepPatch", "RuleConfig", "RulesIn", "TeamConfig"]


class RepPatch(BaseModel):
    """Change part of a rep: availability, capacity, weight, hours, out-of-office."""

    model_config = ConfigDict(extra="forbid")
    active: bool | None = None
    weight: int | None = Field(None, ge=1, le=100)
    capacity: int | None = Field(None, ge=0)
    timezone: str | None = None
    working_hours: Hours | None = None
    out_of_office: list[OutOfOffice] | None = None
    team: str | None = None
    name: str | None = None
    email: str | None = None


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[RuleConfig]

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[RuleConfig]) -> list[RuleConfig]:
        names = [r.name for r in rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique: {', '.join(dupes)}")
        return rules
