"""``leads.received.v1`` (and the bulk lane) -> one lead per person, a batch at a time.

Three steps in one transaction: **load** what the whole batch reads (a query per kind of
thing), **decide** with the pure :func:`~services.router.domain.intake.decide_batch`,
**apply** the outcome with bulk statements and outbox rows.

Same person, same moment: arrivals in one batch are decided in partition order against
a state each decision updates; across batches and instances, advisory locks on the
submission ids and company keys (taken in one order) and unique identities keep one lead
per person (the loser of an identity race retries and then matches).

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
from services.router.domain.intake import (
    Arrival,
    BatchOutcome,
    BatchState,
    ClockRow,
    Config,
    LeadRow,
    ShowRef,
    decide_batch,
    profile_of,
)
from services.router.domain.matching import Candidate, company_key, fuzzy_match
from services.router.events import assigned_event
from services.router.models import Assignment, Lead, LeadSubmission, Outbox
from services.router.repository import BatchRepository
from shared.db import company_lock_key, lead_ref_key
from shared.events.envelope import CloudEvent
from shared.events.models import LeadReceived
from shared.logging import get_logger
from shared.metrics import on_commit
from shared.outbox import outbox_row

log = get_logger(__name__)

LEAD_UPDATE_COLUMNS = (
    "status", "is_name", "profile", "first_name", "last_name", "score", "temperature", "stage",
    "score_breakdown", "owner_rep_id", "team_id", "queue", "updated_at", "lifecycle_stage",
    "stage_entered_at", "last_owner_rep_id", "owned_since", "last_worked_at",
)  # fmt: skip


class IdentityRace(Exception):
    """Another transaction created a lead with one of these identities first: retry, then match."""


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
    companies = {
        arrival.submission_id: company_key(
            profile_of(arrival.incoming, source_id=None, channel=None, purchased_list=False)
        )
        for arrival in arrivals
    }
    await repo.lock_keys(
        [lead_ref_key(a.submission_id) for a in arrivals]
        + [company_lock_key(c) for c in companies.values() if c is not None]
    )
    keys = sorted({k for a in arrivals for k in a.identities})
    identities = await repo.lead_ids_for_identities(keys)
    unmatched = [a for a in arrivals if not any(k in identities for k in a.identities)]
    candidates = await repo.fuzzy_candidates_many(
        sorted({c for a in unmatched if (c := companies[a.submission_id]) is not None})
    )
    needed = set(identities.values()) | _fuzzy_hits(ctx, unmatched, companies, candidates)
    leads = {row["id"]: LeadRow(**row) for row in await repo.lock_lead_rows(sorted(needed))}
    activities: dict[uuid.UUID, list[Any]] = {lead_id: [] for lead_id in leads}
    for row in await repo.activity_rows(sorted(leads)):
        activities[row.lead_id].append(row)
    clocks = {row["lead_id"]: ClockRow(**row) for row in await repo.clock_rows(sorted(leads))}
    team_rows = await repo.team_rows()
    reps = {r.id: to_rep(r) for r in await repo.rep_rows()}
    config = Config(
        rules=ctx.scoring.rules,
        routing_rules=tuple(to_rule(r) for r in await repo.rule_rows()),
        follow_the_sun=ctx.follow_the_sun,
        fallback_queue=ctx.fallback_queue,
        thresholds=ctx.match_thresholds,
    )
    teams = {t.id: to_team(t) for t in team_rows}
    timezones = {t.id: t.timezone for t in team_rows}
    points = {lead_id: activity_points(rows) for lead_id, rows in activities.items()}

    # --- decide (again under the locks of the teams it changes, if they moved) -----------
    locked: set[str] = set()
    for _ in range(MAX_DECIDE_ROUNDS):
        state = BatchState(
            identities=dict(identities),
            candidates={k: list(v) for k, v in candidates.items()},
            leads=dict(leads),
            activities={k: list(v) for k, v in points.items()},
            clocks=dict(clocks),
            teams=teams,
            team_timezones=timezones,
            reps=dict(reps),
        )
        out = decide_batch(state, arrivals, config, now)
        to_lock = out.teams_changed - locked
        if not to_lock:
            break
        await repo.team_rows(sorted(to_lock), lock=True)
        locked |= to_lock
        current = {r.id: to_rep(r) for r in await repo.rep_rows(sorted(to_lock))}
        stale = {rep_id for rep_id, rep in current.items() if reps.get(rep_id) != rep}
        if not stale and current.keys() == {r for r, v in reps.items() if v.team_id in to_lock}:
            break  # what the decisions read is what the locks now guard
        reps = {k: v for k, v in reps.items() if v.team_id not in to_lock} | current
    else:
        raise TeamContended(str(sorted(locked)))

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


def _fuzzy_hits(
    ctx: RouterContext,
    unmatched: Sequence[Arrival],
    companies: dict[uuid.UUID, str | None],
    candidates: dict[str, list[Candidate]],
) -> set[uuid.UUID]:
    """Stored leads the unmatched arrivals may merge into (to load and lock them)."""
    hits: set[uuid.UUID] = set()
    for arrival in unmatched:
        company = companies[arrival.submission_id]
        if company is None or not candidates.get(company):
            continue
        profile = profile_of(
            arrival.incoming,
            source_id=arrival.source_id,
            channel=arrival.channel,
            purchased_list=arrival.purchased_list,
        )
        match = fuzzy_match(profile, candidates[company], ctx.match_thresholds)
        if match is not None:
            hits.add(uuid.UUID(match.lead_id))
    return hits


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
    claimed = await repo.claim_identities_many(out.identities)
    lost = [(k, v) for k, v, _ in out.identities if (k, v) not in claimed]
    if lost:
        raise IdentityRace(str(lost))
    await repo.insert_rows(LeadSubmission, [_values(s) for s in out.submissions])
    await repo.end_assignments(sorted(out.end_assignments_of), now)
    await repo.insert_rows(Assignment, [_values(a) for a in out.assignments])
    await repo.set_rep_weights(out.weights)
    await repo.add_open_leads(out.open_lead_deltas)
    await repo.set_period_counts(out.period_counts)
    await repo.upsert_clocks([_values(c) for c in out.clocks.values()])
    await repo.record_stage_moves(out.stage_moves)
    await repo.insert_rows(Outbox, [outbox_row(*assigned_event(e, now), now) for e in out.emits])
    _count(repo, out)
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


def _values(value: Any) -> dict[str, Any]:
    """A row value's columns (shallow: the JSON columns are not copied again)."""
    return dict(vars(value))


def _count(repo: BatchRepository, out: BatchOutcome) -> None:
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
