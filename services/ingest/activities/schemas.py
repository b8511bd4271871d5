from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.dispositions import REASON_PATTERN
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
                {"kind": "opt_in", "consent_channel": "email"},
                {"kind": "click", "metadata": {"confirms_opt_in": "a1f0c2d4-step-id"}},
                {"kind": "working", "rep_id": "rep-ana"},
                {
                    "kind": "disqualified",
                    "reason": "bad_timing",
                    "rep_id": "rep-ana",
                    "occurred_at": "2026-11-30T10:00:00Z",
                },
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
    reason: str | None = Field(
        None,
        pattern=REASON_PATTERN,
        description="for kind=disqualified (required): a reason code of the dispositions file",
    )
    duplicate_of: uuid.UUID | None = Field(
        None, description="for reason=duplicate (required): the lead or submission id it duplicates"
    )
    consent_channel: Literal["email", "sms"] | None = Field(
        None, description="for kind=opt_in: the channel consented to (default: email and SMS)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ActivityIn:
        if self.kind == ActivityKind.touch and self.touch_channel is None:
            raise ValueError("touch_channel (call, email or meeting) is required for kind=touch")
        if self.kind != ActivityKind.touch and self.touch_channel is not None:
            raise ValueError("touch_channel is only for kind=touch")
        if self.kind == ActivityKind.bounce and self.bounce_type is None:
            raise ValueError("bounce_type (hard or soft) is required for kind=bounce")
        if self.kind == ActivityKind.disqualified and self.reason is None:
            raise ValueError("reason is required for kind=disqualified")
        if self.kind != ActivityKind.disqualified and self.reason is not None:
            raise ValueError("reason is only for kind=disqualified")
        if self.duplicate_of is not None and self.reason != "duplicate":
            raise ValueError("duplicate_of is only for reason=duplicate")
        if self.reason == "duplicate" and self.duplicate_of is None:
            raise ValueError("duplicate_of (the other lead's id) is required for reason=duplicate")
        if self.consent_channel is not None and self.kind != ActivityKind.opt_in:
            raise ValueError("consent_channel is only for kind=opt_in")
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at needs a time zone offset, e.g. 2026-11-23T14:05:00Z")
        return self
