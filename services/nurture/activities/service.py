"""``leads.activity.v1`` -> stop, suppress or engage. An activity may race the routing
decision that introduces its lead: it is parked and applied when the lead arrives."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.nurture.context import NurtureContext
from services.nurture.domain.policy import activity_effect
from services.nurture.leads.service import end_enrollments, engage, open_enrollments, suppress
from services.nurture.models import NurtureLead, ProcessedEvent
from services.nurture.repository import NurtureRepository
from shared.db import lead_ref_key, lock_keys
from shared.events.envelope import CloudEvent
from shared.events.models import ActivityReceived
from shared.logging import get_logger
from shared.outbox import mark_processed

log = get_logger(__name__)


async def handle_activity(
    ctx: NurtureContext, repo: NurtureRepository, event: CloudEvent, data: ActivityReceived
) -> None:
    now = ctx.clock()
    if not await mark_processed(repo.session, ProcessedEvent, event.id, now):
        return
    await lock_keys(repo.session, lead_ref_key(data.lead_id))  # vs. the lead's arrival
    lead_id = await repo.resolve(data.lead_id)
    lead = await repo.lead(lead_id, lock=True) if lead_id is not None else None
    if lead is None:
        await repo.park_activity(event.id, data.lead_id, data.model_dump(mode="json"), now)
        log.info(
            "nurture.activity_parked", activity_id=str(data.activity_id), lead_ref=str(data.lead_id)
        )
        return
    await apply_activity(repo, lead, data, cause=event.id, now=now)


async def apply_pending(
    ctx: NurtureContext,
    repo: NurtureRepository,
    lead: NurtureLead,
    refs: list[uuid.UUID],
    now: datetime,
) -> None:
    for event_id, raw in await repo.take_pending(refs):
        await apply_activity(
            repo, lead, ActivityReceived.model_validate(raw), cause=event_id, now=now
        )


async def apply_activity(
    repo: NurtureRepository, lead: NurtureLead, data: ActivityReceived, *, cause: str, now: datetime
) -> None:
    effect = activity_effect(data.kind.value, data.touch_channel, data.bounce_type)
    if effect.engaged:
        engage(repo, lead, at=data.occurred_at, cause=cause, now=now)
    if effect.converted and lead.converted_at is None:
        lead.converted_at = data.occurred_at
    if effect.stop is not None:
        await end_enrollments(
            repo, lead, await open_enrollments(repo, lead), status="stopped", reason=effect.stop, cause=cause, now=now
        )  # fmt: skip
    if effect.suppress == "hard_bounce":
        # the address is dead, not the lead: SMS (and rep tasks) go on while it has a phone
        lead.email_bounced_at = data.occurred_at
        if not lead.phone:
            await suppress(repo, lead, reason="hard_bounce", cause=cause, now=now)
    elif effect.suppress is not None:
        await suppress(repo, lead, reason=effect.suppress, cause=cause, now=now)
    log.info("nurture.activity_applied", lead_id=str(lead.id), kind=data.kind.value)
