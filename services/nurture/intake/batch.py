"""``leads.assigned.v1``, ``leads.activity.v1``, ``leads.lifecycle.v1`` and ``leads.merges.v1``
-> enrollments, pauses, stops, suppressions and list moves, a batch at a time.

Three steps in one transaction: **load** what the whole batch reads (a query per kind of
thing: processed ids, the leads with their enrollments and open steps, aliases, parked
events), **decide** with the pure :func:`~services.nurture.domain.intake.decide_batch`,
**apply** the outcome with bulk statements and outbox rows.

Events of one lead are decided in partition order, each against the state the earlier ones
left. Across batches and instances, advisory locks on every id the batch names (the lead
ids, the submission ids, the refs activities and sales changes name; taken in one order)
and the lead rows' locks (id order) serialize writers of one lead: an event is never parked
after the decision that introduces its lead has looked for parked events. A message alone (the
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
    Merged,
    Parked,
    SalesUpdate,
    ShowRef,
    Waiting,
    decide_batch,
)
from services.nurture.erasure import barred_names, count_dropped, erased_refs, refs_of
from services.nurture.events import lifecycle_outbox_rows
from services.nurture.repository import BatchRepository
from shared.db import lead_ref_key
from shared.events.envelope import CloudEvent
from shared.events.models import ActivityReceived, LeadAssigned, LeadLifecycle, LeadMerge
from shared.events.registry import LEAD_ACTIVITY, LEAD_LIFECYCLE, LEAD_MERGE
from shared.logging import get_logger
from shared.metrics import on_commit

log = get_logger(__name__)

Item = tuple[CloudEvent, LeadAssigned | ActivityReceived | LeadLifecycle | LeadMerge]
Parkable = ActivityReceived | LeadLifecycle | LeadMerge  # what may wait for its lead
LOG_EVENTS = {
    "decided": "nurture.decision_applied",
    "activity": "nurture.activity_applied",
    "parked": "nurture.activity_parked",
    "sales": "nurture.sales_change_applied",
    "parked_sales": "nurture.sales_change_parked",
    "merge": "nurture.merge_applied",
    "parked_merge": "nurture.merge_parked",
}
# the metadata key of a click on a double opt-in request's link (the step id, or true)
CONFIRMS_OPT_IN = "confirms_opt_in"
# Merges of merges (a into b, b into c, ...) this deep are followed when an id is resolved.
MAX_ALIAS_HOPS = 8


class EnrollmentRace(Exception):
    """An enrollment the batch decided already exists (a writer that ignored the lead lock):
    the batch is rolled back and decided again, one message at a time."""


def decided_of(event: CloudEvent, data: LeadAssigned, *, do_not_contact: bool = False) -> Decided:
    show, contact = data.trade_show, data.lead
    return Decided(
        event_id=event.id, lead_id=data.lead_id, submission_id=data.submission_id,
        outcome=data.outcome, channel=data.channel, purchased_list=data.purchased_list,
        temperature=data.score.temperature, stage=data.score.stage, decided_at=data.decided_at,
        email=contact.email, phone=contact.phone, first_name=contact.first_name,
        timezone=contact.timezone, team_timezone=data.team_timezone,
        show=ShowRef(show.show_id, show.end_date, show.timezone) if show else None,
        country=contact.country, marketing_consent=data.marketing_consent,
        do_not_contact=do_not_contact,
    )  # fmt: skip


def activity_of(event_id: str, data: ActivityReceived) -> Activity:
    return Activity(
        event_id=event_id, ref=data.lead_id, kind=data.kind.value, occurred_at=data.occurred_at,
        touch_channel=data.touch_channel, bounce_type=data.bounce_type,
        consent_channel=data.consent_channel,
        confirms_opt_in=bool(data.metadata.get(CONFIRMS_OPT_IN)),
    )  # fmt: skip


def sales_of(event_id: str, data: LeadLifecycle) -> SalesUpdate:
    return SalesUpdate(
        event_id=event_id, ref=data.lead_id, change=data.change, status=data.status,
        reason=data.reason, marketing=data.marketing, occurred_at=data.occurred_at, at=data.at,
    )  # fmt: skip


def merged_of(event_id: str, data: LeadMerge) -> Merged | None:
    """What nurture does with a merge or split: only an admin's merge ends a lead nurture
    knows (an automatic merge never made a lead of its own; a split-off lead arrives as a
    decision on leads.assigned.v1)."""
    if data.change != "merged" or data.how != "admin":
        return None
    return Merged(event_id=event_id, ref=data.other_lead_id, survivor=data.lead_id)


def waiting_of(event_id: str, event_type: str, raw: dict[str, Any]) -> Waiting:
    """A parked event back as a value (its data was stored as the event carried it)."""
    if event_type == LEAD_LIFECYCLE.type:
        return sales_of(event_id, LeadLifecycle.model_validate(raw))
    if event_type == LEAD_ACTIVITY.type:
        return activity_of(event_id, ActivityReceived.model_validate(raw))
    if event_type == LEAD_MERGE.type and (m := merged_of(event_id, LeadMerge.model_validate(raw))):
        return m
    raise ValueError(f"parked event {event_id} has an unknown type {event_type!r}")


def _event_type(data: Parkable) -> str:
    if isinstance(data, LeadLifecycle):
        return LEAD_LIFECYCLE.type
    if isinstance(data, LeadMerge):
        return LEAD_MERGE.type
    return LEAD_ACTIVITY.type


async def handle_batch(
    ctx: NurtureContext, repo: BatchRepository, items: Sequence[Item]
) -> BatchOutcome | None:
    """Decide and record a batch of decisions, activities, sales changes and merges in the
    caller's transaction (None when every event had been processed before)."""
    now = ctx.clock()
    fresh = await repo.mark_processed_many([event.id for event, _ in items], now)
    # an erased person's list name is barred (erased leads are dropped under the locks below)
    barred = await barred_names(
        repo.session,
        ctx.settings.effective_erasure_hash_key(),
        [data for _, data in items if isinstance(data, LeadAssigned)],
    )
    events: list[Event] = []
    waiting: dict[str, Parkable] = {}  # what may be parked, by id
    about: list[tuple[str, frozenset[uuid.UUID]]] = []  # each event's id and the ids it names
    for event, data in items:
        if event.id not in fresh:
            continue
        fresh.discard(event.id)  # a duplicate within the batch counts once
        before = len(events)
        if isinstance(data, LeadAssigned):
            events.append(decided_of(event, data, do_not_contact=data.lead_id in barred))
        elif isinstance(data, LeadLifecycle):
            events.append(sales_of(event.id, data))
            waiting[event.id] = data
        elif isinstance(data, LeadMerge):
            merged = merged_of(event.id, data)
            if merged is not None:  # else nothing to do: processed, and that is all
                events.append(merged)
                waiting[event.id] = data
        else:
            events.append(activity_of(event.id, data))
            waiting[event.id] = data
        if len(events) > before:
            about.append((event.id, frozenset(refs_of(data))))
    if not events:
        return None

    # --- load -------------------------------------------------------------------------
    decided = [e for e in events if isinstance(e, Decided)]
    # lead or submission ids; a merge names the survivor too
    named = {e.ref for e in events if isinstance(e, Activity | SalesUpdate | Merged)}
    named |= {e.survivor for e in events if isinstance(e, Merged)}
    await repo.lock_keys([lead_ref_key(r) for r in {r for d in decided for r in d.refs} | named])
    # the tombstone wins: nothing about an erased lead. Read under the locks an erasure takes
    # too, so one another replica committed while this batch waited is seen as well
    erased = await erased_refs(repo.session, (r for _, refs in about for r in refs))
    if erased:
        gone = {event_id for event_id, refs in about if not refs.isdisjoint(erased)}
        for event_id in gone:
            count_dropped(repo.session, event_id)
            waiting.pop(event_id, None)
        kept = [e for e, (event_id, _) in zip(events, about, strict=True) if event_id not in gone]
        events = kept
        if not events:
            return None
        decided = [e for e in events if isinstance(e, Decided)]
        named = {e.ref for e in events if isinstance(e, Activity | SalesUpdate | Merged)}
        named |= {e.survivor for e in events if isinstance(e, Merged)}
    aliases = await _aliases(repo, named)
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
    for row in await repo.parked_rows(r for d in decided for r in d.refs):
        parked[row.lead_ref].append(
            Parked(waiting_of(row.event_id, row.event_type, row.activity), row.parked_at)
        )
    state = BatchState(
        leads=leads, enrollments=enrollments, steps=steps, aliases=aliases, parked=parked
    )

    # --- decide -----------------------------------------------------------------------
    out = decide_batch(state, events, ctx.config, now)

    # --- apply ------------------------------------------------------------------------
    await apply(repo, out, waiting, now)
    return out


