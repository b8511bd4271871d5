"""A badge-scan file -> one ``leads.received.v1`` event per good row, each published once.

The import id derives from the show, its metadata and the file's hash, so uploading the
same file again returns the first import instead of publishing twice. Row event ids
derive from the import id and row number, so a retry after a Kafka failure re-sends the
same events, which consumers dedupe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from services.ingest import metrics
from services.ingest.context import IngestContext
from services.ingest.domain import badge_scans
from services.ingest.idempotency.service import stable_id
from services.ingest.leads.schemas import LEAD_FIELDS, LeadInvalid, validate_lead
from services.ingest.leads.service import received_event
from services.ingest.models import ImportRow, TradeShowImport
from services.ingest.trade_shows.repository import ImportRepository
from shared.events.models import SourceRef, TradeShowRef
from shared.http import ApiError
from shared.kafka.producer import KafkaUnavailable, Message

SOURCE = SourceRef(id="trade-show", kind="trade_show")
PUBLISH_CHUNK = 2000


@dataclass(frozen=True)
class ShowInfo:
    show_id: str
    name: str
    end_date: date
    timezone: str


def import_summary(record: TradeShowImport) -> dict[str, Any]:
    return {
        "import_id": str(record.id),
        "show": {
            "id": record.show_id,
            "name": record.show_name,
            "end_date": record.end_date.isoformat(),
            "timezone": record.timezone,
        },
        "file_name": record.file_name,
        "total_rows": record.total_rows,
        "accepted": record.accepted_rows,
        "rejected": record.rejected_rows,
        "column_mapping": record.column_mapping,
        "ignored_columns": record.ignored_columns,
        "created_at": record.created_at.isoformat(),
    }


def row_result(row: ImportRow) -> dict[str, Any]:
    out: dict[str, Any] = {"row": row.row_number, "status": row.status}
    if row.lead_id is not None:
        out["lead_id"] = str(row.lead_id)
    if row.errors:
        out["errors"] = row.errors
    return out


async def import_file(
    ctx: IngestContext,
    show: ShowInfo,
    raw: bytes,
    file_name: str | None,
    overrides: dict[str, str] | None,
) -> tuple[dict[str, Any], bool]:
    """Returns (the import with its rows, whether it was an earlier identical import)."""
    digest = hashlib.sha256(raw).hexdigest()
    fingerprint = json.dumps(
        [
            show.show_id,
            show.name,
            show.end_date.isoformat(),
            show.timezone,
            digest,
            overrides or {},
        ],
        sort_keys=True,
    )
    import_id = stable_id("trade-show-import", fingerprint)
    async with ctx.sessions() as session:
        existing = await ImportRepository(session).get(import_id)
        if existing is not None:
            rows = await ImportRepository(session).rows(import_id)
            return {**import_summary(existing), "rows": [row_result(r) for r in rows]}, True

    try:
        text = badge_scans.decode(raw)
        headers, rows_iter = badge_scans.read_rows(text)
        plan = badge_scans.plan_columns(headers, overrides, LEAD_FIELDS)
        rows = list(rows_iter)
    except badge_scans.FileInvalid as exc:
        raise ApiError(
            422,
            "invalid_file",
            str(exc),
            errors=[{"field": "file", "message": str(exc), "type": "file"}],
        ) from None
    if len(rows) > ctx.settings.ingest_import_max_rows:
        raise ApiError(
            413, "too_many_rows", f"at most {ctx.settings.ingest_import_max_rows} rows per import"
        )

    now = ctx.clock()
    messages: list[Message] = []
    row_records: list[dict[str, Any]] = []
    for number, row in rows:
        try:
            lead = validate_lead(badge_scans.to_fields(row, plan))
        except LeadInvalid as exc:
            row_records.append(
                {
                    "import_id": import_id,
                    "row_number": number,
                    "status": "rejected",
                    "lead_id": None,
                    "event_id": None,
                    "errors": exc.errors,
                    "note": None,
                }
            )
            continue
        lead_id = stable_id(str(import_id), str(number), "lead")
        event_id = str(stable_id(str(import_id), str(number), "event"))
        topic, key, event, headers = received_event(
            lead=lead,
            source=SOURCE,
            channel="trade_show",
            lead_id=lead_id,
            event_id=event_id,
            received_at=now,
            trade_show=TradeShowRef(
                show_id=show.show_id,
                name=show.name,
                end_date=show.end_date,
                timezone=show.timezone,
                import_id=import_id,
                row_number=number,
            ),
        )
        messages.append((ctx.settings.topic(topic), key, event, headers))
        row_records.append(
            {
                "import_id": import_id,
                "row_number": number,
                "status": "accepted",
                "lead_id": lead_id,
                "event_id": event_id,
                "errors": None,
                "note": None,
            }
        )

    try:
        for start in range(0, len(messages), PUBLISH_CHUNK):
            await ctx.producer.publish_many(messages[start : start + PUBLISH_CHUNK])
    except KafkaUnavailable:
        raise ApiError(
            503,
            "kafka_unavailable",
            "the import could not be stored durably; nothing is reported accepted, retry the same file",
            headers={"Retry-After": str(ctx.settings.ingest_retry_after_seconds)},
        ) from None

    accepted = len(messages)
    record = TradeShowImport(
        id=import_id,
        show_id=show.show_id,
        show_name=show.name,
        end_date=show.end_date,
        timezone=show.timezone,
        file_name=file_name,
        file_sha256=digest,
        total_rows=len(row_records),
        accepted_rows=accepted,
        rejected_rows=len(row_records) - accepted,
        column_mapping=plan.mapping,
        ignored_columns=plan.ignored,
        created_at=now,
    )
    async with ctx.sessions.begin() as session:
        await ImportRepository(session).add(record, row_records)
    metrics.IMPORT_ROWS.labels("accepted").inc(accepted)
    metrics.IMPORT_ROWS.labels("rejected").inc(len(row_records) - accepted)
    metrics.LEADS_RECEIVED.labels("trade_show", "trade_show").inc(len(row_records))
    metrics.LEADS_ACCEPTED.labels("trade_show", "trade_show").inc(accepted)
    if len(row_records) - accepted:
        metrics.LEADS_REJECTED.labels("trade_show", "validation").inc(len(row_records) - accepted)
    results = [
        {
            "row": r["row_number"],
            "status": r["status"],
            **({"lead_id": str(r["lead_id"])} if r["lead_id"] else {}),
            **({"errors": r["errors"]} if r["errors"] else {}),
        }
        for r in row_records
    ]
    return {**import_summary(record), "rows": results}, False


async def get_import(ctx: IngestContext, import_id: UUID, status: str | None) -> dict[str, Any]:
    async with ctx.sessions() as session:
        repo = ImportRepository(session)
        record = await repo.get(import_id)
        if record is None:
            raise ApiError(404, "not_found", f"no import {import_id}")
        rows = await repo.rows(import_id, status)
    return {**import_summary(record), "rows": [row_result(r) for r in rows]}
