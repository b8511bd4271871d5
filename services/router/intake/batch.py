"""``leads.received.v1`` (and the bulk lane) -> one lead per person, a batch at a time.

Three steps in one transaction: **load** what the whole batch reads (a query per kind of
thing), **decide** with the pure :func:`~services.router.domain.intake.decide_batch`,
**apply** the outcome with bulk statements and outbox rows.

Same person, same moment: arrivals in one batch are decided in partition order against
a state each decision updates; across batches and instances, advisory locks on the
submission ids and company keys (taken in one order) and unique identities keep one lead
per person: an arrival holds advisory locks on its submission id, its company keys and its
contact keys while it reads who holds them and adds its lead, so two transactions never both
miss a person. The match policy is pure (``services/router/domain/dedupe.py``).

No global lock: the decisions are made on the reps' state as read, then only the teams
whose reps they change are locked (in id order) and their reps read again. Unchanged, the
decisions stand; changed by another instance meanwhile, the batch is decided again under
the locks. So two instances routing to different teams never wait on each other, and
weighted round robin stays exact."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.router import metrics
from services.router.activities.service import apply_pending
from services.router.assignment.service import MAX_DECIDE_ROUNDS, TeamContended
from services.router.context import RouterContext
from services.router.convert import activity_points, to_rep, to_rule, to_team
from services.router.domain.dedupe import MatchPolicy, Verdict
from services.router.domain.intake import (
    Arrival,
    AutoMerge,
    BatchOutcome,
    BatchState,
    ClockRow,
    Config,
    LeadRow,
    MissingState,
    ShowRef,
    arrival_company_keys,
    certain_by_email,
    company_decision,
    decide_batch,
    widened_key,
)
from services.router.domain.matching import Candidate
from services.router.erasure.intake import drop_erased
from services.router.events import assigned_event, merge_event
from services.router.models import Assignment, Lead, LeadSubmission, Outbox
from services.router.repository import BatchRepository
from shared.db import company_lock_key, identity_lock_key, lead_ref_key
from shared.events.envelope import CloudEvent
from shared.events.models import IdentityRef, LeadMerge, LeadReceived
from shared.logging import get_logger
from shared.metrics import on_commit
from shared.outbox import outbox_row

log = get_logger(__name__)

LEAD_UPDATE_COLUMNS = (
    "status", "is_name", "profile", "first_name", "last_name", "score", "temperature", "stage",
    "score_breakdown", "owner_rep_id", "team_id", "queue", "updated_at", "lifecycle_stage",
    "stage_entered_at", "last_owner_rep_id", "owned_since", "last_worked_at", "company_key",
    "company_name_key",
)  # fmt: skip
# Leads a batch may find it needs after its first load (a merge target the pre-pass did not
# foresee): each is loaded and the batch decided again.
MAX_LATE_LOADS = 8


def arrival_of(event: CloudEvent, data: LeadReceived) -> Arrival:
    show = data.trade_show
    return Arrival(
        event_id=event.id,
        submission_id=data.lead_id,
        source_id=data.source.id,
        channel=data.channel,
        purchased_list=data.purchased_list,
        received_at=data.received_at,
        incoming=data.lead.model_dump(mode="json"),
        trade_show=ShowRef(
            show_id=show.show_id,
            name=show.name,
            end_date=show.end_date,
            timezone=show.timezone,
            import_id=show.import_id,
            row_number=show.row_number,
        )
        if show is not None
        else None,
    )


async def handle_received_batch(
    ctx: RouterContext, repo: BatchRepository, items: Sequence[tuple[CloudEvent, LeadReceived]]
) -> int:
    """Decide and record a batch of arrivals in the caller's transaction; returns how many
    were new (the others had been processed before)."""
    now = ctx.clock()
    fresh = await repo.mark_processed_many([event.id for event, _ in items], now)
    arrivals: list[Arrival] = []
    for event, data in items:
        if event.id in fresh:
            fresh.discard(event.id)  # a duplicate within the batch counts once
            arrivals.append(arrival_of(event, data))
    if not arrivals:
        return 0

    # --- load ---------------------------------------------------------------------------
    companies = {a.submission_id: arrival_company_keys(a) for a in arrivals}
    keys = sorted({k for a in arrivals for k in a.identities})
    await repo.lock_keys(
        [lead_ref_key(a.submission_id) for a in arrivals]
        + [company_lock_key(c) for found in companies.values() for c in found]
        + [identity_lock_key(*k) for k in keys]
    )
    arrivals = await drop_erased(repo.session, ctx.settings.effective_erasure_hash_key(), arrivals)
    if not arrivals:
        return 0
    identities = await repo.leads_for_identities(keys)
    shared = await repo.shared_identities(keys)
    # a known personal address settles the match: no company candidates for those
    open_ = [a for a in arrivals if not certain_by_email(a, identities, shared)]
    candidates = await repo.fuzzy_candidates_many(
        sorted({c for a in open_ for c in companies[a.submission_id]}),
        widen=sorted({k for a in open_ if (k := widened_key(a)) is not None}),
    )
    needed = {i for k, held in identities.items() if k not in shared for i in held}
    needed |= _company_hits(open_, candidates, ctx.match_policy)
    leads: dict[uuid.UUID, LeadRow] = {}
    points: dict[uuid.UUID, list[Any]] = {}
    clocks: dict[uuid.UUID, ClockRow] = {}
    await _load_leads(repo, needed, leads, points, clocks)
    team_rows = await repo.team_rows()
    reps = {r.id: to_rep(r) for r in await repo.rep_rows()}
    config = Config(
        rules=ctx.scoring.rules,
        routing_rules=tuple(to_rule(r) for r in await repo.rule_rows()),
        follow_the_sun=ctx.follow_the_sun,
        fallback_queue=ctx.fallback_queue,
        policy=ctx.match_policy,
    )
    teams = {t.id: to_team(t) for t in team_rows}
    timezones = {t.id: t.timezone for t in team_rows}

    # --- decide (again under the locks of the teams it changes, if they moved) -----------
    locked: set[str] = set()
    rounds = late = 0
    while True:
        state = BatchState(
            identities={k: list(v) for k, v in identities.items()},
            candidates={k: list(v) for k, v in candidates.items()},
            leads=dict(leads),
            activities={k: list(v) for k, v in points.items()},
            clocks=dict(clocks),
            teams=teams,
            team_timezones=timezones,
            reps=dict(reps),
            shared=set(shared),
        )
        try:
            out = decide_batch(state, arrivals, config, now)
        except MissingState as missing:
            late += 1
            if late > MAX_LATE_LOADS or missing.lead_id in leads:
                raise
            await _load_leads(repo, {missing.lead_id}, leads, points, clocks)
            continue
        to_lock = out.teams_changed - locked
        if not to_lock:
            break
        rounds += 1
        if rounds > MAX_DECIDE_ROUNDS:
            raise TeamContended(str(sorted(locked)))
        await repo.team_rows(sorted(to_lock), lock=True)
        locked |= to_lock
        current = {r.id: to_rep(r) for r in await repo.rep_rows(sorted(to_lock))}
        stale = {rep_id for rep_id, rep in current.items() if reps.get(rep_id) != rep}
        if not stale and current.keys() == {r for r, v in reps.items() if v.team_id in to_lock}:
            break  # what the decisions read is what the locks now guard
        reps = {k: v for k, v in reps.items() if v.team_id not in to_lock} | current

    # --- apply --------------------------------------------------------------------------
    await _apply(repo, out, now)
    refs = [a.submission_id for a in arrivals] + sorted(
        lead_id for lead_id in out.leads if lead_id not in out.created
    )
    pending = await repo.pending_refs(refs)
    if pending:  # activities that raced their lead: the lead is here now
        for outcome in out.outcomes:
            mine = {outcome.submission.submission_id, outcome.lead.id} & pending
            if mine:
                lead = await repo.lock_lead(outcome.lead.id)
                if lead is not None:
                    await apply_pending(ctx, repo, lead, sorted(mine), now)
    return len(arrivals)


def _company_hits(
    arrivals: Sequence[Arrival], candidates: dict[str, list[Candidate]], policy: MatchPolicy
) -> set[uuid.UUID]:
    """Stored leads the arrivals would merge into on their company evidence alone (to load
    and lock them with the leads holding their contact keys)."""
    hits: set[uuid.UUID] = set()
    for arrival in arrivals:
        decision = company_decision(candidates, arrival, policy)
        if decision.verdict == Verdict.merge and decision.lead_id is not None:
            hits.add(decision.lead_id)
    return hits


async def _load_leads(
    repo: BatchRepository,
    lead_ids: set[uuid.UUID],
    leads: dict[uuid.UUID, LeadRow],
    points: dict[uuid.UUID, list[Any]],
    clocks: dict[uuid.UUID, ClockRow],
) -> None:
    """Lock and read leads (in id order) with their activities and clocks, into the maps."""
    wanted = sorted(lead_ids - leads.keys())
    if not wanted:
        return
    for row in await repo.lock_lead_rows(wanted):
        leads[row["id"]] = LeadRow(**row)
    found = [i for i in wanted if i in leads]
    activities: dict[uuid.UUID, list[Any]] = {lead_id: [] for lead_id in found}
    for row in await repo.activity_rows(found):
        activities[row.lead_id].append(row)
    for lead_id, rows in activities.items():
        points[lead_id] = activity_points(rows)
    for row in await repo.clock_rows(found):
        clocks[row["lead_id"]] = ClockRow(**row)


async def _apply(repo: BatchRepository, out: BatchOutcome, now: datetime) -> None:
    """Write one batch's outcome: every statement is set-at-a-time."""
    created = [_values(out.leads[lead_id]) for lead_id in out.leads if lead_id in out.created]
    await repo.insert_rows(Lead, created)
    await repo.update_leads(
        [
            {"id": lead.id, **{c: getattr(lead, c) for c in LEAD_UPDATE_COLUMNS}}
            for lead_id, lead in out.leads.items()
            if lead_id not in out.created
        ]
    )
    await repo.claim_identities_many(out.identities)  # under the identities' locks
    detected = await repo.insert_shared_identities(out.shared_identities, now)
    await repo.insert_reviews(out.reviews, now)
    await repo.insert_rows(LeadSubmission, [_values(s) for s in out.submissions])
    await repo.end_assignments(sorted(out.end_assignments_of), now)
    await repo.insert_rows(Assignment, [_values(a) for a in out.assignments])
    await repo.set_rep_weights(out.weights)
    await repo.add_open_leads(out.open_lead_deltas)
    await repo.set_period_counts(out.period_counts)
    await repo.upsert_clocks([_values(c) for c in out.clocks.values()])
    await repo.record_stage_moves(out.stage_moves)
    await repo.insert_rows(
        Outbox,
        [outbox_row(*assigned_event(e, now), now) for e in out.emits]
        + [outbox_row(*_merge_event(m, now), now) for m in out.merges],
    )
    _count(repo, out, detected)
    for outcome in out.outcomes:
        a = outcome.assignment
        log.info(
            "router.lead_routed",
            lead_id=str(outcome.lead.id),
            submission_id=str(outcome.submission.submission_id),
            outcome=a.outcome if a else outcome.lead.status,
            kind=a.kind if a else None,
            rep_id=a.rep_id if a else None,
            team_id=a.team_id if a else None,
        )