async def _aliases(repo: BatchRepository, refs: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The aliases of ``refs``, and of the leads they name in turn (a lead an admin merged
    into another is an alias of the survivor)."""
    aliases = await repo.aliases_of(refs)
    frontier = set(aliases.values()) - set(aliases)
    for _ in range(MAX_ALIAS_HOPS):
        if not frontier:
            break
        more = {k: v for k, v in (await repo.aliases_of(frontier)).items() if k not in aliases}
        aliases |= more
        frontier = set(more.values()) - set(aliases)
    return aliases


async def apply(
    repo: BatchRepository,
    out: BatchOutcome,
    waiting: dict[str, Parkable],
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
            {"event_id": p.event.event_id, "lead_ref": p.event.ref, "parked_at": p.parked_at,
             "event_type": _event_type(waiting[p.event.event_id]),
             "activity": waiting[p.event.event_id].model_dump(mode="json")}
            for p in out.parked
        ]
    )  # fmt: skip
    await repo.unpark(out.unparked)
    await repo.insert_outbox(lifecycle_outbox_rows(out.events, now))
    await repo.add_consents(out.consents)
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
        "remarket": metrics.REMARKET,
    }

    def record() -> None:
        for (metric, labels), n in counts.items():
            counters[metric].labels(*labels).inc(n)

    if counts:
        on_commit(repo.session, record)
