"""Lead search's and the queue's answers, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class LeadSummaryOut(BaseModel):
    id: str
    status: str = Field(description="new, assigned, queued, nurture, opportunity, ...")
    stage: str = Field(description="lifecycle stage: name, lead, mql, sql, opportunity, ...")
    owner: str | None = Field(description="the owning rep's id")
    team: str | None
    queue: str | None = Field(description="the queue the lead waits in, if any")
    temperature: str
    score: int
    source: str
    channel: str
    campaign: str | None
    received_at: datetime
    updated_at: datetime
    name: str | None
    email: str | None
    company: str | None


class LeadSearchOut(BaseModel):
    items: list[LeadSummaryOut]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: done")
    total: int | None = Field(description="the matching leads' number, with count=true")


class QueueEntryOut(BaseModel):
    position: int = Field(description="1 drains first; counted over the whole queue")
    lead_id: str
    team: str | None
    queue: str | None
    reason: str | None = Field(description="why routing queued it (its open decision)")
    queued_at: datetime | None = Field(description="since when it waits (that decision)")
    temperature: str
    stage: str = Field(description="the score stage (mql or sql): sql drains first")
    lifecycle_stage: str
    score: int
    received_at: datetime


class QueueOut(BaseModel):
    total: int = Field(description="queued leads listed by the filter")
    items: list[QueueEntryOut]
    next_offset: int | None = Field(description="pass as offset for the next page; null: done")
