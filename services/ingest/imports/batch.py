"""One batch of an import job: its rows validated like web leads and turned into events.
Pure: values in, a value out; the worker publishes and records it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.ingest.domain.ids import row_ids
from services.ingest.domain.jobs import ImportKind
from services.ingest.leads.schemas import LeadInvalid, validate_lead
from services.ingest.leads.service import received_event
from shared.events.models import SourceRef, TradeShowRef
from shared.kafka.producer import Message

TRADE_SHOW_SOURCE = SourceRef(id="trade-show", kind="trade_show")


@dataclass(frozen=True)
class Show:
    show_id: str
    name: str
    end_date: date
    timezone: str


@dataclass(frozen=True)
class JobSpec:
    """What a job's rows become: which source, channel and show, received when."""

    import_id: uuid.UUID
    kind: ImportKind
    received_at: datetime  # the upload: every row's event is the same when re-sent
    topic_prefix: str
    list_id: str | None = None
    show: Show | None = None

    @property
    def source(self) -> SourceRef:
        if self.kind == ImportKind.list:
            assert self.list_id is not None
            return SourceRef(id=self.list_id, kind="list")
        return TRADE_SHOW_SOURCE

    @property
    def channel(self) -> str:
        return "purchased_list" if self.kind == ImportKind.list else "trade_show"


@dataclass(frozen=True)
class RowResult:
    row_number: int
    status: str  # accepted | rejected
    submission_id: uuid.UUID | None = None
    event_id: str | None = None
    errors: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class BatchOutcome:
    messages: list[Message]
    rows: list[RowResult]

    @property
    def accepted(self) -> int:
        return len(self.messages)

    @property
    def rejected(self) -> int:
        return len(self.rows) - len(self.messages)


def decide_batch(spec: JobSpec, rows: list[tuple[int, dict[str, str]]]) -> BatchOutcome:
    messages: list[Message] = []
    results: list[RowResult] = []
    source = spec.source
    for number, fields in rows:
        try:
            lead = validate_lead(fields)
        except LeadInvalid as exc:
            results.append(RowResult(number, "rejected", errors=exc.errors))
            continue
        ids = row_ids(spec.import_id, number)
        show = spec.show
        topic, key, event, headers = received_event(
            lead=lead,
            source=source,
            channel=spec.channel,
            lead_id=ids.submission_id,
            event_id=ids.event_id,
            received_at=spec.received_at,
            trade_show=TradeShowRef(
                show_id=show.show_id,
                name=show.name,
                end_date=show.end_date,
                timezone=show.timezone,
                import_id=spec.import_id,
                row_number=number,
            )
            if show is not None
            else None,
        )
        messages.append((spec.topic_prefix + topic, key, event, headers))
        results.append(RowResult(number, "accepted", ids.submission_id, ids.event_id))
    return BatchOutcome(messages=messages, rows=results)
