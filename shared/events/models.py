"""The ``data`` of each event type. JSON Schemas in ``schemas/`` are generated from these.

Events evolve compatibly: a v1 type only gains optional fields (with a default, so an event
written before the field existed still reads), and a consumer running today's code must
handle an event from a newer producer, not dead-letter it. So every event model, the
CloudEvent envelope included, is an exact writer and a tolerant reader:

- **Reading** (``model_validate``, ``model_validate_json``, and so ``CloudEvent.from_bytes``
  and ``CloudEvent.data_as``) ignores fields this version does not declare, at every level
  (envelope, ``data``, nested objects such as ``data.lead``), and drops them.
- **Writing** (building a model in code with keywords) is exact: a keyword that names no
  field is a validation error, so a producer cannot believe it sent a field that is not
  declared, and ``model_dump`` emits exactly the declared fields.

The JSON Schemas say ``additionalProperties: true``: what a reader must accept."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import ExtraValues

READ_EXTRA: ExtraValues = "ignore"


class EventModel(BaseModel):
    """Exact when built in code (``extra="forbid"``), tolerant when read (``READ_EXTRA``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"additionalProperties": True}
    )

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        return super().model_validate(
            obj,
            strict=strict,
            extra=READ_EXTRA if extra is None else extra,
            from_attributes=from_attributes,
            context=context,
            by_alias=by_alias,
            by_name=by_name,
        )

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        return super().model_validate_json(
            json_data,
            strict=strict,
            extra=READ_EXTRA if extra is None else extra,
            context=context,
            by_alias=by_alias,
            by_name=by_name,
        )


CustomValue = str | int | float | bool


class SourceRef(EventModel):
    id: str
    kind: Literal["signed", "public", "list", "trade_show"]


class Utm(EventModel):
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None


class LeadData(EventModel):
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


class TradeShowRef(EventModel):
    show_id: str
    name: str
    end_date: date
    timezone: str
    import_id: UUID
    row_number: int = Field(ge=1)


class LeadReceived(EventModel):
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
    # the lead gave marketing consent (a preference centre, a later form); nurture records it
    opt_in = "opt_in"
    # sales statuses (dispositions) a sales tool reports; converted ends the funnel
    working = "working"
    qualified = "qualified"
    disqualified = "disqualified"
    converted = "converted"


