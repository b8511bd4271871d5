"""The durable timers: due rows of ``nurture.scheduled_step``.

Each tick claims a batch of due steps with FOR UPDATE SKIP LOCKED, locks their leads (skipping
leads another transaction holds, so nothing ever waits), and per step either emits it (outbox
row, state ``emitted``, the next step scheduled), defers it to the next allowed instant
(outside the send window, inside quiet hours, or over the weekly cap), skips it (no contact
for the channel, or an email or SMS without the consent the lead's country requires: counted
on the lead, and the sequence goes on) or cancels it (the lead is suppressed, converted,
sunset or the enrollment ended). One transaction per batch: two schedulers never emit the same step, and the unique
(enrollment, step) row means a step is emitted once in effect."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.nurture import metrics
from services.nurture.context import NurtureContext
from services.nurture.domain.consent import (
    MARKETING_CHANNELS,
    ConsentRecord,
    ConsentSource,
    ConsentState,
    confirmation_allowed,
    lead_country,
    marketing_allowed,
)
from services.nurture.domain.policy import first_step_at, missing_contact, send_time
from services.nurture.domain.sequences import StepPlan
from services.nurture.events import emit_step
from services.nurture.leads.service import end_enrollments
from services.nurture.models import Enrollment, NurtureLead, ScheduledStep
from services.nurture.repository import NurtureRepository
from shared.kafka.consumer import is_transient
from shared.logging import get_logger
from shared.metrics import on_commit

log = get_logger(__name__)
WEEK = timedelta(days=7)
FAILED_STEP_RETRY = timedelta(minutes=1)


MAX_ATTEMPTS = 5  # a step failing this often is marked failed (and counted) instead of retried


class _Tally:
    def __init__(self) -> None:
        self.emitted: Counter[tuple[str, str, str]] = Counter()
        self.deferred: Counter[str] = Counter()
        self.skipped: Counter[tuple[str, str]] = Counter()  # (channel, reason)
        self.lateness: list[float] = []
        self.next_steps: list[dict[str, Any]] = []  # scheduled in one statement per batch

    def publish(self) -> None:
        for labels, n in self.emitted.items():
            metrics.STEPS_EMITTED.labels(*labels).inc(n)
        for reason, n in self.deferred.items():
            metrics.STEPS_DEFERRED.labels(reason).inc(n)
        for (channel, reason), n in self.skipped.items():
            metrics.STEPS_SKIPPED.labels(channel, reason).inc(n)
        for seconds in self.lateness:
            metrics.STEP_LATENESS.observe(seconds)


async def fire_due(ctx: NurtureContext) -> int:
    """Handle one batch of due steps; returns how many were handled (steps of leads that
    another transaction holds stay due for the next round and are not counted)."""
    now = ctx.clock()
    tally = _Tally()
    handled = 0
    try:
        async with ctx.sessions.begin() as session:
            repo = NurtureRepository(session)
            rows = await repo.claim_due(now, ctx.settings.nurture_batch_size)
            if not rows:
                return 0
            leads = await repo.lock_leads_skip_locked(r.lead_id for r in rows)
            enrollments = await repo.enrollments_by_id(r.enrollment_id for r in rows)
            sent = await repo.sent_since(leads, now - WEEK)
            consents = await repo.consents_of(leads)
            for row in rows:
                lead = leads.get(row.lead_id)
                if lead is not None:
                    seen = _Seen(sent.setdefault(lead.id, []), consents.setdefault(lead.id, []))
                    await _fire(ctx, repo, lead, enrollments[row.enrollment_id], row, seen, now, tally)  # fmt: skip
                    handled += 1
            # one statement for the batch's next steps; the state updates and outbox rows
            # go out together at commit (no per-step round trips)
            await repo.schedule_many(tally.next_steps)
            on_commit(session, tally.publish)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.error("nurture.batch_failed", error=repr(exc))
        return await _one_by_one(ctx, now)
    if tally.emitted:
        ctx.relay.notify()
    return handled


async def _one_by_one(ctx: NurtureContext, now: datetime) -> int:
    """A batch failed on something other than infrastructure: handle its steps one by one,
    so one bad step never holds back the others; the bad one is retried a minute later,
    and after MAX_ATTEMPTS marked failed."""
    async with ctx.sessions() as session:
        ids = [
            r.id
            for r in await NurtureRepository(session).claim_due(
                now, ctx.settings.nurture_batch_size
            )
        ]
    handled = 0
    for step_id in ids:
        try:
            async with ctx.sessions.begin() as session:
                handled += await _fire_by_id(ctx, NurtureRepository(session), step_id, now)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("nurture.step_failed", step_id=step_id, error=repr(exc))
            async with ctx.sessions.begin() as session:
                row = await session.get(ScheduledStep, step_id, with_for_update=True)
                if row is not None and row.state == "pending":
                    row.attempts += 1
                    row.note = f"attempt {row.attempts} failed: {exc!r}"[:300]
                    if row.attempts >= MAX_ATTEMPTS:
                        row.state = "failed"
                        on_commit(session, metrics.STEPS_FAILED.inc)
                    else:
                        row.due_at = now + FAILED_STEP_RETRY
            handled += 1
    ctx.relay.notify()
    return handled


async def _fire_by_id(
    ctx: NurtureContext, repo: NurtureRepository, step_id: int, now: datetime
) -> int:
    row = await repo.session.get(ScheduledStep, step_id, with_for_update={"skip_locked": True})
    if row is None or row.state != "pending" or row.due_at > now:
        return 0
    lead = (await repo.lock_leads_skip_locked([row.lead_id])).get(row.lead_id)
    enrollment = await repo.session.get(Enrollment, row.enrollment_id)
    if lead is None or enrollment is None:
        return 0
    sent = (await repo.sent_since([lead.id], now - WEEK)).get(lead.id, [])
    consents = (await repo.consents_of([lead.id])).get(lead.id, [])
    tally = _Tally()
    await _fire(ctx, repo, lead, enrollment, row, _Seen(sent, consents), now, tally)
    await repo.schedule_many(tally.next_steps)
    on_commit(repo.session, tally.publish)
    return 1


async def _fire(
    ctx: NurtureContext,
    repo: NurtureRepository,
    lead: NurtureLead,
    enrollment: Enrollment,
    row: ScheduledStep,
    seen: _Seen,
    now: datetime,
    tally: _Tally,
) -> None:
    sent = seen.sent
    # how late this timer is picked up, whatever comes of it (after downtime: the downtime)
    tally.lateness.append(max((now - row.due_at).total_seconds(), 0.0))
    if enrollment.status != "active":
        row.state, row.note = "cancelled", f"enrollment {enrollment.status}"
        return
    gone = _lead_gone(lead)
    if gone is not None:  # the lead left nurture: its enrollment ends here, not silently
        row.state, row.note = "cancelled", gone
        await end_enrollments(repo, lead, [enrollment], status="stopped", reason=gone, cause=f"step:{row.id}", now=now)  # fmt: skip
        return
    try:
        plans = ctx.config.steps(enrollment.sequence_id)
    except KeyError:
        row.state, row.note = (
            "cancelled",
            f"sequence {enrollment.sequence_id} is no longer configured",
        )
        await end_enrollments(repo, lead, [enrollment], status="stopped", reason=row.note, cause=f"step:{row.id}", now=now)  # fmt: skip
        return
    if row.step > len(plans):
        row.state, row.note = "cancelled", "the sequence has fewer steps now"
        await end_enrollments(repo, lead, [enrollment], status="stopped", reason=row.note, cause=f"step:{row.id}", now=now)  # fmt: skip
        return
    plan = plans[row.step - 1]
    cap = ctx.config.defaults.frequency_cap.max_per_week
    history = [] if plan.channel == "task" else sent  # a rep's task is not a message to the lead
    at = send_time(now, lead.timezone, plan.window, plan.quiet, history, cap)
    if at > now:
        row.due_at = at
        in_window = send_time(now, lead.timezone, plan.window, plan.quiet, [], cap) == now
        row.note = "over the weekly cap" if in_window else "outside the send window"
        tally.deferred["frequency_cap" if in_window else "window"] += 1
        return
    email = lead.email if lead.email_bounced_at is None else None
    missing = missing_contact(plan.channel, email, lead.phone)
    if missing is not None:
        row.state, row.note = "skipped", missing
        tally.skipped[(plan.channel, "no_contact")] += 1
    elif (withheld := _withheld(ctx, lead, plan, seen.consents)) is not None:
        row.state, row.note = "skipped", withheld[1][:300]
        tally.skipped[(plan.channel, withheld[0])] += 1
        if withheld[0] == "consent":
            lead.consent_skips += 1
    else:
        row.state, row.emitted_at = "emitted", now
        emit_step(repo.session, lead, enrollment, row, plan, len(plans), now)
        if plan.channel != "task":
            sent.append(now)
        if plan.confirm_opt_in:  # asked: consent waits for the click on its link
            asked = ConsentRecord(
                "email", ConsentState.pending_confirmation, ConsentSource.double_opt_in, now,
                f"step:{row.id}",
            )  # fmt: skip
            seen.consents.append(asked)
            await repo.add_consents([(lead.id, asked)])
        tally.emitted[(enrollment.sequence_id, str(row.step), plan.channel)] += 1
    if row.step < len(plans):
        nxt = plans[row.step]
        due = first_step_at(now, nxt.delay, lead.timezone, nxt.window, nxt.quiet)
        tally.next_steps.append(
            {"enrollment_id": enrollment.id, "lead_id": lead.id, "step": row.step + 1, "due_at": due, "channel": nxt.channel}
        )  # fmt: skip
    else:
        await end_enrollments(repo, lead, [enrollment], status="completed", reason="all steps sent", cause=f"step:{row.id}", now=now)  # fmt: skip


@dataclass(frozen=True)
class _Seen:
    """What one lead's steps in this batch read and add to: when it was last sent something
    (the weekly cap), and its consent history."""

    sent: list[datetime]
    consents: list[ConsentRecord]


def _withheld(
    ctx: NurtureContext, lead: NurtureLead, plan: StepPlan, consents: list[ConsentRecord]
) -> tuple[str, str] | None:
    """Why a step may not go out for consent (the metric's reason and the step's note), if
    it may not: a marketing step without the consent the lead's country requires, or a
    double opt-in request that is not needed (or was sent before)."""
    if plan.channel not in MARKETING_CHANNELS and not plan.confirm_opt_in:
        return None  # a rep task is not marketing: nothing to look up
    country = lead_country(lead.country, lead.phone)
    unknown = ctx.settings.nurture_unknown_consent
    if plan.confirm_opt_in:
        asked = confirmation_allowed(ctx.consent, country, consents, unknown=unknown)
        return None if asked.allowed else ("confirmation_not_needed", f"not sent: {asked.reason}")
    decision = marketing_allowed(ctx.consent, country, plan.channel, consents, unknown=unknown)
    return None if decision.allowed else ("consent", f"no consent: {decision.reason}")


def _lead_gone(lead: NurtureLead) -> str | None:
    if lead.suppressed is not None:
        return f"lead suppressed: {lead.suppressed}"
    if lead.converted_at is not None:
        return "lead converted"
    if lead.list_name == "sunset":
        return "lead sunset"
    return None
