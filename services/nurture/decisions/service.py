"""``leads.assigned.v1`` -> nurture's view of the lead, and the enrollments the decision
starts, pauses or resumes. One transaction."""

from __future__ import annotations

from services.nurture.activities.service import apply_pending
from services.nurture.context import NurtureContext
from services.nurture.domain.policy import (
    Enroll,
    LeadState,
    Pause,
    RoutingDecision,
    contact_timezone,
    plan_decision,
)
from services.nurture.leads.service import engage, enroll, pause, resume, suppress
from services.nurture.models import NurtureLead, ProcessedEvent
from services.nurture.repository import OPEN, NurtureRepository
from shared.db import lead_ref_key, lock_keys
from shared.events.envelope import CloudEvent
from shared.events.models import LeadAssigned
from shared.logging import get_logger
from shared.outbox import mark_processed

log = get_logger(__name__)


async def handle_assigned(
    ctx: NurtureContext, repo: NurtureRepository, event: CloudEvent, data: LeadAssigned
) -> None:
    now = ctx.clock()
    if not await mark_processed(repo.session, ProcessedEvent, event.id, now):
        return
    refs = [data.lead_id] + ([data.submission_id] if data.submission_id else [])
    await lock_keys(repo.session, *(lead_ref_key(r) for r in refs))  # vs. racing activities
    contact = data.lead
    lead = await repo.lead(data.lead_id, lock=True)
    show = data.trade_show
    show_tz = show.timezone if show else None
    if show_tz is None and lead is not None and lead.timezone_source == "show":
        show_tz = lead.timezone  # met at a show before: keep that zone
    tz, tz_source = contact_timezone(
        contact.timezone, contact.phone, data.team_timezone, ctx.config.defaults.timezone, show_tz
    )
    if lead is None:
        lead = NurtureLead(
            id=data.lead_id, email=contact.email, phone=contact.phone, first_name=contact.first_name,
            timezone=tz, timezone_source=tz_source, channel=data.channel or "web", is_name=data.purchased_list,
            list_name="active", suppressed=None, suppressed_at=None, converted_at=None, with_sales=False,
            last_engaged_at=None, nurture_since=now, idle_since=now, reengaged_at=None, remarket_at=None,
            sunset_at=None, created_at=now, updated_at=now,
        )  # fmt: skip
        repo.add_lead(lead)
        await repo.session.flush()
    else:
        if contact.email and contact.email != lead.email and lead.email_bounced_at is not None:
            lead.email_bounced_at = None  # a new address: worth a try
            if lead.suppressed == "hard_bounce":
                lead.suppressed, lead.suppressed_at, lead.idle_since = None, None, now
        lead.email = contact.email or lead.email
        lead.phone = contact.phone or lead.phone
        lead.first_name = contact.first_name or lead.first_name
        lead.timezone, lead.timezone_source = tz, tz_source
        lead.is_name = lead.is_name and data.purchased_list
        lead.updated_at = now
        if data.submission_id is not None:  # it filled in a form again: its own engagement
            engage(repo, lead, at=data.decided_at, cause=event.id, now=now)
        if lead.suppressed == "invalid_contact" and (lead.email or lead.phone):
            lead.suppressed, lead.suppressed_at = None, None
            lead.idle_since = now
    if data.submission_id is not None:
        await repo.add_alias(data.submission_id, lead.id)
    if not lead.email and not lead.phone:
        await suppress(repo, lead, reason="invalid_contact", cause=event.id, now=now)

    history = await repo.enrollments(lead.id)
    state = LeadState(
        suppressed=lead.suppressed is not None,
        converted=lead.converted_at is not None,
        sunset=lead.list_name == "sunset",
        with_sales=lead.with_sales,
        own_timezone=tz_source in ("lead", "phone"),
        timezone=lead.timezone,
        open_triggers=frozenset(e.trigger for e in history if e.status in OPEN),
        ever_triggers=frozenset(e.trigger for e in history),
        shows=frozenset(e.show_id for e in history if e.show_id),
    )
    decision = RoutingDecision(
        outcome=data.outcome, channel=data.channel, purchased_list=data.purchased_list,
        temperature=data.score.temperature, stage=data.score.stage,
        show_id=show.show_id if show else None, show_end=show.end_date if show else None,
        show_tz=show.timezone if show else None,
    )  # fmt: skip
    for action in plan_decision(decision, state, ctx.config, now):
        if isinstance(action, Enroll):
            await enroll(
                ctx, repo, lead, trigger=action.trigger, sequence_id=action.sequence_id,
                start_at=action.start_at, reason=action.reason, cause=f"{event.id}:{action.trigger}",
                now=now, show_id=action.show_id,
            )  # fmt: skip
        elif isinstance(action, Pause):
            lead.with_sales = True
            await pause(repo, lead, by="sales", reason=action.reason, cause=event.id, now=now)
        else:
            lead.with_sales = False
            await resume(repo, lead, reason=action.reason, cause=event.id, now=now, only_by="sales")
    await apply_pending(ctx, repo, lead, refs, now)
    log.info("nurture.decision_applied", lead_id=str(lead.id), outcome=data.outcome, kind=data.kind)
