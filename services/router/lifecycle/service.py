"""After assignment: reported sales statuses, recycling unworked leads, and releasing the
leads of a rep who left. Each change is decided by the pure rules of
``services/router/domain/lifecycle.py`` on a locked lead and written in the caller's
transaction: the lead row, its status history, its stage history, the rep's capacity, the
first-touch clock, the current assignment, and a ``leads.lifecycle.v1`` event.

The periodic sweep (recycling and releases) claims leads with FOR UPDATE SKIP LOCKED in
batches, so two router instances never move the same lead."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.router import metrics
from services.router.assignment.service import close_clock, release_lead
from services.router.context import RouterContext
from services.router.domain.lifecycle import (
    Change,
    LeadStatus,
    LeadView,
    Report,
    SalesStatus,
    Stage,
    apply_report,
    away_too_long,
    occupies,
    recycle_idle,
)
from services.router.events import emit_lifecycle, event_id
from services.router.lifecycle.stages import move_stage
from services.router.models import DuplicateReview, Lead, LeadStatusChange, Rep, Team
from services.router.repository import RouterRepository
from services.router.sla.service import stop_on_first_touch
from shared.dispositions import ReasonAction
from shared.events.models import ActivityReceived, LeadLifecycle
from shared.logging import get_logger
from shared.metrics import on_commit

log = get_logger(__name__)

BATCH = 200
LEADFLOW = "leadflow"


def view(lead: Lead) -> LeadView:
    return LeadView(
        status=LeadStatus(lead.status),
        owner_rep_id=lead.owner_rep_id,
        sales_status=SalesStatus(lead.sales_status) if lead.sales_status else None,
        sales_status_at=lead.sales_status_at,
        stage=Stage(lead.lifecycle_stage),
    )


async def apply_disposition(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    data: ActivityReceived,
    *,
    cause: str,
    now: datetime,
) -> Change:
    """A sales status a sales tool reported (kind working, qualified, disqualified or
    converted) on a locked lead."""
    status = SalesStatus(data.kind.value)
    action = ctx.dispositions.action(data.reason) if data.reason else None
    duplicate_of = None
    if data.duplicate_of is not None:  # a lead id or a submission id: the canonical lead
        duplicate_of = await repo.lead_for_submission(data.duplicate_of) or data.duplicate_of
    if status == SalesStatus.disqualified and action is None:
        # ingest refuses unknown reasons; a file that differs between the two is a config error
        log.warning("router.unknown_disqualify_reason", lead_id=str(lead.id), reason=data.reason)
        action = ReasonAction.close
    report = Report(
        status=status,
        occurred_at=data.occurred_at,
        reported_by=data.source.id,
        rep_id=data.rep_id,
        reason=data.reason,
        action=action,
        duplicate_of=str(duplicate_of) if duplicate_of else None,
    )
    change = apply_report(view(lead), report)
    await _record_change(
        ctx, repo, lead, change,
        record_id=data.activity_id, record_status=status, change_kind="status",
        reason=data.reason, rep_id=data.rep_id, reported_by=data.source.id,
        occurred_at=data.occurred_at, duplicate_of=duplicate_of, cause=cause, now=now,
    )  # fmt: skip
    return change


async def _record_change(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    change: Change,
    *,
    record_id: uuid.UUID,
    record_status: SalesStatus,
    change_kind: str,
    reason: str | None,
    rep_id: str | None,
    reported_by: str,
    occurred_at: datetime,
    duplicate_of: uuid.UUID | None,
    cause: str,
    now: datetime,
) -> None:
    session = repo.session
    await session.execute(
        insert(LeadStatusChange)
        .values(
            id=record_id, lead_id=lead.id, status=record_status.value, reason=reason,
            rep_id=rep_id, reported_by=reported_by, duplicate_of=duplicate_of,
            occurred_at=occurred_at, recorded_at=now, applied=change.applied,
            detail=change.detail, cause_event_id=cause,
        )
        .on_conflict_do_nothing()
    )  # fmt: skip
    outcome = "applied" if change.applied else "superseded"
    if change_kind == "status":
        on_commit(session, metrics.DISPOSITIONS.labels(record_status.value, outcome).inc)
    if not change.applied:
        log.info("router.status_superseded", lead_id=str(lead.id), status=record_status.value)
        return

    previous_stage = lead.lifecycle_stage
    if change.touch:
        await stop_on_first_touch(
            repo, lead, touched_at=occurred_at, rep_id=rep_id, cause=cause, now=now
        )
        if lead.last_worked_at is None or occurred_at > lead.last_worked_at:
            lead.last_worked_at = occurred_at
    if change.released_rep_id is not None:
        await repo.add_open_lead(change.released_rep_id, -1)
    if change.owner_rep_id is None and lead.owner_rep_id is not None:  # ownership ends
        await repo.end_current_assignment(lead.id, now)
        await close_clock(repo, lead.id)
        lead.queue = None
    lead.owner_rep_id = change.owner_rep_id
    if change.owner_rep_id is not None:
        lead.last_owner_rep_id = change.owner_rep_id
    lead.status = change.status
    lead.sales_status = change.sales_status
    lead.sales_status_at = occurred_at
    lead.disqualify_reason = reason if change.sales_status == SalesStatus.disqualified else None
    if change.recycled:
        lead.recycled_at = now
    if duplicate_of is not None:
        lead.duplicate_of = duplicate_of
        await session.execute(
            insert(DuplicateReview)
            .values(
                lead_id=lead.id, other_lead_id=duplicate_of, reported_by=rep_id or reported_by,
                reason="rep_marked", evidence={"reported_by": reported_by, "rep_id": rep_id,
                                              "occurred_at": occurred_at.isoformat()},
                status="open", created_at=now, decided_at=None,
            )
            .on_conflict_do_nothing()
        )  # fmt: skip
        on_commit(session, metrics.DUPLICATE_REVIEWS.labels("rep_marked").inc)
    lead.updated_at = now
    await move_stage(repo, lead, change.stage, cause=change_kind, now=now)

    if change.sales_status == SalesStatus.disqualified and reason:
        on_commit(session, metrics.DISQUALIFIED.labels(reason).inc)
    if change.recycled:
        on_commit(session, metrics.RECYCLED.labels(reason or "inactive").inc)
    emit_lifecycle(
        session,
        LeadLifecycle(
            lead_id=lead.id,
            change="recycled" if change.recycled else change_kind,  # type: ignore[arg-type]
            status=change.sales_status.value if change.sales_status else None,  # type: ignore[arg-type]
            reason=reason,
            marketing=change.marketing.value,
            stage=change.stage.value,  # type: ignore[arg-type]
            previous_stage=previous_stage,  # type: ignore[arg-type]
            rep_id=rep_id,
            owner_rep_id=lead.owner_rep_id,
            released_rep_id=change.released_rep_id,
            team_id=lead.team_id,
            reported_by=reported_by,
            duplicate_of=duplicate_of,
            occurred_at=occurred_at,
            at=now,
            detail=change.detail,
        ),
        cause=cause,
        now=now,
    )
    log.info(
        "router.lead_status",
        lead_id=str(lead.id),
        status=lead.status,
        sales_status=lead.sales_status,
        stage=lead.lifecycle_stage,
        released_rep_id=change.released_rep_id,
    )


# --- the sweep --------------------------------------------------------------------------


@dataclass
class SweepResult:
    recycled: int = 0
    released: int = 0


async def sweep(ctx: RouterContext) -> SweepResult:
    """Recycle every lead its owner has not worked for the team's ``recycle_after_days``,
    and release the open leads of reps who are inactive or away longer than the team's
    ``away_after_days``."""
    result = SweepResult()
    while n := await recycle_idle_leads(ctx):
        result.recycled += n
        if n < BATCH:
            break
    async with ctx.sessions() as session:
        departed = await _departed_reps(RouterRepository(session), ctx.clock())
    for rep_id, why in departed:
        result.released += await release_rep(ctx, rep_id, why=why)
    if result.recycled or result.released:
        ctx.relay.notify()
        log.info("router.lifecycle_sweep", recycled=result.recycled, released=result.released)
    return result


async def recycle_idle_leads(ctx: RouterContext, limit: int = BATCH) -> int:
    """One batch of unworked leads back to marketing, in one transaction; returns how many.
    ``last_worked_at`` is set when a rep takes a lead and on every touch or status, so each
    team's due leads are a range of the partial index ``ix_router_lead_recycle``."""
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        repo = RouterRepository(session)
        claimed: list[tuple[Lead, int]] = []
        for team in await repo.teams():
            if len(claimed) >= limit:
                break
            cutoff = now - timedelta(days=team.recycle_after_days)
            leads = await session.scalars(
                select(Lead)
                .where(
                    Lead.team_id == team.id,
                    Lead.status == LeadStatus.assigned.value,
                    Lead.last_worked_at <= cutoff,
                )
                .order_by(Lead.last_worked_at, Lead.id)
                .limit(limit - len(claimed))
                .with_for_update(skip_locked=True)
            )
            claimed += [(lead, team.recycle_after_days) for lead in leads]
        for lead, days in claimed:
            change = recycle_idle(view(lead), days=days)
            since = lead.owned_since or lead.updated_at
            cause = f"recycle:{lead.id}:{since.isoformat()}"
            await _record_change(
                ctx, repo, lead, change,
                record_id=uuid.UUID(event_id(cause, "status")), record_status=SalesStatus.recycled,
                change_kind="recycled", reason="inactive", rep_id=None, reported_by=LEADFLOW,
                occurred_at=now, duplicate_of=None, cause=cause, now=now,
            )  # fmt: skip
    return len(claimed)


