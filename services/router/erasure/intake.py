"""The tombstone wins at intake: an arrival naming an erased submission, or carrying an
erased person's email or phone and received at or before their erasure (a dead letter, a
replay, a purchased list bought before), is dropped; an activity about an erased lead too.
A web form the person fills in after the erasure starts fresh."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.router import metrics
from services.router.domain.intake import Arrival
from services.router.erasure.repository import ErasureRepository
from shared.domain.erasure import IdentityHash, erased_before, identity_hashes
from shared.logging import get_logger
from shared.metrics import on_commit

log = get_logger(__name__)


def arrival_hashes(key: bytes, arrival: Arrival) -> frozenset[IdentityHash]:
    return identity_hashes(key, arrival.identities)


async def drop_erased(
    session: AsyncSession, key: bytes, arrivals: Sequence[Arrival]
) -> list[Arrival]:
    """The arrivals the tombstones let through (call it under the arrivals' locks)."""
    repo = ErasureRepository(session)
    hashes = {a.submission_id: arrival_hashes(key, a) for a in arrivals}
    refs = await repo.erased_refs([a.submission_id for a in arrivals])
    erased_at = await repo.erased_identities(sorted({h for hs in hashes.values() for h in hs}))
    if not refs and not erased_at:
        return list(arrivals)
    kept = []
    for a in arrivals:
        if a.submission_id in refs or erased_before(
            erased_at, hashes[a.submission_id], a.received_at
        ):
            on_commit(session, metrics.DROPPED_ERASED.labels("arrival").inc)
            log.info(
                "router.erased_arrival_dropped",
                event_id=a.event_id,
                submission_id=str(a.submission_id),
            )
        else:
            kept.append(a)
    return kept


async def activity_erased(session: AsyncSession, event_id: str, lead_ref: uuid.UUID) -> bool:
    """True (and counted) when the activity names an erased lead or submission."""
    if not await ErasureRepository(session).erased_refs([lead_ref]):
        return False
    on_commit(session, metrics.DROPPED_ERASED.labels("activity").inc)
    log.info("router.erased_activity_dropped", event_id=event_id, lead_ref=str(lead_ref))
    return True
