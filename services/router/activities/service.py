"""``leads.activity.v1`` -> touches stop the SLA clock; engagement re-scores the lead.

An activity may race its lead (the two travel on different topics): it is parked in
``router.pending_activity`` and applied when the lead arrives, never dropped."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.router.assignment.service import decide
from services.router.context import RouterContext
from services.router.intake.scoring import rescore
from services.router.models import Lead, ProcessedEvent
from services.router.repository import RouterRepository
from services.router.sla.service import stop_on_first_touch
from shared.db import lead_ref_key, lock_keys
from shared.events.envelope import CloudEvent
from shared.events.models import ActivityKind, ActivityReceived
from shared.logging import get_logger
from shared.outbox import mark_processed

log = get_logger(__name__)


def is_first_touch(data: ActivityReceived) -> bool:
    """A rep's call, email or meeting; or a reply the rep logged (rep id set)."""
    return data.kind == ActivityKind.touch or (
        data.kind == ActivityKind.reply and data.rep_id is not None
    )


async def _lead(repo: RouterRepository, data: ActivityReceived) -> Lead | None:
    lead = await repo.lock_lead(data.lead_id)
    if lead is None:  # a submission id (what ingest answered) rather than the canonical id
        canonical = await repo.lead_for_submission(data.lead_id)
        if canonical is not None:
            lead = await repo.lock_lead(canonical)
    return lead


async def handle_activity(
    ctx: RouterContext, repo: RouterRepository, event: CloudEvent, data: ActivityReceived
) -> None:
    now = ctx.clock()
    if not await mark_processed(repo.session, ProcessedEvent, event.id, now):
        return
    await lock_keys(repo.session, lead_ref_key(data.lead_id))  # vs. the lead's arrival
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

    if is_first_touch(data) or data.kind == ActivityKind.converted:
        await stop_on_first_touch(
            repo, lead, touched_at=data.occurred_at, rep_id=data.rep_id, cause=cause, now=now
        )
    if data.kind == ActivityKind.converted:
        if lead.status == "assigned" and lead.owner_rep_id:
            await repo.add_open_lead(lead.owner_rep_id, -1)
        lead.status = "converted"
        return

    before = lead.stage
    await rescore(ctx, repo, lead, now)
    if lead.status == "nurture" and not lead.is_name and before == "none" and lead.stage != "none":
        # engagement made it sales-ready: hand it to sales now
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
