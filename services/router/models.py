"""The ``router`` schema: leads and their identities, submissions (merge history), reps,
teams, rules, assignments with explanations, activities, SLA clocks, processed event
ids and the outbox."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.audit import AuditEventMixin
from shared.db import make_base
from shared.outbox import OutboxMixin, ProcessedEventMixin

SCHEMA = "router"
Base = make_base(SCHEMA)


class Lead(Base):
    __tablename__ = "lead"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # new | assigned | queued | nurture | opportunity | converted | disqualified | recycled | merged
    # | erased
    # (services/router/domain/lifecycle.py); "assigned" is the only one that occupies its rep
    status: Mapped[str] = mapped_column(String(16), index=True)
    # only ever arrived from purchased lists: a name, not a lead
    is_name: Mapped[bool] = mapped_column(Boolean)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONB)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    # where fuzzy matching looks for this lead: the registrable company domain, else
    # "name:<folded company name>"; company_name_key is the name key when company_key is a domain
    company_key: Mapped[str | None] = mapped_column(String(300), index=True)
    company_name_key: Mapped[str | None] = mapped_column(String(300))
    source_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    score: Mapped[int] = mapped_column(Integer)
    temperature: Mapped[str] = mapped_column(String(8))
    stage: Mapped[str] = mapped_column(String(8))
    score_breakdown: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # indexed by ix_router_lead_owner_received (owner first), which revision 0009 made
    owner_rep_id: Mapped[str | None] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    first_touch_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the last sales status a sales tool reported (working | qualified | disqualified |
    # converted) or recycled, and when it happened: an older report never overrides it
    sales_status: Mapped[str | None] = mapped_column(String(16))
    sales_status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disqualify_reason: Mapped[str | None] = mapped_column(String(32))
    # the funnel position: name | lead | mql | sql | opportunity | customer | recycled | disqualified
    lifecycle_stage: Mapped[str] = mapped_column(String(16), server_default="lead")
    stage_entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_owner_rep_id: Mapped[str | None] = mapped_column(String(64))
    owned_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when the owner got the lead, or last touched it or reported a status: recycling's clock
    last_worked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recycled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # status "merged": an admin merged this lead into that one (its submissions moved there)
    merged_into: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        Index(
            "ix_router_lead_recycle",
            "team_id",
            "last_worked_at",
            postgresql_where=text("status = 'assigned'"),
        ),
        Index("ix_router_lead_lifecycle_stage", "lifecycle_stage"),
        Index(
            "ix_router_lead_company_name_key",
            "company_name_key",
            postgresql_where=text("company_name_key IS NOT NULL"),
        ),
        # lead search (revision 0009): page order, filters in page order, q's prefixes
        Index("ix_router_lead_received", "received_at", "id"),
        Index("ix_router_lead_team_status_received", "team_id", "status", "received_at", "id"),
        Index("ix_router_lead_owner_received", "owner_rep_id", "received_at", "id"),
        Index("ix_router_lead_source_received", "source_id", "received_at", "id"),
        # q's prefixes, lower case. Written as PostgreSQL reflects them, so models and
        # migrations compare equal, but NOT their definition: reflection leaves out the
        # COLLATE "C" each is built with (the search's range compares code points, and the
        # query's expressions are "C"-collated). An index built from these lines would not
        # serve q: to build one by hand (CREATE INDEX CONCURRENTLY on a live table), use the
        # SQL of revision 0009 (migrations/versions/..._0009_lead_search.py, INDEXES).
        Index(
            "ix_router_lead_q_full_name",
            text(
                "lower((COALESCE(first_name, ''::character varying)::text || ' '::text) || "
                "COALESCE(last_name, ''::character varying)::text)"
            ),
        ),
        Index("ix_router_lead_q_last_name", text("lower(last_name::text)")),
        Index("ix_router_lead_q_email", text("lower(profile ->> 'email'::text)")),
        Index("ix_router_lead_q_company", text("lower(profile ->> 'company'::text)")),
    )


class LeadStage(Base):
    """Each lifecycle stage a lead entered, when, and why; ``left_at`` set when it moved on."""

    __tablename__ = "lead_stage"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("router.lead.id"), index=True
    )
    stage: Mapped[str] = mapped_column(String(16))
    previous_stage: Mapped[str | None] = mapped_column(String(16))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cause: Mapped[str] = mapped_column(String(32))

    __table_args__ = (Index("ix_router_lead_stage_entered", "stage", "entered_at"),)


class LeadStatusChange(Base):
    """Every sales status reported for a lead (who, when, why) and every recycling; ``applied``
    is false for a report older than the status in effect."""

    __tablename__ = "lead_status_change"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("router.lead.id"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    rep_id: Mapped[str | None] = mapped_column(String(64))
    reported_by: Mapped[str] = mapped_column(String(64))  # a source id, or "leadflow"
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    applied: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text)
    cause_event_id: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_router_lead_status_change_lead", "lead_id", "occurred_at"),)


class DuplicateReview(Base):
    """A pair of leads that may be one person, waiting for a person to merge or dismiss."""

    __tablename__ = "duplicate_review"

    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    other_lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    reported_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))  # rep_marked | doubtful_match
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))  # open | merged | dismissed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_router_duplicate_review_status", "status"),)


class LeadIdentity(Base):
    """Contact keys of a person (canonical email, E.164 phone). A personal address belongs to
    one lead; a phone or a role address may belong to several (colleagues behind one
    switchboard), and each keeps it."""

    __tablename__ = "lead_identity"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(320), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("router.lead.id"), primary_key=True, index=True
    )


class SharedIdentity(Base):
    """A phone or an address many different people use (a switchboard, info@): no longer a
    match key. ``reason``: role_address (a role mailbox such as info@ or sales@) or
    many_people (held by the configured number of different leads)."""

    __tablename__ = "shared_identity"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    lead_count: Mapped[int] = mapped_column(Integer)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeadMerge(Base):
    """Each merge of two leads by an admin and each split: who, when, why, what moved."""

    __tablename__ = "lead_merge"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    action: Mapped[str] = mapped_column(String(8))  # merge | split
    # merge: the surviving lead; split: the lead the submissions left
    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # merge: the lead merged into it; split: the new lead
    other_lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    submission_ids: Mapped[list[str]] = mapped_column(JSONB)
    identities: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    decided_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_router_lead_merge_lead", "lead_id"),
        Index("ix_router_lead_merge_other", "other_lead_id"),
    )


class LeadSubmission(Base):
    """Each received submission and how it was matched: the merge history."""

    __tablename__ = "lead_submission"

    submission_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("router.lead.id"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(128))
    source_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    # new | email | phone | name_company | admin (moved by an admin merge or split)
    matched_by: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    filled: Mapped[list[str]] = mapped_column(JSONB)
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the lead fields as submitted (to rebuild both leads when an admin splits them apart)
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # the match evidence weighed: the chosen lead's and the candidates found too weak
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Team(Base):
    __tablename__ = "team"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    business_hours: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sla_minutes: Mapped[int] = mapped_column(Integer)
    warning_minutes: Mapped[int] = mapped_column(Integer)
    escalation: Mapped[str] = mapped_column(String(16))
    manager: Mapped[str | None] = mapped_column(String(64))
    # a lead its owner has not worked this long goes back to marketing
    recycle_after_days: Mapped[int] = mapped_column(Integer, server_default="30")
    # a rep out of office longer than this has their open leads re-routed (or queued)
    away_after_days: Mapped[int] = mapped_column(Integer, server_default="3")
    on_rep_away: Mapped[str] = mapped_column(String(8), server_default="reroute")  # | queue
    # public holidays: of this country (ISO alpha-2) and subdivision, plus admin-added dates
    country: Mapped[str | None] = mapped_column(String(2))
    subdivision: Mapped[str | None] = mapped_column(String(16))
    holidays: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default="[]")


class Rep(Base):
    __tablename__ = "rep"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), ForeignKey("router.team.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64))
    working_hours: Mapped[dict[str, Any]] = mapped_column(JSONB)
    out_of_office: Mapped[list[dict[str, str]]] = mapped_column(JSONB)
    weight: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean)
    open_leads: Mapped[int] = mapped_column(Integer)
    current_weight: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # at most this many new leads per day / per week (Monday to Sunday) in the rep's zone
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    weekly_cap: Mapped[int | None] = mapped_column(Integer)
    # the local day / week (its Monday) the counts below are for
    cap_day: Mapped[date | None] = mapped_column(Date)
    day_count: Mapped[int] = mapped_column(Integer, server_default="0")
    cap_week: Mapped[date | None] = mapped_column(Date)
    week_count: Mapped[int] = mapped_column(Integer, server_default="0")
    country: Mapped[str | None] = mapped_column(String(2))
    subdivision: Mapped[str | None] = mapped_column(String(16))
    holidays: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default="[]")


class RoutingRule(Base):
    __tablename__ = "routing_rule"

    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[str] = mapped_column(String(64), ForeignKey("router.team.id"))
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Assignment(Base):
    """Every routing decision with its explanation; ``ended_at`` set when superseded."""

    __tablename__ = "assignment"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("router.lead.id"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))  # assigned | queued | nurture
    kind: Mapped[str] = mapped_column(
        String(16)
    )  # initial | sticky | reassigned | dequeued | rescored
    rep_id: Mapped[str | None] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    score: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cause_event_id: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Activity(Base):
    __tablename__ = "activity"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("router.lead.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    touch_channel: Mapped[str | None] = mapped_column(String(16))
    rep_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaClock(Base):
    """The first-touch clock of a lead: a durable timer (``next_fire_at``)."""

    __tablename__ = "sla_clock"

    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("router.lead.id"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(String(64))
    rep_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    # running -> warned -> breached -> (reassigned: running again) | escalated; stopped on first touch
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    warn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_fire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalations: Mapped[int] = mapped_column(Integer)


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_event"


class Outbox(OutboxMixin, Base):
    """Events written in the same transaction as the change that causes them; relayed to Kafka."""

    __tablename__ = "outbox"


class PendingActivity(Base):
    """An activity that named a lead the router had not seen yet (it raced its lead through
    another topic): kept, and applied when that lead arrives."""

    __tablename__ = "pending_activity"

    activity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_ref: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    event_id: Mapped[str] = mapped_column(String(128))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    parked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(AuditEventMixin, Base):
    """An admin change to router's data: who, when, what (``shared/audit.py``)."""

    __tablename__ = "audit_event"


