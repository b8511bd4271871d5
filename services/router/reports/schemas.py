"""The reports' answers, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FunnelStageOut(BaseModel):
    stage: str = Field(description="lead, mql, sql, opportunity or customer")
    reached: int = Field(description="cohort leads that ever reached this stage or a later one")
    rate_from_previous: float | None = Field(
        description="reached / reached of the stage before (the cohort, for lead); "
        "null when the stage before is empty"
    )
    rate_from_cohort: float | None = Field(description="reached / cohort; null for no cohort")
    median_seconds_to_reach: float | None = Field(
        description="median time from the lead's first stage entry to reaching this stage"
    )
    current: int = Field(description="cohort leads in this stage now")


class SideStageOut(BaseModel):
    stage: str = Field(description="name, recycled or disqualified")
    entered: int = Field(description="cohort leads that ever entered this stage")
    rate_from_cohort: float | None
    current: int = Field(description="cohort leads in this stage now")
    by_reason: dict[str, int] | None = Field(
        None,
        description="disqualified only: the leads by their disqualification reason "
        "(lead.disqualify_reason; (none) when unset)",
    )


class FunnelGroupOut(BaseModel):
    key: str | None = Field(description="the source, channel, campaign or team; null: all")
    cohort: int = Field(description="leads whose first stage entry is in [from, to)")
    stages: list[FunnelStageOut]
    side_stages: list[SideStageOut]


class FunnelOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    by: str | None
    as_of: datetime
    total: FunnelGroupOut
    groups: list[FunnelGroupOut] = Field(
        description="one per value of `by`, largest cohort first; without `by`, the total alone"
    )


class SegmentCountOut(BaseModel):
    value: str
    count: int


class SegmentCountsOut(BaseModel):
    by: str
    as_of: datetime = Field(description="the instant inactivity is measured at")
    total: int
    segments: list[SegmentCountOut]


class SegmentLeadOut(BaseModel):
    id: str
    stage: str
    status: str
    owner: str | None
    team: str | None
    source: str
    channel: str
    received_at: datetime
    last_activity_at: datetime | None
    email: str | None
    name: str | None
    company: str | None
    country: str | None
    campaign: str | None
    segment: str = Field(description="inactivity segment at as_of")


class SegmentLeadsOut(BaseModel):
    as_of: datetime = Field(description="the first page's instant; every page uses it")
    leads: list[SegmentLeadOut]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: done")
