"""``leads.assigned.v1`` and ``leads.activity.v1`` -> enrollments, pauses, stops and
suppressions, a batch at a time.

Three steps in one transaction: **load** what the whole batch reads (a query per kind of
thing: processed ids, the leads with their enrollments and open steps, aliases, parked
activities), **decide** with the pure :func:`~services.nurture.domain.intake.decide_batch`,
**apply** the outcome with bulk statements and outbox rows.

Events of one lead are decided in partition order, each against the state the earlier ones
left. Across batches and instances, advisory locks on every id the batch names (the lead
ids, the submission ids, the activities' refs; taken in one order) and the lead rows'
locks (id order) serialize writers of one lead: an activity is never parked after the
decision that introduces its lead has looked for parked activities. A message alone (the
consumer's fallback when a batch fails) is a batch of one."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.nurture import metrics
from services.nurture.context import NurtureContext
from services.nurture.domain.intake import (
    Activity,
    BatchOutcome,
    BatchState,
    Decided,
    Event,
    Parked,
    ShowRef,
    decide_batch,
)
from services.nurture.events import lifecycle_outbox_rows
from services.nurture.repository import BatchRepository
from shared.db import lead_ref_key
from shared.events.envelope import CloudEvent
from shared.events.models import ActivityReceived, LeadAssigned
from shared.logging import get_logger
from shared.metrics import on_commit

log = get_logger(__name__)

Item = tuple[CloudEvent, LeadAssigned | ActivityReceived]
LOG_EVENTS = {
    "decided": "nurture.decision_applied",
    "activity": "nurture.activity_applied",
    "parked": "nurture.activity_parked",
}


class EnrollmentRace(Exception):
    """An enrollment the batch decided already exists (a writer that ignored the lead lock):
    the batch is rolled back and decided again, one message at a time."""


def decided_of(event: CloudEvent, data: LeadAssigned) -> Decided:
    show, contact = data.trade_show, data.lead
    return Decided(
        event_id=event.id, lead_id=data.lead_id, submission_id=data.submission_id,
        outcome=data.outcome, channel=data.channel, purchased_list=data.purchased_list,
        temperature=data.score.temperature, stage=data.score.stage, decided_at=data.decided_at,
        email=contact.email, phone=contact.phone, first_name=contact.first_name,
        timezone=contact.timezone, team_timezone=data.team_timezone,
        show=ShowRef(show.show_id, show.end_date, show.timezone) if show else None,
    )  # fmt: skip


def activity_of(event_id: str, data: ActivityReceived) -> Activity:
    return Activity(
        event_id=event_id, ref=data.lead_id, kind=data.kind.value, occurred_at=data.occurred_at,
        touch_channel=data.touch_channel, bounce_type=data.bounce_type,
    )  # fmt: skip


async def handle_batch(
    ctx: NurtureContext, repo: BatchRepository, items: Sequence[Item]
) -> BatchOutcome | None:
    """Decide and record a batch of decisions and activities in the caller's transaction
    (None when every event had been processed before)."""
    now = ctx.clock()
    fresh = await repo.mark_processed_many([event.id for event, _ in items], now)
    events: list[Event] = []
    activities: dict[str, ActivityReceived] = {}
    for event, data in items:
        if event.id not in fresh:
            continue
        fresh.discard(event.id)  # a duplicate within the batch counts once
        if isinstance(data, LeadAssigned):
            events.append(decided_of(event, data))
        else:
            events.append(activity_of(event.id, data))
            activities[event.id] = data
    if not events:
        return None

    # --- load -------------------------------------------------------------------------
    decided = [e for e in events if isinstance(e, Decided)]
    named = {e.ref for e in events if isinstance(e, Activity)}  # lead or submission ids
    await repo.lock_keys([lead_ref_key(r) for r in {r for d in decided for r in d.refs} | named])
    aliases = await repo.aliases_of(named)
    found = await repo.lock_lead_values(
        {d.lead_id for d in decided} | named | set(aliases.values())
    )
    leads = {lead.id: lead for lead in found}
    ids = sorted(leads)
    enrollments: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for e in await repo.enrollment_values(ids):
        enrollments[e.lead_id].append(e)
    steps: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for s in await repo.open_step_values(ids):
        steps[s.lead_id].append(s)
    parked: dict[uuid.UUID, list[Parked]] = defaultdict(list)
    for event_id, ref, raw, parked_at in await repo.parked_rows(r for d in decided for r in d.refs):
        parked[ref].append(
            Parked(activity_of(event_id, ActivityReceived.model_validate(raw)), parked_at)
        )
    state = BatchState(
        leads=leads, enrollments=enrollments, steps=steps, aliases=aliases, parked=parked
    )

    # --- decide -----------------------------------------------------------------------
    out = decide_batch(state, events, ctx.config, now)

    # --- apply ------------------------------------------------------------------------
    await apply(repo, out, activities, now)
    return out


async def apply(
    repo: BatchRepository,
    out: BatchOutcome,
    activities: dict[str, ActivityReceived],
    now: datetime,
) -> None:
    """Write one batch's outcome: every statement is set-at-a-time, parents before children."""
    await repo.insert_leads(out.created_leads)
    await repo.update_leads(out.changed_leads)
    await repo.add_aliases(out.aliases)
    created = out.created_enrollments
    if await repo.insert_enrollments(created) != len(created):
        raise EnrollmentRace(f"{len(created)} enrollments decided, fewer inserted")
    await repo.update_enrollments(out.changed_enrollments)
    await repo.insert_steps(out.created_steps)
    await repo.update_steps(out.changed_steps)
    await repo.park_many(
        [
            {"event_id": p.activity.event_id, "lead_ref": p.activity.ref, "parked_at": p.parked_at,
             "activity": activities[p.activity.event_id].model_dump(mode="json")}
            for p in out.parked
        ]
    )  # fmt: skip
    await repo.unpark(out.unparked)
    await repo.insert_outbox(lifecycle_outbox_rows(out.events, now))
    _count(repo, out)
    for applied in out.applied:
        log.info(
            LOG_EVENTS[applied.what],
            event_id=applied.event_id,
            lead_id=str(applied.lead_id) if applied.lead_id else None,
        )


def _count(repo: BatchRepository, out: BatchOutcome) -> None:
    counts = Counter((o.metric, o.labels) for o in out.observations)
    counters = {
        "enrollments": metrics.ENROLLMENTS,
        "enrollments_ended": metrics.ENROLLMENTS_ENDED,
        "suppressions": metrics.SUPPRESSIONS,
    }

    def record() -> None:
        for (metric, labels), n in counts.items():
            counters[metric].labels(*labels).inc(n)

    if counts:
        on_commit(repo.session, record)
