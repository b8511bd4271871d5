from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PauseIn(_In):
    reason: str = Field("paused by an operator", min_length=1, max_length=200)


class ResumeIn(_In):
    reason: str = Field("resumed by an operator", min_length=1, max_length=200)


class EnrollIn(_In):
    sequence_id: str = Field(min_length=1, max_length=64)
    start_at: datetime | None = Field(None, description="timezone-aware; default now")
    reason: str = Field("enrolled by an operator", min_length=1, max_length=200)


class UnenrollIn(_In):
    reason: str = Field("unenrolled by an operator", min_length=1, max_length=200)
