"""Import jobs as the API shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.ingest.domain.jobs import ImportKind, JobStatus


class ListRef(BaseModel):
    id: str


class ShowOut(BaseModel):
    id: str
    name: str
    end_date: date
    timezone: str


class ImportJobOut(BaseModel):
    """An import job: what it imports, where it stands, what it found so far."""

    import_id: str
    kind: ImportKind
    status: JobStatus = Field(description="queued, running, done, cancelled or failed")
    list_ref: ListRef | None = Field(
        None, serialization_alias="list", description="the purchased list (list imports)"
    )
    show: ShowOut | None = Field(None, description="the trade show (trade-show imports)")
    topic: str = Field(description="the Kafka topic the rows go to (the bulk lane)")
    file_name: str | None
    file_sha256: str
    file_bytes: int
    total_rows: int | None = Field(description="data rows in the file (blank lines not counted)")
    rows_read: int = Field(description="rows validated and recorded: accepted + rejected")
    accepted: int = Field(description="rows published as leads")
    rejected: int = Field(description="rows refused, each with its field errors")
    column_mapping: dict[str, Any] = Field(description="CSV header -> lead field")
    ignored_columns: list[str]
    error: str | None = Field(None, description="why a failed job failed")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RowOut(BaseModel):
    row: int = Field(description="data row number, from 1")
    status: Literal["accepted", "rejected"]
    submission_id: str | None = Field(None, description="accepted: the submission's id")
    lead_id: str | None = Field(None, description="accepted: the same id, by its older name")
    event_id: str | None = Field(None, description="accepted: the id of its event")
    errors: list[dict[str, Any]] | None = Field(None, description="rejected: every field error")


class ImportJobWithRows(ImportJobOut):
    rows: list[RowOut] = Field(description="per-row results recorded so far, by row number")
    next_after: int | None = Field(
        description="more rows may follow: ask again with ?after=<this>; null at the end"
    )
