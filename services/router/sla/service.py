"""The SLA clock to first touch: durable timers in ``router.sla_clock``.

A scheduler claims due clocks with FOR UPDATE SKIP LOCKED (so two router instances never
fire the same step), moves each one step (running -> warned -> breached -> reassigned or
escalated) and writes the events to the outbox, all in one transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from services.router import metrics
from services.router.assignment.service import reassign
from services.router.context import RouterContext
from services.router.convert import team_hours, to_team
from services.router.domain.business_hours import business_minutes_between
from services.router.events import emit_sla
from services.router.models import Lead, SlaClock
from services.router.repository import RouterRepository
from shared.kafka.consumer import is_transient
from shared.logging import get_logger
from shared.metrics import on_commit

log = get_logger(__name__)
OPEN_STATES = ("running", "warned", "breached", "escalated")


def _cause(clock: SlaClock, step: str) -> str:
    return f"{clock.lead_id}:{clock.started_at.isoformat()}:{step}"


FAILED_STEP_RETRY = timedelta(minutes=1)


async def fire_due(ctx: RouterContext, limit: int = 200) -> int:
    """Advance every due clock one step, all in one transaction (a trade show's Monday 08:00
    brings thousands due at once); returns how many fired. Leads and clocks held by another
    transaction are skipped (they are still due at the next tick). If the batch fails, its
    clocks are stepped one transaction each, so one bad clock cannot hold back the rest."""
    now = ctx.clock()
    async with ctx.sessions() as session:
        due = await RouterRepository(session).due_clock_ids(now, limit)
    if not due:
        return 0
    try:
        async with ctx.sessions.begin() as session:
            repo = RouterRepository(session)
            leads = {lead.id: lead for lead in await repo.lock_leads_skip_locked(due)}
            clocks = await repo.claim_due_clocks(sorted(leads), now)
            lateness = []
            for clock in clocks:
                assert clock.next_fire_at is not None
                lateness.append(max((now - clock.next_fire_at).total_seconds(), 0.0))
                await _step(ctx, repo, leads[clock.lead_id], clock, now)
            on_commit(session, lambda: [metrics.SLA_TIMER_LATENESS.observe(x) for x in lateness])
        fired = len(clocks)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("router.sla_batch_failed", clocks=len(due), error=repr(exc)[:300])
        fired = await _fire_one_by_one(ctx, due, now)
    if fired:
        ctx.relay.notify()
    return fired


async def _fire_one_by_one(ctx: RouterContext, due: list[uuid.UUID], now: datetime) -> int:
    fired = 0
    for lead_id in due:
        try:
            async with ctx.sessions.begin() as session:
                repo = RouterRepository(session)
                lead = await repo.lock_lead(lead_id)
                clock = await repo.claim_due_clock(lead_id, now)
                if lead is None or clock is None:
                    continue
                assert clock.next_fire_at is not None
                metrics.SLA_TIMER_LATENESS.observe(
                    max((now - clock.next_fire_at).total_seconds(), 0.0)
                )
                await _step(ctx, repo, lead, clock, now)
                fired += 1
        except Exception as exc:
            if is_transient(exc):
                raise
            # a bad team config or a bug must not stop every other timer: retry this one later
            log.error("router.sla_step_failed", lead_id=str(lead_id), error=repr(exc))
            async with ctx.sessions.begin() as session:
                await RouterRepository(session).postpone_clock(lead_id, now + FAILED_STEP_RETRY)
    return fired


async def _step(
    ctx: RouterContext, repo: RouterRepository, lead: Lead, clock: SlaClock, now: datetime
) -> None:
    team = await repo.team(clock.team_id)
    elapsed = business_minutes_between(clock.started_at, now, to_team(team).hours) if team else None
    if clock.state == "running":
        clock.state = "warned"
        clock.next_fire_at = clock.due_at
        on_commit(repo.session, metrics.SLA_EVENTS.labels("warning", clock.team_id).inc)
        emit_sla(repo.session, clock, "warning", cause=_cause(clock, "warning"), now=now, business_minutes=elapsed,
                 detail=f"no first touch yet; due at {clock.due_at.isoformat()}")  # fmt: skip
        return
    if clock.state != "warned":
        clock.next_fire_at = None
        return
    clock.state = "breached"
    clock.next_fire_at = None
    on_commit(repo.session, metrics.SLA_EVENTS.labels("breach", clock.team_id).inc)
    emit_sla(repo.session, clock, "breach", cause=_cause(clock, "breach"), now=now, business_minutes=elapsed,
             detail=f"no first touch within {team.sla_minutes if team else '?'} business minutes")  # fmt: skip

    if team is None:
        return
    if team.escalation == "reassign" and clock.escalations < ctx.settings.router_max_escalations:
        cause = _cause(clock, "reassign")
        before = _snapshot(clock)  # reassign() restarts this clock for the new owner
        assignment = await reassign(ctx, repo, lead, clock, cause=cause, now=now)
        if assignment is not None:
            on_commit(repo.session, metrics.SLA_EVENTS.labels("reassignment", clock.team_id).inc)
            emit_sla(repo.session, before, "reassignment", cause=cause, now=now,
                     new_rep_id=assignment.rep_id, detail=f"reassigned from {before.rep_id} to {assignment.rep_id}")  # fmt: skip
            return
    clock.state = "escalated"
    on_commit(repo.session, metrics.SLA_EVENTS.labels("escalation", clock.team_id).inc)
    emit_sla(repo.session, clock, "escalation", cause=_cause(clock, "escalation"), now=now, manager=team.manager,
             detail=f"escalated to manager {team.manager or '(none configured)'}")  # fmt: skip


def _snapshot(clock: SlaClock) -> SlaClock:
    """A detached copy of the clock as it is now."""
    return SlaClock(
        lead_id=clock.lead_id, team_id=clock.team_id, rep_id=clock.rep_id, channel=clock.channel, state=clock.state,
        started_at=clock.started_at, warn_at=clock.warn_at, due_at=clock.due_at, next_fire_at=None,
        stopped_at=None, escalations=clock.escalations,
    )  # fmt: skip


async def stop_on_first_touch(
    repo: RouterRepository,
    lead: Lead,
    *,
    touched_at: datetime,
    rep_id: str | None,
    cause: str,
    now: datetime,
) -> None:
    if lead.first_touch_at is None or touched_at < lead.first_touch_at:
        lead.first_touch_at = touched_at
    clock = await repo.clock(lead.id, lock=True)
    if clock is None or clock.state not in OPEN_STATES:
        return
    clock.state = "stopped"
    clock.stopped_at = touched_at
    clock.next_fire_at = None
    seconds = max((touched_at - clock.started_at).total_seconds(), 0.0)
    ttft = metrics.TIME_TO_FIRST_TOUCH.labels(clock.team_id, lead.channel)
    on_commit(repo.session, lambda: ttft.observe(seconds))
    team = await repo.team(clock.team_id)
    elapsed = (
        business_minutes_between(clock.started_at, touched_at, team_hours(team)) if team else None
    )
    emit_sla(repo.session, clock, "first_touch", cause=cause, now=now, business_minutes=elapsed,
             detail=f"first touch by {rep_id or 'unknown rep'} after {seconds / 60:.1f} minutes")  # fmt: skip


async def run_scheduler(ctx: RouterContext, stopping: asyncio.Event) -> None:
    """Fire due timers every tick (within a second or two of due, across restarts)."""
    while not stopping.is_set():
        try:
            while await fire_due(ctx) >= 200:
                pass
            async with ctx.sessions() as session:
                count, oldest = await RouterRepository(session).awaiting_first_touch(ctx.clock())
            metrics.AWAITING_FIRST_TOUCH.set(count)
            metrics.OLDEST_AWAITING_SECONDS.set(oldest)
        except Exception as exc:  # the timers are durable: try again next tick
            log.warning("router.sla_tick_failed", error=repr(exc))
        try:
            await asyncio.wait_for(stopping.wait(), ctx.settings.router_sla_tick_seconds)
        except TimeoutError:
            pass
