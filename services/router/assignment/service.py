"""Deciding who owns one lead (queue drain, engagement, SLA reassignment), and persisting
the decision with its explanation and events. Arrivals take the batch path
(``services/router/intake/batch.py``) with the same rules.

Runs inside the caller's transaction. Round-robin weights and open-lead counts change
under the row lock of the team they belong to (only that team), so two router instances
decide as one would, and in parallel for different teams."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.router import metrics
from services.router.context import RouterContext
from services.router.convert import lead_profile, to_rep, to_rule, to_team
from services.router.domain.assignment import Decision, choose_rep, route
from services.router.domain.business_hours import add_business_minutes
from services.router.domain.caps import PeriodCounts, count_new_lead
from services.router.domain.intake import sla_explanation, with_sla_note
from services.router.domain.lifecycle import LeadStatus
from services.router.events import emit_assigned
from services.router.models import Assignment, Lead, SlaClock
from services.router.repository import RouterRepository
from shared.events.models import TradeShowRef
from shared.logging import get_logger
from shared.metrics import on_commit

log = get_logger(__name__)

Kind = Literal["initial", "sticky", "reassigned", "dequeued", "rescored"]


@dataclass(frozen=True)
class Origin:
    """The submission that caused a decision: how it arrived, and from which show."""

    channel: str
    trade_show: TradeShowRef | None = None


def _not_for_sales(lead: Lead, ctx: RouterContext) -> str | None:
    if lead.is_name:
        return "purchased-list name: nurture only, never routed to sales"
    if lead.stage == "none":
        mql = ctx.scoring.rules.thresholds.mql
        return f"score {lead.score} is below the MQL threshold {mql}: stays with nurture"
    return None


async def decide(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    *,
    kind: Kind,
    cause_event_id: str,
    submission_id: uuid.UUID | None,
    now: datetime,
    started_at: datetime,
    emit_if_still_queued: bool = True,
    origin: Origin | None = None,
) -> Assignment | None:
    """Route one (locked) lead and record the decision. ``started_at``: when its SLA clock starts."""
    # A lead owned by an active rep stays with that rep, whatever its score does since.
    if lead.owner_rep_id is not None and lead.status == "assigned":
        owner = await repo.rep(lead.owner_rep_id)
        if owner is not None and owner.active:
            reason = f"known lead returns to its current owner {owner.id} (sticky routing)"
            return await _record(
                ctx, repo, lead, outcome="assigned", kind="sticky", rep_id=owner.id, team_id=owner.team_id, queue=None,
                rule=None, reason=reason, explanation={"sticky": {"rep": owner.id, "active": True}},
                cause_event_id=cause_event_id, submission_id=submission_id, now=now, started_at=started_at,
                origin=origin,
            )  # fmt: skip

    if lead.status == LeadStatus.recycled and lead.last_owner_rep_id is not None:
        last = await repo.rep(lead.last_owner_rep_id)
        if last is not None and last.active and _not_for_sales(lead, ctx) is None:
            reason = (
                f"recycled lead scores {lead.stage} again: back to its last owner {last.id} "
                "(sticky routing)"
            )
            return await _record(
                ctx, repo, lead, outcome="assigned", kind="sticky", rep_id=last.id, team_id=last.team_id,
                queue=None, rule=None, reason=reason,
                explanation={"sticky": {"rep": last.id, "active": True, "last_owner": True}},
                cause_event_id=cause_event_id, submission_id=submission_id, now=now, started_at=started_at,
                origin=origin,
            )  # fmt: skip

    nurture_reason = _not_for_sales(lead, ctx)
    if nurture_reason is not None:
        return await _record(
            ctx, repo, lead, outcome="nurture", kind=kind, rep_id=None, team_id=None, queue=None, rule=None,
            reason=nurture_reason, explanation={"not_for_sales": nurture_reason}, cause_event_id=cause_event_id,
            submission_id=submission_id, now=now, started_at=started_at, origin=origin,
        )  # fmt: skip

    decision = await _route_locking_only_the_team(ctx, repo, lead, now)
    if decision.outcome == "queued" and lead.status == "queued" and not emit_if_still_queued:
        return None
    await repo.set_rep_weights(decision.weights)
    return await _record(
        ctx, repo, lead, outcome=decision.outcome, kind=kind, rep_id=decision.rep_id, team_id=decision.team_id,
        queue=ctx.fallback_queue if decision.outcome == "queued" else None, rule=decision.rule, reason=decision.reason,
        explanation=decision.explanation, cause_event_id=cause_event_id, submission_id=submission_id, now=now,
        started_at=started_at, origin=origin,
    )  # fmt: skip


# Deciding again under the chosen team's lock converges at once unless other instances
# keep changing that team's reps; past this many rounds the transaction is retried.
MAX_DECIDE_ROUNDS = 4


class TeamContended(Exception):
    """Other instances kept changing the reps of the team this lead routes to: retry."""


async def _route_locking_only_the_team(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    now: datetime,
    exclude: frozenset[str] = frozenset(),
) -> Decision:
    """Route on the reps as read; then lock only the team whose reps the decision changes
    and read them again. Unchanged, the decision stands; else decide again under the lock."""
    profile = lead_profile(lead)
    rules = [to_rule(r) for r in await repo.rules()]
    teams = {t.id: to_team(t) for t in await repo.teams()}
    reps = {r.id: to_rep(r) for r in await repo.reps()}
    locked: set[str] = set()
    for _ in range(MAX_DECIDE_ROUNDS):
        decision = route(
            profile,
            rules,
            teams,
            list(reps.values()),
            ctx.follow_the_sun,
            now,
            fallback_queue=ctx.fallback_queue,
            exclude=exclude,
        )
        if not decision.weights or decision.team_id is None or decision.team_id in locked:
            return decision
        team_id = decision.team_id
        await repo.lock_teams([team_id])
        locked.add(team_id)
        current = {r.id: to_rep(r) for r in await repo.reps([team_id], refresh=True)}
        before = {k: v for k, v in reps.items() if v.team_id == team_id}
        if current == before:
            return decision
        reps = {k: v for k, v in reps.items() if v.team_id != team_id} | current
    raise TeamContended(str(sorted(locked)))


async def reassign(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    clock: SlaClock,
    *,
    cause: str,
    now: datetime,
) -> Assignment | None:
    """SLA escalation: the next eligible rep of the same team, never the current owner."""
    locked = await repo.lock_teams([clock.team_id])
    if not locked:
        return None
    team_row = locked[0]
    reps = await repo.reps([team_row.id], refresh=True)
    exclude = frozenset({clock.rep_id}) if clock.rep_id else frozenset()
    pick = choose_rep(to_team(team_row), [to_rep(r) for r in reps], now, exclude=exclude)
    if pick.rep_id is None:
        return None
    await repo.set_rep_weights(pick.weights)
    reason = f"SLA breached by {clock.rep_id}: reassigned to {pick.rep_id} in team {team_row.id}"
    explanation = {
        "escalation": "reassign",
        "previous_rep": clock.rep_id,
        "team": team_row.id,
        "candidates": [c.__dict__ for c in pick.candidates],
        "pick": pick.rep_id,
        "tie_break": pick.tie_break,
    }
    return await _record(
        ctx, repo, lead, outcome="assigned", kind="reassigned", rep_id=pick.rep_id, team_id=team_row.id, queue=None,
        rule=None, reason=reason, explanation=explanation, cause_event_id=cause, submission_id=None, now=now,
        started_at=now,
    )  # fmt: skip


async def release_lead(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    *,
    rep_id: str,
    why: str,
    queue: bool,
    cause: str,
    now: datetime,
) -> Assignment:
    """Take a (locked, assigned) lead from a rep who left (``why``: rep_inactive, rep_away):
    route it again by the rules, the rep excluded, or queue it when the team says so."""
    await repo.add_open_lead(rep_id, -1)
    lead.owner_rep_id = None
    lead.status = "queued"  # ownership has ended: routing below starts from no owner
    released = {"rep": rep_id, "why": why}
    left = "was deactivated" if why == "rep_inactive" else "is away"
    if queue:
        reason = f"{rep_id} {left}: the team queues such leads to {ctx.fallback_queue!r}."
        return await _record(
            ctx, repo, lead, outcome="queued", kind="reassigned", rep_id=None, team_id=lead.team_id,
            queue=ctx.fallback_queue, rule=None, reason=reason,
            explanation={"released": released, "queue": ctx.fallback_queue},
            cause_event_id=cause, submission_id=None, now=now, started_at=now,
        )  # fmt: skip
    decision = await _route_locking_only_the_team(ctx, repo, lead, now, exclude=frozenset({rep_id}))
    await repo.set_rep_weights(decision.weights)
    return await _record(
        ctx, repo, lead, outcome=decision.outcome, kind="reassigned", rep_id=decision.rep_id,
        team_id=decision.team_id, queue=ctx.fallback_queue if decision.outcome == "queued" else None,
        rule=decision.rule, reason=f"{rep_id} {left}. " + decision.reason,
        explanation={"released": released, **decision.explanation}, cause_event_id=cause,
        submission_id=None, now=now, started_at=now,
    )  # fmt: skip


async def _record(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    *,
    outcome: str,
    kind: Kind,
    rep_id: str | None,
    team_id: str | None,
    queue: str | None,
    rule: str | None,
    reason: str,
    explanation: dict[str, Any],
    cause_event_id: str,
    submission_id: uuid.UUID | None,
    now: datetime,
    started_at: datetime,
    origin: Origin | None = None,
) -> Assignment:
    previous_status = lead.status
    previous_owner = lead.owner_rep_id if lead.status == "assigned" else None
    if previous_owner is not None and previous_owner != rep_id:
        await repo.add_open_lead(previous_owner, -1)
    if rep_id is not None and previous_owner != rep_id:
        await _take_lead(repo, rep_id, now)
    if previous_status != "new":
        await repo.end_current_assignment(lead.id, now)
    assignment = Assignment(
        id=uuid.uuid4(),
        lead_id=lead.id,
        outcome=outcome,
        kind=kind,
        rep_id=rep_id,
        team_id=team_id,
        queue=queue,
        rule=rule,
        reason=reason,
        explanation=explanation,
        score=lead.score_breakdown,
        cause_event_id=cause_event_id,
        decided_at=now,
        ended_at=None,
    )
    repo.add_assignment(assignment)
    lead.status = outcome
    lead.owner_rep_id = rep_id
    lead.team_id = team_id
    lead.queue = queue
    lead.updated_at = now
    if rep_id is not None and previous_owner != rep_id:  # a new owner: recycling clock restarts
        lead.last_owner_rep_id, lead.owned_since, lead.last_worked_at = rep_id, now, now

    clock = None
    if outcome != "assigned":
        await close_clock(repo, lead.id)
    if outcome == "assigned" and rep_id is not None and team_id is not None:
        clock = await _start_clock(
            repo, lead, team_id, rep_id, started_at, kind, known=previous_status != "new"
        )
        if clock is not None and clock.started_at == started_at:  # started by this decision
            await _explain_sla(repo, assignment, clock)
        if kind in ("initial", "dequeued", "rescored"):
            intake_seconds = max((now - lead.received_at).total_seconds(), 0.0)
            on_commit(repo.session, lambda: metrics.INTAKE_TO_ASSIGNMENT.observe(intake_seconds))
    on_commit(
        repo.session,
        metrics.LEADS_ROUTED.labels("name" if lead.is_name else outcome, team_id or "none").inc,
    )
    score = lead.score
    on_commit(repo.session, lambda: metrics.SCORES.observe(score))
    team = await repo.team(team_id) if team_id is not None else None  # identity map: loaded
    emit_assigned(
        repo.session, lead, assignment, clock, submission_id=submission_id, now=now,
        channel=origin.channel if origin else lead.channel,
        trade_show=origin.trade_show if origin else None,
        team_timezone=team.timezone if team else None,
    )  # fmt: skip
    log.info(
        "router.lead_routed",
        lead_id=str(lead.id),
        outcome=outcome,
        kind=kind,
        rep_id=rep_id,
        team_id=team_id,
    )
    return assignment


async def _take_lead(repo: RouterRepository, rep_id: str, now: datetime) -> None:
    """The rep becomes a lead's owner: one more open lead, one more new lead in its day/week."""
    row = await repo.rep(rep_id)  # identity map: loaded (and locked) by the routing decision
    if row is None:
        return
    counts = PeriodCounts(row.cap_day, row.day_count, row.cap_week, row.week_count)
    await repo.take_lead(rep_id, count_new_lead(counts, row.timezone, now))


