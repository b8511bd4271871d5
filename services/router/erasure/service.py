"""Erasing a person from the router, in the request's transaction: the lead, every lead
merged into it and their submissions are erased or redacted, a tombstone (ids, counts, the
non-personal summary) and the hashed identities are written, and ``leads.erasure.v1`` is
enqueued in the outbox, both the request to nurture and ingest and the notice to sales
tools. A lead erased already answers its tombstone again and enqueues nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.router import metrics
from services.router.domain.dedupe import is_role_address
from services.router.domain.erasure import erasure_id_for, summary
from services.router.erasure.repository import ErasureRepository, lead_facts
from services.router.events import SOURCE
from services.router.models import Erasure, Outbox
from shared.db import identity_lock_key, lead_ref_key, lock_keys
from shared.domain.erasure import IdentityHash, contact_hashes, identity_hashes
from shared.events.envelope import make_event
from shared.events.models import IdentityHashRef, LeadErased
from shared.events.registry import LEAD_ERASED
from shared.logging import get_logger
from shared.metrics import on_commit
from shared.outbox import enqueue

log = get_logger(__name__)


@dataclass(frozen=True)
class Requester:
    """Who asked for an erasure: the admin token's name (``admin`` until tokens are named).
    An audit trail of admin changes records it from here."""

    name: str


class LeadNotFound(Exception):
    pass


def tombstone_out(t: Erasure) -> dict[str, Any]:
    return {
        "erasure_id": str(t.id),
        "erased": True,
        "lead_id": str(t.lead_id),
        "lead_ids": t.lead_ids,
        "submission_ids": t.submission_ids,
        "requested_at": t.requested_at.isoformat(),
        "requested_by": t.requested_by,
        "event_id": t.event_id,
        "counts": t.counts,
        "summary": t.summary,
    }


async def erase_lead(
    session: AsyncSession, key: bytes, ref: uuid.UUID, who: Requester, now: datetime
) -> tuple[Erasure, bool]:
    """Erase the person behind a lead id, a merged-away lead id or a submission id; returns
    the tombstone and whether this call erased (False: erased before)."""
    repo = ErasureRepository(session)
    found = await repo.tombstone_for_ref(ref)
    if found is not None:
        return found, False
    lead_id = await repo.lead_for_ref(ref)
    if lead_id is None:
        raise LeadNotFound(ref)
    lead_ids = await repo.merged_closure(lead_id)
    submission_ids = await repo.submission_ids(lead_ids)
    identities = await repo.identities(lead_ids)
    # the same locks an arrival of this person takes: it waits, then sees the tombstone
    await lock_keys(
        session,
        *[lead_ref_key(r) for r in {*lead_ids, *submission_ids}],
        *[identity_lock_key(k, v) for k, v in identities],
    )
    found = await repo.tombstone(erasure_id_for(lead_id))
    if found is not None:
        return found, False
    leads = await repo.lock_leads(lead_ids)
    # read again under the locks: an arrival committed meanwhile may have added to the lead
    submission_ids = await repo.submission_ids(lead_ids)
    identities = await repo.identities(lead_ids)
    hashes: set[IdentityHash] = set(identity_hashes(key, identities))
    for email, phone in await repo.submitted_contacts(lead_ids):
        hashes |= contact_hashes(key, email, phone)
    for lead in leads:
        hashes |= contact_hashes(key, lead.profile.get("email"), lead.profile.get("phone"))
    # an address or number others hold too (a switchboard, info@) is not this person's to
    # bar: kept out of the tombstone's hashes and the do-not-contact list
    not_theirs = await repo.held_by_others(identities, lead_ids)
    not_theirs |= {(k, v) for k, v in identities if k == "email" and is_role_address(v)}
    hashes -= identity_hashes(key, not_theirs)
    kept = summary([lead_facts(lead) for lead in leads], await repo.decisions(lead_ids))
    counts = await repo.erase(leads, submission_ids, now)

    erasure_id = erasure_id_for(lead_id)
    data = LeadErased(
        erasure_id=erasure_id,
        lead_id=lead_id,
        lead_ids=lead_ids,
        submission_ids=submission_ids,
        identity_hashes=[IdentityHashRef(kind=h.kind, hash=h.hash) for h in sorted(hashes)],
        requested_at=now,
        requested_by=who.name,
    )
    event = make_event(
        type=LEAD_ERASED.type, source=SOURCE, subject=str(lead_id), data=data, time=now
    )
    created = await repo.add_tombstone(
        {
            "id": erasure_id,
            "lead_id": lead_id,
            "lead_ids": [str(i) for i in lead_ids],
            "submission_ids": [str(i) for i in submission_ids],
            "requested_at": now,
            "requested_by": who.name,
            "counts": counts,
            "summary": kept | {"identity_hashes": len(hashes)},
            "event_id": event.id,
        },
        [(i, "lead") for i in lead_ids] + [(i, "submission") for i in submission_ids],
        sorted(hashes),
    )
    tombstone = await repo.tombstone(erasure_id)
    assert tombstone is not None
    if not created:  # erased by a concurrent request meanwhile (its tombstone stands)
        return tombstone, False
    enqueue(session, Outbox, LEAD_ERASED.topic, str(lead_id), event, now)
    on_commit(session, metrics.ERASURES.inc)
    log.info(
        "router.lead_erased", erasure_id=str(erasure_id), lead_id=str(lead_id),
        leads=len(lead_ids), submissions=len(submission_ids),
    )  # fmt: skip
    return tombstone, True
