"""``leads.activity.v1`` -> touches stop the SLA clock; engagement re-scores the lead."""

from __future__ import annotations

from services.router.assignment.service import decide
from services.router.context import RouterContext
from services.router.intake.service import rescore
from services.router.models import Lead, ProcessedEvent
from services.router.repository import RouterRepository
from services.router.sla.service import stop_on_first_touch
from shared.events.envelope import CloudEvent
from shared.events.models import ActivityKind, ActivityReceived
from shared.outbox import mark_processed


class UnknownLead(Exception):
    """The activity names a lead the router does not know (yet): retried, then dead-lettered."""


FIRST_TOUCH_KINDS = {ActivityKind.touch}
# a reply or meeting logged by a rep (rep_id set) also counts as the first touch
REP_LOGGED_KINDS = {ActivityKind.reply}


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
    lead = await _lead(repo, data)
    if lead is None:
        raise UnknownLead(f"no lead {data.lead_id}")
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

    if (
        data.kind in FIRST_TOUCH_KINDS
        or (data.kind in REP_LOGGED_KINDS and data.rep_id)
        or (data.kind == ActivityKind.touch and data.touch_channel == "meeting")
    ):
        await stop_on_first_touch(
            repo, lead, touched_at=data.occurred_at, rep_id=data.rep_id, cause=event.id, now=now
        )

    if data.kind == ActivityKind.converted:
        if lead.status == "assigned" and lead.owner_rep_id:
            await repo.add_open_lead(lead.owner_rep_id, -1)
        lead.status = "converted"
        await stop_on_first_touch(
            repo, lead, touched_at=data.occurred_at, rep_id=data.rep_id, cause=event.id, now=now
        )
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
            cause_event_id=event.id,
            submission_id=None,
            now=now,
            started_at=now,
        )
