"""Erasure in nurture: ``leads.erasure.v1`` deletes every row of the erased leads in the
tables of :data:`~services.nurture.domain.erasure.ERASED_TABLES` (and outbox rows about
them), keeps a tombstone (counts) and puts the person's hashed identities on the
do-not-contact list. Later events naming an erased lead or submission are dropped."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.nurture import metrics
from services.nurture.domain.erasure import ERASED_TABLES, marketing_barred
from services.nurture.models import (
    SCHEMA,
    DoNotContact,
    ErasedRef,
    Erasure,
    LeadAlias,
    Outbox,
    ProcessedEvent,
)
from shared.db import lead_ref_key, lock_keys
from shared.domain.erasure import IdentityHash, contact_hashes
from shared.events.envelope import CloudEvent
from shared.events.models import (
    ActivityReceived,
    LeadAssigned,
    LeadErased,
    LeadLifecycle,
    LeadMerge,
)
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
    await lock_keys(session, *[lead_ref_key(r) for r in refs])  # vs. a decision about them
    aliased = await session.scalars(select(LeadAlias.lead_id).where(LeadAlias.ref_id.in_(refs)))
    ids = sorted({*refs, *aliased})
    counts: dict[str, int] = {}
    for t in ERASED_TABLES:
        result = await session.execute(
            text(f"DELETE FROM {SCHEMA}.{t.table} WHERE {t.column} = ANY(:ids)"), {"ids": ids}
        )
        counts[t.table] = counts.get(t.table, 0) + (result.rowcount or 0)  # type: ignore[attr-defined]
    texts = [str(i) for i in ids]
    result = await session.execute(
        delete(Outbox).where(
            or_(
                Outbox.event["subject"].astext.in_(texts),
                Outbox.event["data"]["lead_id"].astext.in_(texts),
            )
        )
    )
    counts["outbox"] = result.rowcount or 0  # type: ignore[attr-defined]
    session.add(
        Erasure(
            id=data.erasure_id, lead_id=data.lead_id, requested_at=data.requested_at,
            erased_at=now, counts=counts, event_id=event.id,
        )
    )  # fmt: skip
    await session.flush()
    await session.execute(
        insert(ErasedRef)
        .values([{"ref_id": r, "erasure_id": data.erasure_id} for r in ids])
        .on_conflict_do_nothing()
    )
    if data.identity_hashes:
        await session.execute(
            insert(DoNotContact)
            .values(
                [
                    {"kind": h.kind, "hash": h.hash, "added_at": now, "erasure_id": data.erasure_id}
                    for h in data.identity_hashes
                ]
            )
            .on_conflict_do_nothing()
        )
    on_commit(session, metrics.ERASURES.inc)
    log.info("nurture.lead_erased", erasure_id=str(data.erasure_id), lead_id=str(data.lead_id))
    return True


def refs_of(data: LeadAssigned | ActivityReceived | LeadLifecycle | LeadMerge) -> set[uuid.UUID]:
    """The lead and submission ids an event names."""
    if isinstance(data, LeadAssigned):
        return {data.lead_id} | ({data.submission_id} if data.submission_id else set())
    if isinstance(data, LeadMerge):
        return {data.lead_id, data.other_lead_id}
    return {data.lead_id}


async def erased_refs(session: AsyncSession, refs: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    wanted = sorted(set(refs))
    if not wanted:
        return set()
    return set(await session.scalars(select(ErasedRef.ref_id).where(ErasedRef.ref_id.in_(wanted))))


def count_dropped(session: AsyncSession, event_id: str) -> None:
    on_commit(session, metrics.DROPPED_ERASED.inc)
    log.info("nurture.erased_event_dropped", event_id=event_id)


async def barred_names(
    session: AsyncSession, key: bytes, decisions: Sequence[LeadAssigned]
) -> set[uuid.UUID]:
    """The leads of these decisions that are purchased-list names of an erased person."""
    hashes = {
        d.lead_id: contact_hashes(key, d.lead.email, d.lead.phone)
        for d in decisions
        if d.purchased_list
    }
    wanted = sorted({h.hash for hs in hashes.values() for h in hs})
    if not wanted:
        return set()
    rows = await session.execute(
        select(DoNotContact.kind, DoNotContact.hash).where(DoNotContact.hash.in_(wanted))
    )
    listed = frozenset(IdentityHash(r.kind, r.hash) for r in rows)
    return {
        d.lead_id
        for d in decisions
        if marketing_barred(d.purchased_list, hashes.get(d.lead_id, frozenset()), listed)
    }
