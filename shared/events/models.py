"""The ``data`` of each event type. JSON Schemas in ``schemas/`` are generated from these."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

CustomValue = str | int | float | bool


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRef(_Data):
    id: str
    kind: Literal["signed", "public", "list", "trade_show"]


class Utm(_Data):
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None


class LeadData(_Data):
    """A lead as submitted, validated and normalized."""

    email: str | None = Field(None, description="syntax-checked, lower-cased address")
    phone: str | None = Field(None, description="E.164, e.g. +14155550123")
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = Field(
        None, description="from the website, else a non-free-mail email domain"
    )
    website: str | None = None
    job_title: str | None = None
    company_size: str | None = Field(
        None, description="employee band: 1-10, 11-50, 51-200, 201-500, 501-1000, 1001-5000, 5001+"
    )
    industry: str | None = None
    country: str | None = Field(None, description="ISO 3166-1 alpha-2")
    region: str | None = None
    city: str | None = None
    timezone: str | None = Field(None, description="IANA zone, e.g. Europe/Berlin")
    marketing_consent: bool | None = None
    message: str | None = None
    utm: Utm = Utm()
    campaign: str | None = None
    form_id: str | None = None
    page_url: str | None = None
    custom: dict[str, CustomValue] = {}


class TradeShowRef(_Data):
    show_id: str
    name: str
    end_date: date
    timezone: str
    import_id: UUID
    row_number: int = Field(ge=1)


class LeadReceived(_Data):
    """``io.leadflow.lead.received.v1`` on ``leads.received.v1``, keyed by ``match_key``."""

    lead_id: UUID
    match_key: str = Field(description="email:<canonical address> | phone:<E.164> | lead:<lead id>")
    source: SourceRef
    channel: Literal["web", "trade_show", "purchased_list"]
    purchased_list: bool = Field(
        description="a purchased-list name: nurture only, never routed to sales"
    )
    received_at: datetime
    lead: LeadData
    trade_show: TradeShowRef | None = None


class ActivityKind(StrEnum):
    touch = "touch"
    reply = "reply"
    open = "open"
    click = "click"
    page_visit = "page_visit"
    unsubscribe = "unsubscribe"
    bounce = "bounce"
    converted = "converted"


class ActivityReceived(_Data):
    """``io.leadflow.lead.activity.v1`` on ``leads.activity.v1``, keyed by ``lead_id``."""

    activity_id: UUID
    lead_id: UUID
    kind: ActivityKind
    touch_channel: Literal["call", "email", "meeting"] | None = Field(
        None, description="for kind=touch: how the rep reached the lead"
    )
    bounce_type: Literal["hard", "soft"] | None = Field(None, description="for kind=bounce")
    rep_id: str | None = Field(None, description="the rep who made the touch, when known")
    occurred_at: datetime
    received_at: datetime
    source: SourceRef
    url: str | None = Field(None, description="for click and page_visit")
    metadata: dict[str, CustomValue] = {}
