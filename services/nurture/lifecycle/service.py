"""The periodic sweep over idle and unresponsive leads, in batches claimed with
FOR UPDATE SKIP LOCKED (two instances never move the same lead):

- remarket: on the active list and unresponsive ``remarket_after_days`` -> remarket list
  (sales puts leads it gives back there too, at once: ``leads.lifecycle.v1``);
- re-engagement: no sequence running for ``reengage_after_days`` -> the re-engagement
  sequence of its inactivity segment (< 3 months, 3-12 months, > 1 year);
- sunset: still silent ``sunset_after_days`` after its re-engagement ended -> sunset
  (marked, excluded from sends, its data kept). Engagement brings any of them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.nurture import metrics
from services.nurture.context import NurtureContext
from services.nurture.domain.policy import idle_move, reengagement_segment
from services.nurture.events import emit_lifecycle
from services.nurture.leads.service import enroll
from services.nurture.models import NurtureLead
from services.nurture.repository import NurtureRepository
from shared.metrics import on_commit

BATCH = 200


@dataclass
class SweepResult:
    remarket: int = 0
    reengaged: int = 0
    sunset: int = 0


async def sweep(ctx: NurtureContext) -> SweepResult:
    now = ctx.clock()
    lc = ctx.config.lifecycle
    result = SweepResult()
    while n := await _batch(
        ctx, now, _remarket, now - timedelta(days=lc.remarket_after_days), None
    ):
        result.remarket += n
        if n < BATCH:
            break
    while n := await _batch(
        ctx, now, _reengage, now - timedelta(days=lc.reengage_after_days), False
    ):
        result.reengaged += n
        if n < BATCH:
            break
    while n := await _batch(ctx, now, _sunset, now - timedelta(days=lc.sunset_after_days), True):
        result.sunset += n
        if n < BATCH:
            break
    if result.remarket or result.reengaged or result.sunset:
        ctx.relay.notify()
    return result


async def _batch(
    ctx: NurtureContext, now: datetime, move, cutoff: datetime, reengaged: bool | None
) -> int:  # type: ignore[no-untyped-def]
    async with ctx.sessions.begin() as session:
        repo = NurtureRepository(session)
        if reengaged is None:
            leads = await repo.remarket_candidates(cutoff, BATCH)
        else:
            leads = await repo.idle_candidates(cutoff, BATCH, reengaged=reengaged)
        for lead in leads:
            await move(ctx, repo, lead, now)
    return len(leads)


async def _remarket(
    ctx: NurtureContext, repo: NurtureRepository, lead: NurtureLead, now: datetime
) -> None:
    days = (now - lead.nurture_since).days
    reason = f"unresponsive for {days} days"
    lead.list_name, lead.list_reason, lead.remarket_at, lead.updated_at = (
        "remarket",
        reason,
        now,
        now,
    )
    on_commit(repo.session, metrics.REMARKET.labels("unresponsive").inc)
    emit_lifecycle(repo.session, lead, "remarket", cause=f"remarket:{lead.nurture_since.isoformat()}",
                   reason=reason, now=now)  # fmt: skip


async def _reengage(
    ctx: NurtureContext, repo: NurtureRepository, lead: NurtureLead, now: datetime
) -> None:
    lc = ctx.config.lifecycle
    assert lead.idle_since is not None
    if idle_move(idle_since=lead.idle_since, reengaged_at=lead.reengaged_at, now=now,
                 reengage_after=timedelta(days=lc.reengage_after_days),
                 sunset_after=timedelta(days=lc.sunset_after_days)) != "reengage":  # fmt: skip
        return
    segment = reengagement_segment(lead.last_engaged_at, lead.created_at, now)
    seq = ctx.config.for_trigger("reengagement", segment=segment)
    cause = f"reengage:{lead.id}:{lead.idle_since.isoformat()}"
    reason = f"no sequence running for {(now - lead.idle_since).days} days; inactive {segment.replace('_', ' ')}"
    enrollment = await enroll(ctx, repo, lead, trigger="reengagement", sequence_id=seq.id, start_at=now,
                              reason=reason, cause=cause, now=now)  # fmt: skip
    lead.idle_since = None
    if enrollment is None:  # this idle spell was handled before
        return
    lead.reengaged_at = now
    on_commit(repo.session, metrics.REENGAGED.labels(segment).inc)
    emit_lifecycle(
        repo.session, lead, "reengaged", cause=cause, reason=reason, now=now, segment=segment
    )


async def _sunset(
    ctx: NurtureContext, repo: NurtureRepository, lead: NurtureLead, now: datetime
) -> None:
    reason = "still silent after re-engagement: sunset (data kept, no more sends)"
    lead.list_name, lead.list_reason, lead.sunset_at, lead.updated_at = "sunset", reason, now, now
    on_commit(repo.session, metrics.SUNSET.inc)
    assert lead.reengaged_at is not None
    emit_lifecycle(repo.session, lead, "sunset", cause=f"sunset:{lead.reengaged_at.isoformat()}",
                   reason=reason, now=now)  # fmt: skip
