"""The ``ingest`` schema: idempotency keys with stored responses, import jobs (the stored
file in chunks, progress, a worker's lease) and their per-row results; the erasures applied
and the processed event ids of its ``leads.erasure.v1`` consumer."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.ingest.domain.jobs import ImportKind, JobStatus
from shared.audit import AuditEventMixin
from shared.db import make_base
from shared.outbox import ProcessedEventMixin

SCHEMA = "ingest"
Base = make_base(SCHEMA)


def _string_enum(enum: type[StrEnum]) -> Enum:
    """A StrEnum stored as its value in a VARCHAR(16) (no database enum type to migrate)."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


class IdempotencyKey(Base):
    """One row per (source, key): the first request's hash and, once done, its response.

    ``state`` is ``pending`` while the first request publishes (``locked_until`` bounds a
    crashed holder) and ``done`` when the response is stored."""

    __tablename__ = "idempotency_key"

    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    state: Mapped[str] = mapped_column(String(16))
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    webhook_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ImportJob(Base):
    """One uploaded file (a trade show's badge scans or a purchased list) and its progress.

    The id derives from the target and the file's hash, so a re-upload finds it. Chunks
    ``0 .. next_chunk - 1`` are published and their rows recorded; a worker holds the job
    while ``lease_expires_at`` is ahead and renews it with every batch."""

    __tablename__ = "import_job"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[ImportKind] = mapped_column(_string_enum(ImportKind))
    status: Mapped[JobStatus] = mapped_column(_string_enum(JobStatus), index=True)
    # the stack it belongs to: only workers with the same topic prefix claim it
    topic_prefix: Mapped[str] = mapped_column(String(100))
    list_id: Mapped[str | None] = mapped_column(String(64))
    show_id: Mapped[str | None] = mapped_column(String(64), index=True)
    show_name: Mapped[str | None] = mapped_column(String(200))
    end_date: Mapped[date | None] = mapped_column(Date)
    timezone: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_bytes: Mapped[int] = mapped_column(BigInteger)
    fields: Mapped[list[str]] = mapped_column(JSONB)  # the lead field of each stored column
    column_mapping: Mapped[dict[str, Any]] = mapped_column(JSONB)
    ignored_columns: Mapped[list[str]] = mapped_column(JSONB)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    accepted_rows: Mapped[int] = mapped_column(Integer)
    rejected_rows: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    next_chunk: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImportChunk(Base):
    """The stored file, ``rows`` (JSON: row number, then one value per job field) per chunk;
    deleted when the job is done."""

    __tablename__ = "import_chunk"

    import_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("ingest.import_job.id", ondelete="CASCADE"),
        primary_key=True,
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    row_count: Mapped[int] = mapped_column(Integer)
    rows: Mapped[str] = mapped_column(Text)


class ImportRow(Base):
    __tablename__ = "import_row"
    __table_args__ = (
        # the rejected rows of an import, in order, without reading its accepted ones
        Index(
            "ix_ingest_import_row_rejected",
            "import_id",
            "row_number",
            postgresql_where=text("status = 'rejected'"),
        ),
    )

    import_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("ingest.import_job.id", ondelete="CASCADE"),
        primary_key=True,
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    event_id: Mapped[str | None] = mapped_column(String(64))
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(Text)


class AuditEvent(AuditEventMixin, Base):
    """An admin change to ingest's data: who, when, what (``shared/audit.py``)."""

    __tablename__ = "audit_event"


class ProcessedEvent(ProcessedEventMixin, Base):
    __tablename__ = "processed_event"


class Erasure(Base):
    """The tombstone of an erasure (``leads.erasure.v1``) ingest applied: rows redacted per table."""

    __tablename__ = "erasure"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, int]] = mapped_column(JSONB)
    event_id: Mapped[str] = mapped_column(String(128))
