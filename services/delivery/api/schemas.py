"""Request bodies of the delivery admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.delivery.samples import DEFAULT_TYPE

EventType = Annotated[str, Field(max_length=128)]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=50)]


class EndpointIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/leadflow",
                    "event_types": ["io.leadflow.lead.assigned.v1", "io.leadflow.lead.erased.v1"],
                    "description": "CRM sync",
                }
            ]
        },
    )
    url: str = Field(max_length=2000, description="absolute https URL (http only in dev/test)")
    event_types: EventTypes = Field(description="deliverable CloudEvent types, at least one")
    description: str = Field("", max_length=500)
    enabled: bool = True


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})
    url: str | None = Field(None, max_length=2000)
    event_types: EventTypes | None = None
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = Field(
        None,
        description="true clears disabled_reason and failing_since; false disables "
        "(reason operator; pending deliveries skipped)",
    )


class RotateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"grace_seconds": 86400}]}
    )
    grace_seconds: int = Field(
        86400, ge=0, le=30 * 86400, description="how long the previous secret still signs"
    )


class ReplayIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "since": "2026-12-01T00:00:00Z",
                    "until": "2026-12-02T00:00:00Z",
                    "event_types": ["io.leadflow.lead.assigned.v1"],
                }
            ]
        },
    )
    since: datetime = Field(description="event time at or after (with an offset)")
    until: datetime = Field(description="event time before (with an offset)")
    event_types: EventTypes | None = Field(
        None, description="a subset of the endpoint's types; all of them when absent"
    )


class TestIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"event_type": DEFAULT_TYPE}]}
    )
    event_type: str = Field(
        DEFAULT_TYPE, max_length=128, description="a deliverable CloudEvent type"
    )