async def _departed_reps(repo: RouterRepository, now: datetime) -> list[tuple[str, str]]:
    """Reps who are inactive, or away longer than their team allows (a handful: the
    release then finds whether they still hold open leads, by the owner index)."""
    teams = {t.id: t for t in await repo.teams()}
    departed = []
    for rep in await repo.reps():
        why = departure(rep, teams.get(rep.team_id), now)
        if why is not None and rep.open_leads > 0:
            departed.append((rep.id, why))
    return departed


def departure(rep: Rep, team: Team | None, now: datetime) -> str | None:
    """Why a rep's open leads must be released now (None: they stay)."""
    if not rep.active:
        return "rep_inactive"
    periods = tuple(
        (datetime.fromisoformat(o["starts_at"]), datetime.fromisoformat(o["ends_at"]))
        for o in rep.out_of_office
    )
    days = team.away_after_days if team is not None else 3
    if away_too_long(periods, now, days=days) is not None:
        return "rep_away"
    return None


async def release_rep(ctx: RouterContext, rep_id: str, *, why: str) -> int:
    """Re-route (or queue, per the rep's team) every open lead of a rep who left, a batch
    per transaction; each gets a decision and a lifecycle event. Returns how many."""
    released = 0
    while True:
        now = ctx.clock()
        async with ctx.sessions.begin() as session:
            repo = RouterRepository(session)
            rep = await repo.rep(rep_id)
            team = await repo.team(rep.team_id) if rep is not None else None
            if rep is None or departure(rep, team, now) != why:
                return released  # came back meanwhile
            leads = list(
                await session.scalars(
                    select(Lead)
                    .where(Lead.owner_rep_id == rep_id, Lead.status == LeadStatus.assigned.value)
                    .order_by(Lead.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            policy = team.on_rep_away if team is not None else "reroute"
            for lead in leads:
                await _release(ctx, repo, lead, rep_id, why=why, policy=policy, now=now)
        ctx.relay.notify()
        released += len(leads)
        if len(leads) < BATCH:
            return released


async def _release(
    ctx: RouterContext,
    repo: RouterRepository,
    lead: Lead,
    rep_id: str,
    *,
    why: str,
    policy: str,
    now: datetime,
) -> None:
    assert occupies(lead.status)
    cause = f"release:{lead.id}:{rep_id}:{(lead.owned_since or lead.updated_at).isoformat()}"
    previous_stage = lead.lifecycle_stage
    assignment = await release_lead(
        ctx, repo, lead, rep_id=rep_id, why=why, queue=policy == "queue", cause=cause, now=now
    )
    on_commit(repo.session, metrics.RELEASED.labels(why, assignment.outcome).inc)
    left = "was deactivated" if why == "rep_inactive" else "is away"
    where = (
        f"re-routed to {assignment.rep_id}"
        if assignment.outcome == "assigned"
        else f"queued to {assignment.queue}"
    )
    emit_lifecycle(
        repo.session,
        LeadLifecycle(
            lead_id=lead.id, change="released", status=lead.sales_status,  # type: ignore[arg-type]
            reason=why, marketing="none", stage=lead.lifecycle_stage,  # type: ignore[arg-type]
            previous_stage=previous_stage,  # type: ignore[arg-type]
            rep_id=None, owner_rep_id=lead.owner_rep_id, released_rep_id=rep_id,
            team_id=lead.team_id, reported_by=LEADFLOW, occurred_at=now, at=now,
            detail=f"{rep_id} {left}: the lead was {where}",
        ),
        cause=cause,
        now=now,
    )  # fmt: skip


async def run_sweeper(ctx: RouterContext, stopping: asyncio.Event) -> None:
    """Sweep every ``router_lifecycle_sweep_seconds``."""
    while not stopping.is_set():
        try:
            await sweep(ctx)
        except Exception as exc:  # durable state: try again next time
            log.warning("router.lifecycle_sweep_failed", error=repr(exc))
        try:
            await asyncio.wait_for(stopping.wait(), ctx.settings.router_lifecycle_sweep_seconds)
        except TimeoutError:
            pass