def _merge_event(merge: AutoMerge, now: datetime) -> tuple[str, str, CloudEvent]:
    data = LeadMerge(
        change="merged",
        lead_id=merge.lead_id,
        other_lead_id=merge.submission_id,
        how="automatic",
        matched_by=merge.matched_by,
        submission_ids=[merge.submission_id],
        identities=[IdentityRef(kind=k, value=v) for k, v in merge.identities],  # type: ignore[arg-type]
        evidence=list(merge.lines),
        decided_by="leadflow",
        reason=f"the submission matched lead {merge.lead_id} by {merge.matched_by}",
        at=now,
    )
    return merge_event(data, cause=merge.event_id, now=now)


def _values(value: Any) -> dict[str, Any]:
    """A row value's columns (shallow: the JSON columns are not copied again)."""
    return dict(vars(value))


def _count(repo: BatchRepository, out: BatchOutcome, detected: Sequence[str]) -> None:
    merges: dict[str, int] = {}
    routed: dict[tuple[str, str], int] = {}
    scores: list[float] = []
    intake: list[float] = []
    transitions: dict[tuple[str, ...], int] = {}
    in_stage: list[tuple[str, float]] = []
    for o in out.observations:
        if o.metric == "merges":
            merges[o.labels[0]] = merges.get(o.labels[0], 0) + 1
        elif o.metric == "leads_routed":
            key = (o.labels[0], o.labels[1])
            routed[key] = routed.get(key, 0) + 1
        elif o.metric == "scores":
            scores.append(o.value)
        elif o.metric == "intake_to_assignment":
            intake.append(o.value)
        elif o.metric == "lifecycle_transition":
            transitions[o.labels] = transitions.get(o.labels, 0) + 1
            if o.value >= 0:
                in_stage.append((o.labels[0], o.value))

    def record() -> None:
        for how, n in merges.items():
            metrics.MERGES.labels(how).inc(n)
        for kind in detected:
            metrics.SHARED_IDENTITIES.labels(kind).inc()
        if out.reviews:
            metrics.DUPLICATE_REVIEWS.labels("doubtful_match").inc(len(out.reviews))
        for labels, n in routed.items():
            metrics.LEADS_ROUTED.labels(*labels).inc(n)
        for value in scores:
            metrics.SCORES.observe(value)
        for value in intake:
            metrics.INTAKE_TO_ASSIGNMENT.observe(value)
        for labels, n in transitions.items():
            metrics.LIFECYCLE_TRANSITIONS.labels(*labels).inc(n)
        for stage, seconds in in_stage:
            metrics.TIME_IN_STAGE.labels(stage).observe(seconds)

    on_commit(repo.session, record)