class Erasure(Base):
    """The tombstone of an erasure: which leads and submissions, when, asked by whom, how many
    rows of each table were erased or redacted, and what was decided about the leads without
    the person (status, stage, team, rep, score, temperature)."""

    __tablename__ = "erasure"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    lead_ids: Mapped[list[str]] = mapped_column(JSONB)
    submission_ids: Mapped[list[str]] = mapped_column(JSONB)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict[str, int]] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB)
    event_id: Mapped[str] = mapped_column(String(128))


class ErasedRef(Base):
    """A lead or submission id an erasure erased: events naming it are dropped."""

    __tablename__ = "erased_ref"

    ref_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # lead | submission
    erasure_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("router.erasure.id")
    )


class ErasedIdentity(Base):
    """An erased person's hashed email or phone, and the latest erasure of it: an arrival
    received at or before then is about the erased person and is dropped."""

    __tablename__ = "erased_identity"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erasure_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))


# Scoring history. Neither table holds personal data: a version is the rules file (criteria,
# thresholds, points), an evaluation holds counts, rates and the parameters it ran with.
# Erasure has nothing to redact in them.


class ScoringVersion(Base):
    """A version of the scoring rules (the 12-hex hash of its file, stored with every score):
    its file's text and when routers loaded it. ``recorded_from`` is ``router`` once a router
    has loaded it, ``scores`` for a version only seen in stored scores (the backfill of
    revision 0008): its content, file name, criteria count and thresholds are then unknown
    (null), and the times are when scores of it were first and last stored."""

    __tablename__ = "scoring_version"

    version: Mapped[str] = mapped_column(String(12), primary_key=True)
    recorded_from: Mapped[str] = mapped_column(String(8))  # router | scores
    file_name: Mapped[str | None] = mapped_column(String(300))
    content: Mapped[str | None] = mapped_column(Text)
    criteria_count: Mapped[int | None] = mapped_column(Integer)
    thresholds: Mapped[dict[str, int] | None] = mapped_column(JSONB)
    first_loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_router_scoring_version_first_loaded_at", "first_loaded_at"),)


class ScoringEvaluation(Base):
    """One evaluation of a rules version against outcomes (``leadflow scoring evaluate
    --store``): where the outcomes came from (``history``: the router's leads; ``csv``: a
    file), the parameters, the headline figures and the whole report."""

    __tablename__ = "scoring_evaluation"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    rules_version: Mapped[str] = mapped_column(String(12))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(8))  # history | csv
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    n: Mapped[int] = mapped_column(Integer)
    positives: Mapped[int] = mapped_column(Integer)
    auc: Mapped[float | None] = mapped_column(Float)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_router_scoring_evaluation_version_computed", "rules_version", "computed_at"),
        Index("ix_router_scoring_evaluation_computed_at", "computed_at"),
    )
