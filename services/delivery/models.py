"""The ``delivery`` schema: webhook endpoints and their secrets, the events delivery stores
(for delivery and replay) with their per-lead sequence, one delivery per endpoint and event
(and per replay or test-send), every attempt, processed event ids and the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.audit import AuditEventMixin
from shared.db import make_base
from shared.outbox import OutboxMixin, ProcessedEventMixin

SCHEMA = "delivery"
Base = make_base(SCHEMA)


class Endpoint(Base):
    __tablename__ = "endpoint"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    # CloudEvent type names, e.g. io.leadflow.lead.assigned.v1
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(16))  # gone | failing | operator
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the first failed attempt since the last success; None after a success
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EndpointSecret(Base):
    __tablename__ = "endpoint_secret"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("delivery.endpoint.id", ondelete="CASCADE"), index=True
    )
    secret: Mapped[str] = mapped_column(Text)  # whsec_ + base64 of 32 random bytes
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # None: the current secret; after a rotation the previous one expires after the grace
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StoredEvent(Base):
    """A consumed event as delivered (the CloudEvent with ``leadsequence``), kept for replay."""

    __tablename__ = "event"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # the CloudEvent id
    type: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(200))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the event's time
    sequence: Mapped[int | None] = mapped_column(BigInteger)  # per lead
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_event_stored_at", "stored_at"),
        Index("ix_event_lead_id", "lead_id"),
        Index("ix_event_time", "time"),
    )


class ErasedRef(Base):
    """A lead id or submission id an erasure erased: a later event about it is stored
    already erased (ids only, no personal data)."""

    __tablename__ = "erased_ref"

    ref: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    erasure_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeadSequence(Base):
    __tablename__ = "lead_sequence"

    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)


class Delivery(Base):
    __tablename__ = "delivery"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("delivery.endpoint.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(
        ForeignKey("delivery.event.id", ondelete="CASCADE"), index=True
    )
    origin: Mapped[str] = mapped_column(String(8))  # live | replay | test
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_token: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True)
    )  # the claim holding the lease
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    skipped_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_delivery_live", "endpoint_id", "event_id", unique=True, postgresql_where=text("origin = 'live'")),
        Index("ix_delivery_due", "next_attempt_at", postgresql_where=text("state = 'pending'")),
        Index("ix_delivery_endpoint_state", "endpoint_id", "state"),
    )  # fmt: skip


class Attempt(Base):
    __tablename__ = "attempt"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("delivery.delivery.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_id: Mapped[str] = mapped_column(String(128))
    number: Mapped[int] = mapped_column(Integer)  # 1-based
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    # success | http_error | timeout | connect_error | refused_address | gone | throttled
    outcome: Mapped[str] = mapped_column(String(16))
    response_excerpt: Mapped[str | None] = mapped_column(Text)  # bounded
    error: Mapped[str | None] = mapped_column(Text)  # exception class and a short reason

    __table_args__ = (Index("ix_attempt_endpoint_started", "endpoint_id", "started_at"),)


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_event"


class Outbox(OutboxMixin, Base):
    __tablename__ = "outbox"


class AuditEvent(AuditEventMixin, Base):
    """An admin change to delivery's endpoints: who, when, what (``shared/audit.py``); ids and
    non-secret fields only (a secret is never recorded)."""

    __tablename__ = "audit_event"
