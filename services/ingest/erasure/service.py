"""Erasure in ingest: ``leads.erasure.v1`` redacts the stored answers of keyed requests that
created the erased submissions and the import rows of those submissions, and keeps a
tombstone (counts). The stored file of an import is deleted once the import is done; the
rows of erased submissions in the stored file of one that is not (running, cancelled,
failed) are blanked."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import metrics
from services.ingest.domain.import_files import redact_rows
from services.ingest.models import Erasure, IdempotencyKey, ImportChunk, ImportRow, ProcessedEvent
from shared.events.envelope import CloudEvent
from shared.events.models import LeadErased
from shared.logging import get_logger
from shared.metrics import on_commit
from shared.outbox import mark_processed

log = get_logger(__name__)


async def erase(session: AsyncSession, event: CloudEvent, data: LeadErased, now: datetime) -> bool:
    """Apply one erasure in the caller's transaction; False when it was applied before."""
    if not await mark_processed(session, ProcessedEvent, event.id, now):
        return False
    if await session.get(Erasure, data.erasure_id) is not None:
        return False
    refs = sorted({data.lead_id, *data.lead_ids, *data.submission_ids})
    texts = [str(r) for r in refs]
    answers = await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.response_body["lead_id"].astext.in_(texts))
        .values(
            response_body=func.jsonb_build_object(
                "lead_id", IdempotencyKey.response_body["lead_id"], "erased", True
            )
        )
    )
    rows = await session.execute(
        update(ImportRow).where(ImportRow.lead_id.in_(refs)).values(errors=None, note=None)
    )
    counts = {
        "idempotency_key": answers.rowcount or 0,  # type: ignore[attr-defined]
        "import_row": rows.rowcount or 0,  # type: ignore[attr-defined]
        "import_chunk_row": await _blank_stored_rows(session, refs),
    }
    session.add(
        Erasure(
            id=data.erasure_id, lead_id=data.lead_id, requested_at=data.requested_at,
            erased_at=now, counts=counts, event_id=event.id,
        )
    )  # fmt: skip
    on_commit(session, metrics.ERASURES.inc)
    log.info("ingest.lead_erased", erasure_id=str(data.erasure_id), lead_id=str(data.lead_id))
    return True


async def _blank_stored_rows(session: AsyncSession, refs: list[uuid.UUID]) -> int:
    """Blank the erased submissions' rows in the stored files of imports still holding them."""
    numbers: dict[uuid.UUID, set[int]] = {}
    for import_id, number in await session.execute(
        select(ImportRow.import_id, ImportRow.row_number).where(ImportRow.lead_id.in_(refs))
    ):
        numbers.setdefault(import_id, set()).add(number)
    blanked = 0
    for import_id, wanted in sorted(numbers.items()):
        chunks = await session.execute(
            select(ImportChunk.seq, ImportChunk.rows)
            .where(ImportChunk.import_id == import_id)
            .with_for_update()
        )
        for seq, payload in chunks:
            redacted, n = redact_rows(payload, wanted)
            if n:
                await session.execute(
                    update(ImportChunk)
                    .where(ImportChunk.import_id == import_id, ImportChunk.seq == seq)
                    .values(rows=redacted)
                )
                blanked += n
    return blanked
