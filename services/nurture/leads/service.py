"""State changes of one (locked) lead as ORM rows: enroll, pause, resume, end, suppress,
engage, for the operator API, the step scheduler and the lifecycle sweep.

Every function runs inside the caller's transaction and writes the lifecycle events it
causes to the outbox; the lead row is locked by the caller before any of them runs. The
consumer applies the same transitions to values (``services.nurture.domain.state``), a
batch at a time; the two must stay alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.nurture import metrics
from services.nurture.context import NurtureContext
from services.nurture.domain.policy import first_step_at
from services.nurture.domain.state import enrollment_id as enrollment_id_of
from services.nurture.events import emit_lifecycle
from services.nurture.models import Enrollment, NurtureLead
from services.nurture.repository import OPEN, NurtureRepository
from shared.metrics import on_commit


async def enroll(
    ctx: NurtureContext,
    repo: NurtureRepository,
    lead: NurtureLead,
    *,
    trigger: str,
    sequence_id: str,
    start_at: datetime,
    reason: str,
    cause: str,
    now: datetime,
    show_id: str | None = None,
) -> Enrollment | None:
    """Start a sequence (None when this cause enrolled before or it is already running)."""
    plans = ctx.config.steps(sequence_id)
    paused = lead.with_sales
    enrollment_id = enrollment_id_of(cause)
    enrollment = await repo.add_enrollment(
        {
            "id": enrollment_id, "lead_id": lead.id, "sequence_id": sequence_id, "trigger": trigger,
            "show_id": show_id, "status": "paused" if paused else "active", "paused_by": "sales" if paused else None,
            "reason": "handed to sales: paused" if paused else reason,
            "enrolled_at": now, "ended_at": None, "cause": cause[:200],
        }
    )  # fmt: skip
    if enrollment is None:
        return None
    first = plans[0]
    due = first_step_at(max(start_at, now), first.delay, lead.timezone, first.window, first.quiet)
    await repo.schedule(
        enrollment_id,
        lead.id,
        1,
        due,
        channel=first.channel,
        state="paused" if paused else "pending",
    )
    lead.idle_since = None
    lead.updated_at = now
    on_commit(repo.session, metrics.ENROLLMENTS.labels(sequence_id).inc)
    emit_lifecycle(
        repo.session, lead, "enrolled", cause=cause, reason=reason, now=now, enrollment=enrollment
    )
    if paused:
        emit_lifecycle(
            repo.session,
            lead,
            "paused",
            cause=cause,
            reason="handed to sales",
            now=now,
            enrollment=enrollment,
        )
    return enrollment


async def open_enrollments(
    repo: NurtureRepository, lead: NurtureLead, status: Sequence[str] = OPEN
) -> list[Enrollment]:
    return [e for e in await repo.enrollments(lead.id) if e.status in status]


async def end_enrollments(
    repo: NurtureRepository,
    lead: NurtureLead,
    enrollments: Sequence[Enrollment],
    *,
    status: str,
    reason: str,
    cause: str,
    now: datetime,
) -> None:
    """completed | stopped | unenrolled: the remaining steps are cancelled."""
    if not enrollments:
        return
    kind = {"completed": "completed", "stopped": "stopped", "unenrolled": "unenrolled"}[status]
    for e in enrollments:
        e.status, e.reason, e.ended_at = status, reason[:300], now
        on_commit(repo.session, metrics.ENROLLMENTS_ENDED.labels(e.sequence_id, status).inc)
        emit_lifecycle(repo.session, lead, kind, cause=cause, reason=reason, now=now, enrollment=e)
    await repo.set_step_state(
        [e.id for e in enrollments], ("pending", "paused"), "cancelled", note=reason[:300]
    )
    await repo.session.flush()
    if not await repo.has_open_enrollments(lead.id):
        lead.idle_since = now
    lead.updated_at = now


async def pause(
    repo: NurtureRepository, lead: NurtureLead, *, by: str, reason: str, cause: str, now: datetime
) -> list[Enrollment]:
    """``by``: sales (the lead was handed to sales) or operator (the API)."""
    paused = await open_enrollments(repo, lead, ("active",))
    for e in paused:
        e.status, e.paused_by, e.reason = "paused", by, reason[:300]
        emit_lifecycle(
            repo.session, lead, "paused", cause=cause, reason=reason, now=now, enrollment=e
        )
    await repo.set_step_state([e.id for e in paused], ("pending",), "paused", note=reason[:300])
    lead.updated_at = now
    return paused


async def resume(
    repo: NurtureRepository,
    lead: NurtureLead,
    *,
    reason: str,
    cause: str,
    now: datetime,
    only_by: str | None = None,
) -> list[Enrollment]:
    """Paused enrollments go on (only those paused ``only_by`` when given: a routing decision
    never undoes an operator's pause); a step that fell due meanwhile goes out at the next
    window."""
    resumed = [
        e
        for e in await open_enrollments(repo, lead, ("paused",))
        if only_by is None or e.paused_by == only_by
    ]
    for e in resumed:
        e.status, e.paused_by, e.reason = "active", None, reason[:300]
        emit_lifecycle(
            repo.session, lead, "resumed", cause=cause, reason=reason, now=now, enrollment=e
        )
    await repo.resume_steps([e.id for e in resumed], now)
    lead.updated_at = now
    return resumed


async def suppress(
    repo: NurtureRepository, lead: NurtureLead, *, reason: str, cause: str, now: datetime
) -> None:
    """Unsubscribed, hard bounce or no valid contact: nothing more goes out, in any sequence."""
    if lead.suppressed is not None:
        return
    lead.suppressed, lead.suppressed_at = reason, now
    await end_enrollments(
        repo, lead, await open_enrollments(repo, lead), status="stopped", reason=f"suppressed: {reason}", cause=cause, now=now
    )  # fmt: skip
    lead.idle_since = None
    on_commit(repo.session, metrics.SUPPRESSIONS.labels(reason).inc)
    emit_lifecycle(repo.session, lead, "suppressed", cause=cause, reason=reason, now=now)


def engage(
    repo: NurtureRepository, lead: NurtureLead, *, at: datetime, cause: str, now: datetime
) -> None:
    """The lead did something itself: clocks restart, and it is back on the active list."""
    at = min(at, now)
    if lead.last_engaged_at is None or at > lead.last_engaged_at:
        lead.last_engaged_at = at
    lead.nurture_since = max(lead.nurture_since, at)
    lead.reengaged_at = None
    if lead.idle_since is not None:
        lead.idle_since = max(lead.idle_since, at)
    reactivate(
        repo, lead, reason=f"engaged again: back from {lead.list_name}", cause=cause, now=now
    )
    lead.updated_at = now


def reactivate(
    repo: NurtureRepository, lead: NurtureLead, *, reason: str, cause: str, now: datetime
) -> None:
    """Back on the active list (from remarket or sunset)."""
    if lead.list_name == "active":
        return
    lead.list_name, lead.list_reason, lead.updated_at = "active", reason[:300], now
    lead.remarket_at = lead.sunset_at = None
    emit_lifecycle(repo.session, lead, "reactivated", cause=cause, reason=reason, now=now)
