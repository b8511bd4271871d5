from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events.models import ActivityKind, CustomValue


class ActivityIn(BaseModel):
    """Something that happened to a lead, reported by a sales tool or the email system."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "touch",
                    "touch_channel": "call",
                    "rep_id": "rep-ana",
                    "occurred_at": "2026-11-23T14:05:00Z",
                },
                {"kind": "bounce", "bounce_type": "hard"},
            ]
        },
    )

    kind: ActivityKind
    touch_channel: Literal["call", "email", "meeting"] | None = None
    bounce_type: Literal["hard", "soft"] | None = None
    rep_id: str | None = Field(None, max_length=64)
    occurred_at: datetime | None = Field(
        None, description="when it happened (default: when received); with a time zone"
    )
    url: str | None = Field(None, max_length=2000)
    metadata: dict[str, CustomValue] = Field(default_factory=dict, max_length=50)

    @model_validator(mode="after")
    def _consistent(self) -> ActivityIn:
        if self.kind == ActivityKind.touch and self.touch_channel is None:
            raise ValueError("touch_channel (call, email or meeting) is required for kind=touch")
        if self.kind != ActivityKind.touch and self.touch_channel is not None:
            raise ValueError("touch_channel is only for kind=touch")
        if self.kind == ActivityKind.bounce and self.bounce_type is None:
            raise ValueError("bounce_type (hard or soft) is required for kind=bounce")
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at needs a time zone offset, e.g. 2026-11-23T14:05:00Z")
        return self
