from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PauseIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "the prospect asked for a quiet month"}]}
    )

    reason: str = Field("paused by an operator", min_length=1, max_length=200)


class ResumeIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "back from the quiet month"}]}
    )

    reason: str = Field("resumed by an operator", min_length=1, max_length=200)


class EnrollIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sequence_id": "web-welcome",
                    "start_at": "2026-12-01T09:00:00Z",
                    "reason": "met at the customer dinner",
                }
            ]
        }
    )

    sequence_id: str = Field(min_length=1, max_length=64)
    start_at: datetime | None = Field(None, description="timezone-aware; default now")
    reason: str = Field("enrolled by an operator", min_length=1, max_length=200)


class UnenrollIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "moved to a partner"}]})

    reason: str = Field("unenrolled by an operator", min_length=1, max_length=200)
