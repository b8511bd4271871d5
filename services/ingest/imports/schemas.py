"""Import jobs as the API shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.domain.jobs import ImportKind, JobStatus


class ListRef(BaseModel):
    id: str


class ShowOut(BaseModel):
    id: str
    name: str
    end_date: date
    timezone: str


_JOB_EXAMPLE: dict[str, Any] = {
    "import_id": "5f0c8a52-8d9e-4d4e-9d57-1f0b7c1f2a10",
    "kind": "trade_show",
    "status": "running",
    "show": {
        "id": "saastr-2026",
        "name": "SaaStr 2026",
        "end_date": "2026-09-10",
        "timezone": "America/Los_Angeles",
    },
    "topic": "leads.bulk.v1",
    "file_name": "saastr-scans.csv",
    "file_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "file_bytes": 182044,
    "total_rows": 2400,
    "rows_read": 1000,
    "accepted": 987,
    "rejected": 13,
    "column_mapping": {"Email": "email", "First Name": "first_name", "Company": "company"},
    "ignored_columns": ["Notes"],
    "error": None,
    "created_at": "2026-09-11T08:00:00Z",
    "started_at": "2026-09-11T08:00:01Z",
    "finished_at": None,
}


class ImportJobOut(BaseModel):
    """An import job: what it imports, where it stands, what it found so far."""

    model_config = ConfigDict(json_schema_extra={"examples": [_JOB_EXAMPLE]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _JOB_EXAMPLE
                | {
                    "rows": [
                        {
                            "row": 1,
                            "status": "accepted",
                            "submission_id": "0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f",
                            "lead_id": "0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f",
                            "event_id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
                        },
                        {
                            "row": 2,
                            "status": "rejected",
                            "errors": [
                                {
                                    "field": "email",
                                    "message": "not a valid email address",
                                    "type": "value_error",
                                }
                            ],
                        },
                    ],
                    "next_after": 2,
                }
            ]
        }
    )

    rows: list[RowOut] = Field(description="per-row results recorded so far, by row number")
    next_after: int | None = Field(
        description="more rows may follow: ask again with ?after=<this>; null at the end"
    )