def unknown_activity_kind(data: Any) -> str | None:
    """The ``kind`` of raw activity data when this version does not know it (else None).
    ``leads.activity.v1``'s kinds are an open set: a reader skips a kind it does not know
    (a newer producer's), rather than dead-letter the activity."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if isinstance(kind, str) and kind not in ActivityKind.__members__.values():
        return kind
    return None


DISPOSITION_KINDS = frozenset(
    {
        ActivityKind.working,
        ActivityKind.qualified,
        ActivityKind.disqualified,
        ActivityKind.converted,
    }
)


class ActivityReceived(EventModel):
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
    reason: str | None = Field(
        None, description="for kind=disqualified: a reason code from the dispositions file"
    )
    duplicate_of: UUID | None = Field(
        None, description="for reason=duplicate: the lead (or submission) this one duplicates"
    )
    consent_channel: Literal["email", "sms"] | None = Field(
        None, description="for kind=opt_in: the channel consented to (none: email and SMS)"
    )


LifecycleStageName = Literal[
    "name", "lead", "mql", "sql", "opportunity", "customer", "recycled", "disqualified"
]
SalesStatusName = Literal["working", "qualified", "disqualified", "converted", "recycled"]


class ScoreItemData(EventModel):
    criterion: str
    label: str
    kind: str = Field(description="fit | engagement | decay")
    band: str | None = None
    points: int
    detail: str


class ScoreData(EventModel):
    total: int
    fit: int
    engagement: int
    temperature: Literal["hot", "warm", "cold"]
    stage: Literal["none", "mql", "sql"]
    breakdown: list[ScoreItemData]
    rules_version: str


class SlaWindow(EventModel):
    started_at: datetime
    warn_at: datetime
    due_at: datetime


class LeadAssigned(EventModel):
    """``io.leadflow.lead.assigned.v1`` on ``leads.assigned.v1``, keyed by ``lead_id``.

    One per routing decision. ``outcome``: ``assigned`` (owned by ``rep_id``), ``queued``
    (for sales, waiting in ``queue`` for an eligible rep) or ``nurture`` (not given to sales:
    a purchased-list name, or below the MQL threshold)."""

    lead_id: UUID = Field(
        description="the canonical lead (submissions of one person merge into it)"
    )
    submission_id: UUID | None = Field(
        None, description="the leads.received.v1 lead_id that caused this, if any"
    )
    outcome: Literal["assigned", "queued", "nurture"]
    kind: Literal["initial", "sticky", "reassigned", "dequeued", "rescored"]
    rep_id: str | None = None
    team_id: str | None = None
    queue: str | None = None
    rule: str | None = Field(None, description="the routing rule that chose the team")
    reason: str = Field(description="one sentence: why this outcome")
    explanation: dict[str, Any] = Field(
        description="rule, every candidate considered and why skipped (reason and detail), "
        "pick, tie-break; sla: the team holidays the first-touch window skips, when it does"
    )
    score: ScoreData
    purchased_list: bool
    sla: SlaWindow | None = None
    lead: LeadData
    received_at: datetime = Field(description="first intake of this lead")
    decided_at: datetime
    channel: Literal["web", "trade_show", "purchased_list"] | None = Field(
        None,
        description="how the submission that caused this decision arrived, else the lead's first",
    )
    trade_show: TradeShowRef | None = Field(
        None, description="the show, when the submission that caused this came from one"
    )
    team_timezone: str | None = Field(
        None, description="IANA zone of the owning team (contact time when the lead has none)"
    )
    lifecycle_stage: LifecycleStageName | None = Field(
        None, description="the lead's funnel position after this decision"
    )
    possible_duplicate_of: UUID | None = Field(
        None,
        description="the evidence that this lead is that one was doubtful: a person decides "
        "(GET /v1/admin/duplicates); until then both are leads of their own",
    )
    marketing_consent: bool | None = Field(
        None,
        description="what the submission that caused this decision said about marketing "
        "consent (its own answer: lead.marketing_consent is the merged profile's, which keeps "
        "the first answer); none when it did not say or no submission caused the decision",
    )


class LeadSla(EventModel):
    """``io.leadflow.lead.sla.v1`` on ``leads.sla.v1``, keyed by ``lead_id``."""

    lead_id: UUID
    kind: Literal["warning", "breach", "reassignment", "escalation", "first_touch"]
    team_id: str
    rep_id: str | None = Field(None, description="the owner when it happened")
    new_rep_id: str | None = Field(None, description="for reassignment")
    manager: str | None = Field(None, description="for escalation: who is notified")
    started_at: datetime
    due_at: datetime
    at: datetime
    business_minutes_elapsed: float | None = None
    detail: str


class NurtureStep(EventModel):
    """``io.leadflow.nurture.step.v1`` on ``nurture.steps.v1``, keyed by ``lead_id``.

    Send step ``step`` of sequence ``sequence_id`` to the lead now. The event id is the same
    for every re-delivery of one step, so a sender that dedupes on it sends each step once."""

    step_id: UUID = Field(description="one per (enrollment, step): the sender's idempotency key")
    lead_id: UUID
    enrollment_id: UUID
    sequence_id: str
    step: int = Field(ge=1, description="1-based position in the sequence")
    steps_total: int = Field(ge=1)
    channel: Literal["email", "sms", "task"]
    template_id: str
    to: str | None = Field(
        None, description="email address (email), E.164 number (sms); none for a rep task"
    )
    first_name: str | None = None
    timezone: str = Field(description="IANA zone the send window was applied in")
    due_at: datetime = Field(description="when the step was due (inside the send window)")
    emitted_at: datetime


class NurtureLifecycle(EventModel):
    """``io.leadflow.nurture.lifecycle.v1`` on ``nurture.lifecycle.v1``, keyed by ``lead_id``:
    enrollments starting, pausing, resuming and ending; suppression; list moves (remarket,
    sunset, back to active)."""

    lead_id: UUID
    kind: Literal[
        "enrolled", "paused", "resumed", "completed", "stopped", "unenrolled", "suppressed",
        "remarket", "reactivated", "reengaged", "sunset",
    ]  # fmt: skip
    sequence_id: str | None = None
    enrollment_id: UUID | None = None
    list: Literal["active", "remarket", "sunset"] = Field(description="the lead's list after this")
    reason: str = Field(description="one sentence: why")
    segment: Literal["under_3_months", "3_to_12_months", "over_1_year"] | None = Field(
        None, description="for reengaged: the inactivity segment"
    )
    at: datetime


class LeadLifecycle(EventModel):
    """``io.leadflow.lead.lifecycle.v1`` on ``leads.lifecycle.v1``, keyed by ``lead_id``: what
    happened to a lead after its assignment. One per change: a sales status a sales tool
    reported (working, qualified, disqualified, converted), a recycling back to marketing
    (the rep did not work it, or disqualified it "not now"), a release of a rep's lead (the
    rep was deactivated or away), and each lifecycle stage move these cause."""

    lead_id: UUID
    change: Literal["status", "recycled", "released", "stage"] = Field(
        description="status: a reported sales status; recycled: back to marketing; released: "
        "the owner left (deactivated, away) and the lead was re-routed or queued; stage: only "
        "the lifecycle stage moved (engagement re-scored a recycled lead)"
    )
    status: SalesStatusName | None = Field(
        None, description="the sales status in effect after this change"
    )
    reason: str | None = Field(
        None,
        description="disqualification reason code; for recycled: inactive | the reason code; "
        "for released: rep_inactive | rep_away",
    )
    marketing: Literal["none", "remarket", "suppress", "stop"] = Field(
        description="what marketing does now: remarket list, suppress (invalid contact), "
        "stop the sequences (closed for good), or nothing"
    )
    stage: LifecycleStageName = Field(description="the lifecycle stage after this change")
    previous_stage: LifecycleStageName | None = None
    rep_id: str | None = Field(None, description="who reported it, when a rep did")
    owner_rep_id: str | None = Field(None, description="the owner after this change")
    released_rep_id: str | None = Field(
        None, description="the rep whose capacity this change freed"
    )
    team_id: str | None = None
    reported_by: str = Field(description="the source id of the sales tool, or leadflow")
    duplicate_of: UUID | None = Field(None, description="for reason duplicate: the other lead")
    occurred_at: datetime = Field(description="when it happened (the report's occurred_at)")
    at: datetime = Field(description="when leadflow applied it")
    detail: str = Field(description="one sentence: what happened and why")


class IdentityRef(EventModel):
    kind: Literal["email", "phone"]
    value: str = Field(description="canonical address, or E.164 number")


class LeadMerge(EventModel):
    """``io.leadflow.lead.merge.v1`` on ``leads.merges.v1``, keyed by ``lead_id``: two records
    of one person became one (``merged``), or an admin moved submissions back out into a lead
    of their own (``split``), so a CRM can merge or split its records too.

    An automatic merge is a submission matched to an existing lead as it arrived: its
    ``other_lead_id`` is the lead id ingest published on ``leads.received.v1``, which never
    became a lead of its own. An admin merge names the lead it ended (status ``merged``)."""

    change: Literal["merged", "split"]
    lead_id: UUID = Field(
        description="merged: the surviving lead; split: the lead the submissions left"
    )
    other_lead_id: UUID = Field(
        description="merged: the lead (or, automatic, the submission) folded into lead_id; "
        "split: the new lead"
    )
    how: Literal["automatic", "admin"]
    matched_by: str | None = Field(
        None, description="automatic merges: email | phone | name_company"
    )
    submission_ids: list[UUID] = Field(description="the submissions that moved")
    identities: list[IdentityRef] = Field(
        default_factory=list,
        description="contact keys that moved with them (a key both sides keep is not listed)",
    )
    evidence: list[str] = Field(description="what was weighed, one line each")
    decided_by: str = Field(description="leadflow, or the admin who decided")
    reason: str = Field(description="one sentence: why")
    at: datetime


class IdentityHashRef(EventModel):
    kind: Literal["email", "phone"]
    hash: str = Field(
        description="hex HMAC-SHA256 of the canonical address or E.164 number "
        "(key: LEADFLOW_ERASURE_HASH_KEY)"
    )


class LeadErased(EventModel):
    """``io.leadflow.lead.erased.v1`` on ``leads.erasure.v1``, keyed by ``lead_id``: a person
    was erased (right to erasure). The router erased its own data when it published this;
    nurture and ingest erase theirs when they read it, and sales tools should erase their
    records of these leads too. It carries no personal data: ids and hashed identities."""

    erasure_id: UUID
    lead_id: UUID = Field(description="the lead the erasure was asked for (its canonical id)")
    lead_ids: list[UUID] = Field(
        description="every lead id erased: lead_id and leads merged into it"
    )
    submission_ids: list[UUID] = Field(description="every submission of those leads")
    identity_hashes: list[IdentityHashRef] = Field(
        description="the person's hashed email addresses and phone numbers: a do-not-contact "
        "list that keeps no address"
    )
    requested_at: datetime
    requested_by: str = Field(description="who asked for it (the admin)")


class EndpointDisabled(EventModel):
    """``io.leadflow.delivery.endpoint_disabled.v1`` on ``delivery.endpoints.v1``, keyed by
    ``endpoint_id``: delivery stopped sending to a webhook endpoint (it answered 410 Gone,
    every attempt failed for days, or an operator disabled it). Its pending deliveries are
    skipped; re-enabling it does not resend them (replay a time range for that)."""

    endpoint_id: UUID
    reason: Literal["gone", "failing", "operator"]
    disabled_at: datetime
    last_status_code: int | None = Field(
        None, description="the status of the last attempt, none when no response came back"
    )
    failing_since: datetime | None = Field(
        None, description="the first failed attempt since the endpoint's last success"
    )
