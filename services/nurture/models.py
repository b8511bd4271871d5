"""The ``nurture`` schema: leads as nurture knows them (contact, time zone, list and why,
suppression, what sales reported), their aliases (submission ids), enrollments, scheduled
steps (the durable timers), parked events, processed event ids and the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.audit import AuditEventMixin
from shared.db import make_base
from shared.outbox import OutboxMixin, ProcessedEventMixin

SCHEMA = "nurture"
ACTIVITY_TYPE = "io.leadflow.lead.activity.v1"  # what pending_activity held before 0002
Base = make_base(SCHEMA)


class NurtureLead(Base):
    __tablename__ = "lead"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    # the email hard-bounced: no email step goes out until a different address arrives
    email_bounced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # lead | phone | country | show | team | default
    timezone_source: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    is_name: Mapped[bool] = mapped_column(Boolean)
    # active | remarket | sunset
    list_name: Mapped[str] = mapped_column("list", String(16))
    # why it is on that list (remarket: unresponsive, or recycled by sales; sunset; back)
    list_reason: Mapped[str | None] = mapped_column(String(300))
    # None | unsubscribed | hard_bounce | invalid_contact | do_not_contact (a purchased-list
    # name of a person erased before) | merged (an admin merged it into
    # another lead: what names it is that lead's, nothing goes to it any more)
    suppressed: Mapped[str | None] = mapped_column(String(32))
    suppressed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # handed to sales (SQL or hot, or a rep reported working / qualified), until sales gives
    # it back (recycled to the remarket list) or closes it (leads.lifecycle.v1)
    with_sales: Mapped[bool] = mapped_column(Boolean)
    # the sales status leads.lifecycle.v1 last reported, and when leadflow applied it
    sales_status: Mapped[str | None] = mapped_column(String(16))
    sales_status_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_engaged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the nurture clock: silence is counted from the later of this and last_engaged_at
    nurture_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # no sequence running since (None while one runs): the re-engagement / sunset clock
    idle_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reengaged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remarket_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sunset_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # ISO 3166-1 alpha-2: as submitted, else its phone number's; the consent policy's key
    country: Mapped[str | None] = mapped_column(String(2))
    # email and SMS steps skipped for want of the consent its country requires
    consent_skips: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (
        Index("ix_lead_remarket", "nurture_since", postgresql_where=text("list = 'active' AND suppressed IS NULL AND converted_at IS NULL")),
        Index("ix_lead_idle", "idle_since", postgresql_where=text("idle_since IS NOT NULL AND list <> 'sunset' AND suppressed IS NULL AND converted_at IS NULL")),
    )  # fmt: skip


class LeadAlias(Base):
    """A submission id (what ingest answered) -> the canonical lead id."""

    __tablename__ = "lead_alias"

    ref_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("nurture.lead.id"))


class Enrollment(Base):
    __tablename__ = "enrollment"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("nurture.lead.id"), index=True
    )
    sequence_id: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(32))
    show_id: Mapped[str | None] = mapped_column(String(64))
    # active | paused | completed | stopped | unenrolled
    status: Mapped[str] = mapped_column(String(16))
    paused_by: Mapped[str | None] = mapped_column(String(16))  # sales | operator
    reason: Mapped[str] = mapped_column(String(300))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # what caused it (event id or admin action): the same cause never enrolls twice
    cause: Mapped[str] = mapped_column(String(200), unique=True)

    __table_args__ = (
        Index("uq_enrollment_open", "lead_id", "sequence_id", unique=True, postgresql_where=text("status IN ('active', 'paused')")),
    )  # fmt: skip


class ScheduledStep(Base):
    """A durable timer: step ``step`` of an enrollment, due at ``due_at``.

    pending (claimable when due) | paused | emitted | skipped | cancelled | failed. One row
    per (enrollment, step): a step is emitted at most once in effect."""

    __tablename__ = "scheduled_step"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("nurture.enrollment.id")
    )
    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    step: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(8))  # email | sms | task
    state: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    planned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    emitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")  # failed attempts

    __table_args__ = (
        Index("uq_scheduled_step", "enrollment_id", "step", unique=True),
        Index("ix_scheduled_step_due", "due_at", postgresql_where=text("state = 'pending'")),
        Index("ix_scheduled_step_sent", "lead_id", "emitted_at", postgresql_where=text("state = 'emitted'")),
        Index("ix_scheduled_step_lead", "lead_id"),
    )  # fmt: skip


class Consent(Base):
    """A lead's consent on one marketing channel (email | sms), as history: the latest row
    per channel is its consent. ``state``: granted | denied | withdrawn |
    pending_confirmation | unknown; ``source``: form | import | opt_in | double_opt_in |
    unsubscribe | migration (``services.nurture.domain.consent``). ``event_id``: what
    recorded it (an event id, or ``step:<id>`` of a double opt-in request)."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("nurture.lead.id"))
    channel: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str | None] = mapped_column(String(160))

    __table_args__ = (
        Index("ix_consent_lead", "lead_id", "channel", "recorded_at"),
        Index("uq_consent_event", "event_id", "channel", unique=True),
    )  # fmt: skip


class PendingActivity(Base):
    """An event for a lead nurture has not heard of yet (an activity, or a sales lifecycle
    change), applied when the lead arrives, in the order the events were parked (``seq``)."""

    __tablename__ = "pending_activity"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    lead_ref: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    # the CloudEvents type of ``activity`` (the event's data)
    event_type: Mapped[str] = mapped_column(String(64), server_default=ACTIVITY_TYPE)
    activity: Mapped[dict[str, Any]] = mapped_column(JSONB)
    parked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False))


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_event"


class Outbox(OutboxMixin, Base):
    __tablename__ = "outbox"


class AuditEvent(AuditEventMixin, Base):
    """An admin change to nurture's data: who, when, what (``shared/audit.py``)."""

    __tablename__ = "audit_event"


class Erasure(Base):
    """The tombstone of an erasure (``leads.erasure.v1``) nurture applied: rows erased per table."""

    __tablename__ = "erasure"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, int]] = mapped_column(JSONB)
    event_id: Mapped[str] = mapped_column(String(128))


class ErasedRef(Base):
    """A lead or submission id an erasure erased: events naming it are dropped."""

    __tablename__ = "erased_ref"

    ref_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    erasure_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("nurture.erasure.id")
    )


class DoNotContact(Base):
    """An erased person's hashed email or phone: a purchased-list name holding it later is
    suppressed (``do_not_contact``)."""

    __tablename__ = "do_not_contact"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erasure_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