async def _explain_sla(repo: RouterRepository, assignment: Assignment, clock: SlaClock) -> None:
    """When the new clock's window skips holidays of the team, the decision says so."""
    team = await repo.team(clock.team_id)  # identity map
    if team is None:
        return
    sla = sla_explanation(clock.started_at, clock.due_at, to_team(team).hours)
    if sla is not None:
        assignment.explanation = {**assignment.explanation, "sla": sla}
        assignment.reason = with_sla_note(assignment.reason, sla)


async def _start_clock(
    repo: RouterRepository,
    lead: Lead,
    team_id: str,
    rep_id: str,
    started_at: datetime,
    kind: Kind,
    *,
    known: bool,
) -> SlaClock | None:
    """Start (or restart) the first-touch clock. A brand-new lead has none yet: no look-up."""
    existing = await repo.clock(lead.id, lock=True) if known else None
    if (
        kind == "sticky"
        and existing is not None
        and existing.state in ("running", "warned", "breached")
    ):
        return existing  # the clock of this owner already runs
    if lead.first_touch_at is not None and kind == "reassigned":
        return None
    team = await repo.team(team_id)  # identity map: already loaded by the routing decision
    assert team is not None
    hours = to_team(team).hours
    warn_at = add_business_minutes(started_at, team.warning_minutes, hours)
    values = {
        "lead_id": lead.id,
        "team_id": team_id,
        "rep_id": rep_id,
        "channel": lead.channel,
        "state": "running",
        "started_at": started_at,
        "warn_at": warn_at,
        "due_at": add_business_minutes(started_at, team.sla_minutes, hours),
        "next_fire_at": warn_at,
        "stopped_at": None,
        "escalations": (existing.escalations + (1 if kind == "reassigned" else 0))
        if existing
        else 0,
    }
    if existing is not None:  # locked above: restart it in place
        for key, value in values.items():
            setattr(existing, key, value)
        return existing
    clock = SlaClock(**values)
    repo.session.add(clock)
    return clock


async def close_clock(repo: RouterRepository, lead_id: uuid.UUID) -> None:
    """Leaving sales (nurture, queue): no first-touch clock runs for nobody."""
    clock = await repo.clock(lead_id, lock=True)
    if clock is not None and clock.state in ("running", "warned", "breached", "escalated"):
        clock.state = "closed"
        clock.next_fire_at = None
