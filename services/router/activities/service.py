"""``leads.activity.v1`` -> touches stop the SLA clock; engagement re-scores the lead.

An activity may race its lead (the two travel on different topics): it is parked in
``router.pending_activity`` and applied when the lead arrives, never dropped."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.router.assignment.service import decide
from services.router.context import RouterContext
from services.router.domain.lifecycle import LeadStatus
from services.router.erasure.intake import activity_erased
from services.router.intake.scoring import rescore
from services.router.lifecycle.service import apply_disposition
from services.router.models import Lead, ProcessedEvent
from services.router.repository import RouterRepository
from services.router.sla.service import stop_on_first_touch
from shared.db import lead_ref_key, lock_keys
from shared.events.envelope import CloudEvent
from shared.events.models import DISPOSITION_KINDS, ActivityKind, ActivityReceived
from shared.logging import get_logger
from shared.outbox import mark_processed

log = get_logger(__name__)


# What a lead does (not what sales or the mail system does to it).
ENGAGEMENT = frozenset(
    {ActivityKind.reply, ActivityKind.open, ActivityKind.click, ActivityKind.page_visit}
)


def is_first_touch(data: ActivityReceived) -> bool:
    """A rep's call, email or meeting; or a reply the rep logged (rep id set)."""
    return data.kind == ActivityKind.touch or (
        data.kind == ActivityKind.reply and data.rep_id is not None
    )


# More merges than this in a row (a merged into b merged into c ...) is a loop, not history.
MAX_MERGE_HOPS = 16


async def _surviving(repo: RouterRepository, lead_id: uuid.UUID) -> uuid.UUID:
    """The lead that stands for ``lead_id`` now: itself, or the lead an admin merged it into
    (and so on). Read without locks: a merge is never undone."""
    for _ in range(MAX_MERGE_HOPS):
        into = await repo.merged_into(lead_id)
        if into is None:
            return lead_id
        lead_id = into
    raise RuntimeError(f"lead {lead_id}: merged_into does not end")


async def _lead(repo: RouterRepository, data: ActivityReceived) -> Lead | None:
    """The (locked) lead the activity is for: the one it names (a canonical id, or the id
    ingest answered for a submission), or, when an admin merged that lead into another, the
    survivor. Only the lead finally chosen is locked (as a merge locks its pair)."""
    lead = await repo.lock_lead(await _surviving(repo, data.lead_id))
    if lead is None:  # a submission id (what ingest answered) rather than the canonical id
        canonical = await repo.lead_for_submission(data.lead_id)
        if canonical is not None:
            lead = await repo.lock_lead(await _surviving(repo, canonical))
    for _ in range(MAX_MERGE_HOPS):  # merged while this waited for its lock
        if lead is None or lead.merged_into is None:
            break
        lead = await repo.lock_lead(lead.merged_into)
    return lead


async def handle_activity(
    ctx: RouterContext, repo: RouterRepository, event: CloudEvent, data: ActivityReceived
) -> None:
    now = ctx.clock()
    if not await mark_processed(repo.session, ProcessedEvent, event.id, now):
        return
    await lock_keys(repo.session, lead_ref_key(data.lead_id))  # vs. the lead's arrival
    if await activity_erased(repo.session, event.id, data.lead_id):
        return
    lead = await _lead(repo, data)
    if lead is None:
        await repo.park_activity(
            data.activity_id, data.lead_id, event.id, data.model_dump(mode="json"), now
        )
        log.info(
            "router.activity_parked", activity_id=str(data.activity_id), lead_ref=str(data.lead_id)
        )
        return
    await apply_activity(ctx, repo, lead, data, cause=event.id, now=now)


async def apply_pending(
    ctx: RouterContext, repo: RouterRepository, lead: Lead, refs: list[uuid.UUID], now: datetime
) -> None:
    """Apply the activities parked for a lead that has just arrived (under its lock)."""
    for event_id, raw in await repo.take_pending_activities(refs):
        await apply_activity(
            ctx, repo, lead, ActivityReceived.model_validate(raw), cause=event_id, now=now
        )


async def apply_activity(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    data: ActivityReceived,
    *,
    cause: str,
    now: datetime,
) -> None:
    """Record one activity on a (locked) lead."""
    created = await repo.add_activity(
        {
            "id": data.activity_id,
            "lead_id": lead.id,
            "kind": data.kind.value,
            "touch_channel": data.touch_channel,
            "rep_id": data.rep_id,
            "occurred_at": data.occurred_at,
            "received_at": data.received_at,
        }
    )
    if not created:
        return
    if lead.last_activity_at is None or data.occurred_at > lead.last_activity_at:
        lead.last_activity_at = data.occurred_at
    lead.updated_at = now

    if data.kind in DISPOSITION_KINDS:  # a sales status: see services/router/lifecycle
        await apply_disposition(ctx, repo, lead, data, cause=cause, now=now)
        return
    if is_first_touch(data):
        await stop_on_first_touch(
            repo, lead, touched_at=data.occurred_at, rep_id=data.rep_id, cause=cause, now=now
        )
        if lead.status == LeadStatus.assigned and (
            lead.last_worked_at is None or data.occurred_at > lead.last_worked_at
        ):
            lead.last_worked_at = data.occurred_at  # the owner works it: recycling waits

    before = lead.stage
    recycled = lead.status == LeadStatus.recycled
    await rescore(ctx, repo, lead, now, reopen=recycled and data.kind in ENGAGEMENT)
    back = recycled and data.kind in ENGAGEMENT and lead.stage != "none"
    first_time = lead.status == LeadStatus.nurture and before == "none" and lead.stage != "none"
    if (back or first_time) and not lead.is_name:
        # engagement made it sales-ready (again): hand it to sales now; a recycled lead goes
        # back to its last owner when that rep is active
        await decide(
            ctx,
            repo,
            lead,
            kind="rescored",
            cause_event_id=cause,
            submission_id=None,
            now=now,
            started_at=now,
        )
